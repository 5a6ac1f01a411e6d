// postamt-smtpd: one ESMTP session on fd 0/1, roles mx, submission and smtps (postamt-smtpd(8)).
import SMTPServer
import SpamCheck

// With the spam filter in the path (POSTAMT_QUEUE or smtpd_queue_program naming the installed
// postamt-spamcheck-queue), smtpd runs its check itself and writes the queue file when it has the
// queue's privileges, else the filter's queue mode runs in a forked child instead of a started
// program.
SMTPDaemon.main(arguments: Array(CommandLine.arguments.dropFirst()),
                spamQueue: { program in SpamCheckProgram.runAsProgram(arguments: [program]) },
                spamScreen: { configuration, message, clientIP, envelope in
                    var input = SpamCheckInput(message: message)
                    input.clientIP = clientIP
                    switch SpamCheckProgram.screen(configuration, input, envelope: envelope) {
                    case .refuse(let line): return .refuse(line)
                    case .pass(let tagged): return .pass(tagged)
                    }
                },
                // --serve with the check in its path, once before any session: a session child
                // serves many sessions with one configuration, so its checks run in one child kept
                // for its life instead of a child forked per message (a per-connection smtpd checks
                // a message or two: a child per message costs it no more), and the checks run once
                // here first, so that what a first use makes is inherited.
                spamServing: { configuration in
                    SpamCheckProgram.keepsCheckerProcess = true
                    SpamCheckProgram.warmUp(configuration)
                })

// postamt-smtpd: one ESMTP session on fd 0/1, roles mx, submission and smtps (postamt-smtpd(8)).
import SMTPServer
import SpamCheck

// With the spam filter in the path (POSTAMT_QUEUE or smtpd_queue_program naming the installed
// postamt-spamcheck-queue), its code runs in a forked child instead of a started program.
SMTPDaemon.main(arguments: Array(CommandLine.arguments.dropFirst()),
                spamQueue: { program in SpamCheckProgram.runAsProgram(arguments: [program]) })

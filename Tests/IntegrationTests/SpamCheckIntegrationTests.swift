import Foundation
import Glibc
import Testing

extension Installation {
    /// Adds postamt-spamcheck to the installation's programs.
    func installSpamcheck() throws {
        let target = "\(root)/bin/postamt-spamcheck"
        try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/postamt-spamcheck", toPath: target)
        chmod(target, 0o755)
    }

    /// Runs postamt-spamcheck in queue mode as smtpd would through POSTAMT_QUEUE: the message on
    /// fd 0, the envelope on fd 1.
    func spamcheckQueue(message: Data, envelope: Data, environment extra: [String: String] = [:]) throws -> RunResult {
        let envFile = "\(root)/envelope.\(UUID().uuidString)"
        FileManager.default.createFile(atPath: envFile, contents: envelope)
        defer { try? FileManager.default.removeItem(atPath: envFile) }
        return try run("/bin/sh", ["-c", "exec \"$0\" --queue 1<\"$1\"", "\(root)/bin/postamt-spamcheck", envFile],
                       input: message, environment: environment.merging(extra) { $1 })
    }
}

/// No DNS leaves the machine in these tests: the checks ask a port nobody serves.
let offlineSpamSettings = """
    spam_dns_server = 127.0.0.1:9
    spam_dns_timeout = 1s
    """

/// postamt-spamcheck in front of postamt-queue, and postamt-local filing tagged mail into .Junk.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct SpamCheckIntegrationTests {
    @Test func highScoringMessageIsRefusedAndNothingQueued() throws {
        let system = try Installation(config: offlineSpamSettings + "\nspam_block_senders = @spammer.test\n")
        try system.installSpamcheck()
        let r = try system.spamcheckQueue(message: Data("From: x@spammer.test\nSubject: win\n\nmoney\n".utf8),
                                          envelope: envelope("x@spammer.test", ["someone@\(system.hostname)"]),
                                          environment: ["TCPREMOTEIP": "192.0.2.7", "POSTAMT_HELO": "spammer.test"])
        #expect(r.status == 31, "\(r.stderr)")
        #expect(r.stderr.contains("#5.7.1"))
        #expect(r.stderr.contains("BLOCK_LIST"))
        #expect(system.queueIsEmpty)
    }

    @Test func taggedMessageIsFiledIntoJunkAndHamIntoTheInbox() throws {
        let user = try TestUser()
        let system = try Installation(config: offlineSpamSettings + "\nspam_block_senders = @spammer.test\nspam_reject_score = 0\n")
        try system.installSpamcheck()
        try system.startRunner()
        let spam = try system.spamcheckQueue(message: Data("From: x@spammer.test\nSubject: win\n\nmoney\n".utf8),
                                             envelope: envelope("x@spammer.test", ["\(user.name)@\(system.hostname)"]))
        #expect(spam.status == 0, "\(spam.stderr)")
        let ham = try system.spamcheckQueue(
            message: Data("From: friend@friends.test\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <1@friends.test>\nSubject: hi\n\nlunch?\n".utf8),
            envelope: envelope("friend@friends.test", ["\(user.name)@\(system.hostname)"]))
        #expect(ham.status == 0, "\(ham.stderr)")
        let junk = "\(user.home)/Maildir/.Junk"
        try waitFor("delivery") {
            user.messages().count == 1 && ((try? FileManager.default.contentsOfDirectory(atPath: "\(junk)/new")) ?? []).count == 1
        }
        #expect(FileManager.default.fileExists(atPath: "\(junk)/maildirfolder"))
        let junkName = try FileManager.default.contentsOfDirectory(atPath: "\(junk)/new")[0]
        let junkText = try String(contentsOfFile: "\(junk)/new/\(junkName)", encoding: .utf8)
        #expect(junkText.contains("X-Spam-Status: Yes, score="))
        #expect(junkText.contains("BLOCK_LIST(100.0)"))
        #expect(junkText.contains("Authentication-Results: \(system.hostname);"))
        #expect(user.messages()[0].contains("X-Spam-Status: No, score="))
        var st = stat()
        stat(junk, &st)
        #expect(st.st_uid == user.uid)
    }

    @Test func filterModeAndMIMEBombPassWhole() throws {
        let system = try Installation(config: offlineSpamSettings)
        try system.installSpamcheck()
        var message = Data("From: a@b.test\nSubject: big\nContent-Type: multipart/mixed; boundary=x\n\n".utf8)
        for _ in 0..<200_000 { message += Data("--x\nContent-Type: multipart/mixed; boundary=x\n\n".utf8) }
        message += Data("--x\nContent-Transfer-Encoding: base64\n\n".utf8)
        message += Data(repeating: UInt8(ascii: "Q"), count: 100 << 20)
        message += Data("\n--x--\n".utf8)
        let r = try run("\(system.root)/bin/postamt-spamcheck", [], input: message, environment: system.environment, timeout: 600)
        #expect(r.status == 0 || r.status == 1, "\(r.stderr)")
        #expect(r.stdoutData.count > message.count)
        #expect(r.stdoutData.suffix(message.count) == message)
        let header = String(decoding: r.stdoutData.prefix(2000), as: UTF8.self)
        #expect(header.hasPrefix("X-Spam-Status: "))
        #expect(header.contains("SCAN_PARTIAL"))
    }

    /// spam_token_limit: learning past it ages the database (postamt(8), spam learn).
    @Test func learningPastTheTokenLimitAgesTheDatabase() throws {
        let system = try Installation(config: offlineSpamSettings + "\nspam_token_limit = 40\n")
        let directory = "\(system.root)/train"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for i in 0..<30 {
            try "Message-ID: <\(i)@s.test>\nSubject: pills\n\ncheap pills word\(i)a word\(i)b\n".write(toFile: "\(directory)/\(i)", atomically: true, encoding: .utf8)
        }
        let r = try system.postamt(["spam", "learn", "--spam", directory])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("30 learnt") && r.stdout.contains("tokens aged out (spam_token_limit)"), "\(r.stdout)")
        let stats = try system.postamt(["spam", "stats"])
        let tokens = stats.stdout.split(separator: " ").firstIndex(of: "tokens,").flatMap { Int(stats.stdout.split(separator: " ")[$0 - 1]) }
        #expect(tokens != nil && tokens! <= 30, "\(stats.stdout)")
        #expect(stats.stdout.contains("30 spam") && stats.stdout.contains("30 message ids"), "\(stats.stdout)")
    }

    @Test func adminLearnsAMaildirOnce() throws {
        let system = try Installation(config: offlineSpamSettings)
        let maildir = "\(system.root)/train/.Junk"
        for sub in ["cur", "new", "tmp"] { try FileManager.default.createDirectory(atPath: "\(maildir)/\(sub)", withIntermediateDirectories: true) }
        for i in 0..<3 { try "Message-ID: <\(i)@s.test>\nSubject: pills\n\ncheap pills\n".write(toFile: "\(maildir)/new/\(i).x", atomically: true, encoding: .utf8) }
        let first = try system.postamt(["spam", "learn", "--spam", maildir])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("3 learnt"))
        let second = try system.postamt(["spam", "learn", "--spam", maildir])
        #expect(second.stdout.contains("0 learnt") && second.stdout.contains("3 known already"))
        let stats = try system.postamt(["spam", "stats"])
        #expect(stats.stdout.contains("3 spam, 0 ham"), "\(stats.stdout)")
    }

    /// postamt(8), spam learn --spam-from --ham-from: both classes in one mixed batch, and the
    /// byte-gram model learns with the word counts.
    @Test func adminLearnsBothClassesTogether() throws {
        let system = try Installation(config: offlineSpamSettings + "\nspam_spf = no\nspam_dkim = no\nspam_dmarc = no\n")
        try system.installSpamcheck()
        for kind in ["spam", "ham"] {
            let directory = "\(system.root)/train/\(kind)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for i in 0..<60 {
                let text = kind == "spam"
                    ? "Message-ID: <\(i)@s.test>\nFrom: Prize Desk <win@offers.test>\nSubject: cheap pills \(i)\n\nbuy cheap pills casino winner\n"
                    : "Message-ID: <\(i)@h.test>\nFrom: Ann <ann@lists.test>\nSubject: meeting notes \(i)\n\nthe agenda for the project meeting\n"
                try text.write(toFile: "\(directory)/\(i)", atomically: true, encoding: .utf8)
            }
        }
        // The paths go with the options; --spam or other paths beside them are refused.
        for bad in [["--spam", "--spam-from", "\(system.root)/train/spam"], ["--spam-from", "\(system.root)/train/spam", "\(system.root)/train/ham"], []] {
            let r = try system.postamt(["spam", "learn"] + bad)
            #expect(r.status != 0 && !r.stderr.isEmpty, "\(bad): \(r.stdout)")
        }
        let none = try system.postamt(["spam", "stats"])
        #expect(none.status != 0 && none.stderr.contains("no spam token database"), "\(none.stdout) \(none.stderr)")
        let r = try system.postamt(["spam", "learn", "--spam-from", "\(system.root)/train/spam", "--ham-from", "\(system.root)/train/ham"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("120 messages: spam 60 learnt") && r.stdout.contains("ham 60 learnt"), "\(r.stdout)")
        let stats = try system.postamt(["spam", "stats"])
        #expect(stats.stdout.contains("60 spam, 60 ham") && stats.stdout.contains("byte-gram model: 60 spam, 60 ham learnt, counts 12 % of its full share"),
                "\(stats.stdout)")
        // The filter's X-Spam-Bayes names both parts now.
        let check = try run("\(system.root)/bin/postamt-spamcheck", [], input: Data("Message-ID: <n@x>\nFrom: Prize Desk <win@offers.test>\nSubject: cheap pills 99\n\nbuy cheap pills casino winner\n".utf8),
                            environment: system.environment)
        #expect(check.stdout.contains("X-Spam-Bayes: ") && check.stdout.contains(" grams("), "\(check.stdout.prefix(600)) \(check.stderr)")
    }

    @Test func aCrashOrHangInTheChecksPassesTheMessageUnscanned() throws {
        let system = try Installation(config: offlineSpamSettings + "\nspam_time_limit = 1s\n")
        try system.installSpamcheck()
        let message = Data("From: a@b.test\nSubject: hi\n\nbody\n".utf8)
        for fault in ["crash", "hang", "overflow"] {
            let r = try run("\(system.root)/bin/postamt-spamcheck", [], input: message,
                            environment: system.environment.merging(["POSTAMT_SPAMCHECK_FAULT": fault]) { $1 })
            #expect(r.status == 3, "\(fault): \(r.stderr)")
            #expect(r.stdout.hasPrefix("X-Spam-Status: No, score=0.0, tests=UNSCANNED(0.0)\n"), "\(fault)")
            #expect(r.stdoutData.suffix(message.count) == message)
            #expect(r.stderr.contains("message passed unscanned"))
        }
        // In front of the queue, the message is queued.
        try system.startRunner()
        let queued = try system.spamcheckQueue(message: message, envelope: envelope("a@b.test", ["x@\(system.hostname)"]),
                                               environment: ["POSTAMT_SPAMCHECK_FAULT": "crash"])
        #expect(queued.status == 0, "\(queued.stderr)")
        #expect(queued.stderr.contains("message passed unscanned"))
    }

    @Test func nightlyLearningFollowsWhatTheUserMoved() throws {
        let user = try TestUser()
        let system = try Installation(config: offlineSpamSettings)
        let maildir = "\(user.home)/Maildir"
        for folder in ["", "/.Junk"] {
            for sub in ["cur", "new", "tmp"] {
                try FileManager.default.createDirectory(atPath: "\(maildir)\(folder)/\(sub)", withIntermediateDirectories: true)
            }
        }
        for i in 0..<3 { try "Message-ID: <j\(i)@x>\nSubject: pills\n\ncheap pills\n".write(toFile: "\(maildir)/.Junk/cur/j\(i):2,S", atomically: true, encoding: .utf8) }
        for i in 0..<2 { try "Message-ID: <h\(i)@x>\nSubject: lunch\n\nlunch today\n".write(toFile: "\(maildir)/cur/h\(i):2,S", atomically: true, encoding: .utf8) }
        try "Message-ID: <unread@x>\nSubject: ?\n\nnot read yet\n".write(toFile: "\(maildir)/new/u1", atomically: true, encoding: .utf8)
        for _ in 0..<2 {
            let r = try system.postamt(["spam", "learn-folders", user.name])
            #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        }
        #expect(try system.postamt(["spam", "stats"]).stdout.contains("3 spam, 2 ham"))
        // The user takes one message out of Junk: the next night it counts as ham.
        try FileManager.default.moveItem(atPath: "\(maildir)/.Junk/cur/j0:2,S", toPath: "\(maildir)/cur/j0:2,S")
        let moved = try system.postamt(["spam", "learn-folders", user.name])
        #expect(moved.stdout.contains("ham 0 learnt, 1 moved"), "\(moved.stdout)")
        #expect(try system.postamt(["spam", "stats"]).stdout.contains("2 spam, 3 ham"))
    }
}

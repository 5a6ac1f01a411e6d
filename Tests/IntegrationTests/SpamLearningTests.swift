import Foundation
import Glibc
import Testing

/// Learning as users sort: a real IMAP client (Python's imapclient) moves a message into Junk
/// through postamt-imapd, `postamt spam learn-queue` applies the queue imapd left, and the next
/// similar message scores higher with postamt-spamcheck; moved back out, it counts as ham.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct SpamLearningTests {
    static let moveScript = #"""
    import sys, imapclient
    port, source, target = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    c = imapclient.IMAPClient('127.0.0.1', port=port, ssl=False)
    c.select_folder(source)
    uids = c.search(['SUBJECT', 'replica'])
    print(source, uids); assert len(uids) == 1, uids
    c.move(uids, target)
    c.logout(); print('OK')
    """#

    func hams(_ i: Int) -> String {
        "From: colleague\(i)@work.test\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <h\(i)@work.test>\n"
            + "Subject: project meeting \(i)\n\nHello, the project meeting about the budget report is on Tuesday. "
            + "Please bring the quarterly figures and the draft agenda \(i).\n"
    }

    func spams(_ i: Int) -> String {
        "From: deals\(i)@offers.test\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <s\(i)@offers.test>\n"
            + "Subject: cheap pills offer \(i)\n\nBuy cheap pills now, best pharmacy prices, limited offer, order today \(i).\n"
    }

    func watches(_ i: Int) -> String {
        "From: seller\(i)@shop.test\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <w\(i)@shop.test>\n"
            + "Subject: replica watches \(i)\n\nSwiss replica watches, rolex omega breitling, luxury replicas shipped worldwide \(i).\n"
    }

    /// The Bayes score postamt-spamcheck puts in X-Spam-Bayes: (filter mode).
    func bayesScore(_ system: Installation, _ message: String) throws -> Double {
        let r = try run("\(system.root)/bin/postamt-spamcheck", [], input: Data(message.utf8), environment: system.environment)
        guard let line = r.stdout.split(separator: "\n").first(where: { $0.hasPrefix("X-Spam-Bayes: ") }),
              let score = Double(line.dropFirst("X-Spam-Bayes: ".count).split(separator: " ")[0]) else {
            throw HarnessError("no X-Spam-Bayes: \(r.stdout.prefix(600)) \(r.stderr)")
        }
        return score
    }

    func moveWithIMAP(_ system: Installation, _ user: TestUser, from source: String, to target: String) throws -> String {
        let server = try IMAPListener(system, arguments: ["--preauth", user.name])
        let result = try PythonClient.run(Self.moveScript, [String(server.port), source, target])
        #expect(result.status == 0 && result.stdout.hasSuffix("OK\n"), "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
        server.stop()
        return server.logText()
    }

    func queued(_ user: TestUser) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(user.home)/Maildir/postamt-spamlearn/new")) ?? []).sorted()
    }

    @Test(.enabled(if: PythonClient.hasIMAPClient, "needs Python's imapclient (pip install imapclient)"))
    func movingIntoJunkTeachesSpamAndOutOfItHam() throws {
        let user = try TestUser()
        let system = try Installation(config: offlineSpamSettings + "\nspam_spf = no\nspam_dkim = no\nspam_dmarc = no\n")
        try system.installSpamcheck()
        let training = "\(system.root)/training"
        for (kind, make) in [("ham", hams), ("spam", spams)] {
            try FileManager.default.createDirectory(atPath: "\(training)/\(kind)", withIntermediateDirectories: true)
            for i in 0..<6 { try make(i).write(toFile: "\(training)/\(kind)/\(i)", atomically: true, encoding: .utf8) }
            let r = try system.postamt(["spam", "learn", "--\(kind)", "\(training)/\(kind)"])
            #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        }
        let before = try bayesScore(system, watches(100))

        // Into Junk with IMAP MOVE: queued as spam, a hard link to the message, not a copy.
        try user.deliver(watches(1))
        let log = try moveWithIMAP(system, user, from: "INBOX", to: "Junk")
        let entries = queued(user)
        #expect(entries.count == 1 && entries.first?.hasSuffix(",spam") == true, "\(entries) \(log)")
        let junkFiles = try FileManager.default.contentsOfDirectory(atPath: "\(user.home)/Maildir/.Junk/cur")
        var entry = stat(), junk = stat()
        stat("\(user.home)/Maildir/postamt-spamlearn/new/\(entries.first ?? "")", &entry)
        stat("\(user.home)/Maildir/.Junk/cur/\(junkFiles.first ?? "")", &junk)
        #expect(junkFiles.count == 1 && entry.st_ino == junk.st_ino, "the entry is a hard link to the moved message")

        let learnt = try system.postamt(["spam", "learn-queue", user.name])
        #expect(learnt.status == 0 && learnt.stdout.contains("1 learnt as spam"), "\(learnt.stdout) \(learnt.stderr)")
        #expect(queued(user).isEmpty)
        let after = try bayesScore(system, watches(101))
        #expect(after > before, "before \(before), after \(after)")
        let stats = try system.postamt(["spam", "stats"])
        #expect(stats.stdout.contains(": 7 spam, 6 ham"), "\(stats.stdout)")

        // Out of Junk again: the same message moves over to ham.
        _ = try moveWithIMAP(system, user, from: "Junk", to: "INBOX")
        #expect(queued(user).first?.hasSuffix(",ham") == true, "\(queued(user))")
        let back = try system.postamt(["spam", "learn-queue", user.name])
        #expect(back.status == 0 && back.stdout.contains("1 as ham"), "\(back.stdout) \(back.stderr)")
        let stats2 = try system.postamt(["spam", "stats"])
        #expect(stats2.stdout.contains(": 6 spam, 7 ham"), "\(stats2.stdout)")
        #expect(try bayesScore(system, watches(102)) < after)
    }

    @Test(.enabled(if: PythonClient.hasIMAPClient, "needs Python's imapclient (pip install imapclient)"))
    func theNightlyJobDrainsTheQueueToo() throws {
        let user = try TestUser()
        let system = try Installation(config: offlineSpamSettings)
        try user.deliver(watches(1))
        _ = try moveWithIMAP(system, user, from: "INBOX", to: "Junk")
        #expect(queued(user).count == 1)
        let nightly = try system.postamt(["spam", "learn-folders", user.name])
        #expect(nightly.status == 0 && nightly.stdout.contains("queue: 1 learnt as spam"), "\(nightly.stdout) \(nightly.stderr)")
        #expect(queued(user).isEmpty)
    }

    @Test(.enabled(if: PythonClient.hasIMAPClient, "needs Python's imapclient (pip install imapclient)"))
    func movesBetweenOrdinaryFoldersQueueNothing() throws {
        let user = try TestUser()
        let system = try Installation(config: offlineSpamSettings)
        try user.deliver(watches(1))
        _ = try moveWithIMAP(system, user, from: "INBOX", to: "Archive")
        #expect(queued(user).isEmpty)
        _ = try moveWithIMAP(system, user, from: "Archive", to: "Trash")
        #expect(queued(user).isEmpty)
    }
}

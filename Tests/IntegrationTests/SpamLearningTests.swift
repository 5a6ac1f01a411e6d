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

    /// spam_database = per-user: root's learn-queue becomes the user before it learns, so the
    /// user's database (users/USER/tokens.db) belongs to the user, group of the mail_owner, in a
    /// set-gid 2750 directory; a database of the old layout (users/USER.db, root's) is moved
    /// there and handed over by the first `postamt spam` command root runs for the user.
    @Test(.enabled(if: PythonClient.hasIMAPClient, "needs Python's imapclient (pip install imapclient)"))
    func perUserDatabasesAreWrittenAsTheUser() throws {
        let user = try TestUser()
        let system = try Installation(config: offlineSpamSettings + "\nspam_database = per-user\nspam_spf = no\nspam_dkim = no\nspam_dmarc = no\n")
        try system.installSpamcheck()
        let spamDirectory = "\(system.root)/var/lib/postamt/spam"
        let legacy = "\(spamDirectory)/users/\(user.name).db"
        let directory = "\(spamDirectory)/users/\(user.name)"
        let database = "\(directory)/tokens.db"
        let training = "\(system.root)/training"
        for (kind, make) in [("ham", hams), ("spam", spams)] {
            try FileManager.default.createDirectory(atPath: "\(training)/\(kind)", withIntermediateDirectories: true)
            for i in 0..<6 { try make(i).write(toFile: "\(training)/\(kind)/\(i)", atomically: true, encoding: .utf8) }
        }
        // The old layout, as root made it.
        let old = try system.postamt(["spam", "learn", "--ham", "--database", legacy, "\(training)/ham"])
        #expect(old.status == 0, "\(old.stdout) \(old.stderr)")
        // The filter reads it until it is moved.
        let unmoved = try run("\(system.root)/bin/postamt-spamcheck", ["-u", user.name], input: Data(watches(99).utf8), environment: system.environment)
        #expect(!unmoved.stdout.contains("no spam token database yet"), "\(unmoved.stdout)")

        let learnt = try system.postamt(["spam", "learn", "--spam", "--user", user.name, "\(training)/spam"])
        #expect(learnt.status == 0 && learnt.stdout.contains("moved \(legacy) to \(database)"), "\(learnt.stdout) \(learnt.stderr)")
        #expect(!FileManager.default.fileExists(atPath: legacy))
        let mailGroup = getgrnam("postamt").pointee.gr_gid
        var st = stat()
        #expect(stat(directory, &st) == 0 && st.st_uid == user.uid && st.st_gid == mailGroup && st.st_mode & 0o7777 == 0o2750,
                "directory \(st.st_uid) \(st.st_gid) \(String(st.st_mode, radix: 8))")
        #expect(stat(database, &st) == 0 && st.st_uid == user.uid && st.st_gid == mailGroup, "handed over after root learnt: \(st.st_uid)")
        let stats = try system.postamt(["spam", "stats", "--user", user.name])
        #expect(stats.stdout.contains(": 6 spam, 6 ham"), "\(stats.stdout) \(stats.stderr)")

        func bayes(_ message: String) throws -> Double {
            let r = try run("\(system.root)/bin/postamt-spamcheck", ["-u", user.name], input: Data(message.utf8), environment: system.environment)
            guard let line = r.stdout.split(separator: "\n").first(where: { $0.hasPrefix("X-Spam-Bayes: ") }),
                  let score = Double(line.dropFirst("X-Spam-Bayes: ".count).split(separator: " ")[0]) else {
                throw HarnessError("no X-Spam-Bayes: \(r.stdout.prefix(600)) \(r.stderr)")
            }
            return score
        }
        let before = try bayes(watches(100))
        // Make root's files root's again, as a version before this layout left them: the learner
        // must not need them to be the user's already (root gives them back before it forks).
        chown(database, 0, 0)
        try user.deliver(watches(1))
        let log = try moveWithIMAP(system, user, from: "INBOX", to: "Junk")
        #expect(queued(user).count == 1, "\(log)")
        let queue = try system.postamt(["spam", "learn-queue", user.name])
        #expect(queue.status == 0 && queue.stdout.contains("1 learnt as spam"), "\(queue.stdout) \(queue.stderr)")
        #expect(queued(user).isEmpty)
        // Replaced by the learner: a new file, made by the user in the set-gid directory.
        #expect(stat(database, &st) == 0 && st.st_uid == user.uid && st.st_gid == mailGroup, "owner \(st.st_uid):\(st.st_gid)")
        var lock = stat()
        #expect(stat(database + ".lock", &lock) == 0 && lock.st_uid == user.uid)
        let after = try bayes(watches(101))
        #expect(after > before, "before \(before), after \(after)")
        // The nightly job as root learns as the user too.
        try user.deliver(watches(2))
        _ = try moveWithIMAP(system, user, from: "INBOX", to: "Junk")
        let nightly = try system.postamt(["spam", "learn-folders", user.name])
        #expect(nightly.status == 0 && nightly.stdout.contains("queue: 1 learnt as spam"), "\(nightly.stdout) \(nightly.stderr)")
        #expect(stat(database, &st) == 0 && st.st_uid == user.uid)
    }
}

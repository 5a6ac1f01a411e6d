import Foundation
import Glibc
import Testing

/// Maildir++ quotas at delivery, with real users, the real runner and postamt-local.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct QuotaTests {
    /// Filler that makes a message about `bytes` long.
    func body(_ bytes: Int) -> String { String(repeating: String(repeating: "q", count: 99) + "\n", count: bytes / 100) }

    @Test func overQuotaWaitsInTheQueueAndArrivesAfterCleanup() throws {
        let user = try TestUser(), sender = try TestUser()
        // The default (1k) would refuse the first message: the user's line in the quota file
        // (6k) must be what counts.
        let system = try Installation(config: "quota = 1k\nquota_warning_thresholds = 50, 99\n")
        try "# user  size  messages\n\(user.name)  6k\n".write(toFile: "\(system.root)/etc/postamt/quotas", atomically: true, encoding: .utf8)
        try system.startRunner()
        _ = try system.sendmail(["-i", "-f", sender.name, user.name], "Subject: first\n\n" + body(3000))
        // The first crosses 50 %: delivered, and a warning beside it.
        try waitFor("first and warning") { user.messages().count == 2 }
        let texts = user.messages()
        #expect(texts.contains { $0.contains("Subject: first\n") })
        let warning = texts.first { $0.contains("Subject: Your mailbox is 50% full\n") }
        #expect(warning != nil)
        #expect(warning?.contains("Auto-Submitted: auto-generated\n") == true)
        let sizeFile = try String(contentsOfFile: "\(user.home)/Maildir/maildirsize", encoding: .utf8)
        #expect(sizeFile.hasPrefix("6144S\n"), "\(sizeFile)")
        var st = stat()
        stat("\(user.home)/Maildir/maildirsize", &st)
        #expect(st.st_uid == user.uid)

        // The second does not fit: a temporary failure, the message stays queued, nothing
        // bounces.
        _ = try system.sendmail(["-i", "-f", sender.name, user.name], "Subject: second\n\n" + body(3000))
        try waitFor("deferral") { system.log().contains("status=deferred (mailbox full:") }
        #expect(system.log().contains("limit 6144S, message "))
        #expect(system.log().contains("(#4.2.2)"))
        #expect(user.messages().count == 2)
        #expect(!system.queueIsEmpty)
        #expect(sender.messages().isEmpty)

        // The user deletes the first message; the next retry delivers the second.
        let names = try FileManager.default.contentsOfDirectory(atPath: user.maildirNew)
        for name in names where (try? String(contentsOfFile: "\(user.maildirNew)/\(name)", encoding: .utf8))?.contains("Subject: first\n") == true {
            try FileManager.default.removeItem(atPath: "\(user.maildirNew)/\(name)")
        }
        #expect(try system.postamt(["queue", "flush"]).status == 0)
        try waitFor("second delivered after cleanup") { user.messages().contains { $0.contains("Subject: second\n") } }
        try waitFor("queue empty") { system.queueIsEmpty }
        #expect(sender.messages().isEmpty)

        // postamt quota USER recalculates and tells the same as the files.
        let report = try system.postamt(["quota", user.name])
        #expect(report.status == 0, "\(report.stderr)")
        let total = user.messageData().reduce(0) { $0 + $1.count }
        #expect(report.stdout.contains("\(total) bytes of 6144"), "\(report.stdout)")
        #expect(report.stdout.contains("\(user.messages().count) messages"), "\(report.stdout)")
    }

    @Test func bounceWhenConfiguredSo() throws {
        let user = try TestUser(), sender = try TestUser()
        let system = try Installation(config: "quota = 2k\nquota_exceeded = bounce\nquota_warning_thresholds =\n")
        try system.startRunner()
        _ = try system.sendmail(["-i", "-f", sender.name, user.name], "Subject: too big\n\n" + body(3000))
        try waitFor("bounce") { sender.messages().count == 1 }
        #expect(sender.messages()[0].contains("5.2.2"))
        #expect(user.messages().isEmpty)
    }

    @Test func checkNamesBadQuotaSettings() throws {
        let system = try Installation(config: "quota_exceeded = later\nquota_warning_thresholds = 80, 200\npop3_uidl_format = uid\n")
        try "alice 1G\nbob many\nalice 2G\n".write(toFile: "\(system.root)/etc/postamt/quotas", atomically: true, encoding: .utf8)
        let r = try system.postamt(["check"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("quota_exceeded: 'later' is not defer or bounce"), "\(r.stdout)")
        #expect(r.stdout.contains("quota_warning_thresholds: '200' is not a percentage from 1 to 100"))
        #expect(r.stdout.contains("pop3_uidl_format: 'uid' is not basename or dovecot"))
        #expect(r.stdout.contains("quotas:2: expected 'user  size [messages]'"))
        #expect(r.stdout.contains("quotas:3: alice is listed twice; the first line counts"))
    }

    @Test func aDamagedQuotaLineDefersInsteadOfIgnoringTheLimit() throws {
        let user = try TestUser()
        let system = try Installation(config: "quota = 1M\n")
        try "\(user.name)  lots\n".write(toFile: "\(system.root)/etc/postamt/quotas", atomically: true, encoding: .utf8)
        try system.startRunner()
        _ = try system.sendmail(["-i", user.name], "Subject: waits\n\nx\n")
        try waitFor("deferral") { system.log().contains("status=deferred (cannot tell \(user.name)'s quota:") }
        #expect(system.log().contains("quotas:1: expected 'user  size [messages]'"))
        #expect(user.messages().isEmpty)
        try "\(user.name)  1M\n".write(toFile: "\(system.root)/etc/postamt/quotas", atomically: true, encoding: .utf8)
        #expect(try system.postamt(["queue", "flush"]).status == 0)
        try waitFor("delivered once the line is fixed") { user.messages().count == 1 }
    }
}

/// RFC 9208 QUOTA and RFC 7889 APPENDLIMIT in postamt-imapd, with Python's imaplib.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct IMAPQuotaTests {
    static let script = #"""
    import imaplib, sys
    c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
    caps = c.capabilities
    assert "QUOTA" in caps and "QUOTA=RES-STORAGE" in caps and "QUOTA=RES-MESSAGE" in caps, caps
    assert "APPENDLIMIT=1048576" in caps, caps
    assert "QUOTASET" not in caps, caps
    typ, data = c.getquotaroot("INBOX")
    assert typ == "OK", data
    # [[b'INBOX ""'], [b'"" (STORAGE 1 8 MESSAGE 1 3)']]
    assert data[0] == [b'INBOX ""'], data
    storage_used = int(data[1][0].split(b"STORAGE ")[1].split()[0])
    assert data[1][0].startswith(b'"" (STORAGE '), data
    assert data[1][0].endswith(b" 8 MESSAGE 1 3)"), data
    typ, data = c.getquota('""')
    assert typ == "OK" and data[0].startswith(b'"" (STORAGE '), data
    typ, data = c._simple_command("GETQUOTA", "nosuchroot")  # the tagged reply's text
    assert typ == "NO" and b"NONEXISTENT" in data[0], data
    # 6000 octets more fit within 8k, 3000 more do not: by storage.
    big = b"Subject: big\r\n\r\n" + b"x" * 6000 + b"\r\n"
    typ, data = c.append("INBOX", None, None, big)
    assert typ == "OK", data
    typ, data = c.append("INBOX", None, None, b"Subject: more\r\n\r\n" + b"y" * 3000 + b"\r\n")
    assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
    c.select("INBOX")
    typ, data = c.search(None, "LARGER", "5000")
    big_seq = data[0].decode()
    assert big_seq, data
    typ, data = c.copy(big_seq, "INBOX")
    assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
    # The third message fits, a fourth not: by count.
    typ, data = c.append("INBOX", None, None, b"Subject: small\r\n\r\nx\r\n")
    assert typ == "OK", data
    typ, data = c.append("INBOX", None, None, b"Subject: small\r\n\r\nx\r\n")
    assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
    # MOVE stays within the quota root: allowed even when full.
    c.create("Archive")
    typ, data = c._simple_command("MOVE", big_seq, "Archive")
    assert typ == "OK", data
    # After an expunge there is room again.
    c.select("Archive")
    c.uid("STORE", "1", "+FLAGS", r"(\Deleted)")
    c.expunge()
    typ, data = c.append("INBOX", None, None, b"Subject: small\r\n\r\nx\r\n")
    assert typ == "OK", data
    c.logout()
    print("OK")
    """#

    @Test func quotaRootsOverQuotaAndAppendLimit() throws {
        let installation = try Installation(config: "quota = 8k\nquota_messages = 3\nimap_max_message_size = 1M\nimap_plaintext_auth = yes\n")
        let user = try TestUser()
        try user.deliver("From: a@example.org\nSubject: one\n\nx\n")
        let server = try IMAPListener(installation, arguments: ["--preauth", user.name])
        let result = try PythonClient.run(IMAPQuotaTests.script, [String(server.port)])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
        #expect(result.stdout.hasSuffix("OK\n"))
        // The appends were counted in the user's maildirsize, which stays theirs.
        let sizeFile = try String(contentsOfFile: "\(user.home)/Maildir/maildirsize", encoding: .utf8)
        #expect(sizeFile.hasPrefix("8192S,3C\n"), "\(sizeFile)")
    }
}

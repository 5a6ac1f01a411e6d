import Foundation
import Glibc
import Testing
import TestSupport

/// postamt-smtpd for real: the built binary behind postamt-listen on 127.0.0.1, real TLS with
/// a throw-away certificate, postamt-auth with PAM and a real user, the runner delivering into
/// the user's Maildir.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct SMTPDaemonTests {
    static let ehloMX = """
        S: 250-mx.example.org
        S: 250-PIPELINING
        S: 250-SIZE 52428800
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-ENHANCEDSTATUSCODES
        S: 250-CHUNKING
        S: 250-DSN
        S: 250 STARTTLS
        """
    static let greeting = "S: 220 mx.example.org ESMTP Postamt"

    /// The golden transcripts' world (SMTPProtocolTests): host mx.example.org, local domain
    /// example.org, alice and bob (here aliases of one real user).
    func transcriptSite(_ user: TestUser, config: String = "") throws -> SMTPSite {
        try SMTPSite(config: """
            myhostname = mx.example.org
            local_domains = example.org
            smtpd_error_limit = 100
            smtpd_soft_error_limit = 100
            \(config)
            """, aliases: "alice: \(user.name)\nbob: \(user.name)\npostmaster: \(user.name)\n")
    }

    @Test func goldenTranscriptsAgainstTheBinary() throws {
        let user = try TestUser()
        let site = try transcriptSite(user)
        let port = try site.start("mx")
        // ServerTranscriptTests "a complete delivery with dot-stuffing".
        try runTranscriptAgainstServer("""
            \(Self.greeting)
            C: EHLO client.example
            \(Self.ehloMX)
            C: MAIL FROM:<sender@remote.example> SIZE=100 BODY=8BITMIME
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.org>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            C: Subject: hi
            C:
            C: ..leading dot
            C: .
            S~ 250 2.0.0 Ok: queued as
            C: QUIT
            S: 221 2.0.0 mx.example.org closing connection
            """, port: port)
        // "pipelined transaction in one feed (RFC 2920)".
        try runTranscriptAgainstServer("""
            \(Self.greeting)
            C: EHLO client.example
            \(Self.ehloMX)
            C: MAIL FROM:<sender@remote.example>
            C: RCPT TO:<alice@example.org>
            C: RCPT TO:<nosuchuser@example.org>
            C: RCPT TO:<bob@example.org>
            C: DATA
            C: Hello
            C: .
            C: MAIL FROM:<>
            C: RCPT TO:<Postmaster>
            C: DATA
            C: Bounce
            C: .
            C: QUIT
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 550 5.1.1 <nosuchuser@example.org>: Recipient address rejected: User unknown
            S: 250 2.1.5 Ok
            S: 354 End data with <CR><LF>.<CR><LF>
            S~ 250 2.0.0 Ok: queued as
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 354 End data with <CR><LF>.<CR><LF>
            S~ 250 2.0.0 Ok: queued as
            S: 221 2.0.0 mx.example.org closing connection
            """, port: port)
        // "HELO session: plain SMTP, no parameters".
        try runTranscriptAgainstServer("""
            \(Self.greeting)
            C: HELO client.example
            S: 250 mx.example.org
            C: MAIL FROM:<a@remote.example> SIZE=10
            S: 555 5.5.4 Parameters need EHLO
            C: MAIL FROM:<a@remote.example>
            S: 250 2.1.0 Ok
            C: RSET
            S: 250 2.0.0 Ok
            C: HELO
            S: 501 5.5.4 Syntax: HELO hostname
            C: EHLO bad(name)
            S: 501 5.5.2 Invalid EHLO hostname
            C: QUIT
            S: 221 2.0.0 mx.example.org closing connection
            """, port: port)
        // Relaying from an untrusted, unauthenticated client (the MX role).
        try runTranscriptAgainstServer("""
            \(Self.greeting)
            C: EHLO client.example
            \(Self.ehloMX)
            C: MAIL FROM:<a@remote.example>
            S: 250 2.1.0 Ok
            C: RCPT TO:<someone@elsewhere.example>
            S: 554 5.7.1 <someone@elsewhere.example>: Relay access denied
            C: VRFY alice
            S~ 252 2.
            C: QUIT
            S: 221 2.0.0 mx.example.org closing connection
            """, port: port)
        // SmugglingAndChunkingTests: every fake end of data.
        let fakeEnds: [(String, String)] = [
            (#"\n.\n"#, "bare"), (#"\r.\r"#, "bare"), (#"\n.\r\n"#, "bare"), (#"\r\n.\n"#, "bare"), (#"\r.\r\n"#, "bare"),
            (#"\r\n.\r"#, "bare"), (#"\r\n.\r\r\n"#, "bare"), (#"\n\n.\r\n"#, "bare"), (#"\r\n\0.\r\n"#, "NUL"), (#"\r\n.\0\r\n"#, "NUL"),
        ]
        for (fakeEnd, kind) in fakeEnds {
            let reply = kind == "NUL" ? "550 5.6.0 Message refused: NUL octet in message"
                : "550 5.6.0 Message refused: bare CR or LF; lines must end with CRLF (RFC 5321 2.3.8)"
            try runTranscriptAgainstServer(#"""
                \#(Self.greeting)
                C: EHLO client.example
                \#(Self.ehloMX)
                C: MAIL FROM:<a@remote.example>
                C: RCPT TO:<alice@example.org>
                C: DATA
                S: 250 2.1.0 Ok
                S: 250 2.1.5 Ok
                S: 354 End data with <CR><LF>.<CR><LF>
                C| Subject: smuggling\r\n\r\nbody\#(fakeEnd)MAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n.\r\n
                S: \#(reply)
                C: NOOP
                S: 250 2.0.0 Ok
                C: QUIT
                S: 221 2.0.0 mx.example.org closing connection
                """#, port: port)
        }
        // Three messages were accepted; none of the smuggling attempts left anything.
        try waitFor("deliveries", timeout: 60) { user.messages().count >= 3 && site.system.queueIsEmpty }
        let messages = user.messages()
        #expect(messages.contains { $0.contains("\n.leading dot\n") && $0.contains("Received: from client.example ([127.0.0.1])") })
        #expect(messages.contains { $0.contains("\nBounce\n") })
        #expect(!messages.contains { $0.contains("smuggl") || $0.contains("evil") })
        #expect(site.nothingInFlight)
    }

    @Test func hostileClients() throws {
        let user = try TestUser()
        let site = try transcriptSite(user, config: """
            smtpd_plaintext_auth = yes
            smtpd_mx_auth = yes
            """)
        let port = try site.start("mx")
        // A 100 KB command line.
        try runTranscriptAgainstServer("""
            \(Self.greeting)
            C: EHLO \(String(repeating: "a", count: 100_000))
            S: 500 5.5.6 Line too long (limit 2048 octets)
            C: NOOP
            S: 250 2.0.0 Ok
            C: MAIL FROM:<a@remote.example> SIZE=99999999999999
            S: 503 5.5.1 Bad sequence of commands: Send HELO/EHLO first
            C: EHLO client.example
            S~ 250-mx.example.org
            S~ 250-PIPELINING
            S~ 250-SIZE
            S~ 250-8BITMIME
            S~ 250-SMTPUTF8
            S~ 250-ENHANCEDSTATUSCODES
            S~ 250-CHUNKING
            S~ 250-DSN
            S~ 250-STARTTLS
            S: 250 AUTH PLAIN LOGIN
            C: MAIL FROM:<a@remote.example> SIZE=99999999999999
            S: 552 5.3.4 Message size exceeds fixed maximum message size (52428800)
            C: MAIL FROM:<`id`@remote.example>
            S: 553 5.1.7 Sender address contains characters this server does not accept
            C: MAIL FROM:<$(reboot)@remote.example>
            S~ 501 5.1.7 Bad sender address syntax
            C: MAIL FROM:<"$(reboot)"@remote.example>
            S: 553 5.1.7 Sender address contains characters this server does not accept
            C: AUTH PLAIN !!!not-base64!!!
            S: 501 5.5.2 Cannot decode response: invalid base64
            C: AUTH LOGIN
            S: 334 VXNlcm5hbWU6
            C: %%%%
            S: 501 5.5.2 Cannot decode response: invalid base64
            C: QUIT
            S: 221 2.0.0 mx.example.org closing connection
            """, port: port)

        // 10,000 RCPTs pipelined: 100 taken, the rest 452, and one message with 100 recipients.
        let client = try RawSMTPClient(port: port)
        _ = client.readReplies()
        client.send("EHLO client.example\r\n")
        _ = client.readReplies()
        var burst = "MAIL FROM:<a@remote.example>\r\n"
        for n in 0..<10_000 { burst += "RCPT TO:<alice+\(n)@example.org>\r\n" }
        burst += "DATA\r\n"
        client.send(burst)
        let replies = client.readReplies(10_002, timeout: 60)
        let lines = replies.split(separator: "\r\n")
        #expect(lines.count == 10_002)
        #expect(lines.filter { $0 == "250 2.1.5 Ok" }.count == 100)
        #expect(lines.filter { $0 == "452 4.5.3 Too many recipients" }.count == 9_900)
        #expect(lines.last == "354 End data with <CR><LF>.<CR><LF>")
        client.send("Subject: many\r\n\r\nhello\r\n.\r\nQUIT\r\n")
        #expect(client.readReplies(2).hasPrefix("250 2.0.0 Ok: queued as "))
        try waitFor("the delivery", timeout: 120) { user.messages().contains { $0.contains("Subject: many") } && site.system.queueIsEmpty }
        #expect(site.nothingInFlight)
    }

    @Test func timeLimitsEndSlowClients() throws {
        let user = try TestUser()
        let site = try transcriptSite(user, config: """
            smtpd_idle_timeout = 2s
            smtpd_session_timeout = 5s
            """)
        let port = try site.start("mx")
        // Silent: the idle timeout.
        let idle = try RawSMTPClient(port: port)
        #expect(idle.readReplies().hasPrefix("220 "))
        #expect(idle.readReplies(timeout: 30) == "421 4.4.2 mx.example.org Error: timeout exceeded, closing connection\r\n")
        #expect(idle.closedByServer())
        // One byte a second, inside DATA: never idle, but the session limit ends it and
        // nothing is queued.
        let slow = try RawSMTPClient(port: port)
        _ = slow.readReplies()
        slow.send("EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
        _ = slow.readReplies(4)
        var answer = ""
        for byte in Array("Subject: slow\r\n\r\n".utf8) + Array(repeating: UInt8(ascii: "x"), count: 30) {
            slow.send([byte])
            answer += String(decoding: slow.read(atLeast: 1, timeout: 1), as: UTF8.self)
            if answer.contains("421") { break }
        }
        #expect(answer == "421 4.4.2 mx.example.org Error: timeout exceeded, closing connection\r\n")
        #expect(slow.closedByServer())
        #expect(site.log().contains("session time limit reached"))
        Thread.sleep(forTimeInterval: 1)
        #expect(user.messages().isEmpty)
        #expect(site.nothingInFlight)
    }

    @Test func trustedNetworksRelayWithoutAuth() throws {
        let user = try TestUser()
        let site = try transcriptSite(user, config: "smtpd_trusted_networks = 192.0.2.0/24, 127.0.0.0/8")
        let port = try site.start("submission")
        try runTranscriptAgainstServer("""
            \(Self.greeting)
            C: EHLO client.example
            S~ 250-mx.example.org
            S~ 250-PIPELINING
            S~ 250-SIZE
            S~ 250-8BITMIME
            S~ 250-SMTPUTF8
            S~ 250-ENHANCEDSTATUSCODES
            S~ 250-CHUNKING
            S~ 250-DSN
            S: 250 STARTTLS
            C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
            S: 538 5.7.11 Encryption required for requested authentication mechanism
            C: MAIL FROM:<alice@example.org>
            S: 250 2.1.0 Ok
            C: RCPT TO:<someone@elsewhere.example>
            S: 250 2.1.5 Ok
            C: RCPT TO:<alice@example.org>
            S: 250 2.1.5 Ok
            C: QUIT
            S: 221 2.0.0 mx.example.org closing connection
            """, port: port)
    }

    /// One message over a raw connection to the mx role: the greeting, HELO, MAIL, RCPT to alice,
    /// DATA, then `subject` and one line of body; the reply to the end of the data.
    func sendRaw(port: UInt16, subject: String, body: String = "body\r\n") throws -> String {
        let client = try RawSMTPClient(port: port)
        _ = client.readReplies()
        client.send("HELO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
        _ = client.readReplies(4)
        client.send("Subject: \(subject)\r\n\r\n\(body).\r\n")
        return client.readReplies()
    }

    @Test func filtersSitBetweenSmtpdAndTheQueue() throws {
        let user = try TestUser()
        let directory = makeTemporaryDirectory(prefix: "postamt-filter")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod(directory, 0o755)
        let first = "\(directory)/add-header", second = "\(directory)/add-another", failing = "\(directory)/fail"
        try "#!/bin/sh\necho 'X-Filter-One: yes'\nexec cat\n".write(toFile: first, atomically: true, encoding: .utf8)
        try "#!/bin/sh\necho 'X-Filter-Two: yes'\nexec cat\n".write(toFile: second, atomically: true, encoding: .utf8)
        try "#!/bin/sh\ncat >/dev/null\necho 'filter: broken on purpose' >&2\nexit 1\n".write(toFile: failing, atomically: true, encoding: .utf8)
        for path in [first, second, failing] { chmod(path, 0o755) }
        let site = try transcriptSite(user, config: "smtpd_filters = \(first), \(second)")
        let port = try site.start("mx")
        #expect(try sendRaw(port: port, subject: "filtered").hasPrefix("250 2.0.0 Ok: queued as "))
        try waitFor("the filtered message", timeout: 60) { user.messages().contains { $0.contains("Subject: filtered") } }
        let message = user.messages().first { $0.contains("Subject: filtered") } ?? ""
        // Filter one ran first, so filter two's header is above it.
        #expect(message.contains("X-Filter-Two: yes\nX-Filter-One: yes\nReceived: from c ([127.0.0.1])"))

        let failingSite = try transcriptSite(user, config: "smtpd_filters = \(failing)")
        let failingPort = try failingSite.start("mx")
        #expect(try sendRaw(port: failingPort, subject: "not filtered").hasPrefix("451 4.3.0 Error: queue: filter \(failing) failed"))
        #expect(failingSite.nothingInFlight)
        #expect(failingSite.system.queueIsEmpty)
    }

    @Test func dsnParametersReachTheQueueProgram() throws {
        let user = try TestUser()
        let site = try transcriptSite(user)
        let dump = "\(site.system.root)/dsn-dump"
        let recorder = "\(site.system.root)/bin/record-queue"
        // A qmail-queue wrapper that records the side channel, then queues for real.
        try "#!/bin/sh\nprintf '%s|%s' \"$POSTAMT_DSN\" \"$POSTAMT_DSN_RCPT\" > \(dump)\nexec \(site.system.root)/bin/postamt-queue\n"
            .write(toFile: recorder, atomically: true, encoding: .utf8)
        chmod(recorder, 0o755)
        chmod(site.system.root, 0o777)   // the wrapper runs as the mail_owner and writes there
        defer { chmod(site.system.root, 0o755) }
        let port = try site.start("mx", environment: ["POSTAMT_QUEUE": recorder])
        try runTranscriptAgainstServer("""
            \(Self.greeting)
            C: EHLO client.example
            \(Self.ehloMX)
            C: MAIL FROM:<a@remote.example> RET=HDRS ENVID=QQ+2B1
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+40example.org
            S: 250 2.1.5 Ok
            C: RCPT TO:<bob@example.org>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            C: Subject: dsn
            C:
            C: body
            C: .
            S~ 250 2.0.0 Ok: queued as
            C: QUIT
            S: 221 2.0.0 mx.example.org closing connection
            """, port: port)
        let recorded = try String(contentsOfFile: dump, encoding: .utf8)
        #expect(recorded == "RET=HDRS ENVID=QQ+2B1|NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+40example.org\n-")
    }

    /// smtpd_exec_queue: by default smtpd (as the mail_owner, with postamt-queue's group) runs the
    /// queue's code itself, writing the queue file as the message comes: no process for it; with
    /// yes it starts postamt-queue. A wrapper at the installed path leaves a mark only when it is
    /// started; the message arrives either way. Run by smtpd itself, the queue's "queued" line
    /// is in smtpd's log under smtpd's own pid, the pid the Received: line names.
    @Test(arguments: [false, true]) func queueInSmtpdOrStarted(execute: Bool) throws {
        let user = try TestUser()
        let site = try transcriptSite(user, config: "smtpd_exec_queue = \(execute ? "yes" : "no")")
        let bin = "\(site.system.root)/bin"
        let marks = makeTemporaryDirectory(prefix: "postamt-queue-mark")
        defer { try? FileManager.default.removeItem(atPath: marks) }
        chmod(marks, 0o777)
        try wrapProgram("postamt-queue", in: bin, touching: "\(marks)/started")
        let port = try site.start("mx")
        let reply = try sendRaw(port: port, subject: "in smtpd or started")
        #expect(reply.hasPrefix("250 2.0.0 Ok: queued as "))
        let id = reply.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "?"
        try waitFor("the message", timeout: 60) { user.messages().contains { $0.contains("Subject: in smtpd or started") } }
        let message = user.messages().first { $0.contains("Subject: in smtpd or started") } ?? ""
        #expect(message.contains("invoked from network, peer 127.0.0.1"), "\(message)")
        #expect(FileManager.default.fileExists(atPath: "\(marks)/started") == execute)
        let log = (try? String(contentsOfFile: site.listenLog, encoding: .utf8)) ?? ""
        let queued = log.split(separator: "\n").first { $0.contains("]: \(id): queued, from=") }
        if execute {
            #expect(queued == nil, "\(log)")
        } else {
            // "postamt/queue[PID]: ID: queued …" and "Received: (postamt-queue PID invoked …"
            let pid = queued.flatMap { $0.split(separator: "[").dropFirst().first?.split(separator: "]").first }.map(String.init)
            #expect(pid != nil && message.contains("(postamt-queue \(pid ?? "?") invoked from network"), "\(log)\n\(message)")
            #expect(log.contains("postamt/smtpd[\(pid ?? "?")]") || log.contains("smtpd[\(pid ?? "?")]"), "\(log)")
        }
    }

    /// The queue's disk full while smtpd writes the message itself: a temporary refusal, nothing
    /// left in the queue, and the next message that fits is taken.
    @Test func fullQueueDiskUnderSmtpdIsTemporaryAndLeavesNothing() throws {
        let user = try TestUser()
        let site = try SMTPSite(config: "myhostname = mx.example.org\nlocal_domains = example.org\nsmtpd_message_size_limit = 10M",
                                aliases: "alice: \(user.name)\n", runner: false)
        let queue = site.system.queue
        try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
        let m = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", queue])
        try #require(m.status == 0, "mount tmpfs: \(m.stderr)")
        defer { site.system.stopRunner(); _ = try? run("/bin/umount", ["-l", queue]) }
        try site.system.startRunner()
        let port = try site.start("mx")
        let big = String(repeating: String(repeating: "x", count: 76) + "\r\n", count: 30_000)
        let reply = try sendRaw(port: port, subject: "too big for the disk", body: big)
        #expect(reply.hasPrefix("451 4.3.0 "), "\(reply)")
        #expect(site.system.queueFiles("tmp").isEmpty && site.system.queueFiles("incoming").isEmpty
                && site.system.queueFiles("mess").isEmpty)
        #expect(try sendRaw(port: port, subject: "small").hasPrefix("250 2.0.0 Ok: queued as "))
        try waitFor("the small message", timeout: 60) { user.messages().contains { $0.contains("Subject: small") } }
    }

    @Test func queueVerdictsBecomeReplies() throws {
        let user = try TestUser()
        let site = try transcriptSite(user)
        for (code, expected) in [("31", "554 5.3.0 Error: queue: refused: the test queue says no"),
                                 ("71", "451 4.3.0 Error: queue: refused: the test queue says no")] {
            let refuser = "\(site.system.root)/bin/refuse-queue-\(code)"
            try "#!/bin/sh\ncat >/dev/null\necho 'refused: the test queue says no' >&2\nexit \(code)\n".write(toFile: refuser, atomically: true, encoding: .utf8)
            chmod(refuser, 0o755)
            site.listeners["mx"].map { site.stop($0.process) }
            site.listeners["mx"] = nil
            let port = try site.start("mx", environment: ["POSTAMT_QUEUE": refuser])
            #expect(try sendRaw(port: port, subject: "x") == expected + "\r\n")
        }
    }

    /// A real user with a password, for AUTH through postamt-auth and PAM.
    func passwordUser() throws -> (TestUser, String) { try TestUser.withPassword() }

    @Test func realClientsThroughEveryRole() throws {
        let (user, password) = try passwordUser()
        let site = try SMTPSite(config: "local_domains = mail.test.example, localhost")
        // An authenticated client sends only as its user (postamt-senders(5)): the UTF-8 sender
        // below is granted to the user.
        let grant = try site.system.postamt(["sender", "add", "jörg@localhost", user.name])
        #expect(grant.status == 0, "\(grant.stderr)")
        let mx = try site.start("mx")
        let submission = try site.start("submission")
        let smtps = try site.start("smtps")
        let to = "\(user.name)@localhost"

        // Python smtplib: STARTTLS + AUTH PLAIN on submission, relaying; SMTPUTF8; BDAT by hand.
        let python = try site.python("""
            import smtplib, ssl, os, base64
            ctx = ssl.create_default_context(cafile=os.environ["CAFILE"])
            s = smtplib.SMTP("127.0.0.1", int(os.environ["PORT_SUBMISSION"]))
            s.ehlo("client.example")
            code, _ = s.mail("x@example.com")
            assert code == 530, code
            s.rset()
            s.starttls(context=ctx)
            s.ehlo("client.example")
            assert "auth" in s.esmtp_features
            s.login("\(user.name)", "\(password)")
            s.sendmail("\(user.name)@localhost", ["\(to)", "someone@remote.example"], b"Subject: python starttls\\r\\n\\r\\nvia submission\\r\\n")
            s.sendmail("jörg@localhost", ["\(to)"], "Subject: utf8 ü\\r\\n\\r\\nGrüße\\r\\n".encode("utf-8"), mail_options=["SMTPUTF8", "BODY=8BITMIME"])
            # BDAT (RFC 3030) by hand.
            s.putcmd("MAIL FROM:<\(user.name)@localhost>"); assert s.getreply()[0] == 250
            s.putcmd("RCPT TO:<\(to)>"); assert s.getreply()[0] == 250
            chunk1 = b"Subject: bdat\\r\\n\\r\\nfirst chunk\\r\\n"
            s.send(b"BDAT %d\\r\\n" % len(chunk1) + chunk1); assert s.getreply()[0] == 250
            chunk2 = b"second chunk\\r\\n"
            s.send(b"BDAT %d LAST\\r\\n" % len(chunk2) + chunk2)
            code, text = s.getreply(); assert code == 250 and text.startswith(b"2.0.0 Ok: queued as"), (code, text)
            # Non-ASCII without SMTPUTF8 is refused.
            s.putcmd("MAIL FROM:<jörg@localhost>"); code, text = s.getreply(); assert code == 553, (code, text)
            s.quit()
            # The MX role: no AUTH needed for local mail, relaying refused.
            m = smtplib.SMTP("127.0.0.1", int(os.environ["PORT_MX"]))
            m.ehlo("client.example")
            refused = m.sendmail("a@remote.example", ["\(to)", "x@remote.example"], b"Subject: python mx\\r\\n\\r\\nplain mx\\r\\n")
            assert refused["x@remote.example"][0] == 554, refused
            try:
                m.sendmail("a@remote.example", ["nouser-\(user.name)@localhost"], b"Subject: nobody\\r\\n\\r\\nx\\r\\n")
                raise SystemExit("unknown user accepted")
            except smtplib.SMTPRecipientsRefused as e:
                assert list(e.recipients.values())[0][0] == 550
            m.quit()
            print("python ok")
            """)
        #expect(python.status == 0, "\(python.stdout)\(python.stderr)")

        // swaks: STARTTLS on MX, PIPELINING, AUTH LOGIN on submission, implicit TLS on smtps.
        let swaks = "/usr/bin/swaks"
        let common = ["--to", to, "--from", "\(user.name)@localhost", "--server", "127.0.0.1"]
        var r = try run(swaks, common + ["--port", "\(mx)", "--tls", "--pipeline", "--header", "Subject: swaks starttls pipelining"])
        #expect(r.status == 0, "\(r.stdout)")
        r = try run(swaks, common + ["--port", "\(submission)", "--tls", "--auth", "LOGIN", "--auth-user", user.name,
                                     "--auth-password", password, "--header", "Subject: swaks auth login"])
        #expect(r.status == 0, "\(r.stdout)")
        r = try run(swaks, common + ["--port", "\(smtps)", "--tlsc", "--auth", "PLAIN", "--auth-user", user.name,
                                     "--auth-password", password, "--header", "Subject: swaks smtps"])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(r.stdout.contains("TLS started"))

        // curl: smtp with --ssl-reqd (STARTTLS) and smtps.
        let mailFile = "\(site.system.root)/curl-mail.txt"
        for (url, subject) in [("smtp://127.0.0.1:\(submission)", "curl ssl-reqd"), ("smtps://127.0.0.1:\(smtps)", "curl smtps")] {
            try "From: \(user.name)@localhost\r\nSubject: \(subject)\r\n\r\nvia curl\r\n".write(toFile: mailFile, atomically: true, encoding: .utf8)
            r = try run("/usr/bin/curl", ["-sS", "--ssl-reqd", "--cacert", site.certificate, "--url", url, "--user", "\(user.name):\(password)",
                                          "--mail-from", "\(user.name)@localhost", "--mail-rcpt", to, "--upload-file", mailFile])
            #expect(r.status == 0, "\(r.stderr)")
        }

        let subjects = ["python starttls", "utf8", "bdat", "python mx", "swaks starttls pipelining", "swaks auth login",
                        "swaks smtps", "curl ssl-reqd", "curl smtps"]
        try waitFor("every message in the Maildir", timeout: 120) {
            let messages = user.messages()
            return subjects.allSatisfy { subject in messages.contains { $0.contains("Subject: \(subject)") } }
        }
        let messages = user.messages()
        #expect(!messages.contains { $0.contains("Subject: nobody") })
        let bdat = messages.first { $0.contains("Subject: bdat") } ?? ""
        #expect(bdat.contains("first chunk\nsecond chunk\n"))
        let smtpsMessage = messages.first { $0.contains("Subject: swaks smtps") } ?? ""
        #expect(smtpsMessage.contains("(using TLSv1.3 with cipher "))
        #expect(smtpsMessage.contains("with ESMTPSA"))
        #expect(messages.contains { $0.contains("Grüße") && $0.contains("with UTF8SMTPSA") })
    }

    @Test func passwordsThroughPAM() throws {
        let (user, password) = try passwordUser()
        let site = try SMTPSite(config: "smtpd_auth_failure_limit = 5")
        try site.start("submission")
        let r = try site.python("""
            import smtplib, ssl, os, time
            ctx = ssl.create_default_context(cafile=os.environ["CAFILE"])
            def attempt(user, password):
                s = smtplib.SMTP("127.0.0.1", int(os.environ["PORT_SUBMISSION"]))
                s.starttls(context=ctx)
                s.ehlo("client.example")
                started = time.monotonic()
                try:
                    s.login(user, password)
                    result = (235, b"")
                except smtplib.SMTPAuthenticationError as e:
                    result = (e.smtp_code, e.smtp_error)
                elapsed = time.monotonic() - started
                s.close()
                return result, elapsed
            good, _ = attempt("\(user.name)", "\(password)")
            assert good[0] == 235, good
            bad, bad_time = attempt("\(user.name)", "wrong")
            unknown, unknown_time = attempt("nosuch-\(user.name)", "wrong")
            assert bad == (535, b"5.7.8 Authentication credentials invalid"), bad
            assert unknown == bad, unknown
            # The failure delay (smtpd_auth_failure_delay = 1s) is there for both.
            assert bad_time >= 0.9 and unknown_time >= 0.9, (bad_time, unknown_time)
            print("pam ok")
            """)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(!site.log().contains(password))
    }

    @Test func startTLSDiscardsPipelinedPlaintext() throws {
        let user = try TestUser()
        let site = try transcriptSite(user)
        try site.start("mx")
        let r = try site.python("""
            import socket, ssl, os
            ctx = ssl.create_default_context(cafile=os.environ["CAFILE"])
            ctx.check_hostname = False
            s = socket.create_connection(("127.0.0.1", int(os.environ["PORT_MX"])))
            f = s.makefile("rb")
            def reply():
                lines = []
                while True:
                    line = f.readline()
                    lines.append(line)
                    if line[3:4] != b"-": return lines
            reply()
            s.sendall(b"EHLO c\\r\\n"); reply()
            # The injected command must never be executed after the handshake.
            s.sendall(b"STARTTLS\\r\\nMAIL FROM:<injected@remote.example>\\r\\n")
            assert reply()[0].startswith(b"220 2.0.0"), "no 220"
            t = ctx.wrap_socket(s, server_hostname="localhost")
            tf = t.makefile("rb")
            t.sendall(b"RCPT TO:<alice@example.org>\\r\\n")
            line = tf.readline()
            assert line.startswith(b"503 5.5.1"), line   # no MAIL survived the handshake
            t.sendall(b"EHLO c\\r\\nMAIL FROM:<a@remote.example>\\r\\n")
            while True:
                line = tf.readline()
                if line[3:4] == b" ": break
            assert tf.readline() == b"250 2.1.0 Ok\\r\\n"
            t.sendall(b"QUIT\\r\\n")
            print("starttls ok")
            """)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(site.log().contains("version=TLSv1.3"))
    }

    /// smtpd and the runner become the mail_owner with its primary group alone (Postfix's
    /// set_ugid, qmail's prot_gid): a supplementary group of the account is not theirs, and
    /// looking it up is not part of every connection's start.
    @Test func smtpdAndTheRunnerHaveTheMailOwnersPrimaryGroupAlone() throws {
        let group = "pg" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        #expect(try run("/usr/sbin/groupadd", [group]).status == 0)
        defer { _ = try? run("/usr/bin/gpasswd", ["-d", "postamt", group]); _ = try? run("/usr/sbin/groupdel", [group]) }
        let site = try SMTPSite()
        #expect(try run("/usr/sbin/usermod", ["-a", "-G", group, "postamt"]).status == 0)
        let owner = try #require(getpwnam("postamt")).pointee
        #expect(try run("/usr/bin/id", ["-G", "postamt"]).stdout.split(separator: " ").count > 1, "the account has the extra group")
        func groups(_ pid: pid_t) -> String? {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            return status.split(separator: "\n").first { $0.hasPrefix("Groups:") }
                .map { $0.dropFirst(7).split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ") }
        }
        // A runner started now, with the account's extra group in place.
        site.system.stopRunner()
        try site.system.startRunner()
        let runner = try #require(site.system.runner).processIdentifier
        #expect(groups(runner) == "\(owner.pw_gid)")
        let port = try site.start("mx")
        let client = try RawSMTPClient(port: port)
        #expect(client.readReplies().hasPrefix("220 "))
        let listener = try #require(site.listeners["mx"]).process.processIdentifier
        let smtpd = try #require(childPIDs(of: listener).first)
        #expect(groups(smtpd) == "\(owner.pw_gid)")
        client.send("QUIT\r\n")
        _ = client.readReplies()
    }
}

import Foundation
import Glibc
import Testing

/// `postamt-smtpd --serve`: one long-lived server on a listening socket, handed over as systemd
/// does with Accept=no (fd 3, LISTEN_FDS, LISTEN_PID), many concurrent sessions from Python's
/// smtplib, some with STARTTLS, every message delivered.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct SMTPServeTests {
    /// A listening socket on 127.0.0.1 and its port.
    static func listeningSocket() throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 128) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { close(fd); throw HarnessError("bind/listen: \(errno)") }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    /// Starts `postamt-smtpd --serve ROLE` with the socket as fd 3 and LISTEN_FDS/LISTEN_PID
    /// for its own pid (the shell's `$$` is the pid the program gets by exec).
    static func serve(_ site: SMTPSite, role: String, socket fd: Int32, environment: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "LISTEN_FDS=1 LISTEN_PID=$$ exec \"$0\" --serve \"$1\" 3<&0 0</dev/null",
                       "\(site.system.root)/bin/postamt-smtpd", role]
        p.environment = site.system.environment.merging(environment) { $1 }
        p.standardInput = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = appendingHandle(site.listenLog)
        try p.run()
        close(fd)
        return p
    }

    /// Waits until the server's only child has reported its session done and waits for the
    /// next connection: blocked in recvmsg(2) (47 on x86_64) on its socket pair. The server
    /// reads that report before it accepts a connection that comes after it.
    static func waitUntilIdle(childOf server: pid_t) throws -> pid_t {
        var child: pid_t = 0
        try waitFor("the child waiting for a connection") {
            let children = childPIDs(of: server)
            guard children.count == 1 else { return false }
            child = children[0]
            return ((try? String(contentsOfFile: "/proc/\(child)/syscall", encoding: .utf8)) ?? "").hasPrefix("47 ")
        }
        return child
    }

    @Test func manyConcurrentSessionsWithAndWithoutTLS() throws {
        let user = try TestUser()
        let site = try SMTPSite(config: "local_domains = localhost\nlisten_client_limit = 100")
        let (fd, port) = try Self.listeningSocket()
        let server = try Self.serve(site, role: "mx", socket: fd)
        defer { site.stop(server) }
        let sessions = 40, perSession = 3
        let r = try site.python("""
            import smtplib, ssl, os, threading
            ctx = ssl.create_default_context(cafile=os.environ["CAFILE"])
            errors = []
            def session(n):
                try:
                    s = smtplib.SMTP("127.0.0.1", \(port), timeout=60)
                    s.ehlo("client%d.example" % n)
                    if n % 2 == 0:
                        assert "starttls" in s.esmtp_features, s.esmtp_features
                        s.starttls(context=ctx)
                        s.ehlo("client%d.example" % n)
                        assert s.sock.version() is not None
                    for i in range(\(perSession)):
                        refused = s.sendmail("sender%d@remote.example" % n, ["\(user.name)@localhost"],
                                             b"Subject: serve-%d-%d\\r\\n\\r\\nbody %d %d\\r\\n" % (n, i, n, i))
                        assert refused == {}, refused
                    s.quit()
                except Exception as e:
                    errors.append("session %d: %r" % (n, e))
            threads = [threading.Thread(target=session, args=(n,)) for n in range(\(sessions))]
            for t in threads: t.start()
            for t in threads: t.join()
            assert not errors, errors
            print("sessions ok")
            """)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)\n\(site.log().suffix(3000))")
        let total = sessions * perSession
        try waitFor("all delivered", timeout: 120) { user.messages().count >= total }
        let subjects = Set(user.messages().compactMap { text in
            text.split(separator: "\n").first { $0.hasPrefix("Subject: serve-") }.map { String($0.dropFirst("Subject: ".count)) }
        })
        #expect(subjects.count == total, "\(subjects.count) distinct messages of \(total)")
        #expect(user.messages().count == total)
        // One server process did it all: sessions are its forked children, not new programs.
        let log = site.log()
        #expect(log.contains("serving mx on fd 3"), "\(log.suffix(2000))")
        #expect(server.isRunning)
    }

    /// postamt-listen -w (scripts/run's port 25 stand-in): it binds, then becomes the program
    /// with the listening socket as fd 0, and smtpd --serve accepts on it.
    @Test func theListenersWaitModeHandsItsSocketToTheServer() throws {
        let user = try TestUser()
        let site = try SMTPSite(config: "local_domains = localhost", auth: false)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "\(site.system.root)/bin/postamt-listen")
        p.arguments = ["-w", "-1", "127.0.0.1:0", "\(site.system.root)/bin/postamt-smtpd", "--serve", "mx"]
        p.environment = site.system.environment
        let out = Pipe()
        p.standardOutput = out
        p.standardError = appendingHandle(site.listenLog)
        try p.run()
        defer { site.stop(p) }
        var text = ""
        while !text.hasSuffix("\n") {
            let chunk = out.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        let port = try #require(UInt16(text.trimmingCharacters(in: .whitespacesAndNewlines)), "port line: \(text)")
        let r = try site.python("""
            import smtplib
            s = smtplib.SMTP("127.0.0.1", \(port), timeout=60)
            assert s.sendmail("a@remote.example", ["\(user.name)@localhost"], b"Subject: waited\\r\\n\\r\\nbody\\r\\n") == {}
            s.quit()
            print("sent")
            """)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)\n\(site.log().suffix(2000))")
        try waitFor("delivered", timeout: 60) { user.messages().count == 1 }
        // The listener's own process is now the server (exec, same pid).
        let command = (try? String(contentsOfFile: "/proc/\(p.processIdentifier)/cmdline", encoding: .utf8)) ?? ""
        #expect(command.hasSuffix("postamt-smtpd\0--serve\0mx\0"), "\(command)")
        #expect(site.log().contains("serving mx on fd 0"), "\(site.log().suffix(2000))")

        // A program that cannot run: exit 71 and one line why.
        let bad = try run("\(site.system.root)/bin/postamt-listen", ["-w", "127.0.0.1:0", "/nonexistent/program"], environment: site.system.environment)
        #expect(bad.status == 71 && bad.stderr.contains("cannot run /nonexistent/program"), "\(bad.status) \(bad.stderr)")
    }

    @Test func limitsAnswer421AndBadStartsExit64() throws {
        let site = try SMTPSite(config: "listen_client_limit = 2", runner: false, auth: false)
        let (fd, port) = try Self.listeningSocket()
        let server = try Self.serve(site, role: "mx", socket: fd)
        defer { site.stop(server) }
        let first = try RawSMTPClient(port: port)
        let second = try RawSMTPClient(port: port)
        #expect(first.readReplies().hasPrefix("220 "))
        #expect(second.readReplies().hasPrefix("220 "))
        let third = try RawSMTPClient(port: port)
        #expect(third.readReplies().hasPrefix("421 4.7.0 "))
        #expect(third.closedByServer())
        first.send("QUIT\r\n")
        #expect(first.readReplies().hasPrefix("221 "))

        // No listening socket: usage, exit 64, one line why.
        let bad = try run("\(site.system.root)/bin/postamt-smtpd", ["--serve", "mx"], environment: site.system.environment)
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--serve needs a listening socket"))
    }

    /// A child serves smtpd_serve_max_use sessions one after another: the next connection goes
    /// to the waiting child (no fork), a used-up child exits, and a change of the address
    /// tables lets waiting children go (the next session runs with the new tables).
    @Test func childrenServeSeveralSessionsInTurn() throws {
        let user = try TestUser()
        let site = try SMTPSite(config: "local_domains = localhost\nsmtpd_serve_max_use = 2", auth: false)
        let (fd, port) = try Self.listeningSocket()
        let server = try Self.serve(site, role: "mx", socket: fd)
        defer { site.stop(server) }
        let parent = server.processIdentifier
        /// Opens a session, sends one message to `rcpt`, returns the server's children while it
        /// is open and the reply to RCPT.
        func session(_ rcpt: String) throws -> (children: [pid_t], rcpt: String) {
            let client = try RawSMTPClient(port: port)
            #expect(client.readReplies().hasPrefix("220 "))
            let children = childPIDs(of: parent).sorted()
            client.send("EHLO client.example\r\n")
            _ = client.readReplies()
            client.send("MAIL FROM:<s@remote.example>\r\nRCPT TO:<\(rcpt)>\r\n")
            // Both replies (they may come in one read); the RCPT's is the last line.
            let reply = String(client.readReplies(2).split(separator: "\r\n").last ?? "")
            if reply.hasPrefix("250") {
                client.send("DATA\r\n")
                _ = client.readReplies()
                client.send("Subject: turn\r\n\r\nbody\r\n.\r\n")
                #expect(client.readReplies().hasPrefix("250 "))
            } else {
                client.send("RSET\r\n")
                _ = client.readReplies()
            }
            client.send("QUIT\r\n")
            #expect(client.readReplies().hasPrefix("221 "))
            #expect(client.closedByServer())
            return (children, reply)
        }
        let first = try session("\(user.name)@localhost")
        #expect(first.children.count == 1)
        // The waiting child takes the second connection: still one child, the same.
        #expect(try Self.waitUntilIdle(childOf: parent) == first.children.first)
        let second = try session("\(user.name)@localhost")
        #expect(second.children == first.children, "\(first.children) then \(second.children)")
        // Two sessions used it up: the third gets a new child.
        try waitFor("the used-up child gone") { !childPIDs(of: parent).contains(first.children[0]) }
        let third = try session("\(user.name)@localhost")
        #expect(third.children.count == 1 && third.children != first.children)
        // A new alias while that child waits: the next session is a new child that knows it.
        try "newalias: \(user.name)\n".write(toFile: "\(site.system.root)/etc/aliases", atomically: true, encoding: .utf8)
        let fourth = try session("newalias@localhost")
        #expect(fourth.rcpt.hasPrefix("250 "), "\(fourth.rcpt)")
        #expect(!fourth.children.contains(third.children[0]) || fourth.children.count == 2, "\(third.children) then \(fourth.children)")
        try waitFor("four messages delivered") { user.messages().count == 4 }
        #expect(server.isRunning)
    }

    /// The spam filter in the path (POSTAMT_QUEUE = the installed postamt-spamcheck-queue): the
    /// server runs the check once at start (network checks off); a session child runs each
    /// message's check in one checker child it keeps. Three messages over one reused session
    /// child all arrive scored by the same checker process, none unscanned. With the checks
    /// crashing or hanging (the test hook; spam_time_limit 1 s), every message still arrives,
    /// unscanned, the failure is logged, and the server stays up.
    @Test(arguments: ["", "crash", "hang"]) func theSpamCheckInThePathScoresEveryMessageOfAReusedChild(fault: String) throws {
        let user = try TestUser()
        let crash = !fault.isEmpty
        let site = try SMTPSite(config: "local_domains = localhost\nspam_dns_server = 127.0.0.1:9\nspam_spf = no\nspam_dkim = no\nspam_dmarc = no\nspam_time_limit = 1s",
                                auth: false)
        try site.system.installSpamcheck()
        try FileManager.default.createSymbolicLink(atPath: "\(site.system.root)/bin/postamt-spamcheck-queue", withDestinationPath: "postamt-spamcheck")
        let (fd, port) = try Self.listeningSocket()
        var environment = ["POSTAMT_QUEUE": "\(site.system.root)/bin/postamt-spamcheck-queue"]
        if crash { environment["POSTAMT_SPAMCHECK_FAULT"] = fault }
        let server = try Self.serve(site, role: "mx", socket: fd, environment: environment)
        defer { site.stop(server) }
        var sessions: Set<pid_t> = []
        var checkers: Set<pid_t> = []
        for i in 0..<3 {
            if i > 0 { _ = try Self.waitUntilIdle(childOf: server.processIdentifier) }
            let client = try RawSMTPClient(port: port)
            #expect(client.readReplies().hasPrefix("220 "))
            sessions.formUnion(childPIDs(of: server.processIdentifier))
            client.send("EHLO client.example\r\n")
            _ = client.readReplies()
            client.send("MAIL FROM:<s@remote.example>\r\nRCPT TO:<\(user.name)@localhost>\r\n")
            _ = client.readReplies(2)
            client.send("DATA\r\n")
            _ = client.readReplies()
            client.send("Subject: scored \(i)\r\nFrom: <s@remote.example>\r\n\r\nLunch on Thursday?\r\n.\r\n")
            #expect(client.readReplies().hasPrefix("250 "))
            for session in sessions { checkers.formUnion(childPIDs(of: session)) }
            client.send("QUIT\r\n")
            _ = client.readReplies()
            #expect(client.closedByServer(), "the checker must not hold the client's connection open")
        }
        try waitFor("three messages delivered") { user.messages().count == 3 }
        for message in user.messages() {
            if crash {
                #expect(message.contains("UNSCANNED"), "\(message)")
            } else {
                #expect(message.contains("X-Spam-Status: No, score="), "\(message)")
                #expect(!message.contains("UNSCANNED"))
            }
        }
        #expect(sessions.count == 1, "one reused session child: \(sessions)")
        if !crash { #expect(checkers.count == 1, "one checker child for the three: \(checkers)") }
        #expect(server.isRunning)
        let log = (try? String(contentsOfFile: site.listenLog, encoding: .utf8)) ?? ""
        #expect(log.contains("spam check failed") == crash, "\(log)")
        if fault == "hang" { #expect(log.contains("spam check failed: time limit"), "\(log)") }
        if fault == "crash" { #expect(log.contains("spam check failed: the check died"), "\(log)") }
    }

    /// smtpd_serve_max_use = 1: a fresh child for every connection, as before reuse.
    /// The end of a session wakes nobody: the child's report that it is idle waits until the
    /// server wakes for the next connection (or its timer). Thirty sessions one after another,
    /// each after the child reported, cost the server about thirty wakeups (voluntary context
    /// switches), not sixty, and every one of them still goes to the one waiting child.
    @Test func aSessionsEndDoesNotWakeTheServer() throws {
        let site = try SMTPSite(config: "smtpd_serve_max_use = 100", runner: false, auth: false)
        let (fd, port) = try Self.listeningSocket()
        let server = try Self.serve(site, role: "mx", socket: fd)
        defer { site.stop(server) }
        func wakeups() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(server.processIdentifier)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("voluntary_ctxt_switches:") } ?? ""
            return Int(line.split(separator: "\t").last ?? "") ?? -1
        }
        func session() throws {
            let client = try RawSMTPClient(port: port)
            #expect(client.readReplies().hasPrefix("220 "))
            client.send("QUIT\r\n")
            #expect(client.readReplies().hasPrefix("221 "))
            #expect(client.closedByServer())
        }
        try session()
        let child = try Self.waitUntilIdle(childOf: server.processIdentifier)
        let before = wakeups()
        let sessions = 30
        for _ in 0..<sessions {
            try session()
            // Reported idle (a client that connects at once may come before the report).
            #expect(try Self.waitUntilIdle(childOf: server.processIdentifier) == child)
        }
        let after = wakeups()
        #expect(before >= 0 && after >= 0)
        // One wakeup a connection, a few for the server's timer (once a second).
        #expect(after - before <= sessions * 3 / 2, "\(after - before) wakeups for \(sessions) sessions")
        #expect(childPIDs(of: server.processIdentifier) == [child])
    }

    @Test func oneSessionPerChildWhenMaxUseIsOne() throws {
        let site = try SMTPSite(config: "smtpd_serve_max_use = 1", runner: false, auth: false)
        let (fd, port) = try Self.listeningSocket()
        let server = try Self.serve(site, role: "mx", socket: fd)
        defer { site.stop(server) }
        var seen: [pid_t] = []
        for _ in 0..<2 {
            let client = try RawSMTPClient(port: port)
            #expect(client.readReplies().hasPrefix("220 "))
            let children = childPIDs(of: server.processIdentifier)
            #expect(children.count == 1)
            seen += children
            client.send("QUIT\r\n")
            _ = client.readReplies()
            #expect(client.closedByServer())
            try waitFor("the child gone") { childPIDs(of: server.processIdentifier).isEmpty }
        }
        #expect(Set(seen).count == 2)
    }

    /// A reused child starts each session afresh: after a session that did STARTTLS and AUTH,
    /// the next one in the same process is plaintext and unauthenticated (530 for MAIL).
    @Test func aReusedChildKeepsNothingOfTheSessionBefore() throws {
        let (user, password) = try TestUser.withPassword()
        let site = try SMTPSite(config: "local_domains = localhost")
        let (fd, port) = try Self.listeningSocket()
        let server = try Self.serve(site, role: "submission", socket: fd)
        defer { site.stop(server) }
        let first = try site.python("""
            import smtplib, ssl, os
            ctx = ssl.create_default_context(cafile=os.environ["CAFILE"])
            s = smtplib.SMTP("127.0.0.1", \(port), timeout=60)
            s.starttls(context=ctx)
            s.login("\(user.name)", "\(password)")
            assert s.sendmail("\(user.name)@localhost", ["\(user.name)@localhost"], b"Subject: first\\r\\n\\r\\nx\\r\\n") == {}
            s.quit()
            print("sent")
            """)
        #expect(first.status == 0 && first.stdout.contains("sent"), "\(first.stdout)\(first.stderr)")
        _ = try Self.waitUntilIdle(childOf: server.processIdentifier)
        let r = try site.python("""
            import smtplib, os
            t = smtplib.SMTP("127.0.0.1", \(port), timeout=60)
            t.ehlo("client.example")
            assert "starttls" in t.esmtp_features and "auth" not in t.esmtp_features, t.esmtp_features
            code, _ = t.mail("\(user.name)@localhost")
            assert code == 530, code
            t.quit()
            print("fresh")
            """)
        #expect(r.status == 0 && r.stdout.contains("fresh"), "\(r.stdout)\(r.stderr)")
        // Both sessions in one child: the log's "connect from" lines carry its pid.
        let pids = site.log().split(separator: "\n").filter { $0.contains(": connect from ") }
            .compactMap { $0.split(separator: "[").dropFirst().first?.split(separator: "]").first }
        #expect(pids.count == 2 && pids[0] == pids[1], "\(pids)")
    }
}

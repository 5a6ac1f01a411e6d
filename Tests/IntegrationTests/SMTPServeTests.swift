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
    static func serve(_ site: SMTPSite, role: String, socket fd: Int32) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "LISTEN_FDS=1 LISTEN_PID=$$ exec \"$0\" --serve \"$1\" 3<&0 0</dev/null",
                       "\(site.system.root)/bin/postamt-smtpd", role]
        p.environment = site.system.environment
        p.standardInput = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = appendingHandle(site.listenLog)
        try p.run()
        close(fd)
        return p
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
}

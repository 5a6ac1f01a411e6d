import Foundation
import Glibc
import Testing

/// postamt-listen's connection limits: defaults from postamt.conf, -C wins, and a refused client
/// is told so in its own protocol before the close (a silent close looks like a network fault).
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct ListenLimitTests {
    @Test func overTheLimitAClientReadsWhy() throws {
        let site = try SMTPSite(config: "listen_client_limit = 1", runner: false, auth: false)
        let system = site.system
        func listen(_ options: [String], _ program: [String]) throws -> (Process, UInt16) {
            try SMTPSite.listen(root: system.root, options: options, program: program, environment: system.environment)
        }
        // The limit from postamt.conf, and smtpd's own refusal: 421 (RFC 5321 §3.1).
        let (smtp, smtpPort) = try listen([], ["\(system.root)/bin/postamt-smtpd", "mx"])
        defer { smtp.terminate(); smtp.waitUntilExit() }
        let first = try RawSMTPClient(port: smtpPort)
        #expect(first.readReplies().hasPrefix("220 "))
        let second = try RawSMTPClient(port: smtpPort)
        let refused = String(decoding: second.read(atLeast: 1000, timeout: 10), as: UTF8.self)
        #expect(refused == "421 4.7.0 \(system.hostname) Error: too many connections, try again later\r\n", "\(refused)")
        // -C on the command line wins over the setting; -r names the line.
        let (other, otherPort) = try listen(["-C", "2", "-r", "BUSY"], ["\(system.root)/bin/postamt-smtpd", "mx"])
        defer { other.terminate(); other.waitUntilExit() }
        let a = try RawSMTPClient(port: otherPort), b = try RawSMTPClient(port: otherPort)
        #expect(a.readReplies().hasPrefix("220 "))
        #expect(b.readReplies().hasPrefix("220 "))
        let c = try RawSMTPClient(port: otherPort)
        #expect(String(decoding: c.read(atLeast: 1000, timeout: 10), as: UTF8.self) == "BUSY\r\n")
        // Once the first client leaves, the next one is served.
        first.send("QUIT\r\n")
        _ = first.read(atLeast: 1000, timeout: 10)
        try waitFor("a free slot", timeout: 30) {
            guard let next = try? RawSMTPClient(port: smtpPort) else { return false }
            return next.readReplies(1, timeout: 10).hasPrefix("220 ")
        }
    }
}

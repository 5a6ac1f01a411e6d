import Foundation
import Glibc
import Testing
import MailCore
import MailLogin
import MailNet
import Maildir
import POP3Protocol
@testable import POP3Server

/// A policy that takes one password and opens a Maildir, without becoming anyone (the test
/// process must keep its identity).
final class MaildirTestPolicy: POP3Policy {
    let path: String
    init(path: String) { self.path = path }
    func authenticate(user: String, password: [UInt8]) -> POP3AuthResult {
        user == "alice" && password == Array("secret".utf8) ? .success : .failure
    }
    func openMaildrop(user: String) -> POP3MaildropOpening {
        let drop = POP3Maildir(inbox: Maildir(path: path))
        do { try drop.takeSnapshot() } catch { return .temporaryFailure }
        return .opened(MaildirMaildrop(drop: drop))
    }
}

func temporaryMaildir(_ messages: [(String, String)]) throws -> String {
    let path = NSTemporaryDirectory() + "pop3-host-\(getpid())-\(Int.random(in: 0...999_999))"
    for sub in ["", "/tmp", "/new", "/cur"] { try FileManager.default.createDirectory(atPath: path + sub, withIntermediateDirectories: true) }
    for (name, text) in messages { FileManager.default.createFile(atPath: "\(path)/new/\(name)", contents: Data(text.utf8)) }
    return path
}

/// Runs a session host on one end of a socket pair in a thread; the test speaks on the other.
final class HostedSession: @unchecked Sendable {
    let client: Int32
    let server: Int32
    let done = DispatchSemaphore(value: 0)
    var end: SessionEnd?
    var logLines: [String] = []
    let lock = NSLock()

    init(policy: POP3Policy, timeouts: SessionTimeouts = SessionTimeouts()) throws {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw NetError(.invalidArgument, operation: "socketpair", detail: "") }
        client = fds[0]
        server = fds[1]
        var configuration = POP3SessionConfiguration(hostname: "pop.test")
        configuration.allowsPlaintextAuthentication = true
        let session = POP3Session(configuration: configuration, policy: policy)
        let connection = try ClientConnection(readFD: server, writeFD: server, timeout: .seconds(30))
        let host = SessionHost(connection: connection, tlsContext: nil, timeouts: timeouts) { [weak self] line in
            self?.lock.lock(); self?.logLines.append(line); self?.lock.unlock()
        }
        let engine = POP3SessionEngine(session: session) { request in
            (policy as? MaildirTestPolicy)?.authenticate(user: request.user, password: request.password) ?? .failure
        }
        Thread.detachNewThread { [self] in
            let result = host.run(engine)
            lock.lock(); end = result; lock.unlock()
            Glibc.close(server)
            done.signal()
        }
    }

    func send(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(client, $0.baseAddress, $0.count) }
    }

    /// Reads until `terminator` appears at the end of what was read (or EOF).
    func read(until terminator: String) -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !received.reversed().starts(with: Array(terminator.utf8).reversed()) {
            let n = Glibc.read(client, &buffer, buffer.count)
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }

    func finish() -> SessionEnd? {
        _ = done.wait(timeout: .now() + 30)
        Glibc.close(client)
        lock.lock(); defer { lock.unlock() }
        return end
    }
}

@Suite struct SessionHostTests {
    static let messages = [
        ("1700000001.M1P1.host", "Subject: one\n\n.dot\nend\n"),
        ("1700000002.M2P2.host", "Subject: two\n\nbody\n"),
    ]

    @Test func goldenTranscriptOverARealMaildir() throws {
        let path = try temporaryMaildir(Self.messages)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let hosted = try HostedSession(policy: MaildirTestPolicy(path: path))
        #expect(hosted.read(until: "\r\n") == "+OK pop.test Postamt POP3 server ready\r\n")
        // Pipelined, as RFC 2449 PIPELINING allows.
        hosted.send("USER alice\r\nPASS secret\r\nSTAT\r\nUIDL\r\nLIST 2\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n")
        let transcript = hosted.read(until: "Logging out, 1 messages deleted\r\n")
        #expect(transcript == """
        +OK\r
        +OK Logged in, 2 messages\r
        +OK 2 49\r
        +OK\r
        1 1700000001.M1P1.host\r
        2 1700000002.M2P2.host\r
        .\r
        +OK 2 22\r
        +OK 27 octets\r
        Subject: one\r
        \r
        ..dot\r
        end\r
        .\r
        +OK Message 1 deleted\r
        +OK Logging out, 1 messages deleted\r

        """)
        #expect(hosted.finish() == .closed)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(path)/new").isEmpty, "new/ moved to cur/")
        let cur = try FileManager.default.contentsOfDirectory(atPath: "\(path)/cur")
        #expect(cur.count == 1 && cur[0].hasPrefix("1700000002.M2P2.host"))
    }

    @Test func aDroppedConnectionDeletesNothing() throws {
        let path = try temporaryMaildir(Self.messages)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let hosted = try HostedSession(policy: MaildirTestPolicy(path: path))
        _ = hosted.read(until: "\r\n")
        hosted.send("USER alice\r\nPASS secret\r\nDELE 1\r\nDELE 2\r\n")
        _ = hosted.read(until: "Message 2 deleted\r\n")
        shutdown(hosted.client, Int32(SHUT_WR))
        #expect(hosted.finish() == .peerClosed)
        #expect(hosted.logLines.contains("disconnect without QUIT, 2 deletions discarded"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(path)/cur").count == 2)
    }

    @Test func theLoginTimeoutEndsASilentClient() throws {
        let path = try temporaryMaildir([])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let hosted = try HostedSession(policy: MaildirTestPolicy(path: path),
                                       timeouts: SessionTimeouts(idle: .seconds(600), login: .milliseconds(200)))
        #expect(hosted.read(until: "inactivity\r\n").hasSuffix("-ERR Disconnected for inactivity\r\n"))
        #expect(hosted.finish() == .timedOut)
    }

    @Test func uidlIsTheMaildirBaseName() {
        #expect(POP3Maildir.uidl(forBaseName: "1700000001.M1P1.host") == "1700000001.M1P1.host")
        #expect(POP3Maildir.uidl(forBaseName: "with space").hasPrefix("X"))
    }

    @Test func settingsComeFromTheConfiguration() {
        var configuration = Configuration(root: "/nonexistent")
        configuration.set("pop3_line_limit", "2048")
        configuration.set("pop3_plaintext_auth", "yes")
        configuration.set("pop3_idle_timeout", "20m")
        configuration.set("home_mailbox", "Mail/box/")
        let settings = POP3Settings(configuration)
        #expect(settings.limits.maximumCommandLineLength == 2048)
        #expect(settings.plaintextAuthentication)
        #expect(settings.timeouts.idle == .seconds(1200))
        #expect(settings.login.maildirPath(home: "/home/a") == "/home/a/Mail/box")
        #expect(!settings.login.tlsConfigured)
        configuration.set("home_mailbox", "mbox")
        #expect(POP3Settings(configuration).login.maildirPath(home: "/home/a") == nil)
    }
}

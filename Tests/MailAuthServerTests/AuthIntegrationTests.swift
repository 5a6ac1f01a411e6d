import Foundation
import MailCodec
import Testing
import MailAuth
import MailSystem

/// Runs the built postamt-auth with a real system user and PAM (Debian's common-auth through
/// the "other" service or /etc/pam.d/postamt). Needs root: creates and removes users.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root: creates a system user (useradd) and checks it through PAM"))
struct AuthIntegrationTests {
    static let password = "Corr3ct-Horse"

    // MARK: helpers

    /// postamt-auth beside the test bundle in .build/<triple>/debug.
    static var binary: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("postamt-auth").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return "postamt-auth-not-built"
    }

    /// A fresh system user with `password`, removed by `remove()`.
    struct TestUser {
        let name: String
        init() throws {
            name = "pat\(getpid() % 100000)\(Int.random(in: 1000...9999))"
            try AuthIntegrationTests.shell("useradd -M -s /usr/sbin/nologin \(name) && echo '\(name):\(AuthIntegrationTests.password)' | chpasswd")
        }
        func remove() { _ = try? AuthIntegrationTests.shell("userdel \(name)") }
    }

    @discardableResult
    static func shell(_ command: String, environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Foundation.Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// `postamt-auth serve --socket` in a fresh root with the given postamt.conf lines.
    final class Server {
        let root: String
        let socket: String
        let process = Process()
        let client: AuthClient

        init(_ settings: [String]) throws {
            root = NSTemporaryDirectory() + "postamt-auth-test-\(getpid())-\(Int.random(in: 0...999_999))"
            try FileManager.default.createDirectory(atPath: root + "/etc/postamt", withIntermediateDirectories: true)
            try (settings.joined(separator: "\n") + "\n").write(toFile: root + "/etc/postamt/postamt.conf", atomically: true, encoding: .utf8)
            socket = root + "/auth.sock"
            process.executableURL = URL(fileURLWithPath: AuthIntegrationTests.binary)
            process.arguments = ["serve", "--socket", socket]
            process.environment = ["POSTAMT_ROOT": root, "PATH": "/usr/bin:/bin"]
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            client = AuthClient(socketPath: socket, timeout: 10)
            for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) { usleep(10_000) }
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: root)
        }

        func stat(_ name: String) throws -> Int {
            try #require(try client.statistics().first { $0.name == name }?.value)
        }

        /// Polls STATS until `name` reaches `value` (bounded): for states that only a working
        /// structure reaches, never for timing.
        func waitFor(_ name: String, _ value: Int) throws -> Bool {
            for _ in 0..<500 {
                if try stat(name) == value { return true }
                usleep(10_000)
            }
            return false
        }

        /// A raw connection that sends `line` and does not wait.
        func send(_ line: String) throws -> OwnedFD {
            let fd = try UnixSocket.connect(to: socket)
            try FileIO.writeAll(fd.raw, line)
            return fd
        }
    }

    static func authLine(_ user: String, _ password: String, service: String = "imap") -> String {
        "AUTH \(service) \(Base64.encode(Array(user.utf8))) \(Base64.encode(Array(password.utf8))) \(Base64.encode(Array("192.0.2.7".utf8)))\n"
    }

    static func readLine(_ fd: Int32) throws -> String {
        let line = try UnixSocket.readLine(fd, limit: 4096, deadline: Clock.monotonicNanoseconds() + 10_000_000_000)
        return String(decoding: line, as: UTF8.self)
    }

    static func elapsed(_ body: () -> AuthResult) -> (AuthResult, Double) {
        let start = Clock.monotonicNanoseconds()
        let result = body()
        return (result, Double(Clock.monotonicNanoseconds() - start) / 1e9)
    }

    // MARK: tests

    @Test func rightWrongAndUnknownThroughPAM() throws {
        let user = try TestUser()
        defer { user.remove() }
        let server = try Server(["auth_failure_delay = 1s", "auth_cache_size = 0"])
        defer { server.stop() }
        #expect(server.client.authenticate(service: "imap", user: user.name, password: Self.password, peer: "192.0.2.7")
                == .success(user: user.name))
        let (wrong, wrongTime) = Self.elapsed { server.client.authenticate(service: "imap", user: user.name, password: "nope", peer: "") }
        let (unknown, unknownTime) = Self.elapsed { server.client.authenticate(service: "pop3", user: user.name + "x", password: Self.password, peer: "") }
        #expect(wrong == .failure)
        #expect(unknown == .failure)
        // The failure delay is measured from the request: both answers wait at least 1 s.
        #expect(wrongTime >= 0.95 && unknownTime >= 0.95)
        #expect(try server.stat("backend_calls") == 3)
        #expect(try server.stat("failures") == 2)
    }

    @Test func cacheAnswersTheSecondRequestAndNeverLocksOut() throws {
        let user = try TestUser()
        defer { user.remove() }
        let server = try Server(["auth_failure_delay = 0"])
        defer { server.stop() }
        let right = { server.client.authenticate(service: "imap", user: user.name, password: Self.password, peer: "") }
        let wrong = { server.client.authenticate(service: "imap", user: user.name, password: "typo", peer: "") }
        #expect(wrong() == .failure)
        #expect(try server.stat("backend_calls") == 1)
        #expect(wrong() == .failure)                     // negative cache hit
        #expect(try server.stat("backend_calls") == 1)
        #expect(right() == .success(user: user.name))    // not blocked by the cached failure
        #expect(try server.stat("backend_calls") == 2)
        #expect(right() == .success(user: user.name))    // positive cache hit
        #expect(try server.stat("backend_calls") == 2)
        #expect(try server.stat("cache_hits") == 2)
        // Another service is another key.
        #expect(server.client.authenticate(service: "smtp", user: user.name, password: Self.password, peer: "") == .success(user: user.name))
        #expect(try server.stat("backend_calls") == 3)
    }

    @Test func malformedRequestGetsAnErrorAndTheConnectionCloses() throws {
        let server = try Server([])
        defer { server.stop() }
        for (line, reason) in [("HELLO\n", "ERR unknown command"), ("AUTH imap !!!! - -\n", "ERR bad base64 in user"),
                               (String(repeating: "A", count: 5000), "ERR line too long")] {
            let fd = try server.send(line)
            #expect(try Self.readLine(fd.raw) == reason)
            #expect(try FileIO.read(fd.raw) == [])        // end of file: closed by the server
        }
        #expect(try server.stat("protocol_errors") == 3)
        // STATS on a connection keeps it open for more requests.
        let fd = try server.send("STATS\nSTATS\n")
        #expect(try Self.readLine(fd.raw).hasPrefix("STATS requests=0 "))
        #expect(try Self.readLine(fd.raw).hasPrefix("STATS requests=0 "))
    }

    @Test func refusesAPeerOutsideTheGroup() throws {
        let server = try Server([])
        defer { server.stop() }
        chmod(server.socket, 0o666)                      // so that the kernel check is ours, not the mode's
        chmod(server.root, 0o755)
        let result = try Self.shell("echo pw | setpriv --reuid nobody --regid nogroup --clear-groups '\(Self.binary)' ask --socket '\(server.socket)' imap root",
                                    environment: ["POSTAMT_ROOT": server.root])
        #expect(result.status == 111)
        #expect(result.output == "TEMP postamt-auth refused the request: permission denied\n")
        #expect(try server.stat("refused_peers") == 1)
        #expect(try server.stat("requests") == 0)
    }

    @Test func socketIsCreatedForTheGroupOnly() throws {
        let server = try Server(["auth_group = root"])
        defer { server.stop() }
        let attributes = try FileManager.default.attributesOfItem(atPath: server.socket)
        #expect((attributes[.posixPermissions] as? Int) == 0o660)
        #expect((attributes[.groupOwnerAccountID] as? Int) == 0)
    }

    @Test func aDelayedFailureDoesNotBlockOtherClients() throws {
        let user = try TestUser()
        defer { user.remove() }
        let server = try Server(["auth_failure_delay = 3s"])
        defer { server.stop() }
        let pending = try server.send(Self.authLine(user.name, "wrong"))
        // While the failure waits out its delay, STATS (another client) is answered, and the
        // right password of the same user succeeds.
        #expect(try server.waitFor("delayed_answers", 1))
        #expect(server.client.authenticate(service: "imap", user: user.name, password: Self.password, peer: "") == .success(user: user.name))
        #expect(try server.stat("delayed_answers") == 1)
        #expect(try Self.readLine(pending.raw) == "FAIL")
    }

    @Test func slowChecksRunInParallelWorkersUpToTheLimit() throws {
        // A FIFO as the passwd file: each worker blocks opening it until the test opens the
        // other end, so "two checks at once" is a state the server must reach, not a timing.
        let fifoDirectory = NSTemporaryDirectory() + "fifo-\(getpid())-\(Int.random(in: 0...999_999))"
        try FileManager.default.createDirectory(atPath: fifoDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: fifoDirectory) }
        let fifo = fifoDirectory + "/passwd"
        #expect(mkfifo(fifo, 0o600) == 0)
        func release() {
            // Unblocks every worker waiting in open(2) with an empty file.
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }

        for (limit, busy, queued) in [(4, 2, 0), (1, 1, 1)] {
            let server = try Server(["auth_passwd_file = \(fifo)", "auth_worker_limit = \(limit)", "auth_failure_delay = 0"])
            defer { server.stop() }
            let first = try server.send(Self.authLine("alice", "one"))
            let second = try server.send(Self.authLine("bob", "two"))
            #expect(try server.waitFor("workers_busy", busy), "limit \(limit)")
            #expect(try server.waitFor("queued", queued), "limit \(limit)")
            #expect(try server.stat("workers_busy") == busy)
            var answers: [String] = []
            for fd in [first.raw, second.raw] {
                var line: String? = nil
                for _ in 0..<500 where line == nil {
                    release()
                    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    if poll(&p, 1, 10) > 0 { line = try Self.readLine(fd) }
                }
                answers.append(line ?? "no answer")
            }
            #expect(answers == ["FAIL", "FAIL"])
            #expect(try server.stat("workers_peak") == busy)
        }
    }

    @Test func checkpasswordInterface() throws {
        let user = try TestUser()
        defer { user.remove() }
        let root = NSTemporaryDirectory() + "check-\(getpid())-\(Int.random(in: 0...999_999))"
        try FileManager.default.createDirectory(atPath: root + "/etc/postamt", withIntermediateDirectories: true)
        try "auth_failure_delay = 0\n".write(toFile: root + "/etc/postamt/postamt.conf", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: root) }
        func check(_ input: [UInt8], _ program: String = "") throws -> (status: Int32, output: String) {
            let file = root + "/fd3"
            _ = FileManager.default.createFile(atPath: file, contents: Data(input))
            return try Self.shell("'\(Self.binary)' check \(program) 3<'\(file)'", environment: ["POSTAMT_ROOT": root])
        }
        let name = Array(user.name.utf8)
        let right = name + [0] + Array(Self.password.utf8) + [0]
        #expect(try check(right).status == 0)
        #expect(try check(right + Array("1234567890".utf8) + [0]).status == 0)
        #expect(try check(right, "/bin/echo ran as $(id -u)") == (0, "ran as 0\n"))
        #expect(try check(name + [0] + Array("wrong".utf8) + [0], "/bin/echo never") == (1, ""))
        #expect(try check(Array("nosuchuser\0x\0".utf8)).status == 1)
        #expect(try check(name + [0] + Array(Self.password.utf8)).status == 2)        // no NUL after the password
        #expect(try check(name + [0] + [UInt8](repeating: 0x61, count: 600) + [0]).status == 2)
    }
}

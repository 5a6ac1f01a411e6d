import Foundation
import Glibc
import Testing

/// An Installation with postamt-smtpd behind postamt-listen in each role, a throw-away
/// certificate, and postamt-auth serving its socket: what the SMTP integration tests talk to.
final class SMTPSite {
    let system: Installation
    var listeners: [String: (process: Process, port: UInt16)] = [:]
    var auth: Process?
    var certificate: String { "\(system.root)/etc/postamt/cert.pem" }
    var key: String { "\(system.root)/etc/postamt/key.pem" }
    var listenLog: String { "\(system.root)/smtpd.log" }

    /// `config` is added to postamt.conf; roles are started with `start(_:)`.
    init(config: String = "", aliases: String = "", runner: Bool = true, auth: Bool = true) throws {
        // The certificate paths are known before the installation exists: a placeholder
        // replaced below.
        system = try Installation(config: """
            smtpd_tls_cert_file = @ROOT@/etc/postamt/cert.pem
            smtpd_tls_key_file = @ROOT@/etc/postamt/key.pem
            smtpd_error_delay = 0
            smtpd_auth_failure_delay = 1s
            auth_failure_delay = 0
            \(config)
            """, aliases: aliases)
        let confPath = "\(system.root)/etc/postamt/postamt.conf"
        let conf = try String(contentsOfFile: confPath, encoding: .utf8).replacingOccurrences(of: "@ROOT@", with: system.root)
        try conf.write(toFile: confPath, atomically: true, encoding: .utf8)
        for program in ["postamt-smtpd", "postamt-listen", "postamt-auth"] {
            try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/\(program)", toPath: "\(system.root)/bin/\(program)")
            chmod("\(system.root)/bin/\(program)", 0o755)
        }
        let made = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                                                "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        guard made.status == 0 else { throw HarnessError("openssl req: \(made.stderr)") }
        chmod(key, 0o600)
        FileManager.default.createFile(atPath: listenLog, contents: nil)
        if runner { try system.startRunner() }
        if auth { try startAuth() }
    }

    deinit {
        for (_, listener) in listeners { stop(listener.process) }
        if let auth { stop(auth) }
    }

    func stop(_ process: Process) {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    func startAuth() throws {
        let directory = "\(system.root)/run/postamt"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod("\(system.root)/run", 0o755)
        chmod(directory, 0o755)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "\(system.root)/bin/postamt-auth")
        p.arguments = ["serve", "--socket", "\(directory)/auth"]
        p.environment = system.environment
        p.standardError = appendingHandle(listenLog)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        auth = p
        try waitFor("auth socket", timeout: 20) { FileManager.default.fileExists(atPath: "\(directory)/auth") }
    }

    /// Starts `postamt-listen -1 127.0.0.1 postamt-smtpd ROLE` and returns its port.
    @discardableResult
    func start(_ role: String, environment extra: [String: String] = [:]) throws -> UInt16 {
        if let existing = listeners[role] { return existing.port }
        let (p, port) = try SMTPSite.listen(root: system.root, options: ["-c", "200", "-C", "200"],
                                            program: ["\(system.root)/bin/postamt-smtpd", role],
                                            environment: system.environment.merging(extra) { $1 }, log: appendingHandle(listenLog))
        listeners[role] = (p, port)
        return port
    }

    /// Starts `postamt-listen -1 OPTIONS 127.0.0.1:0 PROGRAM…` from root/bin and returns it with its port.
    static func listen(root: String, options: [String], program: [String], environment: [String: String],
                       log: FileHandle = FileHandle.nullDevice) throws -> (Process, UInt16) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "\(root)/bin/postamt-listen")
        p.arguments = ["-1"] + options + ["127.0.0.1:0"] + program
        p.environment = environment
        let out = Foundation.Pipe()
        p.standardOutput = out
        p.standardError = log
        try p.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { throw HarnessError("postamt-listen exited") }
            line += chunk
        }
        guard let port = UInt16(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw HarnessError("postamt-listen printed no port")
        }
        return (p, port)
    }

    func log() -> String { (try? String(contentsOfFile: listenLog, encoding: .utf8)) ?? "" }

    /// Every queued or delivered message is gone from the queue's working directories.
    var nothingInFlight: Bool {
        system.queueFiles("incoming").isEmpty && system.queueFiles("tmp").isEmpty
    }

    /// Runs a Python script (a real client: smtplib, ssl) with PORT_<ROLE> and CAFILE set.
    func python(_ script: String, timeout: TimeInterval = 120) throws -> RunResult {
        var environment = ["PATH": "/usr/bin:/bin", "CAFILE": certificate]
        for (role, listener) in listeners { environment["PORT_\(role.uppercased())"] = "\(listener.port)" }
        return try run("/usr/bin/python3", ["-c", script], environment: environment, timeout: timeout)
    }
}

/// A plain TCP SMTP client for transcripts: exact bytes out, exact bytes in.
final class RawSMTPClient {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw HarnessError("connect 127.0.0.1:\(port): errno \(errno)") }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    func send(_ text: String) { send(Array(text.utf8)) }

    /// Reads until `count` bytes arrived, the peer closed, or `timeout` seconds of silence.
    func read(atLeast count: Int, timeout: Int32 = 30) -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while result.count < count {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, timeout * 1000) > 0 else { break }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            result += buffer[0..<n]
        }
        return result
    }

    /// Reads complete reply lines until one is a final line (`ddd ` form) `replies` times.
    func readReplies(_ replies: Int = 1, timeout: Int32 = 30) -> String {
        var text = ""
        var finals = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while finals < replies {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, timeout * 1000) > 0 else { break }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            text += String(decoding: buffer[0..<n], as: UTF8.self)
            finals = text.split(separator: "\r\n").filter { $0.count >= 4 && $0[$0.index($0.startIndex, offsetBy: 3)] == " " }.count
        }
        return text
    }

    /// True once the server closed the connection (reads EOF within `timeout` seconds).
    func closedByServer(timeout: Int32 = 30) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, timeout * 1000) > 0 else { return false }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return true }
        }
    }
}

/// Runs a golden transcript (the SMTPProtocolTests script format: `C: `, `C| `, `S: `, `S| `;
/// `E:` lines are ignored) against a real postamt-smtpd. Client lines are sent block by block;
/// after each block the server's bytes must match the expected `S` lines exactly. `S~ text`
/// matches a line by prefix (queue ids and dates differ from the engine's test values).
func runTranscriptAgainstServer(_ script: String, port: UInt16, sourceLocation: SourceLocation = #_sourceLocation) throws {
    enum Step { case client([UInt8]), server(String), serverPrefix(String) }
    var steps: [Step] = []
    for line in script.split(separator: "\n", omittingEmptySubsequences: false) {
        let line = line.drop { $0 == " " }
        if line.hasPrefix("C: ") { steps.append(.client(Array(line.dropFirst(3).utf8) + [13, 10])) }
        else if line == "C:" { steps.append(.client([13, 10])) }
        else if line.hasPrefix("C| ") { steps.append(.client(transcriptUnescape(String(line.dropFirst(3))))) }
        else if line.hasPrefix("S: ") { steps.append(.server(String(line.dropFirst(3)) + "\r\n")) }
        else if line.hasPrefix("S~ ") { steps.append(.serverPrefix(String(line.dropFirst(3)))) }
        else if line.hasPrefix("S| ") { steps.append(.server(String(decoding: transcriptUnescape(String(line.dropFirst(3))), as: UTF8.self))) }
    }
    let client = try RawSMTPClient(port: port)
    var index = 0
    func expectServer() {
        var expected: [Step] = []
        while index < steps.count {
            if case .client = steps[index] { break }
            expected.append(steps[index])
            index += 1
        }
        guard !expected.isEmpty else { return }
        var received = ""
        for step in expected {
            // Read until the expected line arrived (or the server went quiet).
            while !received.contains("\r\n") {
                let more = client.read(atLeast: 1, timeout: 20)
                if more.isEmpty { break }
                received += String(decoding: more, as: UTF8.self)
            }
            guard let end = received.range(of: "\r\n") else {
                Issue.record("server sent nothing more; expected \(step)", sourceLocation: sourceLocation)
                return
            }
            let line = String(received[..<end.upperBound])
            received = String(received[end.upperBound...])
            switch step {
            case .server(let text): #expect(line == text, sourceLocation: sourceLocation)
            case .serverPrefix(let prefix): #expect(line.hasPrefix(prefix), "\(line) should start with \(prefix)", sourceLocation: sourceLocation)
            case .client: break
            }
        }
        #expect(received.isEmpty, "unexpected server bytes: \(received)", sourceLocation: sourceLocation)
    }
    expectServer()
    while index < steps.count {
        var block: [UInt8] = []
        while index < steps.count, case .client(let bytes) = steps[index] {
            block += bytes
            index += 1
        }
        client.send(block)
        expectServer()
    }
}

func transcriptUnescape(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var bytes = Array(text.utf8)[...]
    while let byte = bytes.popFirst() {
        guard byte == UInt8(ascii: "\\"), let next = bytes.popFirst() else { out.append(byte); continue }
        switch next {
        case UInt8(ascii: "r"): out.append(13)
        case UInt8(ascii: "n"): out.append(10)
        case UInt8(ascii: "0"): out.append(0)
        case UInt8(ascii: "t"): out.append(9)
        case UInt8(ascii: "x"):
            let hex = String(decoding: bytes.prefix(2), as: UTF8.self)
            bytes = bytes.dropFirst(2)
            out.append(UInt8(hex, radix: 16)!)
        default: out.append(next)
        }
    }
    return out
}

import Foundation
import Glibc
import Testing

/// postamt-imapd (or another per-connection `program`, e.g. postamt-pop3d) behind
/// postamt-listen on 127.0.0.1 (port 0: the listener prints the port), inside an
/// `Installation`, plus helpers to run Python clients against it.
final class IMAPListener {
    let installation: Installation
    let process = Process()
    let port: Int
    let log: String

    /// `arguments` go to the program (`--preauth USER`, `--tls`).
    init(_ installation: Installation, program server: String = "postamt-imapd", arguments: [String]) throws {
        self.installation = installation
        let root = installation.root
        for program in [server, "postamt-listen", "postamt-auth"] where !FileManager.default.fileExists(atPath: "\(root)/bin/\(program)") {
            try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/\(program)", toPath: "\(root)/bin/\(program)")
            chmod("\(root)/bin/\(program)", 0o755)
        }
        log = "\(root)/\(server)-\(UUID().uuidString).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: "\(root)/bin/postamt-listen")
        process.arguments = ["-1", "-c", "20", "-C", "20", "127.0.0.1", "\(root)/bin/\(server)"] + arguments
        process.environment = installation.environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle(forWritingAtPath: log)!
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let p = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw HarnessError("postamt-listen printed no port: \(String(decoding: line, as: UTF8.self))")
        }
        port = p
    }

    deinit { stop() }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
}

/// `postamt-auth serve` for an installation (PAM through /etc/pam.d/postamt or "other").
final class AuthServerProcess {
    let process = Process()

    init(_ installation: Installation) throws {
        let root = installation.root
        if !FileManager.default.fileExists(atPath: "\(root)/bin/postamt-auth") {
            try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/postamt-auth", toPath: "\(root)/bin/postamt-auth")
        }
        try FileManager.default.createDirectory(atPath: "\(root)/run/postamt", withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: "\(root)/bin/postamt-auth")
        process.arguments = ["serve", "--socket", "\(root)/run/postamt/auth"]
        process.environment = installation.environment
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        try waitFor("postamt-auth socket", timeout: 20) { FileManager.default.fileExists(atPath: "\(root)/run/postamt/auth") }
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
    }
}

enum PythonClient {
    /// The python3 programs on PATH (the test's own PATH) and in /usr/bin.
    static let candidates: [String] = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin"])
            .map { "\($0)/python3" }.filter { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// The first one that has imapclient (pip install imapclient), else the first one.
    static let python: String? = withIMAPClient ?? candidates.first

    static let withIMAPClient: String? = candidates.first { candidate in
        (try? runProgram(candidate, ["-c", "import imapclient"], environment: nil, timeout: 60))?.status == 0
    }

    static var hasIMAPClient: Bool { withIMAPClient != nil }

    /// Runs `script` with `arguments`; the script asserts, and prints what it saw.
    static func run(_ script: String, _ arguments: [String], environment: [String: String] = [:]) throws -> RunResult {
        guard let python else { throw HarnessError("no python3") }
        let file = NSTemporaryDirectory() + "postamt-imap-\(UUID().uuidString).py"
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        return try runProgram(python, [file] + arguments, environment: env, timeout: 120)
    }
}

func runProgram(_ path: String, _ arguments: [String], environment: [String: String]?, timeout: TimeInterval) throws -> RunResult {
    try run(path, arguments, input: Data(), environment: environment, timeout: timeout)
}

nonisolated(unsafe) var deliveryCounter = 0

extension TestUser {
    /// A command line that runs `arguments` as this user (setpriv from util-linux).
    func asUser(_ arguments: [String]) -> [String] {
        ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(getpwnam(name).pointee.pw_gid)", "--init-groups"] + arguments
    }

    /// Puts a message into the user's Maildir/new as a delivery would (tmp, then rename).
    func deliver(_ text: String, name: String? = nil) throws {
        let group = getpwnam(self.name).pointee.pw_gid
        for sub in ["", "/new", "/cur", "/tmp"] {
            let dir = "\(home)/Maildir\(sub)"
            if !FileManager.default.fileExists(atPath: dir) {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                chown(dir, uid, group)
                chmod(dir, 0o700)
            }
        }
        deliveryCounter += 1
        let base = name ?? "\(Int(Date().timeIntervalSince1970)).M\(100_000 + deliveryCounter)P\(getpid()).test"
        let tmp = "\(home)/Maildir/tmp/\(base)"
        try text.replacingOccurrences(of: "\r\n", with: "\n").write(toFile: tmp, atomically: false, encoding: .utf8)
        chown(tmp, uid, group)
        rename(tmp, "\(home)/Maildir/new/\(base)")
    }

    func setPassword(_ password: String) throws {
        let r = try run("/bin/sh", ["-c", "echo '\(name):\(password)' | chpasswd"])
        if r.status != 0 { throw HarnessError("chpasswd: \(r.stderr)") }
    }
}

/// Runs a Python client `script` (its one argument: the port) against a pre-authenticated
/// postamt-imapd for a fresh user with one message in INBOX; the script ends by printing "OK".
func runPreauthenticatedScript(_ script: String) throws {
    let installation = try Installation()
    let user = try TestUser()
    try user.deliver("From: a@example.org\nSubject: one\n\nx\n")
    let server = try IMAPListener(installation, arguments: ["--preauth", user.name])
    let result = try PythonClient.run(script, [String(server.port)])
    #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
    #expect(result.stdout.hasSuffix("OK\n"))
}

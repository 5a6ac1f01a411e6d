import Foundation
import Glibc
import Testing

/// A running POP3 service for integration tests: an installation with postamt-pop3d,
/// postamt-auth serving PAM on a socket of its own, postamt-listen on loopback ports for
/// plain+STLS (110-style) and implicit TLS (995-style), a throw-away certificate, real users.
final class POP3Service {
    let system: Installation
    var processes: [Process] = []
    var plainPort = 0
    var tlsPort = 0
    var certificate: String { "\(system.root)/etc/postamt/cert.pem" }
    var logPath: String { "\(system.root)/pop3.log" }
    static let password = "Pop3-Secret word"
    /// A PAM service of this test's own, made from the shipped systemd/pam.d-postamt and
    /// removed afterwards (a unique name: other suites may run at the same time).
    let pamService = "postamt-it-\(getpid())-\(Int.random(in: 0...999_999))"
    var pamFile: String { "/etc/pam.d/\(pamService)" }

    /// The per-connection login server behind postamt-listen: postamt-pop3d, or another one
    /// built the same way (postamt-managesieved), which gets the plain port only.
    let program: String

    init(config: String = "", program: String = "postamt-pop3d") throws {
        self.program = program
        system = try Installation(config: config)
        let root = system.root
        for program in [program, "postamt-auth", "postamt-listen"] {
            try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/\(program)", toPath: "\(root)/bin/\(program)")
            chmod("\(root)/bin/\(program)", 0o755)
        }
        let made = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                                "-keyout", "\(root)/etc/postamt/key.pem", "-out", certificate,
                                                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        guard made.status == 0 else { throw HarnessError("openssl: \(made.stderr)") }
        chmod("\(root)/etc/postamt/key.pem", 0o600)
        let conf = try String(contentsOfFile: "\(root)/etc/postamt/postamt.conf", encoding: .utf8) + """

        auth_socket = \(root)/auth.sock
        auth_failure_delay = 1s
        pam_service = \(pamService)
        tls_certificate = \(certificate)
        tls_key = \(root)/etc/postamt/key.pem
        pop3_auth_failure_delay = 0s

        """
        try conf.write(toFile: "\(root)/etc/postamt/postamt.conf", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        try FileManager.default.copyItem(atPath: "\(TestEnvironment.packageRoot)/systemd/pam.d-postamt", toPath: pamFile)

        let auth = try start("\(root)/bin/postamt-auth", ["serve", "--socket", "\(root)/auth.sock"])
        _ = auth
        try waitFor("auth socket", timeout: 20) { FileManager.default.fileExists(atPath: "\(root)/auth.sock") }
        plainPort = try listen([])
        if program == "postamt-pop3d" { tlsPort = try listen(["--tls"]) }
    }

    deinit {
        for p in processes.reversed() where p.isRunning {
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: pamFile)
    }

    private func start(_ path: String, _ arguments: [String], stdout: Pipe? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.environment = system.environment
        let log = FileHandle(forWritingAtPath: logPath)!
        log.seekToEndOfFile()
        p.standardError = log
        p.standardOutput = stdout ?? log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        processes.append(p)
        return p
    }

    /// postamt-listen -1 on 127.0.0.1 (no port: any free one); returns the port it printed.
    private func listen(_ pop3Arguments: [String]) throws -> Int {
        let pipe = Pipe()
        _ = try start("\(system.root)/bin/postamt-listen", ["-1", "127.0.0.1", "\(system.root)/bin/\(program)"] + pop3Arguments, stdout: pipe)
        var line = Data()
        while !line.contains(10) {
            let byte = pipe.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { throw HarnessError("postamt-listen printed no port: \(log())") }
            line += byte
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw HarnessError("bad port line")
        }
        return port
    }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The pids of postamt-pop3d processes now serving a connection.
    func sessionPIDs() -> [pid_t] {
        let listeners = processes.dropFirst().map(\.processIdentifier)
        var pids: [pid_t] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            if fields.count > 1, let parent = pid_t(fields[1]), listeners.contains(parent) { pids.append(pid) }
        }
        return pids
    }
}

/// A POP3 user: a real system user with a password (chpasswd) and a Maildir.
final class POP3User {
    let user: TestUser
    var name: String { user.name }
    var maildir: String { "\(user.home)/Maildir" }

    init() throws {
        user = try TestUser()
        let r = try run("/bin/sh", ["-c", "echo \"$0:$1\" | /usr/sbin/chpasswd", user.name, POP3Service.password])
        guard r.status == 0 else { throw HarnessError("chpasswd: \(r.stderr)") }
        for sub in ["", "/tmp", "/new", "/cur"] {
            mkdir(maildir + sub, 0o700)
            chown(maildir + sub, user.uid, getpwnam(user.name).pointee.pw_gid)
        }
    }

    /// Puts a message into new/ under `baseName`, owned by the user, as a delivery would.
    func deliver(_ text: String, baseName: String) {
        let path = "\(maildir)/new/\(baseName)"
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        chown(path, user.uid, getpwnam(user.name).pointee.pw_gid)
        chmod(path, 0o600)
    }

    /// Base names of the messages in new/ and cur/.
    func baseNames() -> [String] {
        var names: [String] = []
        for sub in ["new", "cur"] {
            for file in (try? FileManager.default.contentsOfDirectory(atPath: "\(maildir)/\(sub)")) ?? [] {
                names.append(String(file.split(separator: ":", maxSplits: 1)[0]))
            }
        }
        return names.sorted()
    }
}

/// Runs a Python 3 script (a real client: poplib, ssl) with arguments; returns its output.
func python(_ script: String, _ arguments: [String]) throws -> RunResult {
    try run("/usr/bin/python3", ["-c", script] + arguments, environment: ["PATH": "/usr/bin:/bin"])
}

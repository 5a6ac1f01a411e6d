import Foundation
import Glibc
import Testing

/// What the harnesses of the per-connection login servers share (POP3Service, WebmailService):
/// an installation with the server, postamt-auth serving PAM on a socket of its own through a
/// PAM service of this test's own, postamt-listen on loopback ports, a throw-away certificate,
/// one log file; every process stopped and the PAM file removed at the end.
class LoginServerSite {
    let system: Installation
    var processes: [Process] = []
    let logPath: String
    var certificate: String { "\(system.root)/etc/postamt/cert.pem" }
    /// A PAM service made from the shipped systemd/pam.d-postamt and removed afterwards (a
    /// unique name: other suites may run at the same time).
    let pamService = "postamt-it-\(getpid())-\(Int.random(in: 0...999_999))"
    var pamFile: String { "/etc/pam.d/\(pamService)" }

    /// `program` is copied beside postamt-auth and postamt-listen; `settings` are added to
    /// postamt.conf after the shared ones.
    init(config: String, program: String, logName: String, settings: String) throws {
        system = try Installation(config: config)
        let root = system.root
        logPath = "\(root)/\(logName)"
        for program in [program, "postamt-auth", "postamt-listen"] {
            try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/\(program)", toPath: "\(root)/bin/\(program)")
            chmod("\(root)/bin/\(program)", 0o755)
        }
        let made = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                                "-keyout", "\(root)/etc/postamt/key.pem", "-out", "\(root)/etc/postamt/cert.pem",
                                                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        guard made.status == 0 else { throw HarnessError("openssl: \(made.stderr)") }
        chmod("\(root)/etc/postamt/key.pem", 0o600)
        let conf = try String(contentsOfFile: "\(root)/etc/postamt/postamt.conf", encoding: .utf8) + """

        auth_socket = \(root)/auth.sock
        pam_service = \(pamService)
        tls_certificate = \(root)/etc/postamt/cert.pem
        tls_key = \(root)/etc/postamt/key.pem
        \(settings)

        """
        try conf.write(toFile: "\(root)/etc/postamt/postamt.conf", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        try FileManager.default.copyItem(atPath: "\(TestEnvironment.packageRoot)/systemd/pam.d-postamt", toPath: pamFile)
        _ = try start("\(root)/bin/postamt-auth", ["serve", "--socket", "\(root)/auth.sock"])
        try waitFor("auth socket", timeout: 20) { FileManager.default.fileExists(atPath: "\(root)/auth.sock") }
    }

    deinit {
        for p in processes.reversed() where p.isRunning {
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: pamFile)
    }

    func start(_ path: String, _ arguments: [String], stdout: Pipe? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.environment = system.environment
        // O_APPEND: every process's lines go to the end, none overwrites another's.
        let log = appendingHandle(logPath)
        p.standardError = log
        p.standardOutput = stdout ?? log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        processes.append(p)
        return p
    }

    /// `postamt-listen -1 127.0.0.1 root/bin/PROGRAM ARGUMENTS…`; returns the port it printed.
    func listen(_ program: String, _ arguments: [String] = []) throws -> Int {
        let pipe = Pipe()
        _ = try start("\(system.root)/bin/postamt-listen", ["-1", "127.0.0.1", "\(system.root)/bin/\(program)"] + arguments, stdout: pipe)
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
}

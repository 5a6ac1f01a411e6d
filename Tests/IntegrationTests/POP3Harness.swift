import Foundation
import Glibc
import Testing

/// A running POP3 service for integration tests: an installation with postamt-pop3d,
/// postamt-auth serving PAM on a socket of its own, postamt-listen on loopback ports for
/// plain+STLS (110-style) and implicit TLS (995-style), a throw-away certificate, real users.
final class POP3Service: LoginServerSite {
    var plainPort = 0
    var tlsPort = 0
    static let password = "Pop3-Secret word"

    /// The per-connection login server behind postamt-listen: postamt-pop3d, or another one
    /// built the same way (postamt-managesieved), which gets the plain port only.
    let program: String

    init(config: String = "", program: String = "postamt-pop3d") throws {
        self.program = program
        try super.init(config: config, program: program, logName: "pop3.log",
                       settings: "auth_failure_delay = 1s\npop3_auth_failure_delay = 0s")
        plainPort = try listen(program)
        if program == "postamt-pop3d" { tlsPort = try listen(program, ["--tls"]) }
    }

    /// The pids of postamt-pop3d processes now serving a connection.
    func sessionPIDs() -> [pid_t] {
        processes.dropFirst().flatMap { childPIDs(of: $0.processIdentifier) }
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

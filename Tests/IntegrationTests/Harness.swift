import Foundation
import Glibc
import Testing
import TestSupport

/// Integration tests run the built programs for real: relocated installations under /tmp,
/// real system users made with useradd (and removed), a real runner with its privileged
/// spawner. They need root; without it they are skipped with that reason.
enum TestEnvironment {
    static let isRoot = getuid() == 0
    static let skipReason = "needs root: creates system users and runs the privileged spawner (CI runs as root)"

    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// Where the built programs are: POSTAMT_BUILD_DIR, else .build/debug.
    static let buildDirectory: String = ProcessInfo.processInfo.environment["POSTAMT_BUILD_DIR"]
        ?? "\(packageRoot)/.build/debug"

    static let programs = ["postamt-queue", "postamt-local", "postamt-runner", "sendmail", "postamt"]

    /// A program we feed may exit before reading everything (that is often the point of the
    /// test): the write must fail with EPIPE, not kill the test process.
    static let pipeSignalIgnored: Bool = {
        signal(SIGPIPE, SIG_IGN)
        return true
    }()

    static func ensureMailOwner() throws {
        _ = pipeSignalIgnored
        if getpwnam("postamt") == nil {
            let r = try run("/usr/sbin/useradd", ["--system", "--no-create-home", "--home-dir", "/nonexistent",
                                                 "--shell", "/usr/sbin/nologin", "postamt"])
            if r.status != 0 && getpwnam("postamt") == nil { throw HarnessError("useradd postamt: \(r.stderr)") }
        }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ text: String) { description = text }
}

/// Puts a shell wrapper in the place of the program `name` in `bin` that touches `mark` (a shell
/// word) and then executes the real program, moved to NAME.real: a test sees from the mark
/// whether the program was started at all, and the work is still done.
func wrapProgram(_ name: String, in bin: String, touching mark: String) throws {
    guard rename("\(bin)/\(name)", "\(bin)/\(name).real") == 0 else { throw HarnessError("rename \(bin)/\(name): errno \(errno)") }
    try "#!/bin/sh\ntouch \(mark)\nexec \(bin)/\(name).real \"$@\"\n".write(toFile: "\(bin)/\(name)", atomically: true, encoding: .utf8)
    chmod("\(bin)/\(name)", 0o755)
}

/// A handle that appends to a log file (O_APPEND): several processes that each open the file
/// write whole lines after one another instead of over one another.
func appendingHandle(_ path: String) -> FileHandle {
    FileHandle(fileDescriptor: open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644), closeOnDealloc: true)
}

struct RunResult {
    let status: Int32
    let stdout: String
    let stderr: String
    let stdoutData: Data
}

/// Runs a program to completion, feeding `input`.
@discardableResult
func run(_ path: String, _ arguments: [String], input: Data = Data(), environment: [String: String]? = nil,
         timeout: TimeInterval = 120) throws -> RunResult {
    _ = TestEnvironment.pipeSignalIgnored
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    if let environment { p.environment = environment }
    let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
    p.standardInput = inPipe
    p.standardOutput = outPipe
    p.standardError = errPipe
    try p.run()
    var outData = Data(), errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { outData = outPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { errData = errPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    DispatchQueue.global().async {
        try? inPipe.fileHandleForWriting.write(contentsOf: input)
        try? inPipe.fileHandleForWriting.close()
    }
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(2000) }
    if p.isRunning { p.terminate(); kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    group.wait()
    return RunResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self), stdoutData: outData)
}

/// A system user for one test, removed with its home directory afterwards.
final class TestUser {
    let name: String
    let uid: uid_t
    let home: String

    init() throws {
        let letters = "abcdefghijklmnopqrstuvwxyz"
        name = "pt" + String((0..<8).map { _ in letters.randomElement()! })
        let r = try run("/usr/sbin/useradd", ["-m", "-s", "/bin/sh", name])
        guard r.status == 0, let pw = getpwnam(name) else { throw HarnessError("useradd \(name): \(r.stderr)") }
        uid = pw.pointee.pw_uid
        home = String(cString: pw.pointee.pw_dir)
    }

    deinit {
        _ = try? run("/usr/sbin/userdel", ["-r", "-f", name])
    }

    var maildirNew: String { "\(home)/Maildir/new" }

    func messages() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: maildirNew)) ?? []
        return names.sorted().compactMap { try? String(contentsOfFile: "\(maildirNew)/\($0)", encoding: .utf8) }
    }

    func messageData() -> [Data] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: maildirNew)) ?? []
        return names.sorted().compactMap { FileManager.default.contents(atPath: "\(maildirNew)/\($0)") }
    }

    /// Writes a file in the home directory owned by the user, mode 0644.
    func writeFile(_ relative: String, _ text: String) throws {
        let path = "\(home)/\(relative)"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        chown(path, uid, getpwnam(name).pointee.pw_gid)
        chmod(path, 0o644)
    }
}

extension TestUser {
    /// A user with a password, for logins through postamt-auth and PAM.
    static func withPassword() throws -> (TestUser, String) {
        let user = try TestUser()
        let password = "pw-\(UInt32.random(in: 0...UInt32.max))"
        let r = try run("/bin/sh", ["-c", "echo \"$0:$1\" | /usr/sbin/chpasswd", user.name, password])
        guard r.status == 0 else { throw HarnessError("chpasswd: \(r.stderr)") }
        return (user, password)
    }
}

/// One relocated Postamt installation: programs, configuration, queue, a runner.
final class Installation {
    let root: String
    var runner: Process?
    let hostname = "mail.test.example"

    init(config: String = "", aliases: String = "") throws {
        try TestEnvironment.ensureMailOwner()
        root = makeTemporaryDirectory(prefix: "postamt-it")
        chmod(root, 0o755)
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(root)/bin", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(root)/etc/postamt", withIntermediateDirectories: true)
        for p in TestEnvironment.programs {
            try fm.copyItem(atPath: "\(TestEnvironment.buildDirectory)/\(p)", toPath: "\(root)/bin/\(p)")
            chmod("\(root)/bin/\(p)", 0o755)
        }
        chmod("\(root)/bin", 0o755)
        // As installed: postamt-queue is set-gid to the mail_owner's group.
        if let group = getgrnam("postamt") {
            chown("\(root)/bin/postamt-queue", 0, group.pointee.gr_gid)
            chmod("\(root)/bin/postamt-queue", 0o2755)
        }
        let conf = """
        myhostname = \(hostname)
        program_directory = \(root)/bin
        minimal_backoff = 1s
        maximal_backoff = 2s
        \(config)
        """
        try conf.write(toFile: "\(root)/etc/postamt/postamt.conf", atomically: true, encoding: .utf8)
        try aliases.write(toFile: "\(root)/etc/aliases", atomically: true, encoding: .utf8)
    }

    deinit {
        stopRunner()
        try? FileManager.default.removeItem(atPath: root)
    }

    var queue: String { "\(root)/var/spool/postamt" }
    var environment: [String: String] { ["POSTAMT_ROOT": root, "PATH": "/usr/bin:/bin"] }
    var runnerLog: String { "\(root)/runner.log" }

    func startRunner() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "\(root)/bin/postamt-runner")
        p.arguments = []
        p.environment = environment
        FileManager.default.createFile(atPath: runnerLog, contents: nil)
        let log = FileHandle(forUpdatingAtPath: runnerLog)!
        log.seekToEndOfFile()
        p.standardError = log
        p.standardOutput = log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        runner = p
        // Ready once it holds the queue lock.
        try waitFor("runner start", timeout: 20) { FileManager.default.fileExists(atPath: "\(self.queue)/lock") && self.lockHeld() }
    }

    func lockHeld() -> Bool {
        let fd = open("\(queue)/lock", O_RDWR)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { flock(fd, LOCK_UN); return false }
        return true
    }

    func stopRunner(signal: Int32 = SIGTERM) {
        guard let p = runner else { return }
        kill(p.processIdentifier, signal)
        for _ in 0..<1000 where p.isRunning { usleep(10_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        runner = nil
        // The spawner leaves when its socket closes; wait for the lock to be free.
        for _ in 0..<500 where lockHeld() { usleep(10_000) }
    }

    func sendmail(_ args: [String], _ message: String) throws -> RunResult {
        try run("\(root)/bin/sendmail", args, input: Data(message.utf8), environment: environment)
    }

    /// postamt-queue run by root, or by `user` (its set-gid as installed), with `extra` in its
    /// environment.
    func queueInject(message: Data, envelope: Data, as user: TestUser? = nil, environment extra: [String: String] = [:]) throws -> RunResult {
        // postamt-queue reads the envelope on fd 1: give it a pipe there through the shell.
        let envFile = "\(root)/envelope.\(UUID().uuidString)"
        FileManager.default.createFile(atPath: envFile, contents: envelope)
        chmod(envFile, 0o644)
        defer { try? FileManager.default.removeItem(atPath: envFile) }
        var command = ["/bin/sh", "-c", "exec \"$0\" 1<\"$1\"", "\(root)/bin/postamt-queue", envFile]
        if let user {
            command = ["/usr/bin/setpriv", "--reuid=\(user.uid)", "--regid=\(getpwnam(user.name).pointee.pw_gid)", "--init-groups"] + command
        }
        return try run(command[0], Array(command.dropFirst()), input: message, environment: environment.merging(extra) { $1 })
    }

    func postamt(_ args: [String]) throws -> RunResult {
        try run("\(root)/bin/postamt", args, environment: environment)
    }

    func queueFiles(_ sub: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(queue)/\(sub)")) ?? []).sorted()
    }

    var queueIsEmpty: Bool { queueFiles("state").isEmpty && queueFiles("incoming").isEmpty }

    /// incoming/ID's envelope record and the size of mess/ID's message, read as postamt-queue(8)
    /// (QUEUE) describes the files, independently of the code that writes them: a message file
    /// may begin with "POSTAMT-QUEUE 1 OFFSET" and hold the record in that header.
    func queuedEnvelope(_ id: String) throws -> (record: String, messageSize: Int) {
        func offset(_ data: Data) -> (offset: Int, firstLine: Int) {
            guard data.starts(with: Data("POSTAMT-QUEUE 1 ".utf8)), let end = data.firstIndex(of: 10) else { return (0, 0) }
            return (Int(String(decoding: data[16..<end], as: UTF8.self)) ?? -1, end + 1)
        }
        let incoming = try Data(contentsOf: URL(fileURLWithPath: "\(queue)/incoming/\(id)"))
        let (start, firstLine) = offset(incoming)
        var record = String(decoding: start > 0 ? incoming[firstLine..<start] : incoming, as: UTF8.self)
        if start > 0, let end = record.range(of: "\nend\n") { record = String(record[..<end.upperBound]) }
        let message = try Data(contentsOf: URL(fileURLWithPath: "\(queue)/mess/\(id)"))
        return (record, message.count - offset(message).offset)
    }

    func log() -> String { (try? String(contentsOfFile: runnerLog, encoding: .utf8)) ?? "" }
}

/// Waits (polling) until `condition` holds; throws with what it waited for otherwise.
/// Not a timed assertion: the timeout is only a bound on a hang.
func waitFor(_ what: String, timeout: TimeInterval = 60, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return }
        usleep(20_000)
    }
    throw HarnessError("timed out waiting for \(what)")
}

func envelope(_ sender: String, _ recipients: [String]) -> Data {
    var d = Data("F\(sender)\0".utf8)
    for r in recipients { d += Data("T\(r)\0".utf8) }
    d.append(0)
    return d
}

/// The pids whose parent is `parent` (from /proc).
func childPIDs(of parent: pid_t) -> [pid_t] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name -> pid_t? in
        guard let pid = pid_t(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 2 && pid_t(fields[1]) == parent ? pid : nil
    }
}

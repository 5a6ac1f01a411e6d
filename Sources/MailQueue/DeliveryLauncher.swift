#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem

/// Starts delivery agents for the runner. Two kinds: directly as the runner's own user (when
/// the runner is not root: tests, the demo, a single-user setup), or through the privileged
/// spawner, a tiny root process that does fork → initgroups → setgid → setuid → exec
/// (qmail-lspawn's job) while the rest of the runner runs as mail_owner.
public protocol DeliveryLauncher: AnyObject {
    /// Starts postamt-local as `user` with `arguments` (argv[0] included), stdin `messageFD`,
    /// stdout and stderr `outputFD`, and `resultFD` as descriptor 3 with POSTAMT_RESULT_FD=3
    /// (its result line, postamt-local(8)).
    func launch(user: String, arguments: [String], messageFD: Int32, outputFD: Int32, resultFD: Int32) throws -> pid_t
    func kill(_ pid: pid_t)
    /// A descriptor to include in poll(), readable when `finished()` may have news.
    var notificationFD: Int32? { get }
    /// Children that ended since the last call.
    func finished(among running: [pid_t]) -> [(pid: pid_t, status: ExitStatus)]
    /// False once the launcher cannot start anything any more (the spawner died).
    var isAlive: Bool { get }
}

/// Runs postamt-local as ourselves.
public final class DirectLauncher: DeliveryLauncher {
    let program: String
    let environment: [String]

    public init(program: String, environment: [String]) {
        self.program = program
        self.environment = environment
    }

    public func launch(user: String, arguments: [String], messageFD: Int32, outputFD: Int32, resultFD: Int32) throws -> pid_t {
        try Spawn.start(program, arguments: arguments, environment: environment + [PrivilegedSpawner.resultVariable],
                        fds: [(0, messageFD), (1, outputFD), (2, outputFD), (3, resultFD)])
    }

    public func kill(_ pid: pid_t) { Glibc.kill(pid, SIGKILL) }

    public var notificationFD: Int32? { nil }
    public var isAlive: Bool { true }

    public func finished(among running: [pid_t]) -> [(pid: pid_t, status: ExitStatus)] {
        var done: [(pid_t, ExitStatus)] = []
        for pid in running {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { done.append((pid, ExitStatus(waitStatus: status))) }
        }
        return done
    }
}

/// The runner's side of the privileged spawner: requests go over a SOCK_SEQPACKET socket with
/// the message and output descriptors attached (SCM_RIGHTS).
public final class SpawnerClient: DeliveryLauncher {
    let socket: Int32
    var pendingExits: [(pid: pid_t, status: ExitStatus)] = []
    public private(set) var isAlive = true

    public init(socket: Int32) { self.socket = socket }

    public func launch(user: String, arguments: [String], messageFD: Int32, outputFD: Int32, resultFD: Int32) throws -> pid_t {
        let request = (["spawn", user] + arguments).joined(separator: "\0")
        guard DescriptorPassing.send(socket, Array(request.utf8), fds: [messageFD, outputFD, resultFD]) else {
            throw SystemError("send to spawner")
        }
        while true {
            guard let (fields, _) = try receive() else { throw SystemError("spawner closed", errno: EPIPE) }
            switch fields.first {
            case "pid": return pid_t(fields[1]) ?? -1
            case "error": throw SpawnerError(fields: Array(fields.dropFirst()))
            case "exit": recordExit(fields)
            default: throw SpawnerError(status: .temporary("unexpected spawner reply"))
            }
        }
    }

    /// A refusal of the spawner: `error\0x.y.z\0text`, so the runner bounces or defers from
    /// the class, not from the text.
    public struct SpawnerError: Error, CustomStringConvertible {
        public let status: MailStatus
        init(status: MailStatus) { self.status = status }
        init(fields: [String]) {
            if fields.count == 2, let code = EnhancedStatusCode(fields[0]) {
                status = MailStatus(code, fields[1])
            } else {
                status = .temporary(fields.joined(separator: " "))
            }
        }
        public var description: String { status.line }
    }

    func recordExit(_ fields: [String]) {
        guard fields.count == 3, let pid = pid_t(fields[1]), let code = Int32(fields[2].dropFirst()) else { return }
        pendingExits.append((pid, fields[2].hasPrefix("s") ? .signaled(code) : .exited(code)))
    }

    func receive(nonBlocking: Bool = false) throws -> ([String], [Int32])? {
        if nonBlocking {
            var p = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 0) <= 0 { return ([], []) }
        }
        guard let (bytes, fds) = DescriptorPassing.receive(socket, limit: 4096) else { throw SystemError("receive from spawner") }
        if bytes.isEmpty { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        return (text.split(separator: "\0", omittingEmptySubsequences: false).map(String.init), fds)
    }

    public func kill(_ pid: pid_t) {
        _ = DescriptorPassing.send(socket, Array("kill\0\(pid)".utf8))
    }

    public var notificationFD: Int32? { socket }

    public func finished(among running: [pid_t]) -> [(pid: pid_t, status: ExitStatus)] {
        while true {
            guard let message = try? receive(nonBlocking: true) else {
                isAlive = false // EOF or error: the spawner is gone
                break
            }
            if message.0.isEmpty { break }
            if message.0.first == "exit" { recordExit(message.0) }
        }
        let done = pendingExits
        pendingExits = []
        return done
    }
}

/// The privileged spawner (root): `postamt-runner --spawner`, fd 3 its socket to the runner.
/// It runs only `program` (postamt-local from program_directory, never a path from the
/// request), never as root, with a clean environment, in the user's home directory.
public enum PrivilegedSpawner {
    /// Where postamt-local writes its result line: descriptor 3 (postamt-local(8)).
    static let resultVariable = "POSTAMT_RESULT_FD=3"

    /// `deliver`, when given, is postamt-local's run as a function (LocalDeliveryProgram): the
    /// child is forked and set up as for the program (descriptors, identity, directory, the
    /// clean environment) and calls it with the arguments instead of executing `program`.
    public static func serve(socket: Int32, program: String, environment: [String], log: Log,
                             deliver: (([String]) -> Never)? = nil) -> Never {
        var children: Set<pid_t> = []
        // The installation the delivery child reads (its POSTAMT_ROOT, from `environment`).
        let childRoot = environment.last { $0.hasPrefix("POSTAMT_ROOT=") }.map { String($0.dropFirst(13)) } ?? ""
        // A child's end wakes the loop at once: SIGCHLD is blocked except while waiting in
        // ppoll(2), which it then interrupts. (A 50 ms poll tick paced the whole runner once
        // every delivery slot was busy: no new request came to wake the spawner, so finished
        // deliveries were reported 50 ms late, capping delivery at ~20 per tick.) Children get
        // an empty mask and default handlers (CSpawn's child setup).
        Spawn.setUpChildWait()
        while true {
            let readable = Spawn.pollOrChild(socket, timeoutMilliseconds: 1000)
            // Report children that ended.
            while !children.isEmpty {
                var status: Int32 = 0
                let pid = waitpid(-1, &status, WNOHANG)
                if pid <= 0 { break }
                guard children.remove(pid) != nil else { continue }
                let text: String
                switch ExitStatus(waitStatus: status) {
                case .exited(let c): text = "exit\0\(pid)\0e\(c)"
                case .signaled(let s): text = "exit\0\(pid)\0s\(s)"
                }
                send(socket, text)
            }
            guard readable else { continue }
            guard let (bytes, fds) = DescriptorPassing.receive(socket, limit: 8192) else {
                if errno == EINTR { continue }
                exit(0) // the runner is gone
            }
            if bytes.isEmpty { exit(0) } // the runner is gone
            let nfds = fds.count
            let fields = String(decoding: bytes, as: UTF8.self).split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
            defer { for fd in fds { close(fd) } }
            switch fields.first {
            case "spawn":
                guard fields.count >= 3, nfds == 3 else { refuse(socket, .temporary("bad request")); continue }
                guard let user = SystemUser.named(fields[1]) else { refuse(socket, .permanent("1.1", "no such user \(fields[1])")); continue }
                guard user.uid != 0 else { refuse(socket, .permanent("7.1", "refusing to deliver as root")); continue }
                let home = FileIO.isDirectory(user.home) ? user.home : "/"
                let env = environment + ["HOME=\(user.home)", "USER=\(user.name)", "LOGNAME=\(user.name)", resultVariable]
                let childFDs: [(child: Int32, parent: Int32)] = [(0, fds[0]), (1, fds[1]), (2, fds[1]), (3, fds[2])]
                do {
                    let pid: pid_t
                    if let deliver {
                        // Read here (from memory while unchanged), so the child starts with it.
                        _ = try? Configuration.load(root: childRoot)
                        guard let parent = try Spawn.forkPrepared(environment: env, fds: childFDs, identity: SpawnIdentity(user: user),
                                                                  directory: home, name: program) else {
                            deliver(Array(fields[2...]))  // the child: never returns
                        }
                        pid = parent
                    } else {
                        pid = try Spawn.start(program, arguments: Array(fields[2...]), environment: env,
                                              fds: childFDs, identity: SpawnIdentity(user: user), directory: home)
                    }
                    children.insert(pid)
                    send(socket, "pid\0\(pid)")
                } catch {
                    refuse(socket, .temporary("\(error)"))
                }
            case "kill":
                if fields.count == 2, let pid = pid_t(fields[1]), children.contains(pid) { kill(pid, SIGKILL) }
            default:
                log.warning("spawner: unknown request")
            }
        }
    }

    static func refuse(_ socket: Int32, _ status: MailStatus) {
        send(socket, "error\0\(status.code)\0\(status.text)")
    }

    static func send(_ socket: Int32, _ text: String) {
        _ = DescriptorPassing.send(socket, Array(text.utf8))
    }
}

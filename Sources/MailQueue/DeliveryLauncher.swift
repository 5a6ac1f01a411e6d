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
/// the message, output and result descriptors attached (SCM_RIGHTS). Launching does not wait for
/// the spawner: each request carries an id of the runner's (negative, so it never equals the pid
/// of a postamt-remote run the runner started itself), and the spawner answers only when that
/// delivery ends ("exit"); one it refused ends at once, its result line written for it. A
/// round trip per launch made the runner wait for the spawner to be scheduled and fork, once per
/// delivery: on a busy machine that, not the deliveries, set the pace.
public final class SpawnerClient: DeliveryLauncher {
    let socket: Int32
    var pendingExits: [(pid: pid_t, status: ExitStatus)] = []
    var lastID: pid_t = 0
    public private(set) var isAlive = true

    public init(socket: Int32) { self.socket = socket }

    public func launch(user: String, arguments: [String], messageFD: Int32, outputFD: Int32, resultFD: Int32) throws -> pid_t {
        // What the spawner reported so far is taken in first, so its replies never pile up
        // while the runner only sends.
        drain()
        lastID = lastID <= -Int32.max ? -1 : lastID - 1
        let request = (["spawn", String(lastID), user] + arguments).joined(separator: "\0")
        guard DescriptorPassing.send(socket, Array(request.utf8), fds: [messageFD, outputFD, resultFD]) else {
            throw SystemError("send to spawner")
        }
        return lastID
    }

    func recordExit(_ fields: [String]) {
        guard fields.count == 3, let id = pid_t(fields[1]), let code = Int32(fields[2].dropFirst()) else { return }
        pendingExits.append((id, fields[2].hasPrefix("s") ? .signaled(code) : .exited(code)))
    }

    /// Takes in every report waiting on the socket; at its end or on an error the spawner is gone.
    func drain() {
        while isAlive {
            var p = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 0) <= 0 { return }
            guard let (bytes, fds) = DescriptorPassing.receive(socket, limit: 4096), !bytes.isEmpty else {
                isAlive = false
                return
            }
            for fd in fds { close(fd) }
            let fields = String(decoding: bytes, as: UTF8.self).split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
            if fields.first == "exit" { recordExit(fields) }
        }
    }

    public func kill(_ pid: pid_t) {
        _ = DescriptorPassing.send(socket, Array("kill\0\(pid)".utf8))
    }

    public var notificationFD: Int32? { socket }

    public func finished(among running: [pid_t]) -> [(pid: pid_t, status: ExitStatus)] {
        drain()
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
        // Each running child's pid and the runner's id for it.
        var children: [pid_t: pid_t] = [:]
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
                guard let id = children.removeValue(forKey: pid) else { continue }
                send(socket, exitReport(id, ExitStatus(waitStatus: status)))
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
                guard fields.count >= 4, let id = pid_t(fields[1]), id < 0 else {
                    log.warning("spawner: malformed request")
                    continue
                }
                // A refusal ends the delivery at once: its result line where postamt-local would
                // have written it (the result descriptor), then its exit.
                func refuse(_ status: MailStatus) {
                    if nfds == 3 { try? FileIO.writeAll(fds[2], status.resultLine) }
                    send(socket, exitReport(id, .exited(status.sysExit.rawValue)))
                }
                guard nfds == 3 else { refuse(.temporary("bad request")); continue }
                guard let user = SystemUser.named(fields[2]) else { refuse(.permanent("1.1", "no such user \(fields[2])")); continue }
                guard user.uid != 0 else { refuse(.permanent("7.1", "refusing to deliver as root")); continue }
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
                            deliver(Array(fields[3...]))  // the child: never returns
                        }
                        pid = parent
                    } else {
                        pid = try Spawn.start(program, arguments: Array(fields[3...]), environment: env,
                                              fds: childFDs, identity: SpawnIdentity(user: user), directory: home)
                    }
                    children[pid] = id
                } catch {
                    refuse(.temporary("\(error)"))
                }
            case "kill":
                if fields.count == 2, let id = pid_t(fields[1]), let pid = children.first(where: { $0.value == id })?.key {
                    kill(pid, SIGKILL)
                }
            default:
                log.warning("spawner: unknown request")
            }
        }
    }

    /// "exit", the runner's id, and e<code> or s<signal>.
    static func exitReport(_ id: pid_t, _ status: ExitStatus) -> String {
        switch status {
        case .exited(let c): return "exit\0\(id)\0e\(c)"
        case .signaled(let s): return "exit\0\(id)\0s\(s)"
        }
    }

    static func send(_ socket: Int32, _ text: String) {
        _ = DescriptorPassing.send(socket, Array(text.utf8))
    }
}

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

    /// `deliver`, when given, is one delivery of postamt-local's as a function
    /// (LocalDeliveryProgram.deliver, returning its exit code): the child is forked and set up as
    /// for the program (descriptors, identity, directory, the clean environment) and calls it
    /// with the arguments instead of executing `program`. Requests that are waiting together for
    /// one user, up to `batch` of them, go to one child, which runs them one after the other
    /// with descriptors 0–3 set afresh for each (runner_local_batch): a fork, its page faults
    /// and its exit per group instead of per message.
    public static func serve(socket: Int32, program: String, environment: [String], log: Log,
                             deliver: (([String]) -> Int32)? = nil, batch: Int = 1) -> Never {
        // Each running child's pid and the runner's ids for its deliveries.
        var children: [pid_t: [pid_t]] = [:]
        // The installation the delivery child reads (its POSTAMT_ROOT, from `environment`).
        let childRoot = environment.last { $0.hasPrefix("POSTAMT_ROOT=") }.map { String($0.dropFirst(13)) } ?? ""
        // CSpawn's child keeps at most 64 descriptors: 0–3, then three per further delivery.
        let batch = max(1, min(batch, 20))
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
                guard let ids = children.removeValue(forKey: pid) else { continue }
                for id in ids { send(socket, exitReport(id, ExitStatus(waitStatus: status))) }
            }
            guard readable else { continue }
            // Every request waiting now (the runner does not wait for answers).
            var requests: [Request] = []
            repeat {
                guard let (bytes, fds) = DescriptorPassing.receive(socket, limit: 8192) else {
                    if errno == EINTR { continue }
                    exit(0) // the runner is gone
                }
                if bytes.isEmpty { exit(0) } // the runner is gone
                requests.append(Request(fields: String(decoding: bytes, as: UTF8.self)
                    .split(separator: "\0", omittingEmptySubsequences: false).map(String.init), fds: fds))
            } while requests.count < 256 && Spawn.pollOrChild(socket, timeoutMilliseconds: 0)
            var deliveries: [Delivery] = []
            for request in requests {
                switch request.fields.first {
                case "spawn":
                    guard request.fields.count >= 4, let id = pid_t(request.fields[1]), id < 0 else {
                        log.warning("spawner: malformed request")
                        request.close()
                        continue
                    }
                    guard request.fds.count == 3 else { refuse(socket, request, id, .temporary("bad request")); continue }
                    guard let user = SystemUser.named(request.fields[2]) else {
                        refuse(socket, request, id, .permanent("1.1", "no such user \(request.fields[2])"))
                        continue
                    }
                    guard user.uid != 0 else { refuse(socket, request, id, .permanent("7.1", "refusing to deliver as root")); continue }
                    deliveries.append(Delivery(id: id, user: user, arguments: Array(request.fields[3...]), fds: request.fds))
                case "kill":
                    if request.fields.count == 2, let id = pid_t(request.fields[1]),
                       let pid = children.first(where: { $0.value.contains(id) })?.key {
                        kill(pid, SIGKILL)
                    }
                    request.close()
                default:
                    log.warning("spawner: unknown request")
                    request.close()
                }
            }
            // One child per user and `batch` deliveries (each alone when the program is started).
            var groups: [[Delivery]] = []
            for delivery in deliveries {
                if deliver != nil, let g = groups.lastIndex(where: { $0[0].user.uid == delivery.user.uid && $0.count < batch }) {
                    groups[g].append(delivery)
                } else {
                    groups.append([delivery])
                }
            }
            for group in groups {
                defer { for d in group { for fd in d.fds { close(fd) } } }
                let user = group[0].user
                let home = FileIO.isDirectory(user.home) ? user.home : "/"
                let env = environment + ["HOME=\(user.home)", "USER=\(user.name)", "LOGNAME=\(user.name)", resultVariable]
                // The first delivery's descriptors at 0–3 (stdout and stderr the output pipe, 3
                // the result), the others' three each from 4 on.
                var childFDs: [(child: Int32, parent: Int32)] = [(0, group[0].fds[0]), (1, group[0].fds[1]), (2, group[0].fds[1]), (3, group[0].fds[2])]
                for (k, d) in group.enumerated().dropFirst() {
                    let base = Int32(4 + 3 * (k - 1))
                    childFDs += [(base, d.fds[0]), (base + 1, d.fds[1]), (base + 2, d.fds[2])]
                }
                do {
                    let pid: pid_t
                    if let deliver {
                        // Read here (from memory while unchanged), so the child starts with it.
                        _ = try? Configuration.load(root: childRoot)
                        guard let parent = try Spawn.forkPrepared(environment: env, fds: childFDs, identity: SpawnIdentity(user: user),
                                                                  directory: home, name: program) else {
                            runDeliveries(group.map(\.arguments), deliver)  // the child: never returns
                        }
                        pid = parent
                    } else {
                        pid = try Spawn.start(program, arguments: group[0].arguments, environment: env,
                                              fds: childFDs, identity: SpawnIdentity(user: user), directory: home)
                    }
                    children[pid] = group.map(\.id)
                } catch {
                    for d in group { end(socket, d.id, resultFD: d.fds[2], .temporary("\(error)")) }
                }
            }
        }
    }

    /// A request as it came: its fields and the descriptors that came with it (ours to close).
    struct Request {
        let fields: [String]
        let fds: [Int32]
        func close() { for fd in fds { Glibc.close(fd) } }
    }

    struct Delivery {
        let id: pid_t
        let user: SystemUser
        let arguments: [String]
        let fds: [Int32]
    }

    /// A refusal ends the delivery at once: see `end`; the request's descriptors are closed.
    static func refuse(_ socket: Int32, _ request: Request, _ id: pid_t, _ status: MailStatus) {
        end(socket, id, resultFD: request.fds.count == 3 ? request.fds[2] : nil, status)
        request.close()
    }

    /// A delivery that never ran ends with `status`: its result line where postamt-local would
    /// have written it (the result descriptor, when there is one), then its exit.
    static func end(_ socket: Int32, _ id: pid_t, resultFD: Int32?, _ status: MailStatus) {
        if let resultFD { try? FileIO.writeAll(resultFD, status.resultLine) }
        send(socket, exitReport(id, .exited(status.sysExit.rawValue)))
    }

    /// The delivery child: the deliveries in order, each with descriptors 0–3 its own (the first
    /// has them already, each next one's come from 4 on), closed when it is done so that the
    /// runner sees its output end; the exit code is the last one's (each has its result line).
    static func runDeliveries(_ arguments: [[String]], _ deliver: ([String]) -> Int32) -> Never {
        // The later deliveries' descriptors are not for a |command an earlier one runs.
        for fd in 4..<Int32(4 + 3 * max(0, arguments.count - 1)) { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var code: Int32 = 0
        for (k, args) in arguments.enumerated() {
            if k > 0 {
                let base = Int32(4 + 3 * (k - 1))
                guard dup2(base, 0) == 0, dup2(base + 1, 1) == 1, dup2(base + 1, 2) == 2, dup2(base + 2, 3) == 3 else { _exit(71) }
                for fd in base...(base + 2) { close(fd) }
            }
            code = deliver(args)
            for fd: Int32 in 0...3 { close(fd) }
        }
        fflush(nil)
        _exit(code)
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

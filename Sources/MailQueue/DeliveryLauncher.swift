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
    /// Children that ended since the last call. The runner may have finished a delivery by its
    /// result line already (QueueRunner.Running.endedWithItsLine): its end is still taken in
    /// here (reaped), and a forked child's finished delivery may not be reported at all.
    func finished() -> [(pid: pid_t, status: ExitStatus)]
    /// False once the launcher cannot start anything any more (the spawner died).
    var isAlive: Bool { get }
}

/// Runs postamt-local as ourselves.
public final class DirectLauncher: DeliveryLauncher {
    let program: String
    let environment: [String]
    /// Started and not yet reaped: the runner may be done with a delivery before its exit.
    var started: Set<pid_t> = []

    public init(program: String, environment: [String]) {
        self.program = program
        self.environment = environment
    }

    public func launch(user: String, arguments: [String], messageFD: Int32, outputFD: Int32, resultFD: Int32) throws -> pid_t {
        let pid = try Spawn.start(program, arguments: arguments, environment: environment + [PrivilegedSpawner.resultVariable],
                                  fds: [(0, messageFD), (1, outputFD), (2, outputFD), (3, resultFD)])
        started.insert(pid)
        return pid
    }

    public func kill(_ pid: pid_t) { Glibc.kill(pid, SIGKILL) }

    public var notificationFD: Int32? { nil }
    public var isAlive: Bool { true }

    public func finished() -> [(pid: pid_t, status: ExitStatus)] {
        var done: [(pid_t, ExitStatus)] = []
        for pid in started {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                started.remove(pid)
                done.append((pid, ExitStatus(waitStatus: status)))
            }
        }
        return done
    }
}

/// The runner's side of the privileged spawner: requests go over a SOCK_SEQPACKET socket with
/// the message, output and result descriptors attached (SCM_RIGHTS). Launching does not wait for
/// the spawner: each request carries an id of the runner's (negative, so it never equals the pid
/// of a postamt-remote run the runner started itself), and the spawner answers ("exit") only
/// for a delivery that ends without its forked child's report of it: refused (at once, its
/// result line written for it), killed, crashed, or a started program's exit; the runner takes
/// the others' end from their output and result line (QueueRunner.Running.endedWithItsLine). A
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
            switch DescriptorPassing.waiting(socket, limit: 4096) {
            case .nothing: return
            case .ended: isAlive = false
            case .fields(let fields): if fields.first == "exit" { recordExit(fields) }
            }
        }
    }

    public func kill(_ pid: pid_t) {
        _ = DescriptorPassing.send(socket, Array("kill\0\(pid)".utf8))
    }

    public var notificationFD: Int32? { socket }

    public func finished() -> [(pid: pid_t, status: ExitStatus)] {
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

    /// How long a forked delivery child lives (Postfix's max_use and max_idle): after its
    /// deliveries it waits for the next ones to the same user instead of exiting, so a stream of
    /// mail to one mailbox costs no fork, no page faults of a new process and no exit per message.
    public struct Reuse: Sendable {
        /// Deliveries one child runs before it exits (runner_local_max_use).
        public var deliveries: Int
        /// Milliseconds a child that has finished its deliveries waits for more (runner_local_max_idle).
        public var idleMilliseconds: Int64
        /// Waiting children kept at most; beyond it the longest waiting go (runner_local_idle_limit).
        public var idleChildren: Int

        public init(deliveries: Int, idleMilliseconds: Int64, idleChildren: Int) {
            self.deliveries = deliveries
            self.idleMilliseconds = idleMilliseconds
            self.idleChildren = idleChildren
        }

        /// Every child exits once its deliveries are done.
        public static let none = Reuse(deliveries: 1, idleMilliseconds: 0, idleChildren: 0)
    }

    /// A delivery child as the spawner sees it.
    final class Child {
        let user: SystemUser
        /// The spawner's end of the child's socket pair, kept until the child is reaped (its last
        /// reports may still be in it); -1 for a started program, which reports by its exit.
        var control: Int32
        /// Whether it may be given deliveries: false once told to exit (its socket shut down for
        /// writing, which the child reads as end of file).
        var open: Bool
        /// The runner's ids of the deliveries it was given and has not reported, in order.
        var pending: [pid_t]
        var given: Int
        /// When it reported its last delivery (monotonic milliseconds).
        var idleSince: Int64 = 0
        /// A forked child reports each delivery; a started program only by its exit.
        let reportsEach: Bool

        init(user: SystemUser, control: Int32, pending: [pid_t]) {
            self.user = user
            self.control = control
            self.reportsEach = control >= 0
            self.open = control >= 0
            self.pending = pending
            self.given = pending.count
        }

        func letGo() {
            if open { shutdown(control, Int32(SHUT_WR)) }
            open = false
        }

        var isWaiting: Bool { open && pending.isEmpty }
    }

    /// `deliver`, when given, is one delivery of postamt-local's as a function
    /// (LocalDeliveryProgram.deliver, returning its exit code): the child is forked and set up as
    /// for the program (descriptors, identity, directory, the clean environment) and calls it
    /// with the arguments instead of executing `program`. Requests that are waiting together for
    /// one user, up to `batch` of them, go to one child, which runs them one after the other
    /// with descriptors 0–3 set afresh for each (runner_local_batch): a fork, its page faults
    /// and its exit per group instead of per message. Such a child reports each delivery's exit
    /// code over a socket pair as it finishes, and then waits there for more deliveries to its
    /// user as `reuse` allows; a group for a user whose child is waiting goes to that child.
    public static func serve(socket: Int32, program: String, environment: [String], log: Log,
                             deliver: (([String]) -> Int32)? = nil, batch: Int = 1, reuse: Reuse = .none) -> Never {
        var children: [pid_t: Child] = [:]
        // The installation the delivery child reads (its POSTAMT_ROOT, from `environment`).
        let childRoot = environment.last { $0.hasPrefix("POSTAMT_ROOT=") }.map { String($0.dropFirst(13)) } ?? ""
        // CSpawn's child keeps at most 64 descriptors: 0–3, its socket, then three per further delivery.
        let batch = max(1, min(batch, 20))
        let reuse = deliver == nil ? .none : reuse
        func milliseconds() -> Int64 { Clock.monotonicNanoseconds() / 1_000_000 }

        /// Takes in what `child` has reported: each "done" ends its oldest pending delivery. The
        /// runner is not told: it has taken the delivery's end from its output and result line,
        /// which the child wrote before (runDeliveries); the report only frees the child for
        /// the next delivery. At its end of file the socket is closed (everything it sent is
        /// read). At most 64 messages a call: the child is the user's process, and a flood from
        /// it (a user may ptrace their own processes) must not keep the spawner from the others.
        func takeReports(_ child: Child) {
            var taken = 0
            while child.control >= 0 && taken < 64 {
                taken += 1
                let fields: [String]
                switch DescriptorPassing.waiting(child.control, limit: 64) {
                case .nothing: return
                case .ended:
                    close(child.control)
                    child.control = -1
                    child.open = false
                    return
                case .fields(let f): fields = f
                }
                guard fields.count == 2, fields[0] == "done", !child.pending.isEmpty else { continue }
                child.pending.removeFirst()
                if child.pending.isEmpty {
                    child.idleSince = milliseconds()
                    // No idle time: gone before a request read in the same wakeup could take it.
                    if child.given >= reuse.deliveries || reuse.idleMilliseconds <= 0 { child.letGo() }
                }
            }
        }

        // A child's end wakes the loop at once: SIGCHLD is blocked except while waiting in
        // ppoll(2), which it then interrupts. (A 50 ms poll tick paced the whole runner once
        // every delivery slot was busy: no new request came to wake the spawner, so finished
        // deliveries were reported 50 ms late, capping delivery at ~20 per tick.) Children get
        // an empty mask and default handlers (CSpawn's child setup).
        Spawn.setUpChildWait()
        while true {
            // Waiting children past their time, and the longest waiting beyond the number kept, go.
            let now = milliseconds()
            let waiting = children.values.filter(\.isWaiting).sorted { $0.idleSince < $1.idleSince }
            for (k, child) in waiting.enumerated()
            where now - child.idleSince >= reuse.idleMilliseconds || waiting.count - k > reuse.idleChildren {
                child.letGo()
            }
            let wake = children.values.filter(\.isWaiting).map { reuse.idleMilliseconds - (now - $0.idleSince) }.min()
            // The children's sockets are not waited on: a child's reports are read when the
            // spawner wakes for a request, a child's end or the timer (a child that is busy for
            // longer than that is found waiting up to a second late, which only delays its exit).
            var fds = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0)]
            Spawn.pollOrChild(&fds, timeoutMilliseconds: Int32(max(1, min(wake ?? 1000, 1000))))
            for child in children.values where !child.pending.isEmpty { takeReports(child) }
            // Report children that ended: what they reported before, then whatever they were
            // given and did not report, with how they ended (a child with a socket that exits
            // normally without reporting a delivery never ran it: a temporary failure).
            while !children.isEmpty {
                var status: Int32 = 0
                let pid = waitpid(-1, &status, WNOHANG)
                if pid <= 0 { break }
                guard let child = children.removeValue(forKey: pid) else { continue }
                takeReports(child)
                if child.control >= 0 { close(child.control) }
                var ended = ExitStatus(waitStatus: status)
                if child.reportsEach, case .exited = ended { ended = .exited(SysExit.tempFail.rawValue) }
                for id in child.pending { send(socket, exitReport(id, ended)) }
            }
            guard fds[0].revents != 0 else { continue }
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
                       let pid = children.first(where: { $0.value.pending.contains(id) })?.key {
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
                if deliver != nil, let g = groups.lastIndex(where: { $0[0].user == delivery.user && $0.count < batch }) {
                    groups[g].append(delivery)
                } else {
                    groups.append([delivery])
                }
            }
            for group in groups {
                defer { for d in group { for fd in d.fds { close(fd) } } }
                // A child of this user (the same identity, home and shell) that waits takes the group.
                var rest = group[...]
                if let child = children.values.first(where: { $0.isWaiting && $0.user == group[0].user && $0.given + group.count <= reuse.deliveries }) {
                    while let d = rest.first {
                        let request = (["deliver"] + d.arguments).joined(separator: "\0")
                        guard DescriptorPassing.send(child.control, Array(request.utf8), fds: d.fds) else {
                            child.letGo()
                            break
                        }
                        child.pending.append(d.id)
                        child.given += 1
                        rest.removeFirst()
                    }
                }
                if rest.isEmpty { continue }
                let user = rest.first!.user
                let home = FileIO.isDirectory(user.home) ? user.home : "/"
                let env = environment + ["HOME=\(user.home)", "USER=\(user.name)", "LOGNAME=\(user.name)", resultVariable]
                // The first delivery's descriptors at 0–3 (stdout and stderr the output pipe, 3
                // the result), the child's socket at 4, the others' three each from 5 on.
                var childFDs: [(child: Int32, parent: Int32)] = [(0, rest.first!.fds[0]), (1, rest.first!.fds[1]), (2, rest.first!.fds[1]), (3, rest.first!.fds[2])]
                do {
                    let pid: pid_t
                    var control: Int32 = -1
                    if let deliver {
                        var pair: [Int32] = [-1, -1]
                        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
                            throw SystemError("socketpair")
                        }
                        childFDs.append((4, pair[1]))
                        for (k, d) in rest.enumerated().dropFirst() {
                            let base = Int32(5 + 3 * (k - 1))
                            childFDs += [(base, d.fds[0]), (base + 1, d.fds[1]), (base + 2, d.fds[2])]
                        }
                        // Read here (from memory while unchanged), so the child starts with it.
                        _ = try? Configuration.load(root: childRoot)
                        let forked: pid_t?
                        do {
                            forked = try Spawn.forkPrepared(environment: env, fds: childFDs, identity: SpawnIdentity(user: user),
                                                            directory: home, name: program)
                        } catch {
                            close(pair[0])
                            close(pair[1])
                            throw error
                        }
                        guard let forked else {
                            runDeliveries(rest.map(\.arguments), control: 4, deliver)  // the child: never returns
                        }
                        close(pair[1])
                        control = pair[0]
                        pid = forked
                    } else {
                        pid = try Spawn.start(program, arguments: rest.first!.arguments, environment: env,
                                              fds: childFDs, identity: SpawnIdentity(user: user), directory: home)
                    }
                    children[pid] = Child(user: user, control: control, pending: rest.map(\.id))
                } catch {
                    for d in rest { end(socket, d.id, resultFD: d.fds[2], .temporary("\(error)")) }
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
    /// has them already, each next one's come from `control` + 1 on), which are put back on
    /// /dev/null when it is done, after its result line (the runner sees its output end and
    /// finishes it; no descriptor received later can take their numbers), and its exit code
    /// reported on `control` ("done", code) for the spawner, which then may give it more. Then
    /// the deliveries the spawner sends on `control` ("deliver", the arguments; the three
    /// descriptors), until it closes its end.
    static func runDeliveries(_ arguments: [[String]], control: Int32, _ deliver: ([String]) -> Int32) -> Never {
        // Neither the socket nor the later deliveries' descriptors are for a |command.
        for fd in control..<(control + 1 + 3 * Int32(max(0, arguments.count - 1))) { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // Opened once, above every number a delivery uses, for all of them.
        let null: Int32 = {
            let fd = open("/dev/null", O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { return -1 }
            let high = fcntl(fd, F_DUPFD_CLOEXEC, 10)
            close(fd)
            return high
        }()
        func run(_ args: [String]) {
            let code = deliver(args)
            // The result line comes before the output's end, whatever `deliver` did: the runner
            // takes the delivery's end from the two (postamt-local's own run writes the line and
            // closes descriptor 3; one that left it open did not say).
            if fcntl(3, F_GETFD) != -1 {
                let line = MailStatus.ofSysExit(code, text: "postamt-local exit \(code) without a result line").resultLine
                ReportDescriptor.send(line, to: 3)
            }
            for fd: Int32 in 0...3 { if null < 0 || dup2(null, fd) < 0 { close(fd) } }
            guard DescriptorPassing.send(control, Array("done\0\(code)".utf8)) else { _exit(SysExit.tempFail.rawValue) }
        }
        for (k, args) in arguments.enumerated() {
            if k > 0 {
                let base = control + 1 + Int32(3 * (k - 1))
                guard dup2(base, 0) == 0, dup2(base + 1, 1) == 1, dup2(base + 1, 2) == 2, dup2(base + 2, 3) == 3 else { _exit(71) }
                for fd in base...(base + 2) { close(fd) }
            }
            run(args)
        }
        while true {
            guard let (bytes, fds) = DescriptorPassing.receive(control, limit: 8192) else {
                if errno == EINTR { continue }
                break
            }
            if bytes.isEmpty { break }  // the spawner let it go
            let fields = String(decoding: bytes, as: UTF8.self).split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
            // Above 0–3 they arrive while those are open (/dev/null between deliveries); where
            // one arrived among them (they were closed), all are moved above first.
            var moved = fds
            if fds.contains(where: { $0 <= 3 }) {
                moved = fds.map { fcntl($0, F_DUPFD_CLOEXEC, 10) }
                for fd in fds { close(fd) }
            }
            guard fields.count >= 2, fields[0] == "deliver", moved.count == 3, !moved.contains(-1),
                  dup2(moved[0], 0) == 0, dup2(moved[1], 1) == 1, dup2(moved[1], 2) == 2, dup2(moved[2], 3) == 3 else {
                _exit(SysExit.tempFail.rawValue)
            }
            for fd in moved { close(fd) }
            run(Array(fields.dropFirst()))
        }
        fflush(nil)
        _exit(0)
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

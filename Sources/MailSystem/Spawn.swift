#if canImport(Glibc)
import Glibc
#endif
import CSpawn

/// How a child process ended.
public enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public init(waitStatus status: Int32) {
        if postamt_wifexited(status) != 0 {
            self = .exited(postamt_wexitstatus(status))
        } else {
            self = .signaled(postamt_wifsignaled(status) != 0 ? postamt_wtermsig(status) : 0)
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exit \(code)"
        case .signaled(let signal): return "signal \(signal)"
        }
    }
}

/// An identity for a child: it runs as this user with these groups.
public struct SpawnIdentity: Sendable {
    public var uid: uid_t
    public var gid: gid_t
    public var groups: [gid_t]
    public init(uid: uid_t, gid: gid_t, groups: [gid_t]) { self.uid = uid; self.gid = gid; self.groups = groups }
    public init(user: SystemUser) { self.init(uid: user.uid, gid: user.gid, groups: user.groups()) }
}

/// fork/exec through the CSpawn shim, which can place descriptors at any number (qmail-queue's
/// fd 1 envelope, checkpassword's fd 3) — swift-subprocess cannot.
public enum Spawn {
    /// For a parent that waits for its children and a descriptor at once (the runner's
    /// spawner): SIGCHLD is blocked from now on except inside `pollOrChild`, whose wait a child's
    /// end then interrupts, even one that ended while the parent was busy. Children started by
    /// `start`/`forkPrepared` get an empty mask and default handlers.
    public static func setUpChildWait() {
        _ = postamt_child_wait_setup()
    }

    /// Waits until `fd` is readable, a child ends (or any signal comes), or `timeoutMilliseconds`
    /// pass; true when `fd` is readable.
    public static func pollOrChild(_ fd: Int32, timeoutMilliseconds: Int32) -> Bool {
        postamt_poll_or_child(fd, timeoutMilliseconds) > 0
    }

    /// `pollOrChild` over several descriptors: their `revents` say which are ready.
    public static func pollOrChild(_ fds: inout [pollfd], timeoutMilliseconds: Int32) {
        _ = fds.withUnsafeMutableBufferPointer { postamt_poll_many_or_child($0.baseAddress, Int32($0.count), timeoutMilliseconds) }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let errno: Int32
        public let step: Int32
        public let path: String
        public var description: String {
            let steps = [1: "pipe", 2: "fork", 3: "fd setup", 4: "setgroups", 5: "setgid", 6: "setuid",
                         7: "privilege check", 8: "chdir", 9: "exec", 10: "setsid"]
            return "spawn \(path): \(steps[Int(step)] ?? "step \(step)"): \(SystemError.describe(errno))"
        }
    }

    /// Starts `path` with `arguments` (argv[0] included), the environment `environment` (never the
    /// caller's unless passed), and `fds` mapping child fd → parent fd (-1: /dev/null).
    public static func start(_ path: String, arguments: [String], environment: [String],
                             fds: [(child: Int32, parent: Int32)],
                             identity: SpawnIdentity? = nil, directory: String? = nil,
                             newSession: Bool = false) throws -> pid_t {
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        var err: Int32 = 0
        var step: Int32 = 0
        let rc = withChildSetup(fds: fds, identity: identity) { m, change, g, ng in
            postamt_spawn(path, &argv, &envp, m, Int32(fds.count), change, identity?.uid ?? 0, identity?.gid ?? 0,
                          g, ng, directory, newSession ? 1 : 0, &pid, &err, &step)
        }
        if rc != 0 { throw Failure(errno: err, step: step, path: path) }
        return pid
    }

    /// The C shim's view of a child's descriptors and groups: (target, source) pairs, whether the
    /// identity changes, the groups and their count.
    private static func withChildSetup(fds: [(child: Int32, parent: Int32)], identity: SpawnIdentity?,
                                       _ body: (UnsafePointer<Int32>?, Int32, UnsafePointer<gid_t>?, Int32) -> Int32) -> Int32 {
        let map = fds.flatMap { [$0.child, $0.parent] }
        let groups = identity?.groups ?? []
        return groups.withUnsafeBufferPointer { g in
            map.withUnsafeBufferPointer { m in body(m.baseAddress, identity == nil ? 0 : 1, g.baseAddress, Int32(g.count)) }
        }
    }

    /// `start` without the exec, for a single-threaded caller: the child is set up exactly so
    /// (signals, descriptors, identity, directory) with `environment` as its environment, and
    /// then returns nil here and runs on in this program; the parent gets the child's pid.
    /// The child must end with exit(3) or _exit(2), never by returning to its caller's loop.
    public static func forkPrepared(environment: [String], fds: [(child: Int32, parent: Int32)],
                                    identity: SpawnIdentity? = nil, directory: String? = nil,
                                    name: String) throws -> pid_t? {
        // Nothing buffered in stdio may be written twice, once by each process.
        fflush(nil)
        // Kept allocated for the child's life (it becomes its environ); freed in the parent.
        let envp = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: environment.count + 1)
        for (i, entry) in environment.enumerated() { envp[i] = strdup(entry) }
        envp[environment.count] = nil
        var pid: pid_t = 0
        var err: Int32 = 0
        var step: Int32 = 0
        let rc = withChildSetup(fds: fds, identity: identity) { m, change, g, ng in
            postamt_fork_prepared(envp, m, Int32(fds.count), change, identity?.uid ?? 0, identity?.gid ?? 0,
                                  g, ng, directory, &pid, &err, &step)
        }
        if rc == 0 && pid == 0 { return nil }
        for i in 0..<environment.count { free(envp[i]) }
        envp.deallocate()
        if rc != 0 { throw Failure(errno: err, step: step, path: name) }
        return pid
    }

    /// Waits for `pid`, retrying EINTR.
    public static func wait(_ pid: pid_t) throws -> ExitStatus {
        var status: Int32 = 0
        _ = try retryingEINTR("waitpid") { waitpid(pid, &status, 0) }
        return ExitStatus(waitStatus: status)
    }

    /// Reaps any finished child without blocking.
    public static func reapAny() -> (pid: pid_t, status: ExitStatus)? {
        var status: Int32 = 0
        let pid = waitpid(-1, &status, WNOHANG)
        guard pid > 0 else { return nil }
        return (pid, ExitStatus(waitStatus: status))
    }
}

/// A pipe whose ends are closed on exec (the spawn shim dups what a child needs).
public struct Pipe: ~Copyable {
    public var readEnd: OwnedFD
    public var writeEnd: OwnedFD

    public init() throws {
        var fds: [Int32] = [0, 0]
        _ = try retryingEINTR("pipe") { postamt_pipe_cloexec(&fds) }
        readEnd = OwnedFD(adopting: fds[0])
        writeEnd = OwnedFD(adopting: fds[1])
    }

    /// Closes the write end and hands over the raw read end (after a child got the write end).
    public consuming func keepReadEnd() -> Int32 {
        let raw = readEnd.release()
        _ = consume writeEnd
        return raw
    }

    /// Closes the read end and hands over the raw write end.
    public consuming func keepWriteEnd() -> Int32 {
        let raw = writeEnd.release()
        _ = consume readEnd
        return raw
    }
}

extension Spawn {
    /// The result of `run`: how the child ended and the tail of what it wrote.
    public struct Completed {
        public let status: ExitStatus
        public let output: [UInt8]
        public let timedOut: Bool
    }

    /// Runs a program to completion feeding `input` on stdin and collecting stdout+stderr
    /// (the last `outputLimit` bytes), in one poll loop so neither side can block the other.
    /// After `timeout` seconds the child is killed.
    public static func run(_ path: String, arguments: [String], environment: [String], input: [[UInt8]],
                           identity: SpawnIdentity? = nil, directory: String? = nil,
                           timeout: Int64, outputLimit: Int = 8192) throws -> Completed {
        let stdin = try Pipe()
        let output = try Pipe()
        let pid = try start(path, arguments: arguments, environment: environment,
                            fds: [(0, stdin.readEnd.raw), (1, output.writeEnd.raw), (2, output.writeEnd.raw)],
                            identity: identity, directory: directory, newSession: true)
        let inFD = stdin.keepWriteEnd()
        let outFD = output.keepReadEnd()
        _ = fcntl(inFD, F_SETFL, fcntl(inFD, F_GETFL) | O_NONBLOCK)
        var inputOpen = true
        var outputOpen = true
        var chunkIndex = 0
        var offset = 0
        var collected: [UInt8] = []
        let deadline = Clock.monotonicNanoseconds() + timeout * 1_000_000_000
        var timedOut = false
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        while chunkIndex < input.count && input[chunkIndex].isEmpty { chunkIndex += 1 }
        if chunkIndex >= input.count { close(inFD); inputOpen = false }
        while outputOpen || inputOpen {
            let remaining = (deadline - Clock.monotonicNanoseconds()) / 1_000_000
            if remaining <= 0 { timedOut = true; break }
            var fds: [pollfd] = []
            if inputOpen { fds.append(pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0)) }
            if outputOpen { fds.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
            let n = poll(&fds, nfds_t(fds.count), Int32(min(remaining, 1000)))
            if n < 0 && errno != EINTR { break }
            if n <= 0 { continue }
            var k = 0
            if inputOpen {
                if fds[k].revents & Int16(POLLOUT | POLLERR | POLLHUP) != 0 {
                    let chunk = input[chunkIndex]
                    let w = chunk.withUnsafeBytes { write(inFD, $0.baseAddress! + offset, $0.count - offset) }
                    if w > 0 {
                        offset += w
                        if offset == chunk.count {
                            chunkIndex += 1; offset = 0
                            while chunkIndex < input.count && input[chunkIndex].isEmpty { chunkIndex += 1 }
                        }
                    }
                    if (w < 0 && errno != EAGAIN && errno != EINTR) || chunkIndex >= input.count {
                        close(inFD); inputOpen = false // EPIPE: the program did not want the rest
                    }
                }
                k += 1
            }
            if outputOpen && fds[k].revents != 0 {
                let r = read(outFD, buffer.baseAddress, buffer.count)
                if r > 0 {
                    collected += UnsafeRawBufferPointer(rebasing: buffer[0..<r])
                    if collected.count > outputLimit { collected.removeFirst(collected.count - outputLimit) }
                } else if r == 0 || (errno != EINTR && errno != EAGAIN) {
                    outputOpen = false
                }
            }
        }
        if inputOpen { close(inFD) }
        close(outFD)
        if timedOut {
            Glibc.kill(-pid, SIGKILL)
            Glibc.kill(pid, SIGKILL)
        }
        let status = try wait(pid)
        return Completed(status: status, output: collected, timedOut: timedOut)
    }
}

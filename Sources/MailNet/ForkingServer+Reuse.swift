#if canImport(Glibc)
import Glibc
#endif
import MailSystem

extension ForkingServer {
    /// How long a child lives (Postfix's max_use and max_idle).
    public struct Reuse: Sendable {
        /// Sessions one child serves, one after another, before it exits (at least 2 here).
        public var sessions: Int
        /// Seconds a child may wait for its next connection before the server lets it go.
        public var idleSeconds: Int64

        public init(sessions: Int, idleSeconds: Int64) {
            self.sessions = sessions
            self.idleSeconds = idleSeconds
        }
    }

    /// `run`, but a child that has finished a session waits for the next one instead of
    /// exiting: the server hands it the connection over a socket pair (SCM_RIGHTS), so a new
    /// connection costs no fork while an idle child is there. A child ends after
    /// `reuse.sessions` sessions, after `reuse.idleSeconds` without one, and when `refresh`
    /// (asked at every connection) says the server's state changed: children made before go
    /// as soon as they are idle, so every session runs with the state a fresh fork would have.
    /// The limits count sessions, not children. `session` runs in the child with the
    /// connection on fd 0 and 1, and returns; the child then closes the connection.
    ///
    /// A child says it is idle with its pid on one datagram socket all children share, which
    /// the server does not wait on: it reads what is there whenever it wakes anyway (a
    /// connection, or its timer of a second), before it counts sessions or picks a child. So a
    /// session's end wakes nobody, and the server wakes once a connection instead of twice
    /// (the child's report used to wake it on its own socket). A child's idle time is counted
    /// from when the server read its report: it may be let go up to a second late.
    public static func run(listener: Int32, reuse: Reuse,
                           limits: () -> (total: Int, perClient: Int),
                           refuse: (_ connection: Int32, _ client: IPAddress, _ reason: String) -> Void,
                           refresh: () -> Bool,
                           log: (String) -> Void,
                           session: (IPAddress) -> Void) -> Never {
        final class Child {
            /// The server's end of the socket pair; -1 once the child is let go.
            var control: Int32
            /// The client of the session it runs; nil while it waits.
            var client: IPAddress?
            var idleSince: Int64 = 0
            let generation: Int
            init(control: Int32, client: IPAddress, generation: Int) {
                self.control = control
                self.client = client
                self.generation = generation
            }
            /// Closing its end is how a waiting child is told to exit.
            func letGo() {
                if control >= 0 { close(control) }
                control = -1
            }
        }
        _ = fcntl(listener, F_SETFD, FD_CLOEXEC)
        signal(SIGPIPE, SIG_IGN)
        // The children's idle reports: [0] the server's end, [1] the one every child writes to.
        var reports: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &reports) == 0 else {
            log("socketpair: \(String(cString: strerror(errno)))")
            run(listener: listener, limits: limits, refuse: refuse, beforeFork: { _ = refresh() }, log: log,
                child: { session($0); exit(0) })
        }
        var children: [pid_t: Child] = [:]
        var generation = 0
        while true {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, 1000)
            var status: Int32 = 0
            while case let pid = waitpid(-1, &status, WNOHANG), pid > 0 { children.removeValue(forKey: pid)?.letGo() }
            let now = Clock.seconds()
            // The idle reports sent since the last look (a child reaped above has none to use).
            while case .fields(let fields) = DescriptorPassing.waiting(reports[0], limit: 16) {
                guard let pid = pid_t(fields[0]), let child = children[pid], child.control >= 0 else { continue }
                child.client = nil
                child.idleSince = now
                if child.generation != generation { child.letGo() }
            }
            for child in children.values where child.client == nil && child.control >= 0 && now - child.idleSince >= reuse.idleSeconds {
                child.letGo()
            }
            guard p.revents != 0 else { continue }
            guard let (conn, ip) = accept(listener, sessions: children.values.compactMap(\.client), limits: limits, refuse: refuse)
            else { continue }
            if refresh() {
                generation += 1
                for child in children.values where child.client == nil { child.letGo() }
            }
            // An idle child of this generation takes it; if the hand-over fails, it is let go.
            var handedOver = false
            for child in children.values where child.client == nil && child.control >= 0 && child.generation == generation {
                if DescriptorPassing.send(child.control, Array(ip.description.utf8), fds: [conn]) {
                    child.client = ip
                    handedOver = true
                    break
                }
                child.letGo()
            }
            if handedOver {
                close(conn)
                continue
            }
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
                log("socketpair: \(String(cString: strerror(errno)))")
                close(conn)
                usleep(100_000)
                continue
            }
            let pid = fork()
            if pid == 0 {
                close(listener)
                close(pair[0])
                close(reports[0])
                for other in children.values where other.control >= 0 { close(other.control) }
                serveConnections(first: conn, client: ip, control: pair[1], reports: reports[1], reuse: reuse, session: session)
            }
            close(pair[1])
            if pid < 0 {
                log("fork: \(String(cString: strerror(errno)))")
                close(pair[0])
                close(conn)
                usleep(100_000)
                continue
            }
            children[pid] = Child(control: pair[0], client: ip, generation: generation)
            close(conn)
        }
    }

    /// A child's life: a session on `first`, then, while the server hands it more, one session
    /// per connection; it exits after `reuse.sessions` or when the server closes `control`.
    /// It says it is idle with its pid on `reports`, and waits for a connection on `control`.
    static func serveConnections(first: Int32, client: IPAddress, control: Int32, reports: Int32, reuse: Reuse,
                                 session: (IPAddress) -> Void) -> Never {
        var connection = first
        var client = client
        var served = 0
        while true {
            if dup2(connection, 0) < 0 || dup2(connection, 1) < 0 { _exit(1) }
            if connection > 1 { close(connection) }
            session(client)
            served += 1
            // The connection ends with its session; 0 and 1 stay open (on /dev/null) so that no
            // later descriptor takes their numbers.
            let null = open("/dev/null", O_RDWR)
            if null >= 0 {
                dup2(null, 0)
                dup2(null, 1)
                if null > 1 { close(null) }
            }
            if served >= reuse.sessions { exit(0) }
            guard DescriptorPassing.send(reports, Array("\(getpid())".utf8)),
                  let next = DescriptorPassing.receive(control, limit: 64), let fd = next.fds.first else { exit(0) }
            next.fds.dropFirst().forEach { close($0) }
            connection = fd
            client = IPAddress(String(decoding: next.bytes, as: UTF8.self))
                ?? SocketAddress.peer(ofSocket: fd)?.address.unmapped ?? IPAddress("0.0.0.0")!
        }
    }
}

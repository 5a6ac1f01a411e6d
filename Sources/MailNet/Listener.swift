#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket, for postamt-listen (a tcpserver-like launcher) and tests.
public struct TCPListener {
    public let fd: Int32
    public let address: SocketAddress

    /// Binds and listens. Port 0 picks a free port (see `address`).
    public init(address: SocketAddress, backlog: Int32 = 128) throws(NetError) {
        let family = address.address.isIPv4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NetError(.system(errno: errno), operation: "socket", detail: String(cString: strerror(errno))) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var rc: Int32 = 0
        address.withSockaddr { rc = bind(fd, $0, $1) }
        if rc != 0 {
            let e = errno
            close(fd)
            throw NetError(.system(errno: e), operation: "bind \(address)", detail: String(cString: strerror(e)))
        }
        guard listen(fd, backlog) == 0 else {
            let e = errno
            close(fd)
            throw NetError(.system(errno: e), operation: "listen", detail: String(cString: strerror(e)))
        }
        self.fd = fd
        self.address = SocketAddress.local(ofSocket: fd) ?? address
    }

    /// Accepts one connection (blocking); the new socket is close-on-exec.
    public func accept() -> (fd: Int32, peer: SocketAddress?)? {
        while true {
            let c = Glibc.accept(fd, nil, nil)
            if c >= 0 {
                _ = fcntl(c, F_SETFD, FD_CLOEXEC)
                return (c, SocketAddress.peer(ofSocket: c))
            }
            if errno == EINTR || errno == ECONNABORTED { continue }
            return nil
        }
    }
}

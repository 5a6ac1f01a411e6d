import Glibc

/// A plaintext connection over a read fd and a write fd: fd 0 and fd 1 of a socket-activated
/// server, or one socket for a client. Both fds are switched to O_NONBLOCK so that no single
/// read or write can block past the timeout (a slow-loris peer cannot hang the process); the
/// methods themselves block the caller until done, end of stream, or timeout. Borrowed fds get
/// their old flags back when the stream goes away (a terminal shared with a shell stays usable),
/// so wrap one fd in one live stream at a time.
public final class PlainStream: ByteStream {
    public let readFD: Int32
    public let writeFD: Int32
    public var timeout: Duration
    private let ownsDescriptors: Bool
    private let writeIsSocket: Bool
    private var closed = false
    /// File status flags to put back on borrowed fds that we switched to O_NONBLOCK.
    private var flagsToRestore: [(fd: Int32, flags: Int32)] = []
    /// Set by a write: the peer answers what we sent, so the next read waits first instead of
    /// trying a read that nearly always finds nothing (EAGAIN) — one system call fewer per
    /// command of a client that does not pipeline. A peer that did send ahead makes the wait
    /// return at once.
    private var waitBeforeRead = false

    /// Wraps `readFD`/`writeFD` (may be equal). With `ownsDescriptors` the stream closes them in
    /// `close()` or on deinit; otherwise the caller does.
    public init(readFD: Int32, writeFD: Int32, timeout: Duration = .seconds(300), ownsDescriptors: Bool = false) throws {
        self.readFD = readFD
        self.writeFD = writeFD
        self.timeout = timeout
        self.ownsDescriptors = ownsDescriptors
        for fd in readFD == writeFD ? [readFD] : [readFD, writeFD] {
            if let oldFlags = try PlainStream.setNonBlocking(fd), !ownsDescriptors {
                flagsToRestore.append((fd, oldFlags))
            }
        }
        var status = stat()
        writeIsSocket = fstat(writeFD, &status) == 0 && (status.st_mode & S_IFMT) == S_IFSOCK
    }

    /// Wraps one connected socket for both directions.
    public convenience init(socket fd: Int32, timeout: Duration = .seconds(300), ownsDescriptor: Bool = true) throws {
        try self.init(readFD: fd, writeFD: fd, timeout: timeout, ownsDescriptors: ownsDescriptor)
    }

    deinit {
        for (fd, flags) in flagsToRestore { _ = fcntl(fd, F_SETFL, flags) }
        close()
    }

    /// Sets O_NONBLOCK; returns the previous flags if it changed them.
    static func setNonBlocking(_ fd: Int32) throws -> Int32? {
        let flags = fcntl(fd, F_GETFL)
        if flags < 0 { throw NetError.system(errno, "fcntl(\(fd), F_GETFL)") }
        guard flags & O_NONBLOCK == 0 else { return nil }
        if fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 { throw NetError.system(errno, "fcntl(\(fd), F_SETFL)") }
        return flags
    }

    public func read(appendingTo buffer: inout [UInt8], max: Int) throws -> Int {
        guard max > 0 else { return 0 }
        let deadline = Deadline.after(timeout)
        if waitBeforeRead {
            waitBeforeRead = false
            try waitForDescriptor(readFD, events: POLLIN, until: deadline, operation: "read")
        }
        while true {
            var code: Int32 = 0
            let count = appendBytes(to: &buffer, max: max) { pointer, capacity in
                let n = Glibc.read(readFD, pointer, capacity)
                if n < 0 { code = errno }
                return n
            }
            if count >= 0 { return count }
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: try waitForDescriptor(readFD, events: POLLIN, until: deadline, operation: "read")
            default: throw NetError.system(code, "read")
            }
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        var deadline = Deadline.after(timeout)
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw -> Int in
                let start = raw.baseAddress! + offset
                // MSG_NOSIGNAL: a hung-up peer gives EPIPE rather than SIGPIPE.
                return writeIsSocket
                    ? send(writeFD, start, raw.count - offset, Int32(MSG_NOSIGNAL))
                    : Glibc.write(writeFD, start, raw.count - offset)
            }
            if written > 0 {
                offset += written
                deadline = Deadline.after(timeout)
                waitBeforeRead = true
                continue
            }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: try waitForDescriptor(writeFD, events: POLLOUT, until: deadline, operation: "write")
            default: throw NetError.system(code, "write")
            }
        }
    }

    /// Half-closes a socket (SHUT_WR) so the peer sees end of stream; nothing for other fds.
    public func shutdown() throws {
        if writeIsSocket, Glibc.shutdown(writeFD, Int32(SHUT_WR)) < 0, errno != ENOTCONN {
            throw NetError.system(errno, "shutdown")
        }
    }

    /// Closes owned descriptors (once); does nothing for borrowed ones.
    public func close() {
        guard ownsDescriptors, !closed else { return }
        closed = true
        _ = Glibc.close(readFD)
        if writeFD != readFD { _ = Glibc.close(writeFD) }
    }

    /// Connects a TCP socket to `address`, giving up after `timeout` (also the new stream's I/O timeout).
    public static func connect(to address: SocketAddress, timeout: Duration) throws -> PlainStream {
        let operation = "connect to \(address)"
        let family = address.address.isIPv4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        if fd < 0 { throw NetError.system(errno, operation) }
        do {
            var rc: Int32 = 0
            address.withSockaddr { pointer, length in rc = Glibc.connect(fd, pointer, length) }
            if rc < 0 {
                let code = errno
                guard code == EINPROGRESS || code == EINTR else { throw NetError.system(code, operation) }
                try waitForDescriptor(fd, events: POLLOUT, until: Deadline.after(timeout), operation: operation)
                var socketError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                if getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length) < 0 {
                    throw NetError.system(errno, operation)
                }
                if socketError != 0 { throw NetError.system(socketError, operation) }
            }
            return try PlainStream(socket: fd, timeout: timeout, ownsDescriptor: true)
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
    }
}

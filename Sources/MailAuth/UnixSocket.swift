#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// Stream sockets in the file system (AF_UNIX), close-on-exec.
/// XXX Belongs in MailSystem; here until the merge.
public enum UnixSocket {
    /// Connects to the socket at `path`.
    public static func connect(to path: String) throws -> OwnedFD {
        let fd = OwnedFD(adopting: try retryingEINTR("socket") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) })
        try withAddress(path) { address, length in
            _ = try retryingEINTR("connect \(path)") { Glibc.connect(fd.raw, address, length) }
        }
        return fd
    }

    /// Creates a listening socket at `path` (a stale socket there is replaced) with `mode`.
    public static func listen(at path: String, mode: mode_t, backlog: Int32 = 128) throws -> OwnedFD {
        let fd = OwnedFD(adopting: try retryingEINTR("socket") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) })
        if let st = FileIO.status(path), st.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
        // The mode is set through umask so that no moment exists with a wider one.
        let oldMask = umask(~mode & 0o777)
        defer { umask(oldMask) }
        try withAddress(path) { address, length in
            _ = try retryingEINTR("bind \(path)") { bind(fd.raw, address, length) }
        }
        _ = try retryingEINTR("listen \(path)") { Glibc.listen(fd.raw, backlog) }
        return fd
    }

    private static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Void) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw SystemError("socket path \(path)", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }

    /// Reads one LF-terminated line of at most `limit` bytes before `deadline` (monotonic ns).
    /// Returns the line without its LF; throws ETIMEDOUT, EMSGSIZE, or ECONNRESET at end of file.
    public static func readLine(_ fd: Int32, limit: Int, deadline: Int64) throws -> [UInt8] {
        var reader = AuthLineReader(maxLineLength: limit)
        var chunk = [UInt8](repeating: 0, count: limit)
        while true {
            switch reader.next() {
            case .line(let line): return line
            case .tooLong: throw SystemError("read answer", errno: EMSGSIZE)
            case .needMore: break
            }
            let remaining = (deadline - Clock.monotonicNanoseconds()) / 1_000_000
            guard remaining > 0 else { throw SystemError("read answer", errno: ETIMEDOUT) }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(min(remaining, 60_000)))
            if ready < 0 && errno != EINTR { throw SystemError("poll") }
            if ready <= 0 { continue }
            // Peek, then consume no more than this line: a second line that arrived in the same
            // segment stays in the socket for the next call.
            let peeked = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK)) }
            var want = peeked
            if peeked > 0, let lf = chunk[0..<peeked].firstIndex(of: 0x0A) { want = lf + 1 }
            let n = want <= 0 ? want : chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, want) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw SystemError("read answer")
            }
            if n == 0 { throw SystemError("read answer", errno: ECONNRESET) }
            reader.append(chunk[0..<n])
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CSpawn

/// Descriptors sent with a message over a Unix socket (SCM_RIGHTS, unix(7)): the runner and
/// its privileged spawner talk this way. At most four descriptors per message.
public enum DescriptorPassing {
    public static let maximumDescriptors = 4

    /// Sends `bytes` with `fds` attached; false on failure (errno set).
    public static func send(_ socket: Int32, _ bytes: [UInt8], fds: [Int32] = []) -> Bool {
        precondition(fds.count <= maximumDescriptors)
        var bytes = bytes
        let rc = bytes.withUnsafeMutableBytes { b in fds.withUnsafeBufferPointer { f in
            postamt_send_with_fds(socket, b.baseAddress, b.count, f.count == 0 ? nil : f.baseAddress, Int32(f.count)) } }
        return rc == 0
    }

    /// What `waiting` found on a socket.
    public enum Waiting: Equatable {
        /// A message's NUL-separated fields.
        case fields([String])
        /// Nothing to read now.
        case nothing
        /// End of file or an error: the other end is gone.
        case ended
    }

    /// A message of at most `limit` bytes already waiting on `socket`, without blocking, as its
    /// NUL-separated fields; descriptors that came with it are closed (the reports of children
    /// and of the spawner carry none).
    public static func waiting(_ socket: Int32, limit: Int) -> Waiting {
        while true {
            var p = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 0) <= 0 { return .nothing }
            guard let (bytes, fds) = receive(socket, limit: limit) else {
                if errno == EINTR { continue }
                return .ended
            }
            for fd in fds { close(fd) }
            if bytes.isEmpty { return .ended }
            return .fields(String(decoding: bytes, as: UTF8.self).split(separator: "\0", omittingEmptySubsequences: false).map(String.init))
        }
    }

    /// One message of at most `limit` bytes and the descriptors that came with it (now ours to
    /// close). nil with errno set on failure; an empty message at end of file.
    public static func receive(_ socket: Int32, limit: Int) -> (bytes: [UInt8], fds: [Int32])? {
        var fds = [Int32](repeating: -1, count: maximumDescriptors)
        var nfds: Int32 = 0
        var n = 0
        // Received straight into the result, not zero-filled first.
        let bytes = [UInt8](unsafeUninitializedCapacity: limit) { b, count in
            n = fds.withUnsafeMutableBufferPointer { f in
                postamt_recv_with_fds(socket, b.baseAddress, b.count, f.baseAddress, Int32(maximumDescriptors), &nfds) }
            count = max(0, n)
        }
        if n < 0 { return nil }
        return (bytes, Array(fds[0..<Int(nfds)]))
    }
}

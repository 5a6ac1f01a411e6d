#if canImport(Glibc)
import Glibc
#endif

/// A typed report channel from a child program to its caller: the caller opens a pipe,
/// gives the child its write end as a descriptor above 2 and names that descriptor in an
/// environment variable (postamt-queue: POSTAMT_ID_FD, the queue id; postamt-local:
/// POSTAMT_RESULT_FD, the result line). Nothing is scraped from log lines.
public enum ReportDescriptor {
    /// The descriptor named by `variable`, when it is above 2 and open at program start: call
    /// this before anything is opened, or a file the program opens could take that number and
    /// receive the report. It is made close-on-exec so that programs started later (a
    /// delivery's `|command`) cannot write to it.
    public static func fromEnvironment(_ variable: String) -> Int32? {
        guard let v = getenv(variable), let fd = Int32(String(cString: v)), fd > 2, fd < 1024,
              fcntl(fd, F_GETFD) != -1 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }

    /// One write(2) of `line` (at most PIPE_BUF bytes, so a pipe takes it whole), then close.
    public static func send(_ line: String, to fd: Int32?) {
        guard let fd else { return }
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// What is in the read end once the child has exited (non-blocking: a grandchild that kept
    /// the write end cannot make the caller wait), at most `limit` bytes; closes `fd`.
    public static func collect(_ fd: Int32, limit: Int = 4096) -> [UInt8] {
        let out = waiting(fd, limit: limit)
        close(fd)
        return out
    }

    /// What is in the read end now, at most `limit` bytes, without waiting for more and without
    /// closing it (the rest can be collected later).
    public static func waiting(_ fd: Int32, limit: Int = 4096) -> [UInt8] {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while out.count < limit {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { out += buffer[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        return Array(out.prefix(limit))
    }
}

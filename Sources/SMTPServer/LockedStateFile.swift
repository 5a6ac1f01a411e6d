#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// A small state file that several postamt-smtpd processes share (the greylist, the sending
/// counts): opened, locked with flock(2) for one short read-modify-write, then closed, which
/// releases the lock — also when the process dies, so a lock is never stale. The state is soft:
/// nothing is fsync'd, and a file that does not parse is started afresh.
struct LockedStateFile: ~Copyable {
    let path: String
    let fd: OwnedFD

    /// Opens (creating it 0600) and locks `path`, waiting for another holder's few microseconds.
    init(path: String) throws {
        let opened = try FileIO.open(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
        while flock(opened.raw, LOCK_EX) != 0 {
            guard errno == EINTR else { throw SystemError("lock \(path)") }
        }
        self.path = path
        fd = opened
    }

    /// Locks a file another holder keeps open (`SendingCountFile`): a duplicate of `fd` shares
    /// its open file description, and so its flock(2) lock, which the end of this value releases.
    init(sharing fd: Int32, path: String) throws {
        let copy = dup(fd)
        guard copy >= 0 else { throw SystemError("dup \(path)") }
        let opened = OwnedFD(adopting: copy)
        while flock(opened.raw, LOCK_EX) != 0 {
            guard errno == EINTR else { throw SystemError("lock \(path)") }
        }
        self.path = path
        self.fd = opened
    }

    deinit {
        // Closing the last descriptor would release the lock too; a shared one stays open.
        _ = flock(fd.raw, LOCK_UN)
    }

    var size: Int {
        var status = stat()
        return fstat(fd.raw, &status) == 0 ? Int(status.st_size) : 0
    }

    /// Up to `count` bytes at `offset` (fewer at the end of the file).
    func read(at offset: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd.raw, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw SystemError("read \(path)") }
            if n == 0 { break }
            done += n
        }
        return Array(bytes[0..<done])
    }

    func write(_ bytes: [UInt8], at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd.raw, $0.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SystemError("write \(path)") }
            done += n
        }
    }

    func truncate(to size: Int) throws {
        guard ftruncate(fd.raw, off_t(size)) == 0 else { throw SystemError("truncate \(path)") }
    }
}

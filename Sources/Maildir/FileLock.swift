#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// An fcntl(2) write lock on a lock file that stays in place (`<file>.lock`), as Dovecot's
/// default `lock_method = fcntl`: an open-file-description lock (F_OFD_SETLK), so it belongs
/// to this open of the file, not to the process, and no other open or close of the file in
/// the process can drop it. The kernel releases it when its holder exits, however that
/// happens, so a lock is never stale. On NFS the server keeps the lock (NFSv4, or NFSv3 with
/// lockd/NLM), across hosts.
///
/// Used for the uid list, which every STORE, EXPUNGE and APPEND takes: a dot lock creates and
/// removes a file each time, and on ext4 a stream of short-lived inodes makes every creation
/// slower (new inodes skip recently deleted ones, which costs a walk of the inode table).
/// The lock file is created once and then only opened.
public struct FileLock: Sendable {
    /// The lock file's path (`<file>.lock`).
    public let lockPath: String
    let fd: Int32

    static let ofdSetLock: Int32 = 37 // F_OFD_SETLK (Linux 3.15; <fcntl.h> defines it only with _GNU_SOURCE)

    /// Takes the lock for `file`, waiting (with growing pauses) up to `options.timeoutMilliseconds`;
    /// `options.staleAfterSeconds` does not apply (see above).
    public static func acquire(for file: String, options: DotLock.Options = DotLock.Options()) throws -> FileLock {
        let lockPath = file + ".lock"
        let deadline = Clock.monotonicNanoseconds() + options.timeoutMilliseconds * 1_000_000
        var delayMicros: UInt32 = 200
        while true {
            var raw = Glibc.open(lockPath, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
            if raw < 0 && errno == ENOENT { raw = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600) }
            guard raw >= 0 else { throw MaildirError.system(SystemError("open \(lockPath)")) }
            let fd = OwnedFD(adopting: raw)
            while true {
                var request = flock()
                request.l_type = Int16(F_WRLCK)
                request.l_whence = Int16(SEEK_SET)
                if fcntl(fd.raw, ofdSetLock, &request) == 0 { break }
                let code = errno
                if code == EINTR { continue }
                guard code == EAGAIN || code == EACCES else { throw MaildirError.system(SystemError("lock \(lockPath)", errno: code)) }
                if Clock.monotonicNanoseconds() > deadline { throw MaildirError.lockTimeout(lockPath) }
                usleep(delayMicros + UInt32.random(in: 0...delayMicros))
                delayMicros = min(delayMicros * 2, 50_000)
            }
            // Locked. The lock file is never removed by Postamt while its folder exists, but a
            // folder DELETE/RENAME (or an administrator) may have taken it away meanwhile: a
            // lock on a file no longer at the path protects nothing, so take the one there now.
            var held = stat(), there = stat()
            guard fstat(fd.raw, &held) == 0 else { throw MaildirError.system(SystemError("fstat \(lockPath)")) }
            if lstat(lockPath, &there) == 0 {
                if there.st_ino == held.st_ino && there.st_dev == held.st_dev {
                    return FileLock(lockPath: lockPath, fd: fd.release())
                }
            } else if errno != ENOENT {
                throw MaildirError.system(SystemError("stat \(lockPath)"))
            }
        }
    }

    /// Lets go of the lock (closing the file descriptor releases it).
    public func release() { Glibc.close(fd) }

    /// Runs `body` holding the lock for `file`.
    public static func withLock<T>(for file: String, options: DotLock.Options = DotLock.Options(), _ body: (FileLock) throws -> T) throws -> T {
        let lock = try acquire(for: file, options: options)
        defer { lock.release() }
        return try body(lock)
    }
}

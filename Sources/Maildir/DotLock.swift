#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// Errors of the Maildir reading/writing layer (the IMAP and POP3 servers map them to replies).
public enum MaildirError: Error, CustomStringConvertible, Equatable {
    case system(SystemError)
    /// The lock file stayed held by a live holder for longer than the timeout.
    case lockTimeout(String)
    case invalidFolderName(String, reason: String)
    case folderExists(String)
    case folderMissing(String)
    case invalidKeyword(String)
    /// All 26 keyword letters of the folder are in use.
    case tooManyKeywords
    /// A message or file is larger than a configured limit.
    case tooLarge(String)

    public var description: String {
        switch self {
        case .system(let e): return e.description
        case .lockTimeout(let path): return "timed out waiting for lock \(path)"
        case .invalidFolderName(let name, let reason): return "invalid folder name \"\(name)\": \(reason)"
        case .folderExists(let name): return "folder exists: \(name)"
        case .folderMissing(let name): return "no such folder: \(name)"
        case .invalidKeyword(let k): return "invalid keyword \"\(k)\""
        case .tooManyKeywords: return "no keyword letters left in this folder (26 in use)"
        case .tooLarge(let what): return "too large: \(what)"
        }
    }
}

/// Runs `body`, turning `SystemError` into `MaildirError.system`.
@inline(__always)
func mapSystemErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as SystemError { throw MaildirError.system(e) }
}

/// A lock file that works on NFS, as Dovecot's dotlock (src/lib/file-dotlock.c) with its
/// default `dotlock_use_excl = yes`: the lock is created with O_CREAT|O_EXCL, which is atomic on
/// local file systems and on NFSv3 and later (open(2); only NFSv2 needed qmail's link(2) trick,
/// at four more system calls per lock), and holds "<pid> <host>\n".
///
/// An existing lock is stale when its holder is on this host and its pid is gone, when it is
/// still empty (its holder died between creating and writing it) after `emptyStaleSeconds`, or
/// when its mtime is older than `staleAfter` (a holder refreshes the mtime while it works, see
/// `refresh`). A stale lock is renamed away and removed, and the attempt repeats.
///
/// XXX Two waiters can judge the same lock stale at once; the second could then break the
/// first's fresh lock. We re-check the inode and mtime right before breaking it, which leaves a
/// window of one stat(2); Dovecot has the same window.
public struct DotLock: Sendable {
    /// How long to wait and when a lock counts as abandoned.
    public struct Options: Sendable {
        /// A lock whose mtime is older than this is broken (Dovecot's uidlist uses 2 minutes).
        public var staleAfterSeconds: Int64 = 120
        /// Give up (MaildirError.lockTimeout) after waiting this long.
        public var timeoutMilliseconds: Int64 = 30_000
        public init(staleAfterSeconds: Int64 = 120, timeoutMilliseconds: Int64 = 30_000) {
            self.staleAfterSeconds = staleAfterSeconds
            self.timeoutMilliseconds = timeoutMilliseconds
        }
    }

    /// The lock file's path (`<file>.lock`).
    public let lockPath: String
    let inode: ino_t

    /// Takes the lock for `file` (the lock file is `file + ".lock"`).
    public static func acquire(for file: String, options: Options = Options()) throws -> DotLock {
        let lockPath = file + ".lock"
        let host = MaildirName.hostName()
        let content = "\(getpid()) \(host)\n"
        let deadline = Clock.monotonicNanoseconds() + options.timeoutMilliseconds * 1_000_000
        var delayMicros: UInt32 = 2_000
        while true {
            if let inode = try attempt(lockPath: lockPath, content: content) {
                return DotLock(lockPath: lockPath, inode: inode)
            }
            if isStale(lockPath, options: options, host: host) { continue }
            if Clock.monotonicNanoseconds() > deadline { throw MaildirError.lockTimeout(lockPath) }
            usleep(delayMicros + UInt32.random(in: 0...delayMicros))
            delayMicros = min(delayMicros * 2, 100_000)
        }
    }

    /// One try: nil when someone else holds the lock.
    static func attempt(lockPath: String, content: String) throws -> ino_t? {
        let raw = open(lockPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if raw < 0 {
            if errno == EEXIST { return nil }
            throw MaildirError.system(SystemError("create \(lockPath)"))
        }
        let fd = OwnedFD(adopting: raw)
        var st = stat()
        do {
            try FileIO.writeAll(fd.raw, content)
            guard fstat(fd.raw, &st) == 0 else { throw SystemError("fstat \(lockPath)") }
            try fd.closeChecked()
        } catch let e as SystemError {
            unlink(lockPath)
            throw MaildirError.system(e)
        }
        return st.st_ino
    }

    /// A lock file still empty after this long lost its holder between open(2) and write(2).
    static let emptyStaleSeconds: Int64 = 10

    /// Whether the lock at `lockPath` is abandoned; if so, it has been removed.
    static func isStale(_ lockPath: String, options: Options, host: String) -> Bool {
        guard let st = FileIO.status(lockPath) else { return true } // gone: try again at once
        let age = Clock.seconds() - Int64(st.st_mtim.tv_sec)
        var stale = age > options.staleAfterSeconds || (st.st_size == 0 && age > emptyStaleSeconds)
        if !stale, let bytes = try? FileIO.readFile(lockPath, limit: 4096) {
            let fields = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
            if fields.count >= 2, fields[1] == host, let pid = Int32(fields[0]), pid > 0,
               kill(pid, 0) != 0 && errno == ESRCH {
                stale = true
            }
        }
        guard stale else { return false }
        // Break it only if it is still the same file we judged.
        guard let again = FileIO.status(lockPath), again.st_ino == st.st_ino,
              again.st_mtim.tv_sec == st.st_mtim.tv_sec, again.st_mtim.tv_nsec == st.st_mtim.tv_nsec else { return true }
        let aside = "\(lockPath).stale.\(MaildirName.unique())"
        if rename(lockPath, aside) == 0 { unlink(aside) }
        return true
    }

    /// Updates the lock's mtime so that waiters do not judge it stale during long work.
    public func refresh() {
        _ = utimensat(AT_FDCWD, lockPath, nil, 0)
    }

    /// Removes the lock if it is still ours.
    public func release() {
        if let st = FileIO.status(lockPath), st.st_ino == inode { unlink(lockPath) }
    }

    /// Runs `body` holding the lock for `file`.
    public static func withLock<T>(for file: String, options: Options = Options(), _ body: (DotLock) throws -> T) throws -> T {
        let lock = try acquire(for: file, options: options)
        defer { lock.release() }
        return try body(lock)
    }
}

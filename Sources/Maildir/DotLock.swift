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

/// A lock file that works on NFS, as Dovecot's dotlock (src/lib/file-dotlock.c) and qmail's
/// advice do: O_EXCL is not atomic over NFSv2, link() is.
///
/// Acquire: create a unique temporary file beside the lock holding "<pid> <host>\n", link() it
/// to `<path>.lock`, and treat a failed link whose temporary file now has two links as success
/// (the NFS server did the link but the reply was lost). An existing lock is stale when its
/// holder is on this host and its pid is gone, or when its mtime is older than `staleAfter`
/// (a holder refreshes the mtime while it works, see `refresh`). A stale lock is renamed away and
/// removed, and the attempt repeats.
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
        let dir = FileIO.directoryName(lockPath)
        let temp = "\(dir)/.\(FileIO.baseName(lockPath)).\(MaildirName.unique())"
        do {
            let fd = try FileIO.open(temp, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            try FileIO.writeAll(fd.raw, content)
            try fd.closeChecked()
        } catch let e as SystemError { throw MaildirError.system(e) }
        defer { unlink(temp) }
        if link(temp, lockPath) == 0 {
            return FileIO.status(temp).map { $0.st_ino }
        }
        let linkErrno = errno
        // NFS: the link may have happened although the reply said otherwise.
        if let st = FileIO.status(temp), st.st_nlink == 2 { return st.st_ino }
        if linkErrno == EEXIST { return nil }
        throw MaildirError.system(SystemError("link \(lockPath)", errno: linkErrno))
    }

    /// Whether the lock at `lockPath` is abandoned; if so, it has been removed.
    static func isStale(_ lockPath: String, options: Options, host: String) -> Bool {
        guard let st = FileIO.status(lockPath) else { return true } // gone: try again at once
        var stale = Clock.seconds() - Int64(st.st_mtim.tv_sec) > options.staleAfterSeconds
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

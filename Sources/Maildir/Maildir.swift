#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// A Maildir (https://cr.yp.to/proto/maildir.html) and delivery into it.
///
/// The specification's delivery steps, which `deliver` follows in order:
/// "A delivery agent ... chdir()s to the maildir directory; stat()s the name tmp/time.pid.host
/// ... creates tmp/time.pid.host; ... writes the message; ... [on NFS, fsync] ... link()s the
/// file to new/time.pid.host. At that instant the message has been successfully delivered."
/// We use link (never rename) into new/ so that an existing name is never overwritten, fsync the
/// file before linking and the new/ directory after it (the link is the commit point, and it
/// must survive a crash before we report success — invariant 1).
public struct Maildir: Sendable {
    public let path: String

    public init(path: String) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        self.path = p
    }

    public enum DeliveryError: Error, CustomStringConvertible {
        case system(SystemError)
        public var description: String {
            switch self { case .system(let e): return e.description }
        }
        /// Full disks and quotas are temporary; anything else about the Maildir is too (a
        /// sysadmin can fix permissions), as qmail-local treats it.
        public var isTemporary: Bool { true }
    }

    /// Creates the Maildir (and its parents) with private permissions when missing.
    public func create(mode: mode_t = 0o700) throws {
        try FileIO.makeDirectories(path, mode: mode)
        for sub in ["tmp", "new", "cur"] {
            let p = "\(path)/\(sub)"
            if mkdir(p, mode) != 0 && errno != EEXIST { throw SystemError("mkdir \(p)") }
        }
    }

    public var exists: Bool { FileIO.isDirectory("\(path)/new") && FileIO.isDirectory("\(path)/tmp") }

    /// Writes `parts` (concatenated) as one new message. Returns the name in new/.
    ///
    /// The file is made in tmp/ without a name (O_TMPFILE), written, fsynced and then linked
    /// into new/, so nothing is added to or removed from tmp/: a crash leaves no file there, and
    /// the fsync does not write tmp/'s directory block too (ext4 without a journal writes the
    /// directory of a file just named with it: one synchronous write of five a message here,
    /// besides tmp/'s entry made and removed). Where the file system cannot make such a file,
    /// or /proc is missing (the link goes through /proc/self/fd), a named file in tmp/ renamed
    /// into new/, as the Maildir specification describes.
    @discardableResult
    public func deliver(_ parts: [ArraySlice<UInt8>], createIfMissing: Bool = true) throws -> String {
        if createIfMissing && !exists { try create() }
        let size = parts.reduce(0) { $0 + $1.count }
        if let fd = FileIO.openUnnamed(in: "\(path)/tmp") {
            let owned = OwnedFD(adopting: fd)
            for part in parts { try FileIO.writeAll(owned.raw, part) }
            // A failed fsync is not retried: the data may be gone; the file goes with the descriptor.
            try FileIO.fsync(owned.raw, "fsync a new file in \(path)/tmp")
            for attempt in 1...10 {
                let name = MaildirName.unique(size: size)
                let target = "\(path)/new/\(name)"
                guard FileIO.linkOpenFile(owned.raw, to: target) else {
                    if errno == EEXIST && attempt < 10 { continue }
                    break  // not this way (no /proc, or the link refused): a named file below
                }
                do {
                    try owned.closeChecked()
                    try FileIO.fsyncDirectory("\(path)/new")
                } catch {
                    unlink(target)
                    throw error
                }
                return name
            }
        }
        return try deliverNamed(parts, size: size)
    }

    /// A named file in tmp/, fsynced, renamed into new/ (`deliver` where an unnamed file cannot
    /// be made or linked).
    func deliverNamed(_ parts: [ArraySlice<UInt8>], size: Int) throws -> String {
        var attempt = 0
        while true {
            attempt += 1
            let name = MaildirName.unique(size: size)
            let tmp = "\(path)/tmp/\(name)"
            let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd < 0 {
                if errno == EEXIST && attempt < 10 { continue }
                throw SystemError("create \(tmp)")
            }
            let owned = OwnedFD(adopting: fd)
            do {
                for part in parts { try FileIO.writeAll(owned.raw, part) }
                // A failed fsync is not retried: the data may be gone; discard the attempt.
                try FileIO.fsync(owned.raw, "fsync \(tmp)")
                try owned.closeChecked()
                let target = "\(path)/new/\(name)"
                // Into new/ without ever replacing a name there: rename with RENAME_NOREPLACE
                // (one directory operation fewer than qmail's link and unlink); link and unlink
                // where the file system cannot.
                if !FileIO.renameNoReplace(tmp, target) {
                    var e = errno
                    if e == EINVAL || e == ENOSYS {
                        e = link(tmp, target) == 0 ? 0 : errno
                    }
                    unlink(tmp)
                    if e == EEXIST && attempt < 10 { continue }
                    if e != 0 { throw SystemError("rename \(target)", errno: e) }
                }
                try FileIO.fsyncDirectory("\(path)/new")
                return name
            } catch {
                unlink(tmp)
                throw error
            }
        }
    }

    /// A Maildir++ folder below this Maildir (`.Junk`, `.Lists.Work`), created when missing
    /// with the `maildirfolder` marker file that Courier and Dovecot expect.
    public func folder(_ name: String, create: Bool = true) throws -> Maildir {
        precondition(!name.contains("/") && !name.hasPrefix(".") && !name.isEmpty, "bad folder name")
        let folder = Maildir(path: "\(path)/.\(name)")
        if create && !folder.exists {
            try folder.create()
            let marker = open("\(folder.path)/maildirfolder", O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            if marker >= 0 { close(marker) }
        }
        return folder
    }
}

/// Unique Maildir names in the form Dovecot and Courier use:
/// `<seconds>.M<microseconds>P<pid>Q<count>R<random>.<host>,S=<size>`.
public enum MaildirName {
    nonisolated(unsafe) static var counter = 0

    public static func unique(size: Int? = nil, host: String = hostPart()) -> String {
        counter += 1
        let now = Clock.now()
        let random = UInt32.random(in: 0...UInt32.max)
        var name = "\(now.seconds).M\(now.microseconds)P\(getpid())Q\(counter)R\(String(random, radix: 16)).\(host)"
        if let size { name += ",S=\(size)" }
        return name
    }

    /// The host name with "/" and ":" escaped as the specification asks ("\057", "\072").
    public static func hostPart(_ host: String = hostName()) -> String {
        var out = ""
        for c in host {
            switch c {
            case "/": out += "\\057"
            case ":": out += "\\072"
            default: out.append(c)
            }
        }
        return out
    }

    public static func hostName() -> String { cachedHostName }

    /// Read once per process (every unique name and every lock asks; qmail reads it at start).
    static let cachedHostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        let s = String(cString: buffer)
        return s.isEmpty ? "localhost" : s
    }()

    /// The unique part of a name (before ":2," flags), which identifies a message for its life.
    public static func baseName(_ name: String) -> Substring {
        if let colon = name.firstIndex(of: ":") { return name[..<colon] }
        return Substring(name)
    }

    /// The size recorded in the name (",S="), if any.
    public static func size(_ name: String) -> Int? {
        let base = baseName(name)
        guard let r = base.firstRange(of: ",S=") else { return nil }
        let digits = base[r.upperBound...].prefix { $0.isNumber }
        return Int(digits)
    }
}

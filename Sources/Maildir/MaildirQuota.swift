#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// A storage limit: bytes and/or messages; nil means no limit of that kind.
public struct QuotaLimit: Hashable, Sendable, CustomStringConvertible {
    public var bytes: Int64?
    public var messages: Int64?

    public init(bytes: Int64? = nil, messages: Int64? = nil) {
        self.bytes = bytes.flatMap { $0 > 0 ? $0 : nil }
        self.messages = messages.flatMap { $0 > 0 ? $0 : nil }
    }

    public var isUnlimited: Bool { bytes == nil && messages == nil }

    /// The Maildir++ definition line: "<bytes>S,<count>C", either part alone, "" when none.
    public var description: String {
        [bytes.map { "\($0)S" }, messages.map { "\($0)C" }].compactMap { $0 }.joined(separator: ",")
    }

    /// Parses a definition line ("1048576S,1000C", "1048576S", "1000C"); nil when malformed.
    /// Courier also knows other letters (none in practice); a line with them is not ours to read.
    public init?(definition: Substring) {
        guard !definition.isEmpty else { return nil }
        var bytes: Int64?, messages: Int64?
        for part in definition.split(separator: ",") {
            guard let kind = part.last, let n = Int64(part.dropLast()), n >= 0 else { return nil }
            switch kind {
            case "S": bytes = n
            case "C": messages = n
            default: return nil
            }
        }
        self.init(bytes: bytes, messages: messages)
    }

    /// How full `usage` makes this limit, in percent of the fuller kind (0 when unlimited).
    public func percentUsed(_ usage: QuotaUsage) -> Int {
        var p: Int64 = 0
        if let b = bytes { p = max(p, usage.bytes * 100 / b) }
        if let m = messages { p = max(p, usage.messages * 100 / m) }
        return Int(clamping: p)
    }

    /// Whether `usage` stays within the limit.
    public func admits(_ usage: QuotaUsage) -> Bool {
        (bytes.map { usage.bytes <= $0 } ?? true) && (messages.map { usage.messages <= $0 } ?? true)
    }
}

/// Bytes and messages in a Maildir.
public struct QuotaUsage: Hashable, Sendable {
    public var bytes: Int64
    public var messages: Int64
    public init(bytes: Int64, messages: Int64) { self.bytes = bytes; self.messages = messages }
    public static func + (a: QuotaUsage, b: QuotaUsage) -> QuotaUsage {
        QuotaUsage(bytes: a.bytes + b.bytes, messages: a.messages + b.messages)
    }
}

/// Maildir++ quota: the `maildirsize` file in the Maildir's root, as Courier and Dovecot keep it
/// (https://www.courier-mta.org/imap/README.maildirquota.html).
///
/// The specification: "The first line of maildirsize contains the quota definition ...
/// Each subsequent line contains two whitespace-separated numbers: a byte count and a message
/// count", the changes made by each delivery or removal; their sum is the usage. "If the
/// maildirsize file's size exceeds 5120 bytes, ... [or the quota is exceeded and] the file is
/// older than 15 minutes", it is recalculated from the folders: written anew in tmp/ and
/// renamed over maildirsize. Postamt differs in one point: a delivery that would exceed the
/// limit always recalculates first (a refusal is rare and costs one listing of the folders; a
/// file that still counts messages an IMAP client expunged must not refuse mail), and so does
/// a definition that differs from the configured one (the file is the user's; the limit is the
/// administrator's). Every message in the root and in every Maildir++ folder counts, Trash
/// included (Dovecot's way), its size taken from ",S=" in the name, else from stat(2).
public struct MaildirQuota: Sendable {
    public static let fileName = "maildirsize"
    /// "If the maildirsize file's size exceeds 5120 bytes" (the specification).
    public static let recalculateAboveBytes = 5120

    public let root: String
    public let limit: QuotaLimit

    public init(root: String, limit: QuotaLimit) {
        self.root = Maildir(path: root).path
        self.limit = limit
    }

    public var filePath: String { "\(root)/\(MaildirQuota.fileName)" }

    /// The file's parts: the definition and the summed lines; nil when missing or damaged.
    public struct FileContents: Equatable, Sendable {
        public var limit: QuotaLimit
        public var usage: QuotaUsage
        public var lines: Int
    }

    /// Parses maildirsize. A damaged file (a line that is not two numbers, except a last line
    /// a crash cut short) is reported as nil, so it is recalculated.
    public static func parse(_ bytes: [UInt8]) -> FileContents? {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = lines.first, let limit = QuotaLimit(definition: first) else { return nil }
        lines.removeFirst()
        if text.hasSuffix("\n") { lines.removeLast() } else if !lines.isEmpty { lines.removeLast() } // torn append
        var usage = QuotaUsage(bytes: 0, messages: 0)
        for line in lines {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2, let b = Int64(fields[0]), let c = Int64(fields[1]) else { return nil }
            usage = usage + QuotaUsage(bytes: b, messages: c)
        }
        return FileContents(limit: limit, usage: usage, lines: lines.count)
    }

    /// The usage the file records, recalculated when the specification (or the limit) asks.
    public func usage() throws -> QuotaUsage {
        if let st = FileIO.status(filePath), Int(st.st_size) <= MaildirQuota.recalculateAboveBytes,
           let bytes = try? FileIO.readFile(filePath, limit: 1 << 20), let contents = MaildirQuota.parse(bytes),
           contents.limit == limit, contents.usage.bytes >= 0, contents.usage.messages >= 0 {
            let age = time(nil) - st.st_mtim.tv_sec
            if limit.admits(contents.usage) || age < 15 * 60 { return contents.usage }
        }
        return try recalculate()
    }

    /// What a delivery of `size` bytes would do to the quota.
    public enum Check: Equatable, Sendable {
        /// It fits; the usage before it.
        case fits(QuotaUsage)
        /// It does not fit (after a recalculation); the usage now.
        case exceeds(QuotaUsage)
    }

    /// Whether one more message of `size` bytes fits (always, without a limit).
    public func check(adding size: Int64) throws -> Check {
        if limit.isUnlimited { return .fits(QuotaUsage(bytes: 0, messages: 0)) }
        let one = QuotaUsage(bytes: size, messages: 1)
        var now = try usage()
        if !limit.admits(now + one) {
            now = try recalculate() // never refuse on a stale count
            if !limit.admits(now + one) { return .exceeds(now) }
        }
        return .fits(now)
    }

    /// Records a change (a delivery: +size, +1) by appending one line with one write(2), as the
    /// specification asks; a missing file is recalculated instead (which counts the change).
    public func record(_ change: QuotaUsage) throws {
        if limit.isUnlimited { return }
        guard FileIO.exists(filePath) else { _ = try recalculate(); return }
        try mapSystemErrors {
            let fd = try FileIO.open(filePath, O_WRONLY | O_APPEND | O_NOFOLLOW)
            try FileIO.writeAll(fd.raw, Array("\(change.bytes) \(change.messages)\n".utf8))
            try fd.closeChecked()
        }
    }

    /// Counts every message of the Maildir and its folders and writes maildirsize anew (unless
    /// there is no limit to write down). Returns the usage.
    @discardableResult
    public func recalculate() throws -> QuotaUsage {
        let usage = try MaildirQuota.count(root: root)
        // A Maildir not made yet (the first delivery makes it) holds nothing and gets no file.
        if !limit.isUnlimited && FileIO.isDirectory(root) {
            let text = "\(limit)\n\(usage.bytes) \(usage.messages)\n"
            // Written whole and renamed into place (the specification writes it in tmp/ first;
            // FileIO.replace writes beside it, which is as atomic).
            try mapSystemErrors { try FileIO.replace(filePath, Array(text.utf8), mode: 0o600, durability: .none) }
            // Recalculated by root (postamt quota): the file stays the Maildir owner's, who
            // appends to it at every delivery.
            if geteuid() == 0, let owner = FileIO.status(root), owner.st_uid != 0 {
                if chown(filePath, owner.st_uid, owner.st_gid) != 0 { throw MaildirError.system(SystemError("chown \(filePath)")) }
            }
        }
        return usage
    }

    /// The messages in cur/ and new/ of the root and of every Maildir++ folder (".Name").
    public static func count(root: String) throws -> QuotaUsage {
        var total = QuotaUsage(bytes: 0, messages: 0)
        var folders = [root]
        if let names = try? FileIO.listDirectory(root) {
            for name in names where name.hasPrefix(".") && name != "." && name != ".." {
                if FileIO.isDirectory("\(root)/\(name)/cur") { folders.append("\(root)/\(name)") }
            }
        }
        for folder in folders {
            for sub in ["cur", "new"] {
                let directory = "\(folder)/\(sub)"
                guard let names = try? FileIO.listDirectory(directory) else { continue }
                for name in names where !name.hasPrefix(".") {
                    let size: Int64
                    if let s = MaildirName.size(name) {
                        size = Int64(s)
                    } else if let st = FileIO.status("\(directory)/\(name)") {
                        size = Int64(st.st_size)
                    } else {
                        continue // gone meanwhile
                    }
                    total = total + QuotaUsage(bytes: size, messages: 1)
                }
            }
        }
        return total
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// One message as the uid list knows it.
public struct UIDListEntry: Hashable, Sendable {
    public var uid: UInt32
    /// RFC 7162 mod-sequence of the last change to this message's flags (or of its arrival).
    public var modSeq: UInt64
    /// The flags in the name when we last saw or set them; a difference to the name on disk
    /// means another program changed them, which bumps the mod-sequence.
    public var flags: MaildirFlags
    public var baseName: String

    public init(uid: UInt32, modSeq: UInt64, flags: MaildirFlags, baseName: String) {
        self.uid = uid; self.modSeq = modSeq; self.flags = flags; self.baseName = baseName
    }
}

/// A file time as stat(2) reports it (st_mtim), to the nanosecond.
public struct FileTime: Hashable, Sendable, Comparable {
    public var seconds: Int64
    public var nanoseconds: Int64

    public init(seconds: Int64, nanoseconds: Int64) { self.seconds = seconds; self.nanoseconds = nanoseconds }
    public init(_ t: timespec) { self.init(seconds: Int64(t.tv_sec), nanoseconds: Int64(t.tv_nsec)) }

    public static func < (a: FileTime, b: FileTime) -> Bool {
        (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds)
    }

    /// CLOCK_REALTIME now (the clock file times come from).
    public static func now() -> FileTime {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return FileTime(t)
    }

    /// Nanoseconds from `earlier` to `self`.
    func nanoseconds(since earlier: FileTime) -> Int64 {
        (seconds - earlier.seconds) &* 1_000_000_000 &+ (nanoseconds - earlier.nanoseconds)
    }
}

/// cur/'s mtime at a moment the uid list described cur/ exactly, and when that was seen.
///
/// Dovecot's rule for Maildir (maildir-sync.c, "delayed refresh"): a change by another program
/// within the same timestamp tick as the one stamped leaves the mtime as it was, so a stamp
/// taken less than `settle` after the mtime ("dirty") is trusted only for `settle` after it was
/// taken; then the folder is scanned once more, which gives a clean stamp.
public struct CurStamp: Hashable, Sendable {
    public var modified: FileTime
    public var checked: FileTime
    public static let settle: Int64 = 2_000_000_000

    public init(modified: FileTime, checked: FileTime) { self.modified = modified; self.checked = checked }

    /// Whether it was taken `settle` or more after the mtime: then it holds for as long as the
    /// directory keeps that mtime.
    var isSettled: Bool { checked.nanoseconds(since: modified) >= CurStamp.settle }

    /// Whether the list still describes cur/, whose mtime is `curTime`, at `clock`.
    public func holds(for curTime: FileTime?, at clock: FileTime = .now()) -> Bool {
        guard let curTime, curTime == modified else { return false }
        let dirty = checked.nanoseconds(since: modified) < CurStamp.settle
        let sinceCheck = clock.nanoseconds(since: checked) // negative: the clock was set back
        return !dirty || (sinceCheck >= 0 && sinceCheck < CurStamp.settle)
    }
}

/// Which file a path names now: device, inode, size and mtime (files replaced by rename get
/// a new inode, so a reader can tell a rewritten uid list from the one it holds).
public struct FileIdentity: Hashable, Sendable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int64
    public var modified: FileTime
    /// The inode change time: also set by a rename, so a file that got a freed inode number
    /// back differs from the earlier file in it unless both times fall into the same tick.
    public var changed: FileTime

    public init(_ st: stat) {
        device = UInt64(st.st_dev); inode = UInt64(st.st_ino); size = Int64(st.st_size)
        modified = FileTime(st.st_mtim); changed = FileTime(st.st_ctim)
    }
}

extension RandomAccessCollection where Index == Int {
    /// In a collection ascending by UID (uid lists, snapshots, a session's messages): the index
    /// of the first element whose UID is `uid` or larger, `endIndex` when none. A binary search.
    @inlinable
    public func firstIndex(ofUIDAtLeast uid: UInt32, _ uidOf: (Element) -> UInt32) -> Int {
        var low = startIndex, high = endIndex
        while low < high {
            let mid = (low + high) / 2
            if uidOf(self[mid]) < uid { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

/// A message of a synchronised folder.
public struct MaildirMessage: Hashable, Sendable {
    public var uid: UInt32
    public var modSeq: UInt64
    public var baseName: String
    public var flags: MaildirFlags
    /// The file's path when it is not `cur/<base name>:2,<flags>` (still in new/, or info we do
    /// not write ourselves); nil for the usual case, which costs no string per message.
    public var unusualPath: String?

    public init(uid: UInt32, modSeq: UInt64, baseName: String, relativePath: String? = nil, flags: MaildirFlags) {
        self.uid = uid; self.modSeq = modSeq; self.baseName = baseName; self.flags = flags
        if let relativePath { self.relativePath = relativePath }
    }

    /// Where the file was at the last scan ("cur/<name>"); it may have moved since (flags
    /// changed by another session): lookups that fail with ENOENT rescan.
    public var relativePath: String {
        get { unusualPath ?? "cur/\(baseName):2,\(flags.letters)" }
        set { unusualPath = newValue == "cur/\(baseName):2,\(flags.letters)" ? nil : newValue }
    }
}

/// The messages of a snapshot, ascending by UID: the uid list's entries (shared with the list
/// they came from, not copied: see `UIDListEntries`) and the few files that are not where their
/// name and flags put them. Reading `self[i]` makes a `MaildirMessage`; code that walks every
/// message reads the columns (`uids`, `flags`, `modSeqs`).
public struct MaildirMessages: RandomAccessCollection, MutableCollection, RangeReplaceableCollection, Hashable, Sendable {
    public private(set) var entries: UIDListEntries
    /// `MaildirMessage.unusualPath` of the messages that have one, by UID.
    public private(set) var unusualPaths: [UInt32: String]

    public init() { entries = []; unusualPaths = [:] }

    public init(_ entries: UIDListEntries, unusualPaths: [UInt32: String] = [:]) {
        self.entries = entries; self.unusualPaths = unusualPaths
    }

    public var uids: [UInt32] { entries.uids }
    public var flags: [MaildirFlags] { entries.flags }
    public var modSeqs: [UInt64] { entries.modSeqs }
    public var baseNames: BaseNameList { entries.baseNames }

    public var startIndex: Int { 0 }
    public var endIndex: Int { entries.endIndex }

    public subscript(i: Int) -> MaildirMessage {
        get {
            var m = MaildirMessage(uid: entries.uids[i], modSeq: entries.modSeqs[i], baseName: entries.baseNames[i], flags: entries.flags[i])
            m.unusualPath = unusualPaths.isEmpty ? nil : unusualPaths[m.uid]
            return m
        }
        set {
            let old = entries.uids[i]
            entries[i] = UIDListEntry(uid: newValue.uid, modSeq: newValue.modSeq, flags: newValue.flags, baseName: newValue.baseName)
            if old != newValue.uid { unusualPaths[old] = nil }
            if newValue.unusualPath != nil || !unusualPaths.isEmpty { unusualPaths[newValue.uid] = newValue.unusualPath }
        }
    }

    /// The index of the first message whose UID is `uid` or larger (`endIndex` when none).
    public func firstIndex(ofUIDAtLeast uid: UInt32) -> Int { entries.firstIndex(ofUIDAtLeast: uid) }

    /// The index of the message with `uid`; nil when there is none.
    public func index(ofUID uid: UInt32) -> Int? { entries.index(ofUID: uid) }

    public mutating func reserveCapacity(_ n: Int) { entries.reserveCapacity(n) }

    public mutating func replaceSubrange<C: Collection>(_ range: Range<Int>, with messages: C) where C.Element == MaildirMessage {
        for uid in entries.uids[range] where !unusualPaths.isEmpty { unusualPaths[uid] = nil }
        entries.replaceSubrange(range, with: messages.map {
            UIDListEntry(uid: $0.uid, modSeq: $0.modSeq, flags: $0.flags, baseName: $0.baseName)
        })
        for m in messages where m.unusualPath != nil { unusualPaths[m.uid] = m.unusualPath }
    }

    /// Sets the flags and modseq of the message at `i`, whose file is now where its name and
    /// flags put it.
    public mutating func setFlags(_ flags: MaildirFlags, modSeq: UInt64, at i: Int) {
        entries.setFlags(flags, modSeq: modSeq, at: i)
        if !unusualPaths.isEmpty { unusualPaths[entries.uids[i]] = nil }
    }

    /// Removes the messages with these UIDs (those there are; see `UIDListEntries.remove(uids:)`).
    public mutating func remove(uids gone: some Sequence<UInt32>) {
        entries.remove(uids: gone)
        if !unusualPaths.isEmpty { unusualPaths = unusualPaths.filter { entries.index(ofUID: $0.key) != nil } }
    }
}

extension MaildirMessages: ExpressibleByArrayLiteral {
    public init(arrayLiteral messages: MaildirMessage...) {
        self.init()
        append(contentsOf: messages)
    }
}

/// The folder's state after `UIDList.synchronize`.
public struct MaildirSnapshot: Sendable {
    public var uidValidity: UInt32
    public var nextUID: UInt32
    public var highestModSeq: UInt64
    /// Ascending by uid.
    public var messages: MaildirMessages
    /// The uid list's `firstRecentUID`: messages from this UID on are not yet recent in any
    /// IMAP session.
    public var firstRecentUID: UInt32

    public init(uidValidity: UInt32, nextUID: UInt32, highestModSeq: UInt64, messages: MaildirMessages, firstRecentUID: UInt32? = nil) {
        self.uidValidity = uidValidity; self.nextUID = nextUID; self.highestModSeq = highestModSeq
        self.messages = messages; self.firstRecentUID = firstRecentUID ?? nextUID
    }
}

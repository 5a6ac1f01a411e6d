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

    /// Whether the list still describes cur/, whose mtime is `curTime`, at `clock`.
    public func holds(for curTime: FileTime?, at clock: FileTime = .now()) -> Bool {
        guard let curTime, curTime == modified else { return false }
        let dirty = checked.nanoseconds(since: modified) < CurStamp.settle
        let sinceCheck = clock.nanoseconds(since: checked) // negative: the clock was set back
        return !dirty || (sinceCheck >= 0 && sinceCheck < CurStamp.settle)
    }
}

/// The contents of a folder's `postamt-uidlist` (invariant 3 of DESIGN.md).
///
/// Format (text, one record per line, "\n" line ends; described in postamt-maildir(5)):
///
///     postamt-uidlist 1 V<uidvalidity> N<next uid> M<highest modseq> [R<first recent uid>] [C<sec>.<nsec>,<sec>.<nsec>]
///     <uid> M<modseq> F<flag letters> :<base name>
///     ...
///
/// Example: `postamt-uidlist 1 V1764441600 N4 M7` then `1 M1 FS :1764441600.M1P7Q1R2a.host,S=812`.
/// UIDs are decimal, strictly ascending, below N; a modseq is at most M; flag letters are in
/// ASCII order (possibly none: "F"); the base name is the rest of the line after ":" (the
/// part of the file name before ":2,"). Any line that does not match makes the whole file
/// damaged: it is then treated as lost (a new UIDVALIDITY, larger than the one in a readable
/// header and than any this Maildir handed out before, see `UIDValidityAllocator`).
/// The layout follows Dovecot's dovecot-uidlist v3 (`3 V… N… G…` / `<uid> :<name>`).
///
/// The optional `R` field is IMAP's \Recent (`firstRecentUID`): UIDs from it on have not yet
/// been recent in any IMAP session. It is written only while it is below N (without it, none
/// is recent), and in an "=" line (below) only when it changed; it never goes down.
///
/// The optional `C` field (`CurStamp`) is cur/'s mtime at a moment the list described cur/ exactly (a full
/// scan, or a change by Postamt itself to a list that was exact before it, both under the
/// lock). While cur/ still has that mtime, the list describes cur/ without reading it (Dovecot
/// keeps cur/'s mtime in its index for the same purpose): every rename, link or unlink in
/// cur/ sets a new mtime. Postamt changes cur/ only under the uid list lock; a change by
/// another program (a local MUA working on the Maildir) is noticed by the mtime, and one made
/// within the same file-system timestamp tick as the stamp by the rescan `CurStamp` asks for
/// within `CurStamp.settle`. The second time in the field is when the mtime was read.
///
/// Appended changes: a writer may append a batch of changes instead of writing the whole file
/// (no temporary file, no rename, no new inode), as Dovecot appends to its dovecot-uidlist:
///
///     +<uid> M<modseq> F<flags> :<base name>      a new entry, or the new state of one
///     -<uid>                                      the entry is gone
///     =N<next uid> M<highest modseq> [R<uid>] [C<stamp>]   the header's values now; ends the batch
///
/// A batch is written with one write(2) under the lock and counts only once its "=" line is
/// there: a reader that comes upon an append in progress, or a file whose append a crash cut
/// short, sees the state before the batch. (The last line, when it has no line end, is such an
/// append; the next writer writes the whole file anew.) "=" may not lower N or M, and a batch's
/// entries must stay below its N and at most its M. The appended part is folded into a full
/// write once it is larger than `UIDList.changesLimit`.
public struct UIDListFile: Hashable, Sendable {
    public var uidValidity: UInt32
    public var nextUID: UInt32
    public var highestModSeq: UInt64
    /// IMAP's \Recent (RFC 3501 §2.3.2): the first UID that no IMAP session has yet shown as
    /// recent ("R" field). A session that selects the folder read-write takes every UID from
    /// here to `nextUID` under the lock and moves this up, so each message is recent in exactly
    /// one session, however it came (delivery, APPEND, COPY, MOVE). Dovecot keeps the same
    /// value (first_recent_uid) in its index. A file without the field (written before it
    /// existed) has none recent: it reads as `nextUID`.
    public var firstRecentUID: UInt32
    /// cur/'s mtime when a full scan last matched the list (see above); nil: not known.
    public var curStamp: CurStamp?
    /// Ascending by uid.
    public var entries: [UIDListEntry]

    public init(uidValidity: UInt32, nextUID: UInt32 = 1, highestModSeq: UInt64 = 1, firstRecentUID: UInt32? = nil,
                curStamp: CurStamp? = nil, entries: [UIDListEntry] = []) {
        self.uidValidity = uidValidity; self.nextUID = nextUID; self.highestModSeq = highestModSeq
        self.firstRecentUID = min(firstRecentUID ?? nextUID, nextUID)
        self.curStamp = curStamp; self.entries = entries
    }

    static let magic = "postamt-uidlist"

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(entries.count * 64 + 96)
        // "R" only while some message is not yet recent anywhere: a file without it reads as
        // none, and stays readable by versions that did not know the field.
        let recent = firstRecentUID < nextUID ? firstRecentUID : nil
        out.append(contentsOf: "\(UIDListFile.magic) 1 V\(uidValidity) \(UIDListFile.stateFields(nextUID, highestModSeq, recent, curStamp))\n".utf8)
        for e in entries { appendEntry(&out, e) }
        return out
    }

    func appendDecimal(_ out: inout [UInt8], _ value: UInt64) {
        let start = out.count
        var v = value
        repeat { out.append(0x30 + UInt8(v % 10)); v /= 10 } while v > 0
        out[start...].reverse()
    }

    /// The encoded form of one entry's fields ("<uid> M<modseq> F<flags> :<base name>\n").
    func appendEntry(_ out: inout [UInt8], _ e: UIDListEntry) {
        appendDecimal(&out, UInt64(e.uid))
        out.append(0x20); out.append(UInt8(ascii: "M"))
        appendDecimal(&out, e.modSeq)
        out.append(0x20); out.append(UInt8(ascii: "F"))
        e.flags.appendLetters(to: &out)
        out.append(0x20); out.append(UInt8(ascii: ":"))
        out.append(contentsOf: e.baseName.utf8)
        out.append(0x0A)
    }

    /// The change batch that turns `old` into `self`, for appending to a file that holds
    /// `old` (see "Appended changes" above); nil when only a full write can say it (another
    /// UIDVALIDITY, a smaller next UID or highest modseq, entries out of order).
    public func encodedChanges(from old: UIDListFile) -> [UInt8]? {
        guard uidValidity == old.uidValidity, nextUID >= old.nextUID, highestModSeq >= old.highestModSeq,
              firstRecentUID >= old.firstRecentUID else { return nil }
        var out: [UInt8] = []
        let a = old.entries, b = entries
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if j < b.count, j > 0, b[j].uid <= b[j - 1].uid { return nil }
            if j == b.count || (i < a.count && a[i].uid < b[j].uid) {
                out.append(UInt8(ascii: "-"))
                appendDecimal(&out, UInt64(a[i].uid))
                out.append(0x0A)
                i += 1
            } else if i == a.count || b[j].uid < a[i].uid {
                out.append(UInt8(ascii: "+"))
                appendEntry(&out, b[j])
                j += 1
            } else {
                if a[i] != b[j] {
                    out.append(UInt8(ascii: "+"))
                    appendEntry(&out, b[j])
                }
                i += 1; j += 1
            }
        }
        // A batch without "R" leaves it as it was.
        let recent = firstRecentUID != old.firstRecentUID ? firstRecentUID : nil
        out.append(contentsOf: "=\(UIDListFile.stateFields(nextUID, highestModSeq, recent, curStamp))\n".utf8)
        return out
    }

    /// "N<next> M<highest>[ R<first recent>][ C<stamp>]", the header's fields after the UIDVALIDITY.
    static func stateFields(_ next: UInt32, _ modSeq: UInt64, _ firstRecent: UInt32?, _ stamp: CurStamp?) -> String {
        var text = "N\(next) M\(modSeq)"
        if let firstRecent { text += " R\(firstRecent)" }
        if let c = stamp {
            text += " C\(c.modified.seconds).\(c.modified.nanoseconds),\(c.checked.seconds).\(c.checked.nanoseconds)"
        }
        return text
    }

    /// Where a parsed file's parts end.
    public struct Layout: Equatable, Sendable {
        /// Bytes up to the end of the last complete change batch (or of the base when none).
        public var validLength: Int
        /// Of those, the bytes of appended change batches.
        public var changeBytes: Int
        /// Bytes follow `validLength`: an append cut short by a crash, or one being written.
        public var hasTornTail: Bool
    }

    /// Parses a file; nil when it is damaged in any way (never trusted halfway).
    public static func parse(_ bytes: [UInt8]) -> UIDListFile? { parseWithLayout(bytes)?.file }

    /// `parse`, also telling where the file's parts end (for the next append).
    public static func parseWithLayout(_ bytes: [UInt8]) -> (file: UIDListFile, layout: Layout)? {
        bytes.withUnsafeBufferPointer { parse(buffer: $0) }
    }

    static func parse(buffer b: UnsafeBufferPointer<UInt8>) -> (file: UIDListFile, layout: Layout)? {
        // The last line without a line end is an append cut short or still being written.
        guard let headerEnd = b.firstIndex(of: 0x0A), let lastLineEnd = b.lastIndex(of: 0x0A),
              let header = parseHeader(ArraySlice(b[0..<headerEnd])) else { return nil }
        var file = UIDListFile(uidValidity: header.validity, nextUID: header.next, highestModSeq: header.modSeq,
                               firstRecentUID: header.firstRecent ?? header.next, curStamp: header.curStamp)
        var c = FieldCursor(b: b, i: headerEnd + 1, end: lastLineEnd + 1)
        // "<uid> M<modseq> F<flags> :<base name>\n" at the cursor.
        func entry() -> UIDListEntry? {
            guard let uid = c.number(), uid > 0, uid < UInt64(UInt32.max),
                  c.expect(0x20), c.expect(UInt8(ascii: "M")), let modSeq = c.number(),
                  c.expect(0x20), c.expect(UInt8(ascii: "F")) else { return nil }
            // Flag letters in strictly ascending ASCII order: the canonical form only.
            var flags: UInt64 = 0
            var previous: UInt8 = 0
            while c.i < c.end, b[c.i] != 0x20 {
                let letter = b[c.i]
                guard letter > previous else { return nil }
                switch letter {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): flags |= 1 << UInt64(letter - UInt8(ascii: "A"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): flags |= 1 << UInt64(32 + letter - UInt8(ascii: "a"))
                default: return nil
                }
                previous = letter
                c.i += 1
            }
            guard c.expect(0x20), c.expect(UInt8(ascii: ":")) else { return nil }
            let nameStart = c.i
            while c.i < c.end, b[c.i] != 0x0A {
                guard b[c.i] != UInt8(ascii: ":") else { return nil }
                c.i += 1
            }
            guard c.i > nameStart, c.i < c.end else { return nil }
            let base = String(decoding: UnsafeBufferPointer(rebasing: b[nameStart..<c.i]), as: UTF8.self)
            c.i += 1 // "\n"
            return UIDListEntry(uid: UInt32(uid), modSeq: modSeq, flags: MaildirFlags(rawValue: flags), baseName: base)
        }
        let plus = UInt8(ascii: "+"), minus = UInt8(ascii: "-"), equals = UInt8(ascii: "=")
        // The base: UIDs strictly ascending and below N, modseqs at most M.
        var lastUID: UInt32 = 0
        while c.i < c.end, b[c.i] != plus, b[c.i] != minus, b[c.i] != equals {
            guard let e = entry(), e.uid > lastUID, e.uid < file.nextUID, e.modSeq <= file.highestModSeq else { return nil }
            lastUID = e.uid
            file.entries.append(e)
        }
        let baseEnd = c.i
        var validLength = c.i
        // Change batches, each closed by its "=" line; a batch without one is ignored.
        var puts: [UIDListEntry] = []
        var removals: [UInt32] = []
        var removed = Set<UInt32>()
        while c.i < c.end {
            let kind = b[c.i]
            c.i += 1
            switch kind {
            case plus:
                guard let e = entry() else { return nil }
                puts.append(e)
            case minus:
                guard let uid = c.number(), uid < UInt64(UInt32.max), c.expect(0x0A) else { return nil }
                removals.append(UInt32(uid))
            case equals:
                let lineEnd = b[c.i..<c.end].firstIndex(of: 0x0A)!
                guard let state = parseState(b, from: c.i, to: lineEnd),
                      state.next >= file.nextUID, state.modSeq >= file.highestModSeq,
                      (state.firstRecent ?? file.firstRecentUID) >= file.firstRecentUID,
                      (state.firstRecent ?? 0) <= state.next else { return nil }
                c.i = lineEnd + 1
                for e in puts {
                    guard e.uid < state.next, e.modSeq <= state.modSeq else { return nil }
                    let k = file.entries.firstIndex(ofUIDAtLeast: e.uid) { $0.uid }
                    if k < file.entries.count, file.entries[k].uid == e.uid {
                        file.entries[k] = e
                        removed.remove(e.uid)
                    } else {
                        file.entries.insert(e, at: k) // at the end, for a new UID
                    }
                }
                removed.formUnion(removals)
                puts.removeAll(keepingCapacity: true)
                removals.removeAll(keepingCapacity: true)
                file.nextUID = state.next
                file.highestModSeq = state.modSeq
                // A batch without "R" (an older writer) leaves it where it was.
                if let firstRecent = state.firstRecent { file.firstRecentUID = firstRecent }
                file.curStamp = state.curStamp
                validLength = c.i
            default:
                return nil
            }
        }
        if !removed.isEmpty { file.entries.removeAll { removed.contains($0.uid) } }
        return (file, Layout(validLength: validLength, changeBytes: validLength - baseEnd, hasTornTail: validLength < b.count))
    }

    static func parseHeader(_ line: ArraySlice<UInt8>) -> (validity: UInt32, next: UInt32, modSeq: UInt64, firstRecent: UInt32?, curStamp: CurStamp?)? {
        let prefix = Array("\(magic) 1 V".utf8)
        guard line.count > prefix.count, line.prefix(prefix.count).elementsEqual(prefix) else { return nil }
        return line.withUnsafeBufferPointer { b in
            var c = FieldCursor(b: b, i: prefix.count, end: b.count)
            guard let v = c.number(), v > 0, v <= UInt64(UInt32.max), c.expect(0x20),
                  let state = parseState(b, from: c.i, to: b.count), (state.firstRecent ?? 0) <= state.next else { return nil }
            return (UInt32(v), state.next, state.modSeq, state.firstRecent, state.curStamp)
        }
    }

    /// A position in the file's bytes, reading its decimal fields.
    struct FieldCursor {
        let b: UnsafeBufferPointer<UInt8>
        var i: Int
        let end: Int

        /// Decimal digits (no sign, no "+", at most 20 and within UInt64); nil when none.
        mutating func number() -> UInt64? {
            var value: UInt64 = 0
            let start = i
            while i < end, b[i] >= 0x30, b[i] <= 0x39 {
                guard i - start < 20 else { return nil }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(b[i] - 0x30))
                guard !o1, !o2 else { return nil }
                value = a
                i += 1
            }
            return i > start ? value : nil
        }

        mutating func expect(_ byte: UInt8) -> Bool {
            guard i < end, b[i] == byte else { return false }
            i += 1
            return true
        }

        /// "<sec>.<nsec>" with nanoseconds below a billion.
        mutating func time() -> FileTime? {
            guard let s = number(), expect(UInt8(ascii: ".")), let ns = number(), ns < 1_000_000_000 else { return nil }
            return FileTime(seconds: Int64(s), nanoseconds: Int64(ns))
        }
    }

    /// "N<next> M<highest>[ R<first recent>][ C<sec>.<nsec>,<sec>.<nsec>]" filling b[from..<to]
    /// (see `stateFields`; files written before the R field have none).
    static func parseState(_ b: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> (next: UInt32, modSeq: UInt64, firstRecent: UInt32?, curStamp: CurStamp?)? {
        var c = FieldCursor(b: b, i: from, end: to)
        guard c.expect(UInt8(ascii: "N")), let n = c.number(), n > 0, n <= UInt64(UInt32.max),
              c.expect(0x20), c.expect(UInt8(ascii: "M")), let m = c.number() else { return nil }
        var firstRecent: UInt32?
        var stamp: CurStamp?
        var more = c.expect(0x20)
        if more && c.expect(UInt8(ascii: "R")) {
            guard let r = c.number(), r > 0, r <= UInt64(UInt32.max) else { return nil }
            firstRecent = UInt32(r)
            more = c.expect(0x20)
        }
        if more {
            guard c.expect(UInt8(ascii: "C")), let modified = c.time(), c.expect(UInt8(ascii: ",")),
                  let checked = c.time() else { return nil }
            stamp = CurStamp(modified: modified, checked: checked)
        }
        guard c.i == to else { return nil }
        return (UInt32(n), m, firstRecent, stamp)
    }

    /// The UIDVALIDITY of a damaged file whose first line is still readable.
    static func salvageValidity(_ bytes: [UInt8]) -> UInt32? {
        guard let end = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        return parseHeader(bytes[..<end])?.validity
    }
}

/// Hands out UIDVALIDITY values for the folders of one Maildir, from `postamt-uidvalidity` in
/// its root (Dovecot's dovecot-uidvalidity does the same): each value is the current time or,
/// if that is not larger, the last value + 1. So a folder whose uid list was lost gets a
/// UIDVALIDITY larger than before even within the same second, and clients drop their caches
/// (RFC 3501 §2.3.1.1: "the unique identifier validity value MUST be greater").
public enum UIDValidityAllocator {
    public static let fileName = "postamt-uidvalidity"

    public static func next(root: String, atLeast minimum: UInt32 = 1, lockOptions: DotLock.Options = DotLock.Options()) throws -> UInt32 {
        let path = "\(root)/\(fileName)"
        return try DotLock.withLock(for: path, options: lockOptions) { _ in
            var last: UInt32 = 0
            if let bytes = try? FileIO.readFile(path, limit: 64) {
                last = UInt32(String(decoding: bytes, as: UTF8.self).trimmingNewline) ?? 0
            }
            let now = UInt32(truncatingIfNeeded: max(1, min(Clock.seconds(), Int64(UInt32.max - 1))))
            var value = max(now, minimum)
            if last != UInt32.max && value <= last { value = last + 1 }
            try mapSystemErrors { try FileIO.writeAtomically(path, Array("\(value)\n".utf8), mode: 0o600) }
            return value
        }
    }
}

extension String {
    var trimmingNewline: String {
        var s = self
        // Unicode scalars, not Characters: "\r\n" is one Character.
        while let last = s.unicodeScalars.last, last == "\n" || last == "\r" { s.unicodeScalars.removeLast() }
        return s
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

/// The last uid list a `UIDList` (and its copies) read or wrote, by the identity of the file
/// it came from: a file still of that identity is not read and parsed again. Appends change
/// the size, full writes the inode (and the change time), so a file with the same identity has
/// the same contents.
final class ParsedUIDList: @unchecked Sendable {
    private let mutex = Mutex()
    private var identity: FileIdentity?
    private var parsed: (file: UIDListFile, layout: UIDListFile.Layout)?

    func lookup(_ identity: FileIdentity) -> (file: UIDListFile, layout: UIDListFile.Layout)? {
        mutex.withLock { self.identity == identity ? parsed : nil }
    }

    func remember(_ identity: FileIdentity?, _ file: UIDListFile, _ layout: UIDListFile.Layout) {
        mutex.withLock {
            self.identity = identity
            parsed = identity == nil ? nil : (file, layout)
        }
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

/// The folder's state after `UIDList.synchronize`.
public struct MaildirSnapshot: Sendable {
    public var uidValidity: UInt32
    public var nextUID: UInt32
    public var highestModSeq: UInt64
    /// Ascending by uid.
    public var messages: [MaildirMessage]
    /// The uid list's `firstRecentUID`: messages from this UID on are not yet recent in any
    /// IMAP session.
    public var firstRecentUID: UInt32

    public init(uidValidity: UInt32, nextUID: UInt32, highestModSeq: UInt64, messages: [MaildirMessage], firstRecentUID: UInt32? = nil) {
        self.uidValidity = uidValidity; self.nextUID = nextUID; self.highestModSeq = highestModSeq
        self.messages = messages; self.firstRecentUID = firstRecentUID ?? nextUID
    }
}

/// The uid list of one folder: reading, locking, and synchronising it with the directory.
///
/// All writers take the folder's fcntl lock (`FileLock` on `postamt-uidlist.lock`) for the
/// whole read–scan–assign–write cycle, so UIDs are assigned once and in order whatever the
/// number of imapd/pop3d processes and hosts (NFS with locking). Readers need no lock: a full
/// write replaces the file by rename(2), and an appended batch counts only once it is whole,
/// so a reader sees one state or the next, never half of one.
public struct UIDList: Sendable {
    public static let fileName = "postamt-uidlist"

    public let folderPath: String
    /// The Maildir root whose `postamt-uidvalidity` allocates UIDVALIDITY values.
    public let rootPath: String
    public var lockOptions: DotLock.Options
    let memo = ParsedUIDList()

    public init(folderPath: String, rootPath: String? = nil, lockOptions: DotLock.Options = DotLock.Options()) {
        let folder = Maildir(path: folderPath).path
        self.folderPath = folder
        self.lockOptions = lockOptions
        if let rootPath {
            self.rootPath = rootPath
        } else if FileIO.exists("\(folder)/maildirfolder"), FileIO.baseName(folder).hasPrefix(".") {
            self.rootPath = FileIO.directoryName(folder) // a Maildir++ folder: its parent is the root
        } else {
            self.rootPath = folder
        }
    }

    public var filePath: String { "\(folderPath)/\(UIDList.fileName)" }

    /// The file as it is now, without locking; nil when missing or damaged.
    public func read() throws -> UIDListFile? { try readWithIdentity()?.file }

    /// The file and the identity it was read from (a full write gives the file a new inode, an
    /// append a new size, so a changed identity means a changed file).
    public func readWithIdentity() throws -> (file: UIDListFile, identity: FileIdentity)? {
        guard let found = try load(), let parsed = found.parsed else { return nil }
        return (parsed.file, found.identity)
    }

    /// The file as it is now: nil when there is none; `parsed` nil when it is damaged (then
    /// `bytes` holds it). A file of the identity last read or written is not read again.
    func load() throws -> (parsed: (file: UIDListFile, layout: UIDListFile.Layout)?, identity: FileIdentity, bytes: [UInt8]?)? {
        let raw = Glibc.open(filePath, O_RDONLY | O_CLOEXEC)
        if raw < 0 {
            if errno == ENOENT { return nil }
            throw MaildirError.system(SystemError("open \(filePath)"))
        }
        let fd = OwnedFD(adopting: raw)
        var st = stat()
        guard fstat(fd.raw, &st) == 0 else { throw MaildirError.system(SystemError("fstat \(filePath)")) }
        let identity = FileIdentity(st)
        if let known = memo.lookup(identity) { return (known, identity, nil) }
        // Read after the fstat: the bytes are those of `identity` or newer (a later append),
        // never older, so a changed file is never taken for the one remembered.
        let bytes = try mapSystemErrors { try FileIO.readAll(fd.raw, limit: 1 << 30) }
        guard let parsed = UIDListFile.parseWithLayout(bytes) else { return (nil, identity, bytes) }
        memo.remember(identity, parsed.file, parsed.layout)
        return (parsed, identity, nil)
    }

    /// The identity of the file now (stat, no read); nil when it is missing.
    public func identity() -> FileIdentity? { FileIO.status(filePath).map(FileIdentity.init) }

    /// How far HIGHESTMODSEQ jumps when a scan finds flags the list did not record. Such a
    /// change is another program's, or one of Postamt's own whose list update a crash took back
    /// (a flag-only update is appended or written whole without fsync, so a crash may keep
    /// the previous list): its modseqs may already have been shown to a client, so the next
    /// ones must be larger than any of them (RFC 7162 §3.1.2: modseqs only grow). A million
    /// flag changes fit in any commit interval of a journalling file system.
    public static let unrecordedChangeModSeqStep: UInt64 = 1_000_000

    /// What `quickCheck` found.
    public enum QuickCheck {
        /// The file is the one the caller knows and cur/ still has its stamp: nothing changed.
        case unchanged
        /// The file describes the folder (cur/ has the file's stamp, new/ is empty).
        case current(UIDListFile, FileIdentity)
        /// The file describes cur/, and new/ has messages (see `adoptNew`).
        case newMessages
        /// The folder must be scanned.
        case needsScan
    }

    /// cur/'s mtime now.
    func curTime() -> FileTime? { FileIO.status("\(folderPath)/cur").map { FileTime($0.st_mtim) } }

    /// Decides without reading cur/ whether the uid list describes the folder: cur/ must
    /// still have the mtime stamped in the file. `known` and `knownStamp` are the identity and
    /// stamp of the file the caller last read.
    /// `newStamp` remembers new/'s mtime when it was listed empty: while new/ keeps it (under
    /// `CurStamp`'s settle rule), new/ is known empty from one stat(2).
    public func quickCheck(known: FileIdentity?, knownStamp: CurStamp?, newStamp: inout CurStamp?) throws -> QuickCheck {
        guard let curTime = curTime() else { return .needsScan }
        let newPath = "\(folderPath)/new"
        let newTime = FileIO.status(newPath).map { FileTime($0.st_mtim) }
        let newIsEmpty: Bool
        if let stamp = newStamp, stamp.holds(for: newTime) {
            newIsEmpty = true
        } else {
            let checked = FileTime.now()
            newIsEmpty = try MaildirScanner.listMessages(newPath).isEmpty
            let after = FileIO.status(newPath).map { FileTime($0.st_mtim) }
            newStamp = newIsEmpty && newTime != nil && after == newTime ? CurStamp(modified: newTime!, checked: checked) : nil
        }
        let clock = FileTime.now()
        if let known, let knownStamp, knownStamp.holds(for: curTime, at: clock), identity() == known {
            return newIsEmpty ? .unchanged : .newMessages
        }
        guard let (file, identity) = try readWithIdentity(), file.curStamp?.holds(for: curTime, at: clock) == true else { return .needsScan }
        return newIsEmpty ? .current(file, identity) : .newMessages
    }

    /// Moves the messages waiting in new/ into cur/ and numbers them without reading cur/,
    /// when the list describes cur/ exactly (cur/ has its stamp). nil when it does not, or on
    /// anything unusual (a base name already listed, UIDs running out): the caller scans.
    public func adoptNew() throws -> SyncOutcome? {
        var moved: [String] = []
        let outcome: UpdateOutcome<MaildirSnapshot?> = try updateTracked { file in
            guard file.curStamp?.holds(for: curTime()) == true else { return nil }
            let names = MaildirFileName.inDeliveryOrder(try MaildirScanner.listMessages("\(folderPath)/new"),
                                                        baseName: { String(MaildirName.baseName($0)) })
            guard UInt64(file.nextUID) + UInt64(names.count) < UInt64(UInt32.max) else { return nil }
            var known = Set<String>()
            known.reserveCapacity(file.entries.count)
            for e in file.entries { known.insert(e.baseName) }
            for name in names {
                let target = MaildirFileName(parsing: name.contains(":") ? name : name + ":2,")
                guard !known.contains(target.baseName) else { return nil } // a duplicate: a scan sorts it out
                guard rename("\(folderPath)/new/\(name)", "\(folderPath)/cur/\(target.name)") == 0 else {
                    if errno == ENOENT { continue } // gone meanwhile (another program)
                    throw MaildirError.system(SystemError("rename \(folderPath)/new/\(name)"))
                }
                if moved.isEmpty { file.highestModSeq += 1 }
                moved.append(target.baseName)
                known.insert(target.baseName)
                file.entries.append(UIDListEntry(uid: file.nextUID, modSeq: file.highestModSeq, flags: target.flags, baseName: target.baseName))
                file.nextUID += 1
            }
            return UIDList.snapshot(file)
        }
        return outcome.result.map { SyncOutcome(snapshot: $0, identity: outcome.after, stamp: outcome.stamp, movedFromNew: moved) }
    }

    /// Runs `body` on the file under the lock, creating a fresh file (new UIDVALIDITY) when it
    /// is missing or damaged, and writes back what `body` changed: appended, or the whole file
    /// (see `updateTracked`).
    public func update<T>(_ body: (inout UIDListFile) throws -> T) throws -> T {
        try updateTracked(body).result
    }

    /// What `updateTracked` did: the body's result, the identity of the file before and after
    /// (nil: there was none), and the stamp the file has now.
    public struct UpdateOutcome<T> {
        public var result: T
        public var before: FileIdentity?
        public var after: FileIdentity?
        public var stamp: CurStamp?
    }

    /// `update`, telling which file it started from and which it left (both under the lock,
    /// so no other writer came between).
    public func updateTracked<T>(_ body: (inout UIDListFile) throws -> T) throws -> UpdateOutcome<T> {
        try FileLock.withLock(for: filePath, options: lockOptions) { _ in
            let original = try loadOrCreateLocked()
            var file = original.file
            // Exact: the list describes cur/ right now. Postamt changes cur/ only under this
            // lock and records every change in the list, so after `body` the list describes
            // cur/ at its new mtime (see the stamp in UIDListFile).
            let exact = file.curStamp?.holds(for: curTime()) == true
            let result = try body(&file)
            if exact && file.curStamp == original.file.curStamp {
                let checked = FileTime.now()
                file.curStamp = curTime().map { CurStamp(modified: $0, checked: checked) }
            }
            var after = original.identity
            if file != original.file || original.fresh {
                // Most changes are a few entries: appended, without a new inode (see UIDListFile).
                // A batch that hands out UIDs is made durable (fsync; the file's name is
                // durable already); the others as the full write below would be.
                if !original.fresh, let layout = original.layout, !layout.hasTornTail,
                   let batch = file.encodedChanges(from: original.file),
                   layout.changeBytes + batch.count <= UIDList.changesLimit(baseBytes: layout.validLength - layout.changeBytes) {
                    let newUIDs = file.nextUID != original.file.nextUID
                    try appendChanges(batch, sync: newUIDs || ReplaceOrdering.of(folderPath) == .unknown)
                    after = identity()
                    memo.remember(after, file, UIDListFile.Layout(validLength: layout.validLength + batch.count,
                                                                  changeBytes: layout.changeBytes + batch.count, hasTornTail: false))
                } else {
                    // Only flags, modseqs or the stamp changed, or messages went (no UID came): the
                    // new list needs to be whole, not durable at once — a crash that keeps the old
                    // one loses nothing the names in cur/ do not say again (the flags; their modseqs
                    // are raised anew, see unrecordedChangeModSeqStep). Whole without an fsync where
                    // the file system writes a renamed file's data before the rename (ext4's
                    // defaults). UIDs handed out are made durable. (Removals need not be: the files
                    // are gone already, a kept old list only names them until the next scan drops
                    // them again.)
                    let flagsOnly = !original.fresh && file.uidValidity == original.file.uidValidity
                        && file.nextUID == original.file.nextUID && file.entries.count <= original.file.entries.count
                    let durability: FileIO.Durability = !flagsOnly ? .full
                        : ReplaceOrdering.of(folderPath) == .unknown ? .contents : .none
                    let bytes = file.encoded()
                    try mapSystemErrors { try FileIO.replace(filePath, bytes, mode: 0o600, durability: durability) }
                    after = identity()
                    memo.remember(after, file, UIDListFile.Layout(validLength: bytes.count, changeBytes: 0, hasTornTail: false))
                }
            }
            return UpdateOutcome(result: result, before: original.fresh ? nil : original.identity, after: after, stamp: file.curStamp)
        }
    }

    /// How many bytes of appended changes a file may carry before the next change writes it
    /// whole: a quarter of the base, at least 8 KiB (every writer and every reader of a
    /// changed file parses them).
    static func changesLimit(baseBytes: Int) -> Int { max(8 << 10, baseBytes / 4) }

    /// Appends a change batch with one write(2) (under the lock; see UIDListFile).
    func appendChanges(_ batch: [UInt8], sync: Bool) throws {
        try mapSystemErrors {
            let fd = try FileIO.open(filePath, O_WRONLY | O_APPEND | O_NOFOLLOW)
            try FileIO.writeAll(fd.raw, batch)
            if sync { try FileIO.fsync(fd.raw, "fsync \(filePath)") }
            try fd.closeChecked()
        }
    }

    func loadOrCreateLocked() throws -> (file: UIDListFile, fresh: Bool, identity: FileIdentity?, layout: UIDListFile.Layout?) {
        let found = try load()
        if let found, let parsed = found.parsed { return (parsed.file, false, found.identity, parsed.layout) }
        if found == nil, let adopted = try UIDListAdoption.adopt(folderPath: folderPath) { return (adopted, true, nil, nil) }
        var minimum: UInt32 = 1
        if let bytes = found?.bytes, let old = UIDListFile.salvageValidity(bytes), old < UInt32.max { minimum = old + 1 }
        let validity = try UIDValidityAllocator.next(root: rootPath, atLeast: minimum, lockOptions: lockOptions)
        return (UIDListFile(uidValidity: validity), true, nil, nil)
    }

    /// Scans the folder and brings the uid list up to date: known messages keep their UIDs,
    /// new ones get the next UIDs in delivery order (the time in their names), vanished ones are
    /// dropped (their UIDs are never handed out again: `nextUID` only grows), and a flag change
    /// made by another program bumps the message's modseq. With `moveNew`, new/ is emptied into
    /// cur/ first (IMAP read-write sessions and POP3). Also returns the identity of the file
    /// the snapshot matches, when known.
    public func synchronize(moveNew: Bool = true) throws -> MaildirSnapshot {
        try synchronizeReportingIdentity(moveNew: moveNew).snapshot
    }

    /// A synchronisation's result: the snapshot, the identity and stamp of the uid list it
    /// matches (when known), and the base names this process moved from new/ to cur/.
    public struct SyncOutcome {
        public var snapshot: MaildirSnapshot
        public var identity: FileIdentity?
        public var stamp: CurStamp?
        public var movedFromNew: [String] = []
    }

    public func synchronizeReportingIdentity(moveNew: Bool = true) throws -> SyncOutcome {
        // Fast path, no lock (and no moves: Postamt changes cur/ only under the lock): every
        // file already has its UID and nothing changed.
        let scanned = try MaildirScanner.scanStamped(folderPath, moveNew: false)
        let stamp = UIDList.stampable(scanned)
        let waitingInNew = scanned.messages.values.contains { $0.directory == "new" }
        if !(moveNew && waitingInNew), let (file, identity) = try readWithIdentity(), stamp == nil || file.curStamp?.holds(for: stamp!.modified) == true,
           let snapshot = UIDList.snapshotIfCurrent(file, scanned.messages) {
            return SyncOutcome(snapshot: snapshot, identity: identity, stamp: file.curStamp)
        }
        var moved: [String] = []
        let outcome = try updateTracked { file in
            var now = try MaildirScanner.scanStamped(folderPath, moveNew: moveNew)
            moved = now.movedFromNew
            let known = Set(file.entries.map(\.baseName))
            if known.contains(where: { now.messages[$0] == nil }) {
                // Something looks expunged: make sure it is not a rename that readdir missed.
                // Drop only what is missing from both listings.
                var union = try MaildirScanner.scanStamped(folderPath, moveNew: moveNew)
                moved += union.movedFromNew
                for (base, m) in now.messages where union.messages[base] == nil && known.contains(base) { union.messages[base] = m }
                union.curTime = nil // two listings: no single moment to stamp
                now = union
            }
            try UIDList.merge(&file, now.messages, rootPath: rootPath, lockOptions: lockOptions)
            file.curStamp = UIDList.stampable(now)
            return UIDList.snapshot(file, now.messages)
        }
        return SyncOutcome(snapshot: outcome.result, identity: outcome.after, stamp: outcome.stamp, movedFromNew: moved)
    }

    /// cur/'s mtime from a scan when it may be stamped into the list: cur/ did not change
    /// during the listing and no listed message is left in new/ (one could vanish from there
    /// without cur/ noticing).
    static func stampable(_ scan: MaildirScanner.StampedScan) -> CurStamp? {
        guard let t = scan.curTime, !scan.messages.values.contains(where: { $0.directory == "new" }) else { return nil }
        return t
    }

    /// `file` brought up to date with `scanned` (see `synchronize`).
    static func merge(_ file: inout UIDListFile, _ scanned: [String: ScannedMessage], rootPath: String, lockOptions: DotLock.Options) throws {
        var kept: [UIDListEntry] = []
        kept.reserveCapacity(file.entries.count)
        var changed = false
        var dropped = false
        var known = Set<String>()
        known.reserveCapacity(file.entries.count)
        for var entry in file.entries {
            // A base name listed twice (a damaged list): the first UID keeps it.
            guard known.insert(entry.baseName).inserted, let m = scanned[entry.baseName] else { dropped = true; continue }
            if m.directory == "cur" && m.flags != entry.flags {
                if !changed { file.highestModSeq += UIDList.unrecordedChangeModSeqStep; changed = true }
                entry.flags = m.flags
                entry.modSeq = file.highestModSeq
            }
            kept.append(entry)
        }
        // RFC 7162 §3.2.10 (QRESYNC): an expunge also raises HIGHESTMODSEQ.
        // (An unrecorded expunge, like an unrecorded flag change, may be one a crash took back.)
        if dropped && !changed { file.highestModSeq += UIDList.unrecordedChangeModSeqStep }
        let fresh = MaildirFileName.inDeliveryOrder(scanned.keys.filter { !known.contains($0) })
        if !fresh.isEmpty {
            if UInt64(file.nextUID) + UInt64(fresh.count) >= UInt64(UInt32.max) {
                // UIDs exhausted: RFC 3501 §2.3.1.1 allows only a new UIDVALIDITY and renumbering.
                let validity = try UIDValidityAllocator.next(root: rootPath, atLeast: file.uidValidity &+ 1, lockOptions: lockOptions)
                let all = MaildirFileName.inDeliveryOrder(scanned.keys)
                file = UIDListFile(uidValidity: validity, nextUID: 1, highestModSeq: file.highestModSeq + 1)
                for base in all {
                    file.entries.append(UIDListEntry(uid: file.nextUID, modSeq: file.highestModSeq,
                                                     flags: scanned[base]!.flags, baseName: base))
                    file.nextUID += 1
                }
                return
            }
            file.highestModSeq += 1
            for base in fresh {
                kept.append(UIDListEntry(uid: file.nextUID, modSeq: file.highestModSeq, flags: scanned[base]!.flags, baseName: base))
                file.nextUID += 1
            }
        }
        file.entries = kept
    }

    /// The snapshot of a list trusted without a scan (see `quickCheck`).
    public static func snapshot(_ file: UIDListFile) -> MaildirSnapshot {
        var messages: [MaildirMessage] = []
        messages.reserveCapacity(file.entries.count)
        for e in file.entries {
            messages.append(MaildirMessage(uid: e.uid, modSeq: e.modSeq, baseName: e.baseName, flags: e.flags))
        }
        return MaildirSnapshot(uidValidity: file.uidValidity, nextUID: file.nextUID,
                               highestModSeq: file.highestModSeq, messages: messages, firstRecentUID: file.firstRecentUID)
    }

    /// The snapshot when `file` already describes every scanned message exactly; else nil.
    static func snapshotIfCurrent(_ file: UIDListFile, _ scanned: [String: ScannedMessage]) -> MaildirSnapshot? {
        guard file.entries.count == scanned.count else { return nil }
        for e in file.entries {
            guard let m = scanned[e.baseName] else { return nil }
            if m.directory == "cur" && m.flags != e.flags { return nil }
        }
        return snapshot(file, scanned)
    }

    static func snapshot(_ file: UIDListFile, _ scanned: [String: ScannedMessage]) -> MaildirSnapshot {
        var messages: [MaildirMessage] = []
        messages.reserveCapacity(file.entries.count)
        for e in file.entries {
            let m = scanned[e.baseName]
            var message = MaildirMessage(uid: e.uid, modSeq: e.modSeq, baseName: e.baseName,
                                         flags: m?.directory == "cur" ? m!.flags : e.flags)
            if let m, m.directory != "cur" || !MaildirFileName.isCanonical(m.fileName, baseName: e.baseName, flags: message.flags) {
                message.unusualPath = m.relativePath
            }
            messages.append(message)
        }
        return MaildirSnapshot(uidValidity: file.uidValidity, nextUID: file.nextUID,
                               highestModSeq: file.highestModSeq, messages: messages, firstRecentUID: file.firstRecentUID)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailSystem

extension UIDListFile {
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

    /// `parse`, also telling where the file's parts end (for the next append). The entries'
    /// base names stay in `bytes` (see `BaseNameList`): no name is copied.
    public static func parseWithLayout(_ bytes: [UInt8]) -> (file: UIDListFile, layout: Layout)? {
        bytes.withUnsafeBufferPointer { parse(buffer: $0, names: bytes) }
    }

    /// `file` (with `layout`, read from an image of the list's first `layout.validLength`
    /// bytes, see `UIDListIndex`) brought up to the whole list: the change batches appended
    /// since, `tail` (the list's bytes from `layout.validLength` on), applied as a parse of the
    /// whole file would. Names a batch brings are kept in the tail's bytes; the names of
    /// `file` are read first only when a batch adds, changes or removes an entry. nil when a
    /// batch is damaged (the caller then parses the whole list, which says so too).
    public static func applying(tail: [UInt8], to file: UIDListFile, layout: Layout) -> (file: UIDListFile, layout: Layout)? {
        var file = file, layout = layout
        return apply(tail: tail, to: &file, layout: &layout) ? (file, layout) : nil
    }

    /// `applying` in place (a file nothing else holds has its columns changed without a copy);
    /// false when a batch is damaged (`file` and `layout` are then of no use).
    static func apply(tail: [UInt8], to file: inout UIDListFile, layout: inout Layout) -> Bool {
        guard let lastLineEnd = tail.lastIndex(of: 0x0A) else {
            layout.hasTornTail = !tail.isEmpty
            return true
        }
        // Does a line of the batches name an entry ("+…", "-…"), or do they only move the
        // header's values ("=…")?
        var entryLines = tail[0] != UInt8(ascii: "=")
        var k = 0
        while !entryLines, let end = tail[k...lastLineEnd].firstIndex(of: 0x0A), end < lastLineEnd {
            k = end + 1
            entryLines = tail[k] != UInt8(ascii: "=")
        }
        var names = BaseNameList()
        var columns = Columns(uids: file.entries.uids, modSeqs: file.entries.modSeqs, flags: file.entries.flags, spans: [])
        if entryLines {
            file.entries.takeDeferredNames()
            names = file.entries.baseNames
            guard names.added.isEmpty, UInt64(names.bytes.count) + UInt64(tail.count) <= UInt64(UInt32.max) else { return false }
            columns.spans = names.spans
            // The columns are changed in place: this copy of the file lets go of them (the
            // caller's copy, when it keeps one, keeps its own).
            file.entries = UIDListEntries()
            names = BaseNameList(bytes: names.bytes, spans: [])
        }
        let valid: Int? = tail.withUnsafeBufferPointer { b in
            var c = FieldCursor(b: b, i: 0, end: lastLineEnd + 1)
            return applyBatches(&c, file: &file, columns: &columns, nameOffset: UInt32(names.bytes.count))
        }
        guard let valid else { return false }
        if entryLines {
            file.entries = UIDListEntries(uids: columns.uids, modSeqs: columns.modSeqs, flags: columns.flags,
                                          baseNames: BaseNameList(bytes: names.bytes, added: tail, spans: columns.spans))
            columns = Columns(uids: [], modSeqs: [], flags: [], spans: [], removed: columns.removed)
            file.entries.remove(uids: columns.removed) // closed up in place
        }
        layout = Layout(validLength: layout.validLength + valid, changeBytes: layout.changeBytes + valid, hasTornTail: valid < tail.count)
        return true
    }

    /// One entry line's fields; the base name as a span of the file's bytes.
    struct ParsedEntry {
        var uid: UInt32
        var modSeq: UInt64
        var flags: MaildirFlags
        var name: BaseNameList.Span
    }

    /// `b` holds the bytes of `names` (whose spans the entries' base names become).
    static func parse(buffer b: UnsafeBufferPointer<UInt8>, names: [UInt8]) -> (file: UIDListFile, layout: Layout)? {
        // The last line without a line end is an append cut short or still being written.
        guard let base = b.baseAddress, b.count <= Int(UInt32.max), let headerEnd = b.firstIndex(of: 0x0A),
              let lastLineEnd = b.lastIndex(of: 0x0A),
              let header = parseHeader(ArraySlice(b[0..<headerEnd])) else { return nil }
        var file = UIDListFile(uidValidity: header.validity, nextUID: header.next, highestModSeq: header.modSeq,
                               firstRecentUID: header.firstRecent ?? header.next, curStamp: header.curStamp,
                               expungeFloor: header.expungeFloor)
        var c = FieldCursor(b: b, i: headerEnd + 1, end: lastLineEnd + 1)
        // The entries' columns, filled here and handed to the file whole. One entry a line:
        // room for all of them at once (a 100,000-message list would else grow, and copy, each
        // array some twenty times).
        let lines = countLineEnds(UnsafeBufferPointer(rebasing: b[(headerEnd + 1)..<(lastLineEnd + 1)]))
        var uids: [UInt32] = [], modSeqs: [UInt64] = [], flagColumn: [MaildirFlags] = [], spans: [BaseNameList.Span] = []
        uids.reserveCapacity(lines); modSeqs.reserveCapacity(lines); flagColumn.reserveCapacity(lines); spans.reserveCapacity(lines)
        let plus = UInt8(ascii: "+"), minus = UInt8(ascii: "-"), equals = UInt8(ascii: "="), expungeMark = UInt8(ascii: "X")
        // The base: UIDs strictly ascending and below N, modseqs at most M.
        var lastUID: UInt32 = 0
        while c.i < c.end, b[c.i] != plus, b[c.i] != minus, b[c.i] != equals, b[c.i] != expungeMark {
            guard let e = c.entry(), e.uid > lastUID, e.uid < file.nextUID, e.modSeq <= file.highestModSeq else { return nil }
            lastUID = e.uid
            uids.append(e.uid); modSeqs.append(e.modSeq); flagColumn.append(e.flags); spans.append(e.name)
        }
        // Then the expunge history: "X<first>[:<last>] M<modseq>", modseqs ascending, above E
        // and at most M, UIDs below N.
        while c.i < c.end, b[c.i] == expungeMark {
            c.i += 1
            guard let first = c.number(), first > 0, first < UInt64(file.nextUID) else { return nil }
            var last = first
            if c.expect(UInt8(ascii: ":")) {
                guard let l = c.number(), l >= first, l < UInt64(file.nextUID) else { return nil }
                last = l
            }
            guard c.expect(0x20), c.expect(UInt8(ascii: "M")), let modSeq = c.number(), c.expect(0x0A),
                  modSeq > file.expungeFloor, modSeq <= file.highestModSeq,
                  modSeq >= file.expunged.last?.modSeq ?? 0 else { return nil }
            file.expunged.append(UIDListExpunge(first: UInt32(first), last: UInt32(last), modSeq: modSeq))
        }
        let baseEnd = c.i
        var columns = Columns(uids: uids, modSeqs: modSeqs, flags: flagColumn, spans: spans)
        uids = []; modSeqs = []; flagColumn = []; spans = [] // the columns are in `columns` alone
        guard let validLength = applyBatches(&c, file: &file, columns: &columns, nameOffset: 0) else { return nil }
        file.entries = UIDListEntries(uids: columns.uids, modSeqs: columns.modSeqs, flags: columns.flags,
                                      baseNames: BaseNameList(bytes: names, spans: columns.spans))
        file.entries.remove(uids: columns.removed) // nothing shares the columns yet: closed up in place
        return (file, Layout(validLength: validLength, changeBytes: validLength - baseEnd, hasTornTail: validLength < b.count))
    }

    /// The entries' columns while change batches are applied; names are spans (of the bytes
    /// parsed, or, moved by an offset, of bytes after others), removals collected.
    struct Columns {
        var uids: [UInt32]
        var modSeqs: [UInt64]
        var flags: [MaildirFlags]
        var spans: [BaseNameList.Span]
        var removed = Set<UInt32>()
        /// Whether a batch changed an entry (not only the header's values).
        var changed = false
    }

    /// Applies the complete change batches from the cursor on (see "Appended changes" in
    /// UIDListFile); the batch names' spans are moved by `nameOffset`. Returns where the last
    /// complete batch ends (the cursor's position when there is none); nil when a batch is
    /// damaged.
    static func applyBatches(_ c: inout FieldCursor, file: inout UIDListFile, columns: inout Columns, nameOffset: UInt32) -> Int? {
        let b = c.b
        let plus = UInt8(ascii: "+"), minus = UInt8(ascii: "-"), equals = UInt8(ascii: "=")
        var validLength = c.i
        // Change batches, each closed by its "=" line; a batch without one is ignored.
        var puts: [ParsedEntry] = []
        var removals: [(uid: UInt32, modSeq: UInt64?)] = []
        while c.i < c.end {
            let kind = b[c.i]
            c.i += 1
            switch kind {
            case plus:
                guard var e = c.entry() else { return nil }
                e.name.start += nameOffset
                puts.append(e)
            case minus:
                // UID 0 is no message (RFC 3501 §2.3.1.1: UIDs start at 1); taking it would record
                // an expunge of it ("X0"), which no reader accepts once the file is written anew.
                guard let uid = c.number(), uid > 0, uid < UInt64(UInt32.max) else { return nil }
                var modSeq: UInt64?
                if c.expect(0x20) {
                    guard c.expect(UInt8(ascii: "M")), let m = c.number() else { return nil }
                    modSeq = m
                }
                guard c.expect(0x0A) else { return nil }
                removals.append((UInt32(uid), modSeq))
            case equals:
                let lineEnd = b[c.i..<c.end].firstIndex(of: 0x0A)!
                guard let state = parseState(b, from: c.i, to: lineEnd),
                      state.next >= file.nextUID, state.modSeq >= file.highestModSeq,
                      (state.firstRecent ?? file.firstRecentUID) >= file.firstRecentUID,
                      (state.firstRecent ?? 0) <= state.next,
                      (state.expungeFloor ?? 0) <= state.modSeq else { return nil }
                c.i = lineEnd + 1
                for e in puts {
                    guard e.uid < state.next, e.modSeq <= state.modSeq else { return nil }
                    let k = columns.uids.firstIndex(ofUIDAtLeast: e.uid) { $0 }
                    columns.changed = true
                    if k < columns.uids.count, columns.uids[k] == e.uid {
                        columns.modSeqs[k] = e.modSeq; columns.flags[k] = e.flags; columns.spans[k] = e.name
                        columns.removed.remove(e.uid)
                    } else { // at the end, for a new UID
                        columns.uids.insert(e.uid, at: k); columns.modSeqs.insert(e.modSeq, at: k)
                        columns.flags.insert(e.flags, at: k); columns.spans.insert(e.name, at: k)
                    }
                }
                // Removals with their expunge's modseq extend the history; one without (an
                // older writer) is an expunge it does not know: complete only from here on.
                // (In the order of their expunges; a writer gives all of one batch one modseq.)
                var unrecorded = false
                var recorded: [(uid: UInt32, modSeq: UInt64)] = []
                for r in removals {
                    columns.removed.insert(r.uid)
                    columns.changed = true
                    guard let modSeq = r.modSeq else { unrecorded = true; continue }
                    guard modSeq > file.highestModSeq, modSeq <= state.modSeq, r.uid < state.next else { return nil }
                    recorded.append((r.uid, modSeq))
                }
                recorded.sort { ($0.modSeq, $0.uid) < ($1.modSeq, $1.uid) }
                for r in recorded { file.recordExpunge([r.uid], modSeq: r.modSeq) }
                puts.removeAll(keepingCapacity: true)
                removals.removeAll(keepingCapacity: true)
                file.nextUID = state.next
                file.highestModSeq = state.modSeq
                // A batch without "R" (an older writer) leaves it where it was.
                if let firstRecent = state.firstRecent { file.firstRecentUID = firstRecent }
                if let floor = state.expungeFloor { file.raiseExpungeFloor(to: floor) }
                if unrecorded { file.raiseExpungeFloor(to: state.modSeq) }
                file.curStamp = state.curStamp
                validLength = c.i
            default:
                return nil
            }
        }
        return validLength
    }

    /// How many "\n" `bytes` holds: eight bytes at a time, marking the bytes of a word that
    /// are 0 after an XOR with "\n\n…" exactly (~(((x & 0x7F…) + 0x7F…) | x | 0x7F…) has the
    /// top bit of those bytes set and no other), the marks summed per byte lane for up to 255
    /// words, then across the lanes.
    static func countLineEnds(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        let raw = UnsafeRawPointer(base)
        let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F, newlines: UInt64 = 0x0A0A_0A0A_0A0A_0A0A
        let evenBytes: UInt64 = 0x00FF_00FF_00FF_00FF
        var total = 0
        var k = 0
        while k + 8 <= bytes.count {
            var lanes: UInt64 = 0 // eight byte counters, none above 255
            for _ in 0..<min(255, (bytes.count - k) / 8) {
                let x = raw.loadUnaligned(fromByteOffset: k, as: UInt64.self) ^ newlines
                lanes &+= (~(((x & low7) &+ low7) | x | low7)) >> 7
                k += 8
            }
            let pairs = (lanes & evenBytes) &+ ((lanes >> 8) & evenBytes) // four 16-bit sums
            total += Int((pairs &* 0x0001_0001_0001_0001) >> 48)
        }
        while k < bytes.count {
            if base[k] == 0x0A { total += 1 }
            k += 1
        }
        return total
    }

    /// The index of the first "\n" or ":" in base[from..<to], `to` when none: eight bytes at a
    /// time, testing a word for a byte of either value with the "has a zero byte" bit trick
    /// ((x - 0x01…) & ~x & 0x80… is not 0 exactly when a byte of x is 0).
    @inline(__always)
    static func firstLineEndOrColon(_ base: UnsafePointer<UInt8>, from: Int, to: Int) -> Int {
        let raw = UnsafeRawPointer(base)
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let newlines = ones &* 0x0A, colons = ones &* UInt64(UInt8(ascii: ":"))
        var k = from
        while k + 8 <= to {
            let word = raw.loadUnaligned(fromByteOffset: k, as: UInt64.self)
            let a = word ^ newlines, b = word ^ colons
            if ((a &- ones) & ~a | (b &- ones) & ~b) & highs != 0 { break }
            k += 8
        }
        while k < to, base[k] != 0x0A, base[k] != UInt8(ascii: ":") { k += 1 }
        return k
    }

    static func parseHeader(_ line: ArraySlice<UInt8>) -> (validity: UInt32, next: UInt32, modSeq: UInt64, firstRecent: UInt32?,
                                                          expungeFloor: UInt64?, curStamp: CurStamp?)? {
        let prefix = Array("\(magic) 1 V".utf8)
        guard line.count > prefix.count, line.prefix(prefix.count).elementsEqual(prefix) else { return nil }
        return line.withUnsafeBufferPointer { b in
            var c = FieldCursor(b: b, i: prefix.count, end: b.count)
            guard let v = c.number(), v > 0, v <= UInt64(UInt32.max), c.expect(0x20),
                  let state = parseState(b, from: c.i, to: b.count), (state.firstRecent ?? 0) <= state.next,
                  (state.expungeFloor ?? 0) <= state.modSeq else { return nil }
            return (UInt32(v), state.next, state.modSeq, state.firstRecent, state.expungeFloor, state.curStamp)
        }
    }

    /// A position in the file's bytes, reading its decimal fields.
    struct FieldCursor {
        let b: UnsafeBufferPointer<UInt8>
        var i: Int
        let end: Int

        /// "<uid> M<modseq> F<flags> :<base name>\n" at the cursor (which ends after a "\n").
        mutating func entry() -> ParsedEntry? {
            guard let uid = number(), uid > 0, uid < UInt64(UInt32.max),
                  expect(0x20), expect(UInt8(ascii: "M")), let modSeq = number(),
                  expect(0x20), expect(UInt8(ascii: "F")) else { return nil }
            // Flag letters in strictly ascending ASCII order: the canonical form only.
            let lettersStart = i
            while i < end, b[i] != 0x20 { i += 1 }
            guard let flags = MaildirFlags(canonicalLetters: UnsafeBufferPointer(rebasing: b[lettersStart..<i])),
                  expect(0x20), expect(UInt8(ascii: ":")), let base = b.baseAddress else { return nil }
            // The name: up to the line end, and no ":" in it.
            let nameStart = i
            let lineEnd = UIDListFile.firstLineEndOrColon(base, from: nameStart, to: end)
            guard lineEnd > nameStart, lineEnd < end, base[lineEnd] == 0x0A else { return nil }
            i = lineEnd + 1 // after the "\n"
            return ParsedEntry(uid: UInt32(uid), modSeq: modSeq, flags: flags,
                               name: BaseNameList.Span(start: UInt32(nameStart), count: UInt32(lineEnd - nameStart)))
        }

        /// Decimal digits (no sign, no "+", at most 20 and within UInt64); nil when none.
        @inline(__always)
        mutating func number() -> UInt64? {
            var value: UInt64 = 0
            let start = i
            // 19 digits cannot overflow (UInt64.max has 20): no check per digit.
            while i < end, i - start < 19 {
                let digit = b[i] &- 0x30
                guard digit < 10 else { break }
                value = value &* 10 &+ UInt64(digit)
                i += 1
            }
            guard i > start else { return nil }
            if i - start == 19, i < end, b[i] &- 0x30 < 10 {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(b[i] &- 0x30))
                guard !o1, !o2 else { return nil }
                value = a
                i += 1
                if i < end, b[i] &- 0x30 < 10 { return nil } // a 21st digit
            }
            return value
        }

        @inline(__always)
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

    /// "N<next> M<highest>[ R<first recent>][ E<expunge floor>][ C<sec>.<nsec>,<sec>.<nsec>]" filling b[from..<to]
    /// (see `stateFields`; files written before the R field have none).
    static func parseState(_ b: UnsafeBufferPointer<UInt8>, from: Int, to: Int)
        -> (next: UInt32, modSeq: UInt64, firstRecent: UInt32?, expungeFloor: UInt64?, curStamp: CurStamp?)? {
        var c = FieldCursor(b: b, i: from, end: to)
        guard c.expect(UInt8(ascii: "N")), let n = c.number(), n > 0, n <= UInt64(UInt32.max),
              c.expect(0x20), c.expect(UInt8(ascii: "M")), let m = c.number() else { return nil }
        var firstRecent: UInt32?
        var expungeFloor: UInt64?
        var stamp: CurStamp?
        var more = c.expect(0x20)
        if more && c.expect(UInt8(ascii: "R")) {
            guard let r = c.number(), r > 0, r <= UInt64(UInt32.max) else { return nil }
            firstRecent = UInt32(r)
            more = c.expect(0x20)
        }
        if more && c.expect(UInt8(ascii: "E")) {
            guard let e = c.number() else { return nil }
            expungeFloor = e
            more = c.expect(0x20)
        }
        if more {
            guard c.expect(UInt8(ascii: "C")), let modified = c.time(), c.expect(UInt8(ascii: ",")),
                  let checked = c.time() else { return nil }
            stamp = CurStamp(modified: modified, checked: checked)
        }
        guard c.i == to else { return nil }
        return (UInt32(n), m, firstRecent, expungeFloor, stamp)
    }

    /// The UIDVALIDITY of a damaged file whose first line is still readable.
    static func salvageValidity(_ bytes: [UInt8]) -> UInt32? {
        guard let end = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        return parseHeader(bytes[..<end])?.validity
    }
}

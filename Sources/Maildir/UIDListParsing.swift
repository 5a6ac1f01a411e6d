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
        var lines = 0
        do {
            var p = UnsafeRawPointer(base + headerEnd + 1)
            let end = UnsafeRawPointer(base + lastLineEnd + 1)
            while p < end, let hit = memchr(p, 0x0A, end - p) {
                lines += 1
                p = UnsafeRawPointer(hit) + 1
            }
        }
        var uids: [UInt32] = [], modSeqs: [UInt64] = [], flagColumn: [MaildirFlags] = [], spans: [BaseNameList.Span] = []
        uids.reserveCapacity(lines); modSeqs.reserveCapacity(lines); flagColumn.reserveCapacity(lines); spans.reserveCapacity(lines)
        // "<uid> M<modseq> F<flags> :<base name>\n" at the cursor.
        func entry() -> ParsedEntry? {
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
            // The name: up to the line end (there is one: the cursor ends after a "\n"), and
            // no ":" in it.
            let nameStart = c.i
            guard nameStart < c.end, let hit = memchr(base + nameStart, 0x0A, c.end - nameStart) else { return nil }
            let lineEnd = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - base
            guard lineEnd > nameStart, memchr(base + nameStart, Int32(UInt8(ascii: ":")), lineEnd - nameStart) == nil else { return nil }
            c.i = lineEnd + 1 // after the "\n"
            return ParsedEntry(uid: UInt32(uid), modSeq: modSeq, flags: MaildirFlags(rawValue: flags),
                               name: BaseNameList.Span(start: UInt32(nameStart), count: UInt32(lineEnd - nameStart)))
        }
        let plus = UInt8(ascii: "+"), minus = UInt8(ascii: "-"), equals = UInt8(ascii: "="), expungeMark = UInt8(ascii: "X")
        // The base: UIDs strictly ascending and below N, modseqs at most M.
        var lastUID: UInt32 = 0
        while c.i < c.end, b[c.i] != plus, b[c.i] != minus, b[c.i] != equals, b[c.i] != expungeMark {
            guard let e = entry(), e.uid > lastUID, e.uid < file.nextUID, e.modSeq <= file.highestModSeq else { return nil }
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
        var validLength = c.i
        // Change batches, each closed by its "=" line; a batch without one is ignored.
        var puts: [ParsedEntry] = []
        var removals: [(uid: UInt32, modSeq: UInt64?)] = []
        var removed = Set<UInt32>()
        while c.i < c.end {
            let kind = b[c.i]
            c.i += 1
            switch kind {
            case plus:
                guard let e = entry() else { return nil }
                puts.append(e)
            case minus:
                guard let uid = c.number(), uid < UInt64(UInt32.max) else { return nil }
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
                    let k = uids.firstIndex(ofUIDAtLeast: e.uid) { $0 }
                    if k < uids.count, uids[k] == e.uid {
                        modSeqs[k] = e.modSeq; flagColumn[k] = e.flags; spans[k] = e.name
                        removed.remove(e.uid)
                    } else { // at the end, for a new UID
                        uids.insert(e.uid, at: k); modSeqs.insert(e.modSeq, at: k)
                        flagColumn.insert(e.flags, at: k); spans.insert(e.name, at: k)
                    }
                }
                // Removals with their expunge's modseq extend the history; one without (an
                // older writer) is an expunge it does not know: complete only from here on.
                // (In the order of their expunges; a writer gives all of one batch one modseq.)
                var unrecorded = false
                var recorded: [(uid: UInt32, modSeq: UInt64)] = []
                for r in removals {
                    removed.insert(r.uid)
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
        file.entries = UIDListEntries(uids: uids, modSeqs: modSeqs, flags: flagColumn,
                                      baseNames: BaseNameList(bytes: names, spans: spans))
        if !removed.isEmpty { file.entries.removeAll(whereUID: { removed.contains($0) }) }
        return (file, Layout(validLength: validLength, changeBytes: validLength - baseEnd, hasTornTail: validLength < b.count))
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

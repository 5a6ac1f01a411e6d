#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// A binary image of a parsed uid list, kept beside it as `postamt-uidlist.index`, so that a
/// fresh process (every IMAP connection is one) reads a big folder's state instead of parsing
/// it: the columns go from the file straight into the arrays the session uses, no line is
/// parsed and no intermediate buffer is made. Dovecot keeps the same state in its binary
/// dovecot.index for the same reason; the text list stays the one that counts.
///
/// The image is only a cache. It says which list it was made from: the list's inode, size,
/// mtime and change time (not the device: NFS clients number it differently), its first line
/// and its last bytes. A list that only grew since by appended batches (same inode, same first
/// line, the same bytes at the image's length) is read from the image and the batches after it
/// (`UIDListFile.apply(tail:to:layout:)`); any other change (a full write, an editor, a
/// restore) makes the image stale, and a stale, damaged or unreadable image is ignored: the
/// list is parsed as before and a new image written (`UIDList.load`). Nothing but a reader writes it, after a parse of a whole
/// list of at least `UIDList.indexMinimumBytes` (by rename of a temporary file, durable like
/// a flag-only list update: data before rename where the file system orders them, else fsync),
/// or once more when it learnt new/ empty for good where the image did not (`quickCheck`).
///
/// Format (host byte order, recognised by a byte-order mark; every section 8-byte aligned):
///
///     header (`headerSize` bytes)  magic "PAUIDX01", mark, key, the list's header fields,
///                                  new/'s stamp, counts, the list's layout
///     uids        count × UInt32 (padded to 8)
///     modseqs     count × UInt64
///     flags       count × UInt64 (MaildirFlags' bits)
///     expunges    expungeCount × (UInt32 first, UInt32 last, UInt64 modseq)
///     spans       count × (UInt32 start, UInt32 length) into the names
///     names       the base names, one after the other in UID order (padded to 8)
///     trailer     "PAUIDEND"
///
/// The base names come last because a SELECT does not need them: on a local file system they
/// are read only when first asked for (`BaseNameList`'s deferred names), from the image this
/// process opened, which a later image replaces by rename without changing it. On a network
/// file system (where another host's rename can make an open file stale) they are read at once.
/// A fresh process pays for every page of memory it fills (about 0.75 ms per MB on the machines
/// we measured), so 100,000 names (3 MB with their spans) are most of a SELECT's cost.
/// Reading checks what parsing the list checks (UIDs ascending below N, modseqs at most M,
/// flags known, names non-empty without ":" or line end, the expunge history's order and
/// bounds) and that the file has exactly the size its counts give, so a truncated or damaged
/// image is never taken for the list.
public enum UIDListIndex {
    public static let fileName = "postamt-uidlist.index"
    static let magic = Array("PAUIDX01".utf8)
    static let trailer = Array("PAUIDEND".utf8)
    static let byteOrderMark: UInt32 = 0x0102_0304
    static let headerSize = 544
    /// Room in the header for the list's first line and for the bytes before the image's end.
    static let headRoom = 256, boundaryRoom = 64

    /// Which list an image was made from.
    struct Key: Equatable {
        var inode: UInt64
        var size: Int64
        var modified: FileTime
        var changed: FileTime

        init(inode: UInt64, size: Int64, modified: FileTime, changed: FileTime) {
            self.inode = inode; self.size = size; self.modified = modified; self.changed = changed
        }

        init(_ identity: FileIdentity) {
            self.init(inode: identity.inode, size: identity.size, modified: identity.modified, changed: identity.changed)
        }
    }

    /// The fixed part, field by field as written.
    struct Header {
        var key: Key
        var uidValidity: UInt32
        var nextUID: UInt32
        var highestModSeq: UInt64
        var firstRecentUID: UInt32
        var curStamp: CurStamp?
        /// new/'s mtime when the image's writer found it empty (see `UIDList.quickCheck`).
        var newStamp: CurStamp?
        var expungeFloor: UInt64
        var count: Int
        var expungeCount: Int
        var namesLength: Int
        var layout: UIDListFile.Layout
        /// The list's first line (with its line end; empty when longer than `headRoom`) and
        /// its last bytes (up to `boundaryRoom`) when the image was made: a list that has only
        /// grown since (appended batches, same inode) still starts and, at the image's length,
        /// ends with them.
        var head: [UInt8] = []
        var boundary: [UInt8] = []

        /// The file's size that these counts give.
        var fileSize: Int {
            UIDListIndex.headerSize + padded(count * 4) + count * 8 * 3 + expungeCount * 16 + padded(namesLength) + 8
        }
    }

    static func padded(_ n: Int) -> Int { (n + 7) & ~7 }
}

extension FileTime {
    /// What the list's text can say ("<sec>.<nsec>", both unsigned, nanoseconds below a billion).
    var isValid: Bool { seconds >= 0 && nanoseconds >= 0 && nanoseconds < 1_000_000_000 }
}

extension UIDListIndex {

    // MARK: Writing

    /// The image of `file` (parsed from a list of `identity`, with `layout`).
    public static func encode(_ file: UIDListFile, layout: UIDListFile.Layout, identity: FileIdentity, newStamp: CurStamp? = nil,
                              head: [UInt8] = [], boundary: [UInt8] = []) -> [UInt8] {
        precondition(head.count <= headRoom && boundary.count <= boundaryRoom)
        let entries = file.entries
        let n = entries.count
        // The names, one after the other in UID order (a parsed list's spans point into the
        // text file, between the other fields).
        let (names, spans) = entries.baseNames.contiguous()
        let header = Header(key: Key(identity), uidValidity: file.uidValidity, nextUID: file.nextUID,
                            highestModSeq: file.highestModSeq, firstRecentUID: file.firstRecentUID,
                            curStamp: file.curStamp, newStamp: newStamp, expungeFloor: file.expungeFloor, count: n,
                            expungeCount: file.expunged.count, namesLength: names.count, layout: layout,
                            head: head, boundary: boundary)
        var w = Writer(out: [])
        w.out.reserveCapacity(header.fileSize)
        w.bytes(magic)
        w.put(byteOrderMark); w.put(UInt32(headerSize))
        w.put(header.key.inode); w.put(header.key.size)
        w.time(header.key.modified); w.time(header.key.changed)
        w.put(header.uidValidity); w.put(header.nextUID); w.put(header.highestModSeq)
        w.put(header.firstRecentUID); w.put(UInt32(header.curStamp == nil ? 0 : 1))
        w.time(header.curStamp?.modified ?? FileTime(seconds: 0, nanoseconds: 0))
        w.time(header.curStamp?.checked ?? FileTime(seconds: 0, nanoseconds: 0))
        w.put(UInt32(header.newStamp == nil ? 0 : 1)); w.put(UInt32(0))
        w.time(header.newStamp?.modified ?? FileTime(seconds: 0, nanoseconds: 0))
        w.time(header.newStamp?.checked ?? FileTime(seconds: 0, nanoseconds: 0))
        w.put(header.expungeFloor)
        w.put(UInt64(n)); w.put(UInt64(header.expungeCount)); w.put(UInt64(names.count))
        w.put(Int64(layout.validLength)); w.put(Int64(layout.changeBytes)); w.put(UInt64(layout.hasTornTail ? 1 : 0))
        w.put(UInt32(head.count)); w.put(UInt32(boundary.count))
        w.bytes(head + [UInt8](repeating: 0, count: headRoom - head.count))
        w.bytes(boundary + [UInt8](repeating: 0, count: boundaryRoom - boundary.count))
        precondition(w.out.count == headerSize)
        w.column(entries.uids); w.pad()
        w.column(entries.modSeqs)
        if MemoryLayout<MaildirFlags>.stride == 8 {
            entries.flags.withUnsafeBytes { w.out.append(contentsOf: $0) } // MaildirFlags is its UInt64
        } else {
            w.column(entries.flags.map(\.rawValue))
        }
        for x in file.expunged { w.put(x.first); w.put(x.last); w.put(x.modSeq) }
        if MemoryLayout<BaseNameList.Span>.stride == 8, MemoryLayout<BaseNameList.Span>.offset(of: \.count) == 4 {
            spans.withUnsafeBytes { w.out.append(contentsOf: $0) }
        } else {
            for s in spans { w.put(s.start); w.put(s.count) }
        }
        w.bytes(names); w.pad()
        w.bytes(trailer)
        precondition(w.out.count == header.fileSize)
        return w.out
    }

    /// Writes the image of `file` beside the list in `folderPath` (see the type's notes).
    /// Nothing is written when the list is no longer the file of `identity`.
    static func write(_ file: UIDListFile, layout: UIDListFile.Layout, identity: FileIdentity, newStamp: CurStamp?,
                      folderPath: String) throws {
        let list = "\(folderPath)/\(UIDList.fileName)"
        let raw = Glibc.open(list, O_RDONLY | O_CLOEXEC)
        guard raw >= 0 else { return }
        defer { close(raw) }
        var st = stat()
        guard fstat(raw, &st) == 0, FileIdentity(st) == identity else { return }
        let size = Int(st.st_size)
        var first = preadFully(raw, offset: 0, count: min(headRoom, size)) ?? []
        if let end = first.firstIndex(of: 0x0A) { first.removeSubrange((end + 1)...) } else { first = [] }
        let last = preadFully(raw, offset: max(0, size - boundaryRoom), count: min(boundaryRoom, size)) ?? []
        let durability: FileIO.Durability = ReplaceOrdering.of(folderPath) == .unknown ? .contents : .none
        try FileIO.replace("\(folderPath)/\(fileName)",
                           encode(file, layout: layout, identity: identity, newStamp: newStamp, head: first, boundary: last),
                           mode: 0o600, durability: durability)
    }

    /// `count` bytes at `offset` of `fd`; nil when there are not that many.
    static func preadFully(_ fd: Int32, offset: Int, count: Int) -> [UInt8]? {
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = 0
            while initialized < count {
                let n = pread(fd, buffer.baseAddress! + initialized, count - initialized, off_t(offset + initialized))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { failed = true; return }
                initialized += n
            }
        }
        return failed ? nil : bytes
    }

    struct Writer {
        var out: [UInt8]
        mutating func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v) { out.append(contentsOf: $0) } }
        mutating func time(_ t: FileTime) { put(t.seconds); put(t.nanoseconds) }
        mutating func bytes(_ b: [UInt8]) { out.append(contentsOf: b) }
        mutating func column<T: FixedWidthInteger>(_ values: [T]) {
            values.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        mutating func pad() { while out.count % 8 != 0 { out.append(0) } }
    }

    // MARK: Reading

    /// The list open at `list` (of `identity`) from the image at `path`: when the image was
    /// made from this very file, or from it before batches were appended (same inode, same
    /// first line, the same bytes at the image's length), which are then read from the list and
    /// applied. nil when the image is missing, stale, damaged or unreadable.
    /// `outgrown`: so much was applied that the next reader had better have a new image
    /// (more than a sixteenth of the list, at least 64 KiB).
    static func read(path: String, list: Int32, identity: FileIdentity)
        -> (file: UIDListFile, layout: UIDListFile.Layout, newStamp: CurStamp?, outgrown: Bool)? {
        let raw = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard raw >= 0 else { return nil }
        defer { close(raw) }
        var st = stat()
        guard fstat(raw, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        var source = FileSource(fd: raw)
        // The names stay in the file, behind a descriptor of their own, until asked for.
        let listPath = FileIO.directoryName(path) + "/" + UIDList.fileName
        let deferring: ((Header, Int, [UInt32]) -> DeferredNames?)? = FileSystemMagic.isNetwork(path) ? nil : { header, offset, uids in
            DeferredNames.make(raw, offset: offset, namesLength: header.namesLength, uids: uids, listPath: listPath)
        }
        var exact = false
        let accept = { (header: Header) -> Bool in
            if header.key == Key(identity) {
                exact = true
                return true
            }
            let size = Int(header.key.size)
            return header.key.inode == identity.inode && size < Int(identity.size) && !header.head.isEmpty
                && preadFully(list, offset: 0, count: header.head.count) == header.head
                && preadFully(list, offset: size - header.boundary.count, count: header.boundary.count) == header.boundary
        }
        guard var (file, layout, newStamp) = decode(&source, size: Int(st.st_size), accept: accept, deferring: deferring) else { return nil }
        if exact { return (file, layout, newStamp, false) }
        let from = layout.validLength
        // The list's bytes from there to its end (which may have grown since its fstat); the
        // descriptor is put back at the start, where a caller that parses the list reads it.
        let tail = lseek(list, off_t(from), SEEK_SET) == off_t(from)
            ? try? UIDList.readAll(list, expected: Int(identity.size) - from, limit: 1 << 30) : nil
        lseek(list, 0, SEEK_SET)
        guard let tail, UIDListFile.apply(tail: tail, to: &file, layout: &layout) else { return nil }
        return (file, layout, newStamp, layout.validLength - from > max(64 << 10, from / 16))
    }

    /// The list in an image held in memory (tests, fuzzing); `identity` nil takes any key.
    public static func decode(_ bytes: [UInt8], identity: FileIdentity?) -> (file: UIDListFile, layout: UIDListFile.Layout, newStamp: CurStamp?)? {
        bytes.withUnsafeBytes { raw in
            var source = MemorySource(bytes: raw)
            return decode(&source, size: bytes.count, accept: { h in identity.map { Key($0) == h.key } ?? true }, deferring: nil)
        }
    }

    /// Where the image's bytes come from, section after section.
    protocol Source {
        /// Fills `buffer` with the next bytes; false when there are not that many.
        mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Bool
        /// Whether the image (of `size` bytes) ends with the trailer (not moving the position).
        func trailerMatches(size: Int) -> Bool
    }

    struct FileSource: Source {
        let fd: Int32
        func trailerMatches(size: Int) -> Bool {
            var end = [UInt8](repeating: 0, count: 8)
            let n = end.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, 8, off_t(size - 8)) }
            return n == 8 && end == UIDListIndex.trailer
        }
        mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Bool {
            var done = 0
            while done < buffer.count {
                let n = Glibc.read(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
    }

    struct MemorySource: Source {
        let bytes: UnsafeRawBufferPointer
        var offset = 0
        func trailerMatches(size: Int) -> Bool {
            size >= 8 && bytes.count == size && bytes[(size - 8)...].elementsEqual(UIDListIndex.trailer)
        }
        mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Bool {
            guard bytes.count - offset >= buffer.count else { return false }
            if buffer.count > 0 { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + buffer.count])) }
            offset += buffer.count
            return true
        }
    }

    /// `deferring` makes the names' stand-in from the header and their offset in the image
    /// (nil: the names are read now).
    /// `accept` says whether the image's header names the list wanted.
    static func decode<S: Source>(_ source: inout S, size: Int, accept: (Header) -> Bool,
                                  deferring: ((Header, Int, [UInt32]) -> DeferredNames?)?)
        -> (file: UIDListFile, layout: UIDListFile.Layout, newStamp: CurStamp?)? {
        guard size >= headerSize + 8 else { return nil }
        var fixed = [UInt8](repeating: 0, count: headerSize)
        guard fixed.withUnsafeMutableBytes({ source.read(into: $0) }), let header = parseHeader(fixed),
              header.fileSize == size, accept(header),
              source.trailerMatches(size: size) else { return nil }
        let n = header.count
        // Each column straight into its array: no copy, no parse.
        guard let uids: [UInt32] = column(&source, n, padTo8: true),
              let modSeqs: [UInt64] = column(&source, n),
              let flags: [MaildirFlags] = flagColumn(&source, n),
              let expunged: [UIDListExpunge] = expungeColumn(&source, header.expungeCount) else { return nil }
        let namesOffset = headerSize + padded(n * 4) + n * 16 + header.expungeCount * 16
        let baseNames: BaseNameList
        if let deferred = deferring?(header, namesOffset, uids) {
            baseNames = BaseNameList(deferred: deferred, count: n)
        } else {
            guard let names = readNames(&source, count: n, namesLength: header.namesLength) else { return nil }
            baseNames = names
        }
        // What parsing the text checks (UIDListFile.parse).
        var lastUID: UInt32 = 0
        for i in 0..<n {
            let uid = uids[i]
            guard uid > lastUID, uid < header.nextUID, modSeqs[i] <= header.highestModSeq,
                  flags[i].rawValue & ~MaildirFlags.validMask == 0 else { return nil }
            lastUID = uid
        }
        var previous: UInt64 = 0
        for x in expunged {
            guard x.first > 0, x.last >= x.first, x.last < header.nextUID, x.modSeq > header.expungeFloor,
                  x.modSeq <= header.highestModSeq, x.modSeq >= previous else { return nil }
            previous = x.modSeq
        }
        let entries = UIDListEntries(uids: uids, modSeqs: modSeqs, flags: flags, baseNames: baseNames)
        let file = UIDListFile(uidValidity: header.uidValidity, nextUID: header.nextUID, highestModSeq: header.highestModSeq,
                               firstRecentUID: header.firstRecentUID, curStamp: header.curStamp, entries: entries,
                               expunged: expunged, expungeFloor: header.expungeFloor)
        return (file, header.layout, header.newStamp)
    }

    /// The spans and names at the source's position, checked: one after the other, each
    /// non-empty, without ":" or line end, together exactly the names' bytes.
    static func readNames<S: Source>(_ source: inout S, count n: Int, namesLength: Int) -> BaseNameList? {
        guard let spans: [BaseNameList.Span] = spanColumn(&source, n),
              let names: [UInt8] = column(&source, namesLength, padTo8: true) else { return nil }
        var offset = 0
        for span in spans {
            guard Int(span.start) == offset, span.count > 0 else { return nil }
            offset += Int(span.count)
            guard offset <= names.count else { return nil }
        }
        guard offset == names.count else { return nil }
        let clean = names.withUnsafeBytes { b in
            b.isEmpty || (memchr(b.baseAddress!, 0x0A, b.count) == nil && memchr(b.baseAddress!, Int32(UInt8(ascii: ":")), b.count) == nil)
        }
        return clean ? BaseNameList(bytes: names, spans: spans) : nil
    }

    static func parseHeader(_ b: [UInt8]) -> Header? {
        guard b.count == headerSize, b.prefix(8).elementsEqual(magic) else { return nil }
        var r = Reader(b: b, i: 8)
        guard r.get(UInt32.self) == byteOrderMark, r.get(UInt32.self) == UInt32(headerSize) else { return nil }
        let key = Key(inode: r.get(UInt64.self), size: r.get(Int64.self), modified: r.time(), changed: r.time())
        let validity = r.get(UInt32.self), next = r.get(UInt32.self), modSeq = r.get(UInt64.self)
        let firstRecent = r.get(UInt32.self), hasStamp = r.get(UInt32.self)
        let stampModified = r.time(), stampChecked = r.time()
        let hasNewStamp = r.get(UInt32.self), newPad = r.get(UInt32.self)
        let newModified = r.time(), newChecked = r.time()
        let floor = r.get(UInt64.self)
        let count = r.get(UInt64.self), expungeCount = r.get(UInt64.self), namesLength = r.get(UInt64.self)
        let validLength = r.get(Int64.self), changeBytes = r.get(Int64.self), torn = r.get(UInt64.self)
        let headLength = Int(r.get(UInt32.self)), boundaryLength = Int(r.get(UInt32.self))
        guard headLength <= headRoom, boundaryLength <= boundaryRoom, boundaryLength <= key.size else { return nil }
        let head = Array(b[r.i..<r.i + headLength]), boundary = Array(b[(r.i + headRoom)..<(r.i + headRoom + boundaryLength)])
        // The list's own header rules (UIDListFile.parseHeader), and counts a file can hold.
        guard validity > 0, next > 0, firstRecent > 0, firstRecent <= next, floor <= modSeq, hasStamp <= 1, torn <= 1,
              count < UInt64(next), expungeCount <= 1 << 28, namesLength <= UInt64(UInt32.max),
              validLength >= 0, changeBytes >= 0, changeBytes <= validLength, validLength <= key.size,
              [stampModified, stampChecked, newModified, newChecked].allSatisfy(\.isValid),
              hasNewStamp <= 1, newPad == 0 else { return nil }
        return Header(key: key, uidValidity: validity, nextUID: next, highestModSeq: modSeq, firstRecentUID: firstRecent,
                      curStamp: hasStamp == 1 ? CurStamp(modified: stampModified, checked: stampChecked) : nil,
                      newStamp: hasNewStamp == 1 ? CurStamp(modified: newModified, checked: newChecked) : nil,
                      expungeFloor: floor, count: Int(count), expungeCount: Int(expungeCount), namesLength: Int(namesLength),
                      layout: UIDListFile.Layout(validLength: Int(validLength), changeBytes: Int(changeBytes), hasTornTail: torn == 1),
                      head: head, boundary: boundary)
    }

    struct Reader {
        let b: [UInt8]
        var i: Int
        mutating func get<T: FixedWidthInteger>(_: T.Type) -> T {
            var v: T = 0
            withUnsafeMutableBytes(of: &v) { $0.copyBytes(from: b[i..<i + MemoryLayout<T>.size]) }
            i += MemoryLayout<T>.size
            return v
        }
        mutating func time() -> FileTime { FileTime(seconds: get(Int64.self), nanoseconds: get(Int64.self)) }
    }

    /// `count` values of a plain type read into a new array (and the padding after them).
    static func column<S: Source, T>(_ source: inout S, _ count: Int, padTo8: Bool = false) -> [T]? {
        var ok = true
        let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            ok = source.read(into: UnsafeMutableRawBufferPointer(buffer))
            initialized = ok ? count : 0
        }
        guard ok else { return nil }
        if padTo8 {
            let size = count * MemoryLayout<T>.stride
            var pad = [UInt8](repeating: 0, count: padded(size) - size)
            guard pad.withUnsafeMutableBytes({ source.read(into: $0) }) else { return nil }
        }
        return values
    }

    static func flagColumn<S: Source>(_ source: inout S, _ count: Int) -> [MaildirFlags]? {
        // MaildirFlags is its one UInt64 (checked here); the bits are checked by the caller.
        guard MemoryLayout<MaildirFlags>.size == 8, MemoryLayout<MaildirFlags>.stride == 8 else {
            guard let raw: [UInt64] = column(&source, count), raw.allSatisfy({ $0 & ~MaildirFlags.validMask == 0 }) else { return nil }
            return raw.map { MaildirFlags(rawValue: $0) }
        }
        return column(&source, count)
    }

    static func spanColumn<S: Source>(_ source: inout S, _ count: Int) -> [BaseNameList.Span]? {
        guard MemoryLayout<BaseNameList.Span>.stride == 8, MemoryLayout<BaseNameList.Span>.offset(of: \.count) == 4 else {
            let raw: [UInt32]? = column(&source, count * 2)
            return raw.map { r in (0..<count).map { BaseNameList.Span(start: r[2 * $0], count: r[2 * $0 + 1]) } }
        }
        return column(&source, count)
    }

    static func expungeColumn<S: Source>(_ source: inout S, _ count: Int) -> [UIDListExpunge]? {
        // As written: UInt32 first, UInt32 last, UInt64 modseq, each in host order.
        guard let raw: [UInt8] = column(&source, count * 16) else { return nil }
        return raw.withUnsafeBytes { b in
            (0..<count).map { k in
                UIDListExpunge(first: b.loadUnaligned(fromByteOffset: 16 * k, as: UInt32.self),
                               last: b.loadUnaligned(fromByteOffset: 16 * k + 4, as: UInt32.self),
                               modSeq: b.loadUnaligned(fromByteOffset: 16 * k + 8, as: UInt64.self))
            }
        }
    }
}

/// The base names of an image read without them (see `UIDListIndex`): read once, when first
/// asked for, from the image the list came from (an open descriptor, so a newer image renamed
/// over it does not matter). Should that fail (the file was cut short or damaged meanwhile, or
/// the disk fails), each UID's name comes from the text list as it is then; a UID it no longer
/// has gets an empty name, which no file has, so the message reads as gone (as an expunge by
/// another session does) until the session synchronises.
final class DeferredNames: @unchecked Sendable {
    private var fd: Int32
    private let offset: Int, namesLength: Int
    /// The list's UIDs, one per name (the image's own column, shared).
    private let uids: [UInt32]
    private let listPath: String
    private let mutex = Mutex()
    private var loaded: BaseNameList?

    /// How many descriptors deferred names may hold open in a process at once (a session that
    /// asks STATUS of many big folders): beyond, names are read at once.
    static let openLimit = 64
    private static let counter = Mutex()
    nonisolated(unsafe) private static var openCount = 0
    static var descriptorsOpen: Int { counter.withLock { openCount } }

    /// Names at `offset` of the image open at `image`, behind a descriptor of their own; nil
    /// when no descriptor is to be had (then the caller reads them at once).
    static func make(_ image: Int32, offset: Int, namesLength: Int, uids: [UInt32], listPath: String) -> DeferredNames? {
        let reserved = counter.withLock {
            guard openCount < openLimit else { return false }
            openCount += 1
            return true
        }
        guard reserved else { return nil }
        let fd = fcntl(image, F_DUPFD_CLOEXEC, 0)
        guard fd >= 0 else {
            counter.withLock { openCount -= 1 }
            return nil
        }
        return DeferredNames(fd: fd, offset: offset, namesLength: namesLength, uids: uids, listPath: listPath)
    }

    private init(fd: Int32, offset: Int, namesLength: Int, uids: [UInt32], listPath: String) {
        self.fd = fd; self.offset = offset; self.namesLength = namesLength; self.uids = uids; self.listPath = listPath
    }

    deinit { release() }

    /// Closes the descriptor (once the names are read, or at the end).
    private func release() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        DeferredNames.counter.withLock { DeferredNames.openCount -= 1 }
    }

    var names: BaseNameList {
        mutex.withLock {
            if let loaded { return loaded }
            let names = fromImage() ?? fromList()
            loaded = names
            release()
            return names
        }
    }

    private func fromImage() -> BaseNameList? {
        guard fd >= 0, lseek(fd, off_t(offset), SEEK_SET) == off_t(offset) else { return nil }
        var source = UIDListIndex.FileSource(fd: fd)
        return UIDListIndex.readNames(&source, count: uids.count, namesLength: namesLength)
    }

    /// Each UID's name in the text list now ("" for a UID it no longer has, or when it cannot
    /// be read).
    private func fromList() -> BaseNameList {
        var current: UIDListEntries?
        let raw = Glibc.open(listPath, O_RDONLY | O_CLOEXEC)
        if raw >= 0 {
            let fd = OwnedFD(adopting: raw)
            var st = stat()
            if fstat(fd.raw, &st) == 0, let bytes = try? UIDList.readAll(fd.raw, expected: Int(st.st_size), limit: 1 << 30) {
                current = UIDListFile.parse(bytes)?.entries
            }
        }
        var names = BaseNameList()
        names.reserveCapacity(uids.count)
        for uid in uids {
            if let current, let k = current.index(ofUID: uid) { names.append(current.baseNames[k]) } else { names.append("") }
        }
        return names
    }
}

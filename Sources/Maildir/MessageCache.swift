#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// Message sizes as protocols report them.
public enum MessageSize {
    /// The size with every bare LF counted as CR LF: RFC 1939 §11 ("the size of the message
    /// ... with CRLF line ends") for POP3 LIST, RFC 3501 §2.3.4 RFC822.SIZE for IMAP. Maildir
    /// files have LF line ends (the specification: "lines ... end with LF"), though a CR LF
    /// already present counts once.
    public struct Counter: Sendable {
        public private(set) var size = 0
        var previous: UInt8 = 0
        public init() {}
        public mutating func add<C: Collection>(_ bytes: C) where C.Element == UInt8 {
            for b in bytes {
                if b == 0x0A && previous != 0x0D { size += 1 }
                size += 1
                previous = b
            }
        }
    }

    public static func crlfSize<C: Collection>(of bytes: C) -> Int where C.Element == UInt8 {
        var c = Counter()
        c.add(bytes)
        return c.size
    }

    /// The CRLF size of a file, read in chunks; nil when the file is gone.
    public static func crlfSize(fileAt path: String) throws -> Int? {
        let raw = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if raw < 0 {
            if errno == ENOENT { return nil }
            throw MaildirError.system(SystemError("open \(path)"))
        }
        let fd = OwnedFD(adopting: raw)
        var counter = Counter()
        while true {
            let chunk = try mapSystemErrors { try FileIO.read(fd.raw, max: 65536) }
            if chunk.isEmpty { return counter.size }
            counter.add(chunk)
        }
    }
}

/// What the cache remembers about one message.
public struct MessageCacheEntry: Hashable, Sendable {
    /// The message's base name: an entry whose name differs from the message's is ignored.
    public var baseName: String
    /// Bytes on disk.
    public var size: Int
    /// Bytes with CRLF line ends, once computed.
    public var crlfSize: Int?
    /// IMAP INTERNALDATE, seconds since the epoch (the file's mtime, which APPEND sets).
    public var internalDate: Int64
    /// Opaque data for the IMAP server (ENVELOPE, BODYSTRUCTURE), at most `MessageCache.maximumBlob` bytes.
    public var blob: [UInt8]

    public init(baseName: String, size: Int, crlfSize: Int? = nil, internalDate: Int64, blob: [UInt8] = []) {
        self.baseName = baseName; self.size = size; self.crlfSize = crlfSize; self.internalDate = internalDate; self.blob = blob
    }
}

/// A folder's message cache, `postamt-cache`: per-UID sizes, dates and an opaque blob, so that
/// opening a large folder reads one file instead of every message.
///
/// Never authoritative: an entry counts only when its UID and base name match the message, and
/// a file whose base is damaged in any way (bad magic, truncated, checksum mismatch, other
/// UIDVALIDITY) is discarded whole and rebuilt. No lock and no fsync: a crash can only lose
/// cached work. A session adds what it learnt by appending records (one write(2), O_APPEND),
/// as Dovecot appends to dovecot.index.cache; once the records outgrow the base (64 KiB at
/// least) or the file is no longer the one the session knows, the next save writes the file
/// whole through a temporary file and rename(2), and the last such writer wins.
///
/// Format (little-endian): the base: "PAMC", u32 version 1, u32 uidvalidity, u32 count; per entry
/// u32 uid, u64 size, i64 crlf size (-1 unknown), i64 internal date, u16 name length + name
/// bytes, u32 blob length + blob; then u64 FNV-1a of all preceding bytes. Then records, each
/// u32 length n, n bytes (u32 uidvalidity and one entry as above), u64 FNV-1a of the length and
/// those n bytes; a later record for a UID replaces the earlier entry. Reading stops at the
/// first record that is cut short or does not check (an append in progress, or one a crash
/// cut short); records of another UIDVALIDITY are skipped.
public struct MessageCache: Hashable, Sendable {
    public static let fileName = "postamt-cache"
    public static let maximumBlob = 1 << 20
    public static let maximumFile = 512 << 20

    public var uidValidity: UInt32
    public var entries: [UInt32: MessageCacheEntry]

    public init(uidValidity: UInt32, entries: [UInt32: MessageCacheEntry] = [:]) {
        self.uidValidity = uidValidity; self.entries = entries
    }

    /// Which file a loaded or written cache came from, for the next append.
    public struct FileLayout: Hashable, Sendable {
        public var device: UInt64
        public var inode: UInt64
        /// Bytes of the base (header, entries, checksum); records follow.
        public var baseLength: Int
    }

    /// The cache for `uidValidity`, or an empty one when the file is missing, damaged or stale.
    public static func load(folderPath: String, uidValidity: UInt32) -> MessageCache {
        loadWithLayout(folderPath: folderPath, uidValidity: uidValidity).cache
    }

    /// `load`, and the file's layout when the cache came from it.
    public static func loadWithLayout(folderPath: String, uidValidity: UInt32) -> (cache: MessageCache, layout: FileLayout?) {
        let path = "\(folderPath)/\(fileName)"
        let raw = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard raw >= 0 else { return (MessageCache(uidValidity: uidValidity), nil) }
        let fd = OwnedFD(adopting: raw)
        var st = stat()
        guard fstat(fd.raw, &st) == 0, st.st_size <= maximumFile,
              let bytes = try? FileIO.readAll(fd.raw, limit: maximumFile),
              let (cache, baseLength) = decodeWithBase(bytes), cache.uidValidity == uidValidity else {
            return (MessageCache(uidValidity: uidValidity), nil)
        }
        return (cache, FileLayout(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), baseLength: baseLength))
    }

    /// Writes the file whole (temp file + rename) and returns its layout.
    @discardableResult
    public func save(folderPath: String) throws -> FileLayout? {
        let path = "\(folderPath)/\(MessageCache.fileName)"
        let bytes = encoded()
        try mapSystemErrors { try FileIO.replace(path, bytes, mode: 0o600, durability: .none) }
        return FileIO.status(path).map { FileLayout(device: UInt64($0.st_dev), inode: UInt64($0.st_ino), baseLength: bytes.count) }
    }

    /// How many bytes of records a file may carry before it is written whole again.
    static func recordLimit(baseLength: Int) -> Int { max(64 << 10, baseLength) }

    /// Appends records for `uids` (their entries now) to the file of `layout`; false, writing
    /// nothing, when the file is gone or another one, or the records would pass the limit: the
    /// caller then saves the file whole.
    public func append(_ uids: [UInt32], folderPath: String, layout: FileLayout) throws -> Bool {
        let path = "\(folderPath)/\(MessageCache.fileName)"
        let raw = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW)
        guard raw >= 0 else { return false }
        let fd = OwnedFD(adopting: raw)
        var st = stat()
        guard fstat(fd.raw, &st) == 0, UInt64(st.st_dev) == layout.device, UInt64(st.st_ino) == layout.inode,
              Int(st.st_size) >= layout.baseLength else { return false }
        var out: [UInt8] = []
        for uid in uids.sorted() {
            guard let e = entries[uid] else { continue }
            var body: [UInt8] = []
            put32(&body, uidValidity)
            appendEntry(&body, uid, e)
            let start = out.count
            put32(&out, UInt32(body.count))
            out += body
            put64(&out, MessageCache.fnv1a(out[start...]))
        }
        guard !out.isEmpty else { return true }
        guard Int(st.st_size) - layout.baseLength + out.count <= MessageCache.recordLimit(baseLength: layout.baseLength) else { return false }
        do {
            try FileIO.writeAll(fd.raw, out)
            try fd.closeChecked()
        } catch let e as SystemError {
            throw MaildirError.system(e)
        }
        return true
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = Array("PAMC".utf8)
        put32(&out, 1); put32(&out, uidValidity); put32(&out, UInt32(entries.count))
        for uid in entries.keys.sorted() { appendEntry(&out, uid, entries[uid]!) }
        put64(&out, MessageCache.fnv1a(out[...]))
        return out
    }

    private func appendEntry(_ out: inout [UInt8], _ uid: UInt32, _ e: MessageCacheEntry) {
        put32(&out, uid)
        put64(&out, UInt64(e.size))
        put64(&out, UInt64(bitPattern: Int64(e.crlfSize ?? -1)))
        put64(&out, UInt64(bitPattern: e.internalDate))
        let name = Array(e.baseName.utf8.prefix(Int(UInt16.max)))
        out.append(UInt8(name.count & 0xFF)); out.append(UInt8(name.count >> 8))
        out += name
        let blob = e.blob.count <= MessageCache.maximumBlob ? e.blob : []
        put32(&out, UInt32(blob.count))
        out += blob
    }

    /// Decodes a cache file; nil when its base is damaged. Never traps on any input.
    public static func decode(_ bytes: [UInt8]) -> MessageCache? { decodeWithBase(bytes)?.cache }

    /// `decode`, also telling where the base ends.
    static func decodeWithBase(_ bytes: [UInt8]) -> (cache: MessageCache, baseLength: Int)? {
        guard bytes.count >= 24, bytes.starts(with: Array("PAMC".utf8)) else { return nil }
        var r = Reader(bytes: bytes, offset: 4)
        guard r.u32() == 1, let validity = r.u32(), let count = r.u32() else { return nil }
        var cache = MessageCache(uidValidity: validity)
        for _ in 0..<count {
            guard let (uid, entry) = r.entry(), cache.entries[uid] == nil else { return nil }
            cache.entries[uid] = entry
        }
        let sumStart = r.offset
        guard let sum = r.u64(), sum == fnv1a(bytes[0..<sumStart]) else { return nil }
        let baseLength = r.offset
        // Records: the first one cut short or not checking ends the reading.
        while bytes.count - r.offset >= 4 {
            let start = r.offset
            guard let n = r.u32(), Int(n) <= bytes.count - r.offset - 8 else { break }
            let end = r.offset + Int(n)
            var record = Reader(bytes: bytes, offset: r.offset)
            r.offset = end
            guard let recordSum = r.u64(), recordSum == fnv1a(bytes[start..<end]),
                  let recordValidity = record.u32(), let (uid, entry) = record.entry(), record.offset == end else { break }
            if recordValidity == validity { cache.entries[uid] = entry }
        }
        return (cache, baseLength)
    }

    static func fnv1a(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    func put32(_ out: inout [UInt8], _ v: UInt32) { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
    func put64(_ out: inout [UInt8], _ v: UInt64) { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }

    struct Reader {
        let bytes: [UInt8]
        var offset: Int
        mutating func bytes(_ n: Int) -> [UInt8]? {
            guard n >= 0, n <= bytes.count - offset else { return nil }
            defer { offset += n }
            return Array(bytes[offset..<(offset + n)])
        }
        mutating func int(_ n: Int) -> UInt64? {
            guard n <= bytes.count - offset else { return nil }
            var v: UInt64 = 0
            for i in 0..<n { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
            offset += n
            return v
        }
        mutating func u16() -> UInt16? { int(2).map { UInt16($0) } }
        /// One entry (see the format above); nil when malformed.
        mutating func entry() -> (UInt32, MessageCacheEntry)? {
            guard let uid = u32(), let size = u64(), let crlf = u64(), let date = u64(),
                  let nameLength = u16(), let name = bytes(Int(nameLength)),
                  let blobLength = u32(), blobLength <= MessageCache.maximumBlob, let blob = bytes(Int(blobLength)),
                  size <= UInt64(Int.max) else { return nil }
            let crlfSize = Int64(bitPattern: crlf)
            guard crlfSize >= -1 else { return nil }
            return (uid, MessageCacheEntry(baseName: String(decoding: name, as: UTF8.self), size: Int(size),
                                           crlfSize: crlfSize < 0 ? nil : Int(crlfSize),
                                           internalDate: Int64(bitPattern: date), blob: blob))
        }
        mutating func u32() -> UInt32? { int(4).map { UInt32($0) } }
        mutating func u64() -> UInt64? { int(8) }
    }
}

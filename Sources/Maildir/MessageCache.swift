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
/// a file that is damaged in any way (bad magic, truncated, checksum mismatch, other
/// UIDVALIDITY) is discarded whole and rebuilt. Written with temp file + rename, no lock and no
/// fsync: the last writer wins, and a crash can only lose cached work (a short file fails the
/// checksum).
///
/// Format (little-endian): "PAMC", u32 version 1, u32 uidvalidity, u32 count; per entry u32 uid,
/// u64 size, i64 crlf size (-1 unknown), i64 internal date, u16 name length + name bytes, u32
/// blob length + blob; then u64 FNV-1a of all preceding bytes.
public struct MessageCache: Hashable, Sendable {
    public static let fileName = "postamt-cache"
    public static let maximumBlob = 1 << 20
    public static let maximumFile = 512 << 20

    public var uidValidity: UInt32
    public var entries: [UInt32: MessageCacheEntry]

    public init(uidValidity: UInt32, entries: [UInt32: MessageCacheEntry] = [:]) {
        self.uidValidity = uidValidity; self.entries = entries
    }

    /// The cache for `uidValidity`, or an empty one when the file is missing, damaged or stale.
    public static func load(folderPath: String, uidValidity: UInt32) -> MessageCache {
        guard let bytes = try? FileIO.readFile("\(folderPath)/\(fileName)", limit: maximumFile),
              let cache = decode(bytes), cache.uidValidity == uidValidity else {
            return MessageCache(uidValidity: uidValidity)
        }
        return cache
    }

    public func save(folderPath: String) throws {
        try mapSystemErrors { try FileIO.replace("\(folderPath)/\(MessageCache.fileName)", encoded(), mode: 0o600, durability: .none) }
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = Array("PAMC".utf8)
        put32(&out, 1); put32(&out, uidValidity); put32(&out, UInt32(entries.count))
        for uid in entries.keys.sorted() {
            let e = entries[uid]!
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
        put64(&out, MessageCache.fnv1a(out[...]))
        return out
    }

    /// Decodes a cache file; nil for anything damaged. Never traps on any input.
    public static func decode(_ bytes: [UInt8]) -> MessageCache? {
        guard bytes.count >= 24, bytes.starts(with: Array("PAMC".utf8)) else { return nil }
        let body = bytes[0..<(bytes.count - 8)]
        var tail = Reader(bytes: bytes, offset: bytes.count - 8)
        guard let sum = tail.u64(), sum == fnv1a(body) else { return nil }
        var r = Reader(bytes: Array(body), offset: 4)
        guard r.u32() == 1, let validity = r.u32(), let count = r.u32() else { return nil }
        var cache = MessageCache(uidValidity: validity)
        for _ in 0..<count {
            guard let uid = r.u32(), let size = r.u64(), let crlf = r.u64(), let date = r.u64(),
                  let nameLength = r.u16(), let name = r.bytes(Int(nameLength)),
                  let blobLength = r.u32(), blobLength <= maximumBlob, let blob = r.bytes(Int(blobLength)),
                  size <= UInt64(Int.max), cache.entries[uid] == nil else { return nil }
            let crlfSize = Int64(bitPattern: crlf)
            guard crlfSize >= -1 else { return nil }
            cache.entries[uid] = MessageCacheEntry(baseName: String(decoding: name, as: UTF8.self), size: Int(size),
                                                   crlfSize: crlfSize < 0 ? nil : Int(crlfSize),
                                                   internalDate: Int64(bitPattern: date), blob: blob)
        }
        guard r.offset == body.count else { return nil } // a leftover byte is damage
        return cache
    }

    static func fnv1a(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    private func put32(_ out: inout [UInt8], _ v: UInt32) { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
    private func put64(_ out: inout [UInt8], _ v: UInt64) { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }

    struct Reader {
        let bytes: [UInt8]
        var offset: Int
        mutating func bytes(_ n: Int) -> [UInt8]? {
            guard n >= 0, n <= bytes.count - offset else { return nil }
            defer { offset += n }
            return Array(bytes[offset..<(offset + n)])
        }
        mutating func int(_ n: Int) -> UInt64? {
            guard let b = bytes(n) else { return nil }
            var v: UInt64 = 0
            for (i, byte) in b.enumerated() { v |= UInt64(byte) << (8 * UInt64(i)) }
            return v
        }
        mutating func u16() -> UInt16? { int(2).map { UInt16($0) } }
        mutating func u32() -> UInt32? { int(4).map { UInt32($0) } }
        mutating func u64() -> UInt64? { int(8) }
    }
}

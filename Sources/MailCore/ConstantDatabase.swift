#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// D. J. Bernstein's constant database (cdb), the format qmail's tables use: a key lookup costs
/// two or three pread(2)s whatever the table's size, and nothing is parsed at open. Postamt
/// compiles its big tables (the virtual table) into it, as Postfix's postmap compiles a map.
///
/// Layout (cdb.txt): 256 (position, length) pairs of little-endian uint32 (2048 bytes); then the
/// records, each `klen dlen key data`; then 256 hash tables of (hash, record position) slots,
/// each twice as long as its number of records. The hash is `h = ((h << 5) + h) ^ c` from 5381;
/// table `h & 255`, first slot `(h >> 8) % length`, linear probing, an empty slot ends the search.
public final class ConstantDatabase: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    let fd: Int32
    let size: UInt64

    public init(path: String) throws {
        let owned = try FileIO.open(path, O_RDONLY)
        var st = stat()
        guard fstat(owned.raw, &st) == 0 else { throw Failure("\(path): cannot stat: \(SystemError.describe(errno))") }
        guard st.st_size >= 2048 else { throw Failure("\(path): not a constant database (too short)") }
        size = UInt64(st.st_size)
        fd = owned.release()
    }

    deinit { close(fd) }

    public static func hash(_ key: some Sequence<UInt8>) -> UInt32 {
        var h: UInt32 = 5381
        for c in key { h = ((h &<< 5) &+ h) ^ UInt32(c) }
        return h
    }

    /// The data of the first record with this key, nil when there is none.
    public func find(_ key: [UInt8]) throws -> [UInt8]? {
        let h = ConstantDatabase.hash(key)
        let header = try read(at: UInt64(h & 255) * 8, count: 8)
        let tablePosition = UInt64(le32(header, 0))
        let slots = UInt64(le32(header, 4))
        guard slots > 0 else { return nil }
        var slot = UInt64(h >> 8) % slots
        for _ in 0..<slots {
            let entry = try read(at: tablePosition + slot * 8, count: 8)
            let recordPosition = UInt64(le32(entry, 4))
            if recordPosition == 0 { return nil }
            if le32(entry, 0) == h {
                let lengths = try read(at: recordPosition, count: 8)
                let keyLength = Int(le32(lengths, 0)), dataLength = Int(le32(lengths, 4))
                if keyLength == key.count {
                    let record = try read(at: recordPosition + 8, count: keyLength + dataLength)
                    if record[0..<keyLength].elementsEqual(key) { return Array(record[keyLength...]) }
                }
            }
            slot += 1
            if slot == slots { slot = 0 }
        }
        return nil
    }

    public func find(_ key: String) throws -> [UInt8]? { try find(Array(key.utf8)) }

    private func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        guard offset + UInt64(count) <= size else { throw Failure("constant database damaged: read past its end") }
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure("constant database: read failed: \(SystemError.describe(errno))") }
            done += n
        }
        return buffer
    }

    private func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }

    /// Builds a database in memory; `write(to:)` puts it in place atomically.
    public struct Builder {
        var records: [UInt8] = []
        var entries: [(hash: UInt32, position: UInt32)] = []

        public init() {}

        public mutating func add(key: [UInt8], data: [UInt8]) throws {
            let position = 2048 + records.count
            guard UInt64(position) + 8 + UInt64(key.count) + UInt64(data.count) < UInt64(UInt32.max) / 2 else {
                throw Failure("table too large for a constant database")
            }
            Self.append32(&records, UInt32(key.count))
            Self.append32(&records, UInt32(data.count))
            records += key
            records += data
            entries.append((ConstantDatabase.hash(key), UInt32(position)))
        }

        public mutating func add(key: String, data: [UInt8]) throws { try add(key: Array(key.utf8), data: data) }

        public func bytes() -> [UInt8] {
            var buckets = [[(hash: UInt32, position: UInt32)]](repeating: [], count: 256)
            for e in entries { buckets[Int(e.hash & 255)].append(e) }
            var header: [UInt8] = []
            var tables: [UInt8] = []
            var position = UInt32(2048 + records.count)
            for bucket in buckets {
                let length = bucket.count * 2
                Self.append32(&header, position)
                Self.append32(&header, UInt32(length))
                var slots = [(hash: UInt32, position: UInt32)](repeating: (0, 0), count: length)
                for e in bucket {
                    var slot = Int((e.hash >> 8) % UInt32(length))
                    while slots[slot].position != 0 { slot = (slot + 1) % length }
                    slots[slot] = e
                }
                for s in slots {
                    Self.append32(&tables, s.hash)
                    Self.append32(&tables, s.position)
                }
                position += UInt32(length * 8)
            }
            return header + records + tables
        }

        /// Writes through a temporary file, fsync and rename: readers see the old or the new table.
        public func write(to path: String, mode: mode_t = 0o644) throws {
            try FileIO.writeAtomically(path, bytes(), mode: mode)
        }

        private static func append32(_ out: inout [UInt8], _ v: UInt32) {
            out += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]
        }
    }
}

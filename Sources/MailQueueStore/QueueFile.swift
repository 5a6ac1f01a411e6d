#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// The message file mess/ID (postamt-queue(8), QUEUE): a header of `headerSize` bytes, then
/// the message (the queue's Received: line first).
///
///     POSTAMT-QUEUE 1 1024            where the message starts
///     POSTAMT-ENVELOPE 1 … end        the envelope record, when it fits
///     (line ends up to byte 1024)
///     Received: …                     the message
///
/// When the record fits, incoming/ID is a second link to this same file: the message and its
/// envelope are made durable by one fsync of one file (and one inode is allocated, not two).
/// A record too big for the header is its own file in incoming/ID, as every record was before.
/// Files without the first line, written by older versions, are the message alone.
public enum QueueFile {
    public static let headerSize = 1024
    static let magic = Array("POSTAMT-QUEUE ".utf8)
    static let firstLine = Array("POSTAMT-QUEUE 1 \(headerSize)\n".utf8)
    /// Where a header may say the message starts (a later version may reserve more).
    static let offsetLimit = 1 << 20

    public struct Invalid: Error, CustomStringConvertible {
        public let why: String
        public var description: String { "invalid queue file: \(why)" }
    }

    /// What `begin` writes first: the first line, then line ends to the message's start (the
    /// record goes over them at commit).
    static func blankHeader() -> [UInt8] {
        firstLine + [UInt8](repeating: UInt8(ascii: "\n"), count: headerSize - firstLine.count)
    }

    /// Where `record` goes in the header (written with pwrite), nil when it does not fit: the
    /// header keeps at least one line end after it, so that it reads as lines.
    static func recordOffset(fitting record: [UInt8]) -> Int64? {
        firstLine.count + record.count < headerSize ? Int64(firstLine.count) : nil
    }

    /// Where the message starts in a file beginning with `prefix`: 0 without the header line.
    /// `prefix` must hold the first line whole when there is one (64 bytes are plenty).
    static func messageOffset(prefix: ArraySlice<UInt8>) throws(Invalid) -> (offset: Int, lineEnd: Int) {
        guard prefix.starts(with: magic) else { return (0, 0) }
        guard let end = prefix.firstIndex(of: UInt8(ascii: "\n")) else { throw Invalid(why: "no end to the first line") }
        let fields = String(decoding: prefix[prefix.startIndex..<end], as: UTF8.self).split(separator: " ")
        guard fields.count == 3, fields[1] == "1" else { throw Invalid(why: "unknown format '\(fields.dropFirst().joined(separator: " "))'") }
        guard let offset = Int(fields[2]), offset > end - prefix.startIndex, offset <= offsetLimit else {
            throw Invalid(why: "bad message offset '\(fields[2])'")
        }
        return (offset, end + 1 - prefix.startIndex)
    }

    /// The envelope record in incoming/ID, nil when there is no such file.
    public struct Envelope {
        /// The record's bytes (QueueEnvelope.decode reads them).
        public let record: [UInt8]
        /// The file is the message's too (its header holds the record).
        public let holdsMessage: Bool
        /// The message's size in bytes when the file holds it.
        public let messageSize: Int64?
    }

    public static func readEnvelope(_ path: String, limit: Int = 64 << 20) throws -> Envelope? {
        let raw = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if raw < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SystemError("open \(path)")
        }
        let fd = OwnedFD(adopting: raw)
        var bytes = try FileIO.read(fd.raw, max: headerSize)
        let (offset, lineEnd) = try messageOffset(prefix: bytes[...])
        guard offset > 0 else {
            // A record in a file of its own: read it whole.
            if !bytes.isEmpty { bytes += try FileIO.readAll(fd.raw, limit: limit) }
            return Envelope(record: bytes, holdsMessage: false, messageSize: nil)
        }
        while bytes.count < offset {
            let more = try FileIO.read(fd.raw, max: offset - bytes.count)
            if more.isEmpty { throw Invalid(why: "shorter than its header") }
            bytes += more
        }
        var st = stat()
        guard fstat(fd.raw, &st) == 0 else { throw SystemError("fstat \(path)") }
        // The record runs to its "end" line; the rest of the header is line ends.
        let header = bytes[lineEnd..<offset]
        guard let endIndex = endOfRecord(header) else { throw Invalid(why: "no envelope record in the header") }
        return Envelope(record: Array(header[header.startIndex..<endIndex]), holdsMessage: true,
                        messageSize: Int64(st.st_size) - Int64(offset))
    }

    /// Where the first "\nend\n" in `header` ends. A plain loop over the bytes: the generic
    /// `firstRange(of:)` (the string-processing searcher) was a tenth of the runner's CPU time.
    static func endOfRecord(_ header: ArraySlice<UInt8>) -> Int? {
        var i = header.startIndex
        while i + 5 <= header.endIndex {
            // "\n" "e" "n" "d" "\n"
            if header[i] == 0x0A && header[i + 1] == 0x65 && header[i + 2] == 0x6E && header[i + 3] == 0x64 && header[i + 4] == 0x0A {
                return i + 5
            }
            i += 1
        }
        return nil
    }

    /// Opens a message file positioned at the message's first byte.
    public static func openMessage(_ path: String) throws -> OwnedFD {
        try openMessage(path, size: nil)
    }

    /// `openMessage`, and the message's size in bytes into `size`.
    static func openMessage(_ path: String, size: UnsafeMutablePointer<Int64>?) throws -> OwnedFD {
        let fd = try FileIO.open(path, O_RDONLY)
        var prefix = [UInt8](repeating: 0, count: 64)
        let n = prefix.withUnsafeMutableBytes { Glibc.pread(fd.raw, $0.baseAddress, 64, 0) }
        if n < 0 { throw SystemError("read \(path)") }
        let offset = try messageOffset(prefix: prefix[0..<n]).offset
        if let size {
            var st = stat()
            guard fstat(fd.raw, &st) == 0 else { throw SystemError("fstat \(path)") }
            guard Int64(st.st_size) >= Int64(offset) else { throw Invalid(why: "shorter than its header") }
            size.pointee = Int64(st.st_size) - Int64(offset)
        }
        if offset > 0 && lseek(fd.raw, off_t(offset), SEEK_SET) < 0 { throw SystemError("lseek \(path)") }
        return fd
    }

    /// The message in a message file, nil when there is no such file.
    public static func readMessage(_ path: String, limit: Int = 64 << 20) throws -> [UInt8]? {
        do {
            let fd = try openMessage(path)
            return try FileIO.readAll(fd.raw, limit: limit)
        } catch let error as SystemError where error.errno == ENOENT || error.errno == ENOTDIR {
            return nil
        }
    }

    /// The size of the message in a message file, nil when it cannot be read.
    public static func messageSize(_ path: String) -> Int64? {
        var size: Int64 = 0
        guard (try? openMessage(path, size: &size)) != nil else { return nil }
        return size
    }
}

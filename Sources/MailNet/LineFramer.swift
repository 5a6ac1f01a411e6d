/// Limits of line framing.
public struct LineLimits: Sendable, Equatable {
    /// Longest line accepted, in bytes, not counting its terminator. The default, 8192, is generous
    /// for IMAP command lines and SMTP text lines (1000 with CRLF, RFC 5321 §4.5.3.1.6);
    /// protocol code narrows it (512 for SMTP command lines, §4.5.3.1.4).
    public var maxLineLength: Int

    public init(maxLineLength: Int = 8192) {
        self.maxLineLength = max(1, maxLineLength)
    }
}

/// How a line ended. SMTP needs the difference: only CRLF ends a line there, and bare CR or LF
/// inside DATA is how SMTP smuggling works (RFC 5321 §2.3.8).
public enum LineTerminator: Sendable, Equatable {
    case crlf
    /// A LF not preceded by CR.
    case lf
    /// A CR not followed by LF.
    case cr
    /// The stream ended inside the line.
    case endOfStream
}

/// One line, without its terminator.
public struct Line: Sendable, Equatable {
    public var bytes: [UInt8]
    public var terminator: LineTerminator

    public init(bytes: [UInt8], terminator: LineTerminator) {
        self.bytes = bytes
        self.terminator = terminator
    }

    /// The line as text (invalid UTF-8 replaced), for protocols whose commands are ASCII.
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// What the framer produced.
public enum LineEvent: Sendable, Equatable {
    case line(Line)
    /// A line longer than `LineLimits.maxLineLength`: its bytes were skipped without being kept;
    /// `length` is how many there were. The next event starts after its terminator.
    case tooLong(length: Int, terminator: LineTerminator)
}

/// Splits bytes into lines: an I/O-free state machine fed with `append` and drained with
/// `nextLine`. Memory stays bounded by the line limit plus one appended chunk: the bytes of an
/// over-long line are counted and dropped as they arrive.
public struct LineFramer: Sendable {
    public let limits: LineLimits
    private var buffer: [UInt8] = []
    /// Index in `buffer` of the first byte not yet returned.
    private var start = 0
    /// Index from which the search for a terminator resumes (bytes before it hold none).
    private var scanFrom = 0
    /// Set while skipping an over-long line: how many of its bytes were dropped so far.
    private var skippedLength: Int?

    public init(limits: LineLimits = LineLimits()) {
        self.limits = limits
    }

    /// Bytes received but not yet returned: after a line, what the peer sent beyond it.
    public var bufferedByteCount: Int { buffer.count - start }

    public mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// Drops every buffered byte and returns how many there were. RFC 3207 §6: after STARTTLS the
    /// server must discard whatever the client sent before the handshake (CVE-2011-0411).
    @discardableResult
    public mutating func discardBuffered() -> Int {
        let count = bufferedByteCount
        buffer.removeAll(keepingCapacity: true)
        start = 0
        scanFrom = 0
        skippedLength = nil
        return count
    }

    /// Takes up to `count` raw buffered bytes (for IMAP literals or BDAT chunks that follow a line).
    public mutating func takeBuffered(upTo count: Int) -> [UInt8] {
        let taken = min(max(count, 0), bufferedByteCount)
        let bytes = Array(buffer[start..<(start + taken)])
        start += taken
        scanFrom = max(scanFrom, start)
        compact()
        return bytes
    }

    /// The next complete line, or `nil` when more bytes are needed. With `atEndOfStream` a final
    /// unterminated line is returned with terminator `.endOfStream`; `nil` then means nothing is left.
    public mutating func nextLine(atEndOfStream: Bool = false) -> LineEvent? {
        guard let (index, terminator, terminatorLength) = findTerminator(atEndOfStream: atEndOfStream) else {
            return pendingWithoutTerminator(atEndOfStream: atEndOfStream)
        }
        let length = index - start
        if let skipped = skippedLength {
            skippedLength = nil
            consume(through: index + terminatorLength)
            return .tooLong(length: skipped + length, terminator: terminator)
        }
        if length > limits.maxLineLength {
            consume(through: index + terminatorLength)
            return .tooLong(length: length, terminator: terminator)
        }
        let line = Array(buffer[start..<index])
        consume(through: index + terminatorLength)
        return .line(Line(bytes: line, terminator: terminator))
    }

    /// Finds the first terminator at or after `scanFrom`. A CR as the very last byte is undecided
    /// (CRLF or bare CR) until another byte or the end of the stream arrives.
    private mutating func findTerminator(atEndOfStream: Bool) -> (Int, LineTerminator, Int)? {
        var index = max(scanFrom, start)
        while index < buffer.count {
            let byte = buffer[index]
            if byte == 0x0A { return (index, .lf, 1) }
            if byte == 0x0D {
                if index + 1 < buffer.count {
                    return buffer[index + 1] == 0x0A ? (index, .crlf, 2) : (index, .cr, 1)
                }
                if atEndOfStream { return (index, .cr, 1) }
                scanFrom = index
                return nil
            }
            index += 1
        }
        scanFrom = index
        return nil
    }

    /// No terminator in the buffer: enforce the limit on what is pending, or finish at end of stream.
    private mutating func pendingWithoutTerminator(atEndOfStream: Bool) -> LineEvent? {
        if atEndOfStream {
            let length = bufferedByteCount
            if let skipped = skippedLength {
                skippedLength = nil
                consume(through: buffer.count)
                return .tooLong(length: skipped + length, terminator: .endOfStream)
            }
            guard length > 0 else { return nil }
            if length > limits.maxLineLength {
                consume(through: buffer.count)
                return .tooLong(length: length, terminator: .endOfStream)
            }
            let line = Array(buffer[start...])
            consume(through: buffer.count)
            return .line(Line(bytes: line, terminator: .endOfStream))
        }
        // A trailing CR may still turn out to be (part of) the terminator: keep it.
        let keep = buffer.last == 0x0D ? 1 : 0
        let pending = bufferedByteCount - keep
        if skippedLength != nil || pending > limits.maxLineLength {
            skippedLength = (skippedLength ?? 0) + pending
            consume(through: buffer.count - keep)
        }
        return nil
    }

    private mutating func consume(through end: Int) {
        start = end
        scanFrom = max(scanFrom, start)
        compact()
    }

    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 65536)
            start = 0
            scanFrom = 0
        } else if start >= 4096 && start * 2 >= buffer.count {
            buffer.removeFirst(start)
            scanFrom -= start
            start = 0
        }
    }

    /// Fuzzing entry point: feeds `bytes` in chunks whose sizes come from the bytes themselves and
    /// drains all events. Must never trap; returns the number of events for the caller to check.
    public static func fuzz(_ bytes: [UInt8], limits: LineLimits = LineLimits(maxLineLength: 16)) -> Int {
        var framer = LineFramer(limits: limits)
        var events = 0
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + 1 + Int(bytes[index] % 7))
            framer.append(bytes[index..<end])
            index = end
            while framer.nextLine() != nil { events += 1 }
            if bytes[end - 1] == 0xFF { _ = framer.takeBuffered(upTo: 3) }
            if bytes[end - 1] == 0xFE { framer.discardBuffered() }
        }
        while framer.nextLine(atEndOfStream: true) != nil { events += 1 }
        return events
    }
}

/// Streaming base64 decoder for MIME bodies and RFC 2047 "B" words (RFC 2045 §6.8).
///
/// Feed it chunks with `decode(_:into:)`; characters outside the base64 alphabet (line breaks,
/// white space, garbage) are ignored, as §6.8 requires. The first "=" marks the end of the data:
/// everything after it is ignored. Output stops growing at `outputLimit` bytes, and `isFull`
/// tells the caller it may stop feeding.
public struct Base64Decoder: Sendable {
    private var accumulator: UInt32 = 0
    private var count = 0
    public private(set) var reachedPadding = false
    public let outputLimit: Int
    public private(set) var isFull = false

    public init(outputLimit: Int = Int.max) { self.outputLimit = outputLimit }

    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    public mutating func decode<C: Collection>(_ chunk: C, into out: inout [UInt8]) where C.Element == UInt8 {
        let table = Base64Decoder.values
        for c in chunk {
            if reachedPadding || isFull { return }
            if c == 0x3D { finishQuantum(into: &out); reachedPadding = true; return }
            let v = table[Int(c)]
            if v == 0xFF { continue }
            accumulator = accumulator << 6 | UInt32(v)
            count += 1
            if count == 4 {
                append(UInt8(truncatingIfNeeded: accumulator >> 16), to: &out)
                append(UInt8(truncatingIfNeeded: accumulator >> 8), to: &out)
                append(UInt8(truncatingIfNeeded: accumulator), to: &out)
                accumulator = 0
                count = 0
            }
        }
    }

    /// Flushes a final partial quantum (two or three characters without padding).
    public mutating func finish(into out: inout [UInt8]) { finishQuantum(into: &out) }

    private mutating func finishQuantum(into out: inout [UInt8]) {
        // A lone sixth of a quantum carries no whole byte and is dropped.
        switch count {
        case 2:
            append(UInt8(truncatingIfNeeded: accumulator >> 4), to: &out)
        case 3:
            append(UInt8(truncatingIfNeeded: accumulator >> 10), to: &out)
            append(UInt8(truncatingIfNeeded: accumulator >> 2), to: &out)
        default: break
        }
        accumulator = 0
        count = 0
    }

    private mutating func append(_ b: UInt8, to out: inout [UInt8]) {
        if out.count >= outputLimit { isFull = true; return }
        out.append(b)
    }

    /// Decodes a whole buffer.
    public static func decode<C: Collection>(_ bytes: C, limit: Int = Int.max) -> [UInt8] where C.Element == UInt8 {
        var decoder = Base64Decoder(outputLimit: limit)
        var out: [UInt8] = []
        decoder.decode(bytes, into: &out)
        decoder.finish(into: &out)
        return out
    }

    /// Encodes bytes as base64 without line breaks.
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var it = bytes.makeIterator()
        while let a = it.next() {
            let b = it.next(), c = it.next()
            let n = UInt32(a) << 16 | UInt32(b ?? 0) << 8 | UInt32(c ?? 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(b == nil ? 0x3D : alphabet[Int(n >> 6 & 63)])
            out.append(c == nil ? 0x3D : alphabet[Int(n & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Streaming quoted-printable decoder (RFC 2045 §6.7).
///
/// `=XX` escapes (either case of hex digits, leniently) become bytes; "=" at the end of a line
/// (optionally followed by white space a transport added) is a soft line break and vanishes;
/// white space at the end of a line is deleted (rule 3). A malformed escape is kept literally,
/// as §6.7 note (2) suggests for robust decoders. Line ends are passed through as they come
/// (CRLF or LF). Output stops at `outputLimit` bytes.
public struct QuotedPrintableDecoder: Sendable {
    private enum State: Sendable { case text, equals, equalsHex(UInt8), equalsSpace, equalsCR }
    private var state: State = .text
    /// White space seen but not yet written: dropped if a line end follows (rule 3).
    private var pendingSpace: [UInt8] = []
    public let outputLimit: Int
    public private(set) var isFull = false

    public init(outputLimit: Int = Int.max) { self.outputLimit = outputLimit }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    public mutating func decode<C: Collection>(_ chunk: C, into out: inout [UInt8]) where C.Element == UInt8 {
        for c in chunk {
            if isFull { return }
            step(c, into: &out)
        }
    }

    private mutating func step(_ c: UInt8, into out: inout [UInt8]) {
        switch state {
        case .text:
            switch c {
            case 0x3D:
                // Blanks before "=" are not at the end of the line, even before a soft break.
                flushSpace(into: &out)
                state = .equals
            case 0x20, 0x09:
                pendingSpace.append(c)
                // A very long run of blanks is written out rather than buffered without bound.
                if pendingSpace.count > 1024 { flushSpace(into: &out) }
            case 0x0D, 0x0A:
                pendingSpace.removeAll(keepingCapacity: true)
                emit(c, into: &out)
            default:
                flushSpace(into: &out)
                emit(c, into: &out)
            }
        case .equals:
            if let _ = QuotedPrintableDecoder.hexValue(c) {
                state = .equalsHex(c)
            } else if c == 0x0A {
                pendingSpace.removeAll(keepingCapacity: true)
                state = .text          // soft line break (LF only)
            } else if c == 0x0D {
                state = .equalsCR
            } else if c == 0x20 || c == 0x09 {
                state = .equalsSpace
            } else {
                flushSpace(into: &out)
                emit(0x3D, into: &out)
                state = .text
                step(c, into: &out)
            }
        case .equalsHex(let first):
            if let low = QuotedPrintableDecoder.hexValue(c), let high = QuotedPrintableDecoder.hexValue(first) {
                flushSpace(into: &out)
                emit(high << 4 | low, into: &out)
                state = .text
            } else {
                flushSpace(into: &out)
                emit(0x3D, into: &out)
                emit(first, into: &out)
                state = .text
                step(c, into: &out)
            }
        case .equalsSpace:
            // "=" followed by blanks: a soft line break if the line ends here (§6.7 note on
            // transport-added white space), otherwise a literal "=" and the blanks.
            if c == 0x20 || c == 0x09 { return }
            if c == 0x0A { pendingSpace.removeAll(keepingCapacity: true); state = .text; return }
            if c == 0x0D { state = .equalsCR; return }
            flushSpace(into: &out)
            emit(0x3D, into: &out)
            emit(0x20, into: &out)
            state = .text
            step(c, into: &out)
        case .equalsCR:
            pendingSpace.removeAll(keepingCapacity: true)
            state = .text
            if c != 0x0A { step(c, into: &out) }
        }
    }

    /// Flushes what is pending at the end of the input ("=" at the very end is a soft break).
    public mutating func finish(into out: inout [UInt8]) {
        if case .equalsHex(let first) = state {
            flushSpace(into: &out)
            emit(0x3D, into: &out)
            emit(first, into: &out)
        }
        // Trailing white space at the end of the data is the end of a line: dropped.
        pendingSpace.removeAll()
        state = .text
    }

    private mutating func flushSpace(into out: inout [UInt8]) {
        for s in pendingSpace { emit(s, into: &out) }
        pendingSpace.removeAll(keepingCapacity: true)
    }

    private mutating func emit(_ b: UInt8, into out: inout [UInt8]) {
        if out.count >= outputLimit { isFull = true; return }
        out.append(b)
    }

    /// Decodes a whole buffer.
    public static func decode<C: Collection>(_ bytes: C, limit: Int = Int.max) -> [UInt8] where C.Element == UInt8 {
        var decoder = QuotedPrintableDecoder(outputLimit: limit)
        var out: [UInt8] = []
        decoder.decode(bytes, into: &out)
        decoder.finish(into: &out)
        return out
    }
}

/// The Content-Transfer-Encoding of a part (RFC 2045 §6.1), case-insensitive; the default is 7bit.
public enum ContentTransferEncoding: Equatable, Sendable {
    case sevenBit, eightBit, binary, quotedPrintable, base64
    /// An unknown token (§6.4: treat the body as application/octet-stream), lowercased.
    case other(String)

    public init(parsing value: String) {
        // The field is a single token, possibly with comments around it.
        let token = MIMEHeaderLexer.firstToken(of: value).lowercasedASCII()
        switch token {
        case "", "7bit": self = .sevenBit
        case "8bit": self = .eightBit
        case "binary": self = .binary
        case "quoted-printable": self = .quotedPrintable
        case "base64": self = .base64
        // Common mislabels seen in the wild.
        case "7-bit": self = .sevenBit
        case "8-bit": self = .eightBit
        default: self = .other(token)
        }
    }

    /// The name as RFC 2045 spells it, for BODYSTRUCTURE ("7BIT", "BASE64", …).
    public var name: String {
        switch self {
        case .sevenBit: return "7BIT"
        case .eightBit: return "8BIT"
        case .binary: return "BINARY"
        case .quotedPrintable: return "QUOTED-PRINTABLE"
        case .base64: return "BASE64"
        case .other(let token): return token.uppercasedASCII()
        }
    }

    /// Whether the body is an identity encoding (no decoding needed).
    public var isIdentity: Bool {
        switch self {
        case .sevenBit, .eightBit, .binary, .other: return true
        case .quotedPrintable, .base64: return false
        }
    }

    /// Undoes this transfer encoding, producing at most `limit` bytes.
    public func decode<C: Collection>(_ bytes: C, limit: Int = Int.max) -> [UInt8] where C.Element == UInt8 {
        switch self {
        case .base64: return Base64Decoder.decode(bytes, limit: limit)
        case .quotedPrintable: return QuotedPrintableDecoder.decode(bytes, limit: limit)
        default: return Array(bytes.prefix(limit))
        }
    }
}

extension String {
    /// ASCII uppercasing (no locale, no Foundation).
    public func uppercasedASCII() -> String {
        String(decoding: utf8.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }, as: UTF8.self)
    }
}

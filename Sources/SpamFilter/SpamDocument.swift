/// A message as the spam filter sees it: its header fields and its decoded text.
///
/// `SpamDocument.decode(rawMessage:limits:)` makes one from raw bytes with MailMessage's MIME
/// parser, within `SpamDecodeLimits`.
/// `headers` holds the top-level fields in order, followed by the `Content-Type`,
/// `Content-Transfer-Encoding` and `Content-Disposition` fields of every MIME part
/// (so a tokeniser sees the shape of the message). `textParts` holds each text part
/// decoded to Unicode, HTML reduced to its text plus the URLs of links and images.
public struct SpamDocument: Sendable, Equatable {
    public var headers: [(name: String, value: String)]
    public var textParts: [String]
    /// Identifies the message for "learn once" bookkeeping: a hash of the Message-ID
    /// field when there is one, otherwise a hash of the body.
    public var messageKey: UInt64
    /// What decoding left out because a limit was reached (empty when complete).
    public var truncation: Set<SpamTruncation>
    /// Observations on the message's shape made while decoding (without the `html:`/`mime:`
    /// prefix the tokeniser adds): the MIME structure, and from HTML parts hidden text, tiny
    /// fonts, image-only mail and the tag names used. See `SpamTokenizerOptions.structure`.
    public var structure: [String] = []

    public init(headers: [(name: String, value: String)], textParts: [String],
                messageKey: UInt64? = nil, truncation: Set<SpamTruncation> = []) {
        self.headers = headers
        self.textParts = textParts
        self.truncation = truncation
        if let messageKey {
            self.messageKey = messageKey
        } else if let id = headers.first(where: { asciiCaseInsensitiveEquals($0.name, "message-id") }) {
            self.messageKey = SpamDocument.messageKey(messageID: id.value)
        } else {
            var hasher = TokenHasher()
            for part in textParts { hasher.combine(part.utf8); hasher.combine(0) }
            self.messageKey = hasher.value
        }
    }

    /// The learn-once key of a Message-ID field value (surrounding white space ignored).
    public static func messageKey(messageID: String) -> UInt64 {
        var hasher = TokenHasher()
        hasher.combine("message-id:".utf8)
        hasher.combine(trimmedASCIIWhitespace(messageID).utf8)
        return hasher.value
    }

    public static func == (lhs: SpamDocument, rhs: SpamDocument) -> Bool {
        lhs.headers.count == rhs.headers.count
            && zip(lhs.headers, rhs.headers).allSatisfy { $0.name == $1.name && $0.value == $1.value }
            && lhs.textParts == rhs.textParts && lhs.messageKey == rhs.messageKey
            && lhs.truncation == rhs.truncation && lhs.structure == rhs.structure
    }
}

/// A limit that cut decoding or tokenising short; the message was scanned partially.
public enum SpamTruncation: String, Sendable, Hashable, CaseIterable {
    /// More raw bytes than `SpamDecodeLimits.maxScannedBytes`.
    case scannedBytes
    /// More header fields or header bytes than allowed.
    case headers
    /// MIME nesting deeper than `SpamDecodeLimits.maxMimeDepth`.
    case mimeDepth
    /// More MIME parts than `SpamDecodeLimits.maxParts`.
    case mimeParts
    /// More decoded text than `SpamDecodeLimits.maxTextBytes`.
    case textBytes
    /// More tokens than `SpamTokenizerLimits.maxTokens`.
    case tokens
}

/// 64-bit FNV-1a with a final avalanche (the splitmix64 finaliser).
///
/// The value is stored in token databases, so it must never change: a different
/// function would need a new database version.
public struct TokenHasher: Sendable {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    @inline(__always)
    public mutating func combine(_ byte: UInt8) {
        state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }

    @inline(__always)
    public mutating func combine<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        for byte in bytes { combine(byte) }
    }

    /// The finished hash; never 0 (0 marks an empty slot on disk).
    public var value: UInt64 {
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        z = z ^ (z >> 31)
        return z == 0 ? 1 : z
    }

    /// The hash of one byte string.
    public static func hash<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
        var hasher = TokenHasher()
        hasher.combine(bytes)
        return hasher.value
    }
}

func asciiCaseInsensitiveEquals(_ a: String, _ b: String) -> Bool {
    var ia = a.utf8.makeIterator()
    var ib = b.utf8.makeIterator()
    while true {
        let ca = ia.next(), cb = ib.next()
        if ca == nil && cb == nil { return true }
        guard let x = ca, let y = cb, asciiLower(x) == asciiLower(y) else { return false }
    }
}

@inline(__always)
func asciiLower(_ byte: UInt8) -> UInt8 {
    (byte >= 65 && byte <= 90) ? byte | 0x20 : byte
}

@inline(__always)
func isASCIIWhitespace(_ byte: UInt8) -> Bool {
    byte == 32 || byte == 9 || byte == 10 || byte == 13 || byte == 11 || byte == 12
}

func trimmedASCIIWhitespace(_ text: String) -> Substring {
    let bytes = text.utf8
    var start = bytes.startIndex, end = bytes.endIndex
    while start < end, isASCIIWhitespace(bytes[start]) { start = bytes.index(after: start) }
    while end > start, isASCIIWhitespace(bytes[bytes.index(before: end)]) { end = bytes.index(before: end) }
    return text[start..<end]
}

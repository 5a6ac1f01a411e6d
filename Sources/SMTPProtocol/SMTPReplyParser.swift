/// Errors of ``SMTPReplyParser``: the server is not speaking SMTP (or is hostile). The client
/// should give up on the connection with a temporary failure.
public enum SMTPReplyParserError: Error, Sendable, Equatable {
    /// A line longer than ``SMTPReplyParser/Limits/maximumLineLength``.
    case lineTooLong
    /// More lines in one reply than ``SMTPReplyParser/Limits/maximumLines``.
    case tooManyLines
    /// A line that does not start with three digits 2–5,0–9,0–9 and a space, a dash or its end.
    case malformedLine(String)
    /// A continuation line with a different code than the first line (RFC 5321 §4.2.1).
    case inconsistentCode(expected: Int, found: Int)
}

/// Client side: turns bytes from an SMTP server into complete replies (RFC 5321 §4.2).
///
/// Multi-line replies (`250-…` … `250 …`) are collected; lines may end in CRLF or, tolerantly, a
/// bare LF. The enhanced status code (RFC 2034) is taken from the first line when its class
/// matches the reply code, and removed from every line's text. Streaming: feed any split.
public struct SMTPReplyParser: Sendable {
    /// Bounds on what one server may make us hold.
    public struct Limits: Sendable, Equatable {
        /// Longest line in octets including the line end (RFC 5321 §4.5.3.1.5 says 512; servers
        /// exceed it in EHLO replies and long rejection texts).
        public var maximumLineLength = 4096
        /// Most lines in one reply (an EHLO reply has about 15).
        public var maximumLines = 100
        public init() {}
    }

    public let limits: Limits
    private var partialLine: [UInt8] = []
    private var pendingLines: [String] = []
    private var pendingCode: Int?
    private var pendingEnhanced: SMTPEnhancedStatusCode?
    private var failed: SMTPReplyParserError?

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// True when part of a reply has been received but not its last line.
    public var hasIncompleteReply: Bool { !partialLine.isEmpty || pendingCode != nil }

    /// Feeds bytes; returns the replies completed by them. After an error every call throws it
    /// again (the stream cannot be resynchronised).
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(SMTPReplyParserError) -> [SMTPReply] {
        if let failed { throw failed }
        var replies: [SMTPReply] = []
        for byte in bytes {
            if byte == 10 {
                var line = partialLine
                partialLine.removeAll(keepingCapacity: true)
                if line.last == 13 { line.removeLast() }
                do throws(SMTPReplyParserError) {
                    if let reply = try takeLine(line) { replies.append(reply) }
                } catch {
                    failed = error
                    throw error
                }
            } else {
                partialLine.append(byte)
                if partialLine.count + 1 > limits.maximumLineLength {
                    failed = .lineTooLong
                    throw .lineTooLong
                }
            }
        }
        return replies
    }

    private mutating func takeLine(_ line: [UInt8]) throws(SMTPReplyParserError) -> SMTPReply? {
        guard line.count >= 3,
              (UInt8(ascii: "2")...UInt8(ascii: "5")).contains(line[0]), isDigit(line[1]), isDigit(line[2]),
              line.count == 3 || line[3] == UInt8(ascii: " ") || line[3] == UInt8(ascii: "-")
        else { throw .malformedLine(String(decoding: line.prefix(80), as: UTF8.self)) }
        let code = Int(line[0] - 48) * 100 + Int(line[1] - 48) * 10 + Int(line[2] - 48)
        let isLast = line.count == 3 || line[3] == UInt8(ascii: " ")
        var text = line.count > 4 ? Array(line[4...]) : []
        if let expected = pendingCode, expected != code { throw .inconsistentCode(expected: expected, found: code) }
        // The enhanced code: "x.y.z " at the start of the text, class equal to the code's first digit.
        if let space = text.firstIndex(of: UInt8(ascii: " ")) ?? (text.count <= 11 ? text.endIndex : nil),
           let enhanced = SMTPEnhancedStatusCode(String(decoding: text[..<space], as: UTF8.self)),
           enhanced.statusClass == code / 100
        {
            if pendingCode == nil { pendingEnhanced = enhanced }
            text.removeFirst(min(space + 1, text.count))
        }
        pendingCode = code
        pendingLines.append(String(decoding: text, as: UTF8.self))
        if pendingLines.count > limits.maximumLines { throw .tooManyLines }
        guard isLast else { return nil }
        defer {
            pendingCode = nil
            pendingEnhanced = nil
            pendingLines = []
        }
        return SMTPReply(code: code, enhancedCode: pendingEnhanced, lines: pendingLines)
    }
}

/// Client side: what a server announced in its EHLO reply (RFC 5321 §4.1.1.1).
public struct SMTPCapabilities: Sendable, Equatable {
    /// The domain on the first line of the reply.
    public var serverName: String
    /// Every keyword (upper case) with its parameters, as announced.
    public var keywords: [String: [String]]

    /// Parses a 250 EHLO reply; nil for any other reply.
    public init?(ehloReply reply: SMTPReply) {
        guard reply.code == 250 else { return nil }
        serverName = String(reply.lines[0].split(separator: " ").first ?? "")
        keywords = [:]
        for line in reply.lines.dropFirst() {
            // Some old servers announce "AUTH=LOGIN PLAIN"; treat it as AUTH.
            var words = line.split(separator: " ").map(String.init)
            guard !words.isEmpty else { continue }
            var keyword = words.removeFirst().uppercased()
            if keyword.hasPrefix("AUTH=") {
                words.insert(String(keyword.dropFirst(5)), at: 0)
                keyword = "AUTH"
            }
            keywords[keyword, default: []].append(contentsOf: words)
        }
    }

    public func supports(_ keyword: String) -> Bool { keywords[keyword.uppercased()] != nil }

    public var pipelining: Bool { supports("PIPELINING") }
    public var eightBitMIME: Bool { supports("8BITMIME") }
    public var smtpUTF8: Bool { supports("SMTPUTF8") }
    public var chunking: Bool { supports("CHUNKING") }
    public var binaryMIME: Bool { supports("BINARYMIME") }
    public var startTLS: Bool { supports("STARTTLS") }
    public var dsn: Bool { supports("DSN") }
    public var enhancedStatusCodes: Bool { supports("ENHANCEDSTATUSCODES") }

    /// The SIZE limit (RFC 1870): nil when SIZE is not announced, 0 when announced without a
    /// number or with 0 (no fixed limit).
    public var maximumMessageSize: UInt64? {
        guard let parameters = keywords["SIZE"] else { return nil }
        return parameters.first.flatMap { UInt64($0) } ?? 0
    }

    /// The SASL mechanisms of the AUTH keyword, upper case, without duplicates, in order.
    public var authenticationMechanisms: [String] {
        var seen = Set<String>()
        return (keywords["AUTH"] ?? []).map { $0.uppercased() }.filter { seen.insert($0).inserted }
    }
}

/// Client side: encodes message bytes for DATA (RFC 5321 §4.5.2), streaming.
///
/// Input may use LF or CRLF line ends and may contain bare CRs; every CRLF, bare CR and bare LF
/// becomes one CRLF on the wire, so the output never contains a CR or LF outside a CRLF (no
/// smuggling through us). A line starting with "." gets one more ".". ``finish()`` closes the
/// last line if needed and appends `.CRLF`. State is kept across chunks.
public struct SMTPDataEncoder: Sendable {
    private var atLineStart = true
    private var lastWasCarriageReturn = false
    private var finished = false

    public init() {}

    /// Encodes one chunk of message bytes.
    public mutating func encode(_ chunk: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(chunk.count + chunk.count / 32 + 4)
        for byte in chunk {
            if lastWasCarriageReturn {
                lastWasCarriageReturn = false
                if byte == 10 { continue }  // the LF of a CRLF already written
            }
            switch byte {
            case 13:
                out += [13, 10]
                lastWasCarriageReturn = true
                atLineStart = true
            case 10:
                out += [13, 10]
                atLineStart = true
            default:
                if atLineStart && byte == UInt8(ascii: ".") { out.append(UInt8(ascii: ".")) }
                out.append(byte)
                atLineStart = false
            }
        }
        return out
    }

    /// The end: a CRLF if the last line was not terminated, then `.` CRLF. Call once.
    public mutating func finish() -> [UInt8] {
        guard !finished else { return [] }
        finished = true
        return (atLineStart ? [] : [13, 10]) + [UInt8(ascii: "."), 13, 10]
    }

    /// Encodes a whole message at once.
    public static func encodeMessage(_ message: some Collection<UInt8>) -> [UInt8] {
        var encoder = SMTPDataEncoder()
        return encoder.encode(message) + encoder.finish()
    }
}

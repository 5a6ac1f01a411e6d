/// An enhanced mail system status code, `class.subject.detail` (RFC 3463, RFC 2034).
public struct SMTPEnhancedStatusCode: Sendable, Hashable, CustomStringConvertible {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    public let statusClass: Int
    /// The subject, 0…999 (RFC 3463 §3.1: "1*3digit").
    public let subject: Int
    /// The detail, 0…999.
    public let detail: Int

    /// Builds a code; returns nil when a part is out of range.
    public init?(statusClass: Int, subject: Int, detail: Int) {
        guard [2, 4, 5].contains(statusClass), (0...999).contains(subject), (0...999).contains(detail)
        else { return nil }
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    /// Parses `"5.7.1"`; nil unless it is exactly class "." 1*3digit "." 1*3digit.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              parts[0].count == 1, (1...3).contains(parts[1].count), (1...3).contains(parts[2].count),
              parts.allSatisfy({ $0.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }),
              let c = Int(parts[0]), let s = Int(parts[1]), let d = Int(parts[2])
        else { return nil }
        self.init(statusClass: c, subject: s, detail: d)
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
}

/// One SMTP reply: a three-digit code, an optional enhanced status code and one or more lines
/// of text. Used by the server engine to produce replies and by ``SMTPReplyParser`` on the client
/// side to hand back what a server said.
public struct SMTPReply: Sendable, Equatable {
    /// The reply code, 200…599 (RFC 5321 §4.2).
    public var code: Int
    /// The enhanced status code of the first line, when present (RFC 2034).
    public var enhancedCode: SMTPEnhancedStatusCode?
    /// The text of each line, without code, separator, enhanced code and line end.
    public var lines: [String]

    /// A reply; `lines` must not be empty (an empty array is treated as one empty line).
    public init(code: Int, enhancedCode: SMTPEnhancedStatusCode? = nil, lines: [String]) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.lines = lines.isEmpty ? [""] : lines
    }

    /// A one-line reply with an enhanced code given as text (`"2.0.0"`); an unparsable code
    /// is dropped.
    public init(_ code: Int, _ enhanced: String?, _ text: String) {
        self.init(code: code, enhancedCode: enhanced.flatMap { SMTPEnhancedStatusCode($0) }, lines: [text])
    }

    /// True for 2xx replies.
    public var isPositive: Bool { (200..<300).contains(code) }
    /// True for 3xx replies (354 for DATA, 334 during AUTH).
    public var isIntermediate: Bool { (300..<400).contains(code) }
    /// True for 4xx replies: try again later.
    public var isTransientFailure: Bool { (400..<500).contains(code) }
    /// True for 5xx replies: do not repeat.
    public var isPermanentFailure: Bool { (500..<600).contains(code) }

    /// All lines joined with a space, the way reports quote a reply.
    public var text: String { lines.joined(separator: " ") }

    /// The reply on the wire: `code-` on every line but the last, `code ` on the last, the
    /// enhanced code after the separator on every line (RFC 2034 §3), each line ending in CRLF.
    /// CR, LF and other control characters in the text are replaced by spaces, so a reply is
    /// always well formed whatever text a host passes in.
    public var wireBytes: [UInt8] {
        var out: [UInt8] = []
        let codeText = Array(String(code).utf8)
        let enhancedText = enhancedCode.map { Array("\($0) ".utf8) } ?? []
        for (index, line) in lines.enumerated() {
            out += codeText
            out.append(index == lines.count - 1 ? UInt8(ascii: " ") : UInt8(ascii: "-"))
            out += enhancedText
            for byte in line.utf8 {
                out.append(byte < 0x20 || byte == 0x7F ? UInt8(ascii: " ") : byte)
            }
            if line.isEmpty && enhancedText.isEmpty == false { out.removeLast() }
            out += [13, 10]
        }
        return out
    }
}

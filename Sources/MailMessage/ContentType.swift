/// One parameter of a Content-Type or Content-Disposition field (RFC 2045 §5.1, RFC 2183 §2),
/// with RFC 2231 continuations joined and charset-decoded.
public struct MIMEParameter: Equatable, Sendable {
    /// The attribute, lowercased, without RFC 2231 `*` or `*N` suffixes.
    public let name: String
    /// The value as Unicode: quoted-string unescaped, RFC 2231 segments joined, %XX decoded and
    /// converted from their charset. RFC 2047 words inside a plain value (not allowed, but sent
    /// by many mailers for file names) are decoded too.
    public let value: String
    /// RFC 2231 §4 charset and language of an extended value.
    public let charset: String?
    public let language: String?
    /// The parameter as IMAP BODYSTRUCTURE carries it (what Dovecot sends): a plain value as it
    /// stood (unescaped, not 2047-decoded); an extended value under `name*` as
    /// `charset'language'percent-encoded`, continuations joined.
    public let wireName: String
    public let wireValue: String

    public init(name: String, value: String, charset: String? = nil, language: String? = nil, wireName: String? = nil, wireValue: String? = nil) {
        self.name = name
        self.value = value
        self.charset = charset
        self.language = language
        self.wireName = wireName ?? name
        self.wireValue = wireValue ?? value
    }
}

extension Array where Element == MIMEParameter {
    /// The value of the first parameter called `name` (case-insensitive).
    public subscript(parameter name: String) -> String? {
        let key = name.lowercasedASCII()
        return first { $0.name == key }?.value
    }
}

/// A parsed Content-Type field (RFC 2045 §5.1): `type/subtype; attribute=value; …`.
public struct ContentType: Equatable, Sendable {
    /// Lowercased type and subtype, e.g. "text" and "plain".
    public let type: String
    public let subtype: String
    public let parameters: [MIMEParameter]

    public init(type: String, subtype: String, parameters: [MIMEParameter] = []) {
        self.type = type.lowercasedASCII()
        self.subtype = subtype.lowercasedASCII()
        self.parameters = parameters
    }

    /// RFC 2045 §5.2: the default for a part without (a valid) Content-Type.
    public static let textPlainASCII = ContentType(type: "text", subtype: "plain", parameters: [MIMEParameter(name: "charset", value: "us-ascii")])
    /// RFC 2046 §5.1.5: the default inside multipart/digest.
    public static let messageRFC822 = ContentType(type: "message", subtype: "rfc822")

    public subscript(parameter name: String) -> String? { parameters[parameter: name] }
    public var charset: String? { self[parameter: "charset"] }
    public var boundary: String? { self[parameter: "boundary"] }
    public var isMultipart: Bool { type == "multipart" }
    public var isText: Bool { type == "text" }
    /// message/rfc822, and message/global (RFC 6532 §3.5), whose body is a complete message.
    public var isEncapsulatedMessage: Bool { type == "message" && (subtype == "rfc822" || subtype == "global") }
    public var mimeType: String { type + "/" + subtype }

    /// Parses a field value; nil when it has no `type/subtype` (the caller then uses the default).
    public static func parse(_ value: String) -> ContentType? { parse(bytes: Array(value.utf8)) }

    public static func parse(bytes value: [UInt8]) -> ContentType? {
        var lexer = MIMEHeaderLexer(value)
        lexer.skipCFWS()
        guard let type = lexer.readToken() else { return nil }
        lexer.skipCFWS()
        guard lexer.consume(0x2F) else { return nil }
        lexer.skipCFWS()
        guard let subtype = lexer.readToken() else { return nil }
        return ContentType(type: type, subtype: subtype, parameters: MIMEParameterParser.parse(&lexer))
    }
}

/// A parsed Content-Disposition field (RFC 2183 §2): `inline` or `attachment` plus parameters.
public struct ContentDisposition: Equatable, Sendable {
    /// The disposition type, lowercased ("inline", "attachment", or an extension token).
    public let type: String
    public let parameters: [MIMEParameter]

    public init(type: String, parameters: [MIMEParameter] = []) {
        self.type = type.lowercasedASCII()
        self.parameters = parameters
    }

    public subscript(parameter name: String) -> String? { parameters[parameter: name] }
    public var filename: String? { self[parameter: "filename"] }
    public var isAttachment: Bool { type == "attachment" }

    public static func parse(_ value: String) -> ContentDisposition? { parse(bytes: Array(value.utf8)) }

    public static func parse(bytes value: [UInt8]) -> ContentDisposition? {
        var lexer = MIMEHeaderLexer(value)
        lexer.skipCFWS()
        guard let type = lexer.readToken() else { return nil }
        return ContentDisposition(type: type, parameters: MIMEParameterParser.parse(&lexer))
    }
}

/// Parses `*(";" attribute "=" value)` with RFC 2231 continuations, charsets and languages.
enum MIMEParameterParser {
    private struct Segment {
        var index: Int
        var extended: Bool
        var bytes: [UInt8]
    }

    static func parse(_ lexer: inout MIMEHeaderLexer) -> [MIMEParameter] {
        // Raw (name, section, extended, value bytes) in order of appearance.
        var order: [String] = []
        var plain: [String: [UInt8]] = [:]
        var segments: [String: [Segment]] = [:]
        var parameterCount = 0

        while !lexer.atEnd {
            // Skip to the next ";" (anything unparseable before it is ignored).
            lexer.skipCFWS()
            if !lexer.consume(0x3B) {
                lexer.skipPast(0x3B)
                continue
            }
            lexer.skipCFWS()
            guard let rawName = lexer.readToken() else { continue }
            lexer.skipCFWS()
            guard lexer.consume(0x3D) else { continue }
            lexer.skipCFWS()
            let valueBytes = lexer.readValue()
            parameterCount += 1
            if parameterCount > 256 { break }      // a bound on hostile parameter lists

            let lower = rawName.lowercasedASCII()
            // RFC 2231 §3/§4: name*, name*N, name*N*.
            var base = Substring(lower)
            var index = -1
            var extended = false
            if base.hasSuffix("*") { extended = true; base = base.dropLast() }
            if let star = base.lastIndex(of: "*") {
                let digits = base[base.index(after: star)...]
                if !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(digits) {
                    index = n
                    base = base[..<star]
                } else {
                    // "a*b": not RFC 2231 syntax; keep the name as it was.
                    base = Substring(lower)
                    extended = false
                }
            }
            let name = String(base)
            if !order.contains(name) { order.append(name) }
            if index < 0 && !extended {
                if plain[name] == nil { plain[name] = valueBytes }
            } else {
                segments[name, default: []].append(Segment(index: max(index, 0), extended: extended, bytes: valueBytes))
            }
        }

        var result: [MIMEParameter] = []
        for name in order {
            if let segs = segments[name] {
                result.append(joinSegments(name: name, segs))
            } else if let raw = plain[name] {
                let wire = decodeFallback(raw)
                let value = wire.contains("=?") ? EncodedWord.decode(wire) : wire
                result.append(MIMEParameter(name: name, value: value, wireName: name, wireValue: wire))
            }
        }
        return result
    }

    /// RFC 2231 §3: segments are joined in index order, starting at 0 and stopping at a gap;
    /// §4: the first extended segment carries `charset'language'`.
    private static func joinSegments(name: String, _ segments: [Segment]) -> MIMEParameter {
        let sorted = segments.sorted { $0.index < $1.index }
        var bytes: [UInt8] = []
        var wire: [UInt8] = []
        var charset: String? = nil
        var language: String? = nil
        var expected = 0
        var anyExtended = false
        for (i, seg) in sorted.enumerated() {
            if seg.index != expected { if seg.index < expected { continue } else { break } }
            expected += 1
            var raw = seg.bytes[...]
            if seg.extended {
                anyExtended = true
                if i == 0 {
                    // charset'language'value — both quotes must be there (§4).
                    let quotes = raw.indices.filter { raw[$0] == 0x27 }
                    if quotes.count >= 2 {
                        let cs = String(decoding: raw[raw.startIndex..<quotes[0]], as: UTF8.self)
                        let lang = String(decoding: raw[(quotes[0] + 1)..<quotes[1]], as: UTF8.self)
                        charset = cs.isEmpty ? nil : cs
                        language = lang.isEmpty ? nil : lang
                        wire.append(contentsOf: raw[raw.startIndex...quotes[1]])
                        raw = raw[(quotes[1] + 1)...]
                    }
                }
                wire.append(contentsOf: raw)
                bytes.append(contentsOf: percentDecode(raw))
            } else {
                if i == 0 { wire.append(contentsOf: [0x27, 0x27]) }
                bytes.append(contentsOf: raw)
                wire.append(contentsOf: percentEncode(raw))
            }
        }
        let value = Charset.lookup(charset).decode(bytes)
        if anyExtended {
            return MIMEParameter(name: name, value: value, charset: charset, language: language,
                                 wireName: name + "*", wireValue: String(decoding: wire, as: UTF8.self))
        }
        // Continuations without any extended segment: a plain value in pieces.
        let plainValue = decodeFallback(bytes)
        return MIMEParameter(name: name, value: plainValue, wireName: name, wireValue: plainValue)
    }

    static func percentDecode(_ raw: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = raw.startIndex
        while i < raw.endIndex {
            let c = raw[i]
            if c == 0x25, i + 2 < raw.endIndex, let h = hex(raw[i + 1]), let l = hex(raw[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(c)
                i += 1
            }
        }
        return out
    }

    private static func percentEncode(_ raw: ArraySlice<UInt8>) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for c in raw {
            if MIMEHeaderLexer.isTokenByte(c) && c != 0x25 && c != 0x27 && c != 0x2A {
                out.append(c)
            } else {
                out.append(0x25); out.append(digits[Int(c >> 4)]); out.append(digits[Int(c & 15)])
            }
        }
        return out
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// Header bytes without a declared charset: UTF-8 when valid (RFC 6532), else Latin-1.
    static func decodeFallback<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        Charset.fallback.decode(bytes)
    }
}

/// A small lexer for MIME structured header values (RFC 2045 §5.1, RFC 822 §3.3): tokens,
/// quoted strings, comments (nested, with quoted pairs) and white space.
struct MIMEHeaderLexer {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }

    /// token := 1*<any CHAR except SPACE, CTLs, or tspecials> (RFC 2045 §5.1).
    static func isTokenByte(_ c: UInt8) -> Bool {
        guard c > 0x20 && c != 0x7F else { return false }
        switch c {
        case 0x28, 0x29, 0x3C, 0x3E, 0x40, 0x2C, 0x3B, 0x3A, 0x5C, 0x22, 0x2F, 0x5B, 0x5D, 0x3F, 0x3D: return false
        default: return true     // 8-bit bytes too, leniently
        }
    }

    mutating func skipCFWS() {
        while position < bytes.count {
            let c = bytes[position]
            if c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A {
                position += 1
            } else if c == 0x28 {
                skipComment()
            } else {
                return
            }
        }
    }

    /// Skips a comment, nested comments and quoted pairs included; an unclosed one runs to the end.
    private mutating func skipComment() {
        var depth = 0
        while position < bytes.count {
            let c = bytes[position]
            position += 1
            switch c {
            case 0x5C: position += 1
            case 0x28: depth += 1
            case 0x29:
                depth -= 1
                if depth == 0 { return }
            default: break
            }
        }
    }

    mutating func consume(_ c: UInt8) -> Bool {
        if position < bytes.count && bytes[position] == c { position += 1; return true }
        return false
    }

    mutating func skipPast(_ c: UInt8) {
        var quoted = false
        while position < bytes.count {
            let b = bytes[position]
            if quoted {
                if b == 0x5C { position += 1 } else if b == 0x22 { quoted = false }
            } else if b == 0x22 {
                quoted = true
            } else if b == c {
                return
            }
            position += 1
        }
    }

    mutating func readToken() -> String? {
        let start = position
        while position < bytes.count && MIMEHeaderLexer.isTokenByte(bytes[position]) { position += 1 }
        guard position > start else { return nil }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// A parameter value: a quoted string (unescaped) or a token. Leniently, an unquoted value
    /// with spaces or specials runs to the next ";" (trimmed), as many mailers write file names.
    mutating func readValue() -> [UInt8] {
        if position < bytes.count && bytes[position] == 0x22 {
            position += 1
            var out: [UInt8] = []
            while position < bytes.count {
                let c = bytes[position]
                position += 1
                if c == 0x5C && position < bytes.count {
                    out.append(bytes[position]); position += 1
                } else if c == 0x22 {
                    return out
                } else if c != 0x0D && c != 0x0A {
                    out.append(c)
                }
            }
            return out
        }
        let start = position
        while position < bytes.count && (MIMEHeaderLexer.isTokenByte(bytes[position]) || bytes[position] == 0x3D || bytes[position] == 0x3F || bytes[position] == 0x2F) { position += 1 }
        var end = position
        let afterToken = position
        skipCFWS()
        if atEnd || bytes[position] == 0x3B { return Array(bytes[start..<end]) }
        // Garbage after the token: take everything up to ";" instead.
        position = afterToken
        while position < bytes.count && bytes[position] != 0x3B { position += 1 }
        end = position
        while end > start && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
        return Array(bytes[start..<end])
    }

    /// The first token of a value, comments skipped ("" when there is none).
    static func firstToken(of value: String) -> String {
        var lexer = MIMEHeaderLexer(Array(value.utf8))
        lexer.skipCFWS()
        return lexer.readToken() ?? ""
    }
}

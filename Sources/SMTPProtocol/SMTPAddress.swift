/// A validated RFC 5321 mailbox (`Local-part "@" Domain`) from a MAIL or RCPT path.
///
/// Whatever the client sent, a value of this type contains no CR, LF, NUL or other control
/// character (C0, DEL, C1), is at most ``SMTPLimits/maximumPathLength`` octets, and is valid
/// UTF-8; it is non-ASCII only if the client gave `SMTPUTF8` on MAIL (RFC 6531 §3.3). Shell
/// metacharacters are legal in a local part (a backtick is `atext`, `$(…)` may be quoted) and are
/// kept: the address is data, and hosts must never hand it to a shell.
public struct SMTPMailbox: Sendable, Hashable, CustomStringConvertible {
    /// The local part exactly as sent: a dot-string, or a quoted-string including its quotes.
    public let localPart: String
    /// The domain (possibly a U-label domain with SMTPUTF8) or an address literal with its
    /// brackets (`[192.0.2.1]`, `[IPv6:2001:db8::1]`). Empty only for the special recipient
    /// `<Postmaster>` (RFC 5321 §4.1.1.3), see ``isBarePostmaster``.
    public let domain: String

    /// Builds a mailbox from parts that are already valid; used by the parser and by tests.
    init(localPart: String, domain: String) {
        self.localPart = localPart
        self.domain = domain
    }

    /// `local@domain` as sent (the form for the queue envelope), or `Postmaster` for the bare
    /// postmaster recipient.
    public var text: String { domain.isEmpty ? localPart : "\(localPart)@\(domain)" }

    public var description: String { text }

    /// True for the recipient `<Postmaster>` without a domain, which every server must accept
    /// for its own postmaster (RFC 5321 §4.1.1.3).
    public var isBarePostmaster: Bool { domain.isEmpty }

    /// True when local part and domain are pure ASCII.
    public var isASCII: Bool { text.utf8.allSatisfy { $0 < 0x80 } }

    /// The local part with the quoting of a quoted-string removed (`"a b"` → `a b`,
    /// `"a\"b"` → `a"b`); the same as ``localPart`` for a dot-string. Use it for lookups.
    public var unquotedLocalPart: String {
        guard localPart.hasPrefix("\"") else { return localPart }
        var out: [UInt8] = []
        var escaped = false
        for byte in localPart.utf8.dropFirst().dropLast() {
            if escaped { out.append(byte); escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else { out.append(byte) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The address in its canonical form for the queue: a quoted local part whose content is a
    /// plain dot-string loses its quotes (`"alice"@x` → `alice@x`, RFC 5321 §4.1.2: the forms are
    /// the same mailbox, and "the unquoted form SHOULD be used"), so every program resolves it
    /// alike; any other local part stays as sent.
    public var canonicalText: String {
        guard localPart.hasPrefix("\""), !domain.isEmpty else { return text }
        let inner = unquotedLocalPart
        let bytes = Array(inner.utf8)
        let isDotString = !bytes.isEmpty && bytes.first != UInt8(ascii: ".") && bytes.last != UInt8(ascii: ".")
            && !inner.contains("..") && bytes.allSatisfy { isAtext($0) || $0 == UInt8(ascii: ".") || $0 >= 0x80 }
        return isDotString ? "\(inner)@\(domain)" : text
    }

    /// The domain in lower case (ASCII letters only), for comparisons with local domain lists.
    public var lowercasedDomain: String { String(decoding: domain.utf8.map(asciiLowercased), as: UTF8.self) }
}

/// The reverse-path of MAIL FROM: the null path `<>` (bounces, RFC 5321 §4.5.5) or a mailbox.
public enum SMTPReversePath: Sendable, Hashable, CustomStringConvertible {
    case null
    case mailbox(SMTPMailbox)

    /// The sender as the queue envelope wants it: empty for the null path.
    public var text: String {
        switch self {
        case .null: return ""
        case .mailbox(let mailbox): return mailbox.text
        }
    }

    public var description: String { "<\(text)>" }
}

/// Why a MAIL or RCPT path was refused.
public enum SMTPPathError: Error, Sendable, Equatable {
    /// Not a path per RFC 5321 §4.1.2; the text says what was wrong.
    case syntax(String)
    /// Non-ASCII address without `SMTPUTF8` on MAIL (RFC 6531 §3.4).
    case nonASCIIWithoutSMTPUTF8
    /// Longer than ``SMTPLimits/maximumPathLength``.
    case tooLong
}

/// The RFC 5321 §4.1.2 path grammar, on bytes.
public enum SMTPPathParser {
    /// What may appear at the position of a path.
    public struct Options: Sendable {
        /// Accept `<>` (MAIL FROM only).
        public var allowsNullPath = false
        /// Accept `<Postmaster>` without domain (RCPT TO only).
        public var allowsBarePostmaster = false
        /// Accept UTF-8 in local part and domain (after `SMTPUTF8` on MAIL).
        public var allowsUTF8 = false
        /// The longest path including brackets.
        public var maximumLength = 256
        public init(allowsNullPath: Bool = false, allowsBarePostmaster: Bool = false,
                    allowsUTF8: Bool = false, maximumLength: Int = 256) {
            self.allowsNullPath = allowsNullPath
            self.allowsBarePostmaster = allowsBarePostmaster
            self.allowsUTF8 = allowsUTF8
            self.maximumLength = maximumLength
        }
    }

    /// Parses a path at the start of `bytes`; returns the path (nil for `<>`) and the index just
    /// after its `>`. A source route (`<@a,@b:user@c>`) is accepted and dropped (RFC 5321 §4.1.4,
    /// Appendix C).
    public static func parse(_ bytes: ArraySlice<UInt8>, options: Options) throws(SMTPPathError)
        -> (mailbox: SMTPMailbox?, end: Int)
    {
        var cursor = Cursor(bytes: bytes, allowsUTF8: options.allowsUTF8)
        let start = cursor.index
        guard cursor.take(UInt8(ascii: "<")) else { throw .syntax("path must start with <") }
        if cursor.take(UInt8(ascii: ">")) {
            guard options.allowsNullPath else { throw .syntax("null path <> not allowed here") }
            return (nil, cursor.index)
        }
        // Source route: A-d-l ":" — parsed for syntax, then ignored.
        if cursor.peek == UInt8(ascii: "@") {
            repeat {
                guard cursor.take(UInt8(ascii: "@")) else { throw .syntax("bad source route") }
                _ = try cursor.domain()
            } while cursor.take(UInt8(ascii: ","))
            guard cursor.take(UInt8(ascii: ":")) else { throw .syntax("bad source route") }
        }
        let localPart = try cursor.localPart()
        let domain: String
        if cursor.take(UInt8(ascii: "@")) {
            domain = try cursor.peek == UInt8(ascii: "[") ? cursor.addressLiteral() : cursor.domain()
        } else if options.allowsBarePostmaster, localPart.lowercased() == "postmaster" {
            domain = ""
        } else {
            try cursor.refuseControlCharacter()
            throw .syntax("address has no domain")
        }
        guard cursor.take(UInt8(ascii: ">")) else {
            try cursor.refuseControlCharacter()
            throw .syntax("path must end with >")
        }
        if cursor.index - start > options.maximumLength { throw .tooLong }
        let mailbox = SMTPMailbox(localPart: localPart, domain: domain)
        if !options.allowsUTF8 && !mailbox.isASCII { throw .nonASCIIWithoutSMTPUTF8 }
        return (mailbox, cursor.index)
    }

    /// Parses a whole string as one path (convenience for tests and hosts).
    public static func parse(_ text: String, options: Options = Options()) throws(SMTPPathError) -> SMTPMailbox? {
        let bytes = Array(text.utf8)
        let (mailbox, end) = try parse(bytes[...], options: options)
        guard end == bytes.endIndex else { throw .syntax("text after the path") }
        return mailbox
    }

    /// A byte cursor with the grammar's productions.
    private struct Cursor {
        let bytes: ArraySlice<UInt8>
        var index: Int
        let allowsUTF8: Bool

        init(bytes: ArraySlice<UInt8>, allowsUTF8: Bool) {
            self.bytes = bytes
            self.index = bytes.startIndex
            self.allowsUTF8 = allowsUTF8
        }

        var peek: UInt8? { index < bytes.endIndex ? bytes[index] : nil }

        /// Names the real problem when parsing stopped at a control character.
        func refuseControlCharacter() throws(SMTPPathError) {
            if let byte = peek, byte < 0x20 || byte == 0x7F { throw .syntax("control character in address") }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            if peek == byte { index += 1; return true }
            return false
        }

        /// A non-ASCII byte where UTF-8 is allowed (RFC 6531 §3.3 UTF8-non-ascii); non-ASCII bytes
        /// are accepted here even without SMTPUTF8 so the caller can answer 553 5.6.7 precisely.
        func isNonASCII(_ byte: UInt8) -> Bool { byte >= 0x80 }

        /// Decodes the bytes from `start` to the cursor, refusing invalid UTF-8 and control
        /// characters (C0, DEL, C1 — U+0080…U+009F).
        func text(from start: Int) throws(SMTPPathError) -> String {
            guard let string = String(validating: bytes[start..<index], as: UTF8.self) else {
                throw .syntax("invalid UTF-8 in address")
            }
            for scalar in string.unicodeScalars where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                throw .syntax("control character in address")
            }
            return string
        }

        mutating func localPart() throws(SMTPPathError) -> String {
            let start = index
            if take(UInt8(ascii: "\"")) {
                // Quoted-string = DQUOTE *QcontentSMTP DQUOTE; qtextSMTP %d32-33 / %d35-91 / %d93-126,
                // quoted-pairSMTP = "\" %d32-126 (RFC 5321 §4.1.2).
                while true {
                    guard let byte = peek else { throw .syntax("unterminated quoted local part") }
                    index += 1
                    if byte == UInt8(ascii: "\"") { break }
                    if byte == UInt8(ascii: "\\") {
                        guard let escaped = peek, (32...126).contains(escaped) else {
                            throw .syntax("bad quoted pair in local part")
                        }
                        index += 1
                    } else if !((32...126).contains(byte) || isNonASCII(byte)) {
                        throw .syntax("control character in address")
                    }
                }
            } else {
                // Dot-string = Atom *("." Atom)
                var atomLength = 0
                while let byte = peek {
                    if isAtext(byte) || isNonASCII(byte) {
                        atomLength += 1
                    } else if byte == UInt8(ascii: ".") {
                        guard atomLength > 0 else { throw .syntax("empty atom in local part") }
                        atomLength = 0
                    } else {
                        break
                    }
                    index += 1
                }
                guard atomLength > 0 else {
                    if let byte = peek, byte < 0x20 || byte == 0x7F { throw .syntax("control character in address") }
                    throw .syntax(index == start ? "empty local part" : "local part ends with a dot")
                }
            }
            return try text(from: start)
        }

        /// Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str], or a U-label.
        mutating func domain() throws(SMTPPathError) -> String {
            let start = index
            var labelLength = 0
            var lastWasHyphen = false
            while let byte = peek {
                if isLetDig(byte) || isNonASCII(byte) {
                    labelLength += 1
                    lastWasHyphen = false
                } else if byte == UInt8(ascii: "-") {
                    guard labelLength > 0 else { throw .syntax("domain label starts with a hyphen") }
                    labelLength += 1
                    lastWasHyphen = true
                } else if byte == UInt8(ascii: ".") {
                    guard labelLength > 0, !lastWasHyphen else { throw .syntax("bad domain label") }
                    labelLength = 0
                } else {
                    break
                }
                if labelLength > 63 { throw .syntax("domain label longer than 63 octets") }
                index += 1
            }
            guard labelLength > 0, !lastWasHyphen else {
                if let byte = peek, byte < 0x20 || byte == 0x7F { throw .syntax("control character in address") }
                throw .syntax("bad domain")
            }
            if index - start > 255 { throw .syntax("domain longer than 255 octets") }
            return try text(from: start)
        }

        /// address-literal = "[" ( IPv4 / "IPv6:" IPv6 / General-address-literal ) "]".
        mutating func addressLiteral() throws(SMTPPathError) -> String {
            let start = index
            guard take(UInt8(ascii: "[")) else { throw .syntax("bad address literal") }
            let contentStart = index
            while let byte = peek, byte != UInt8(ascii: "]") {
                // dcontent = %d33-90 / %d94-126
                guard (33...90).contains(byte) || (94...126).contains(byte) else {
                    throw .syntax("bad character in address literal")
                }
                index += 1
            }
            let content = bytes[contentStart..<index]
            guard take(UInt8(ascii: "]")) else { throw .syntax("unterminated address literal") }
            guard SMTPPathParser.isValidAddressLiteralContent(content) else {
                throw .syntax("bad address literal")
            }
            return try text(from: start)
        }
    }

    /// Checks the inside of `[...]`: IPv4 dotted quad, `IPv6:` plus hex digits, colons and
    /// dots, or `tag:content` (General-address-literal).
    static func isValidAddressLiteralContent(_ content: ArraySlice<UInt8>) -> Bool {
        if content.isEmpty || content.count > 64 { return false }
        let text = String(decoding: content, as: UTF8.self)
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCIIDigit) }) {
            return parts.allSatisfy { (Int($0) ?? 256) <= 255 }
        }
        if text.lowercased().hasPrefix("ipv6:") {
            let address = text.dropFirst(5)
            return address.contains(":") && address.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        }
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex,
              text[..<colon].utf8.allSatisfy({ isLetDig($0) || $0 == UInt8(ascii: "-") }),
              text.index(after: colon) != text.endIndex
        else { return false }
        return true
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isWholeNumber }
}

/// atext of RFC 5322 §3.2.3: ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~".
func isAtext(_ byte: UInt8) -> Bool {
    if isLetDig(byte) { return true }
    switch byte {
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
         UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"),
         UInt8(ascii: "="), UInt8(ascii: "?"), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
         UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"), UInt8(ascii: "~"):
        return true
    default:
        return false
    }
}

/// Let-dig = ALPHA / DIGIT.
func isLetDig(_ byte: UInt8) -> Bool {
    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
        || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
}

func asciiLowercased(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
}

func asciiUppercased(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 32 : byte
}

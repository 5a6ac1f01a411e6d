/// One mailbox of an RFC 5322 §3.4 address: `Display Name <local@domain>` or `local@domain`.
public struct Mailbox: Equatable, Sendable {
    /// The display name as written: quoted strings unquoted, words joined by single spaces,
    /// RFC 2047 words NOT decoded (IMAP ENVELOPE passes them on; see `decodedDisplayName`).
    /// For the obsolete form `local@domain (Name)` the comment is the name. Nil when absent.
    public var displayName: String?
    /// The obsolete source route (RFC 5322 §4.4) `@relay1,@relay2`, nil when absent (ENVELOPE adl).
    public var route: String?
    /// The local part, unquoted ("john doe" for `"john doe"@example.org`).
    public var localPart: String
    /// The domain, nil when the address had no "@".
    public var domain: String?

    public init(displayName: String? = nil, route: String? = nil, localPart: String, domain: String?) {
        self.displayName = displayName
        self.route = route
        self.localPart = localPart
        self.domain = domain
    }

    /// The display name with RFC 2047 words decoded.
    public var decodedDisplayName: String? { displayName.map { EncodedWord.decode($0) } }

    /// `local@domain`, the local part quoted when it is not a dot-atom (RFC 5322 §3.4.1).
    public var address: String {
        let local = Mailbox.isDotAtom(localPart) ? localPart : "\"" + localPart.replacingQuotes() + "\""
        guard let domain else { return local }
        return local + "@" + domain
    }

    static func isDotAtom(_ s: String) -> Bool {
        guard !s.isEmpty, !s.hasPrefix("."), !s.hasSuffix("."), !s.contains("..") else { return false }
        return s.utf8.allSatisfy { $0 == 0x2E || MailboxList.isAtext($0) }
    }
}

extension String {
    fileprivate func replacingQuotes() -> String {
        var out = ""
        for ch in self {
            if ch == "\"" || ch == "\\" { out.append("\\") }
            out.append(ch)
        }
        return out
    }
}

/// An element of a parsed address list: a mailbox, or the start or end of a group
/// (`Friends: a@x, b@y;`, RFC 5322 §3.4), the way IMAP ENVELOPE represents groups.
public enum AddressListItem: Equatable, Sendable {
    case mailbox(Mailbox)
    /// A group begins; its display name as written.
    case groupStart(String)
    case groupEnd
}

/// A structured RFC 5322 §3.4 address-list parser (From, To, Cc, Reply-To, …).
///
/// Handles display names (atoms, quoted strings, RFC 2047 words left as is), angle addresses,
/// groups, nested comments, quoted local parts, domain literals, the obsolete route syntax and
/// obsolete spacing around dots (RFC 5322 §4.4). Lenient: junk is skipped, an unclosed group,
/// quote, comment or angle bracket ends at the end of the value. Never fails.
public enum MailboxList {
    /// At most this many items are returned (a bound on hostile headers).
    public static let maxItems = 1_000

    public static func parse(_ value: String) -> [AddressListItem] { parse(bytes: Array(value.utf8)) }

    public static func parse(bytes: [UInt8]) -> [AddressListItem] {
        let tokens = tokenize(bytes)
        var items: [AddressListItem] = []
        var inGroup = false
        var element: [Token] = []
        var elementHasAddress = false      // an "@" or "<" in the current element
        var inAngle = false

        func finishElement() {
            if let mailbox = makeMailbox(element) { items.append(.mailbox(mailbox)) }
            element.removeAll()
            elementHasAddress = false
        }

        for token in tokens {
            if items.count >= maxItems { break }
            if inAngle {
                element.append(token)
                if token.kind == .special(0x3E) { inAngle = false }
                continue
            }
            switch token.kind {
            case .special(0x3C):
                inAngle = true
                elementHasAddress = true
                element.append(token)
            case .special(0x2C):
                finishElement()
            case .special(0x3A) where !inGroup && !elementHasAddress:
                // "display-name:" opens a group.
                items.append(.groupStart(phrase(element) ?? ""))
                element.removeAll()
                inGroup = true
            case .special(0x3B):
                finishElement()
                if inGroup { items.append(.groupEnd); inGroup = false }
            default:
                if token.kind == .special(0x40) { elementHasAddress = true }
                element.append(token)
            }
        }
        if items.count < maxItems { finishElement() }
        if inGroup { items.append(.groupEnd) }
        return items
    }

    /// Just the mailboxes, groups flattened.
    public static func mailboxes(in value: String) -> [Mailbox] {
        parse(value).compactMap { if case .mailbox(let m) = $0 { return m } else { return nil } }
    }

    // MARK: Tokens

    enum TokenKind: Equatable {
        case atom, quoted, comment, domainLiteral
        case special(UInt8)
    }

    struct Token {
        var kind: TokenKind
        var text: [UInt8]
    }

    /// atext (RFC 5322 §3.2.3) plus 8-bit bytes (RFC 6532) and, leniently, "." and "[" "]"
    /// handled elsewhere.
    static func isAtext(_ c: UInt8) -> Bool {
        switch c {
        case 0x41...0x5A, 0x61...0x7A, 0x30...0x39: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2F, 0x3D, 0x3F, 0x5E, 0x5F, 0x60, 0x7B, 0x7C, 0x7D, 0x7E: return true
        default: return c >= 0x80
        }
    }

    static func tokenize(_ s: [UInt8]) -> [Token] {
        var tokens: [Token] = []
        var i = 0
        let n = s.count
        while i < n {
            let c = s[i]
            switch c {
            case 0x20, 0x09, 0x0D, 0x0A:
                i += 1
            case 0x22:
                var text: [UInt8] = []
                i += 1
                while i < n && s[i] != 0x22 {
                    if s[i] == 0x5C && i + 1 < n { i += 1 }
                    if s[i] != 0x0D && s[i] != 0x0A { text.append(s[i]) }
                    i += 1
                }
                i += 1
                tokens.append(Token(kind: .quoted, text: text))
            case 0x28:
                var depth = 0
                var text: [UInt8] = []
                while i < n {
                    let b = s[i]
                    if b == 0x5C && i + 1 < n { text.append(s[i + 1]); i += 2; continue }
                    i += 1
                    if b == 0x28 { depth += 1; if depth == 1 { continue } }
                    if b == 0x29 { depth -= 1; if depth == 0 { break } }
                    text.append(b)
                }
                tokens.append(Token(kind: .comment, text: text))
            case 0x5B:
                let start = i
                while i < n && s[i] != 0x5D { i += 1 }
                i = min(i + 1, n)
                tokens.append(Token(kind: .domainLiteral, text: Array(s[start..<i])))
            case 0x3C, 0x3E, 0x40, 0x2C, 0x3B, 0x3A:
                tokens.append(Token(kind: .special(c), text: [c]))
                i += 1
            default:
                let start = i
                while i < n && (isAtext(s[i]) || s[i] == 0x2E) { i += 1 }
                if i == start { i += 1; continue }        // a stray special such as ")" or "\"
                tokens.append(Token(kind: .atom, text: Array(s[start..<i])))
            }
        }
        return tokens
    }

    // MARK: Elements

    /// Words of a phrase joined by single spaces; nil when empty.
    static func phrase(_ tokens: [Token]) -> String? {
        let words = tokens.filter { $0.kind == .atom || $0.kind == .quoted }.map { Charset.fallback.decode($0.text) }
        let joined = words.joined(separator: " ")
        return joined.isEmpty ? nil : joined
    }

    private static func makeMailbox(_ element: [Token]) -> Mailbox? {
        if element.isEmpty { return nil }
        if let open = element.firstIndex(where: { $0.kind == .special(0x3C) }) {
            let name = phrase(Array(element[..<open]))
            var inner = Array(element[(open + 1)...].prefix { $0.kind != .special(0x3E) })
            inner.removeAll { $0.kind == .comment }
            // Obsolete route: "@a,@b:" (RFC 5322 §4.4 obs-route).
            var route: String? = nil
            if inner.first?.kind == .special(0x40), let colon = inner.firstIndex(where: { $0.kind == .special(0x3A) }) {
                route = String(decoding: inner[..<colon].flatMap { $0.text }, as: UTF8.self)
                inner.removeSubrange(...colon)
            }
            guard var mailbox = addrSpec(inner) else {
                // "Name <>" or junk in brackets: keep the name with an empty address.
                return name.map { Mailbox(displayName: $0, localPart: "", domain: nil) }
            }
            mailbox.displayName = name
            mailbox.route = route
            return mailbox
        }
        let comments = element.filter { $0.kind == .comment }
        let rest = element.filter { $0.kind != .comment }
        guard var mailbox = addrSpec(rest) else { return nil }
        if let last = comments.last {
            let name = Charset.fallback.decode(last.text).trimmingWhitespace()
            if !name.isEmpty { mailbox.displayName = name }
        }
        return mailbox
    }

    /// local-part "@" domain from tokens, dots and obsolete spacing allowed.
    private static func addrSpec(_ tokens: [Token]) -> Mailbox? {
        let parts = tokens.filter { $0.kind != .comment }
        if parts.isEmpty { return nil }
        let at = parts.lastIndex { $0.kind == .special(0x40) }
        let localTokens = at.map { Array(parts[..<$0]) } ?? parts
        var local: [UInt8] = []
        for t in localTokens where t.kind == .atom || t.kind == .quoted { local.append(contentsOf: t.text) }
        var domain: String? = nil
        if let at {
            var d: [UInt8] = []
            for t in parts[(at + 1)...] where t.kind == .atom || t.kind == .domainLiteral { d.append(contentsOf: t.text) }
            domain = String(decoding: d, as: UTF8.self)
        }
        if local.isEmpty && (domain ?? "").isEmpty { return nil }
        // Several words and no "@": a stray phrase, not an address.
        if at == nil && localTokens.filter({ $0.kind == .atom || $0.kind == .quoted }).count > 1 { return nil }
        return Mailbox(localPart: Charset.fallback.decode(local), domain: domain)
    }
}

extension HeaderSection {
    /// The address of every mailbox in every From: field (RFC 5322 §3.6.2 allows a list), groups
    /// flattened: what a sender-ownership check and a DKIM signer look at.
    public var fromAddresses: [String] {
        fields.filter { $0.isNamed("From") }.flatMap { field in
            MailboxList.mailboxes(in: field.value).map(\.address)
        }
    }
}

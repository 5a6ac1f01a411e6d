/// Why a command could not be parsed. The host answers `tag BAD message` (or `* BAD` when the
/// tag itself was unreadable).
public struct IMAPParseError: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The command does not follow the grammar.
        case syntax
        /// The command name is not one this server knows (including `X`-commands).
        case unknownCommand
        /// A limit of `IMAPLimits` was exceeded (nesting, list items, ranges, section depth).
        case limitExceeded
        /// No valid tag starts the line.
        case invalidTag
    }

    public var tag: String?
    public var kind: Kind
    public var message: String

    public init(tag: String?, kind: Kind, message: String) {
        self.tag = tag
        self.kind = kind
        self.message = message
    }
}

/// A read position in one command frame, with the lexical rules of RFC 9051 §9. Every function
/// either consumes what it parsed or throws; nothing traps on any input.
struct IMAPByteCursor {
    let bytes: [UInt8]
    var index = 0
    let limits: IMAPLimits
    var depth = 0

    init(_ bytes: [UInt8], limits: IMAPLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    var isAtEnd: Bool { index >= bytes.count }

    func peek(_ offset: Int = 0) -> UInt8? {
        index + offset < bytes.count ? bytes[index + offset] : nil
    }

    func error(_ message: String, _ kind: IMAPParseError.Kind = .syntax) -> IMAPParseError {
        IMAPParseError(tag: nil, kind: kind, message: message)
    }

    // MARK: - Single octets and words

    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(IMAPParseError) {
        guard consume(byte) else { throw error("Expected \(what)") }
    }

    mutating func expectSpace() throws(IMAPParseError) {
        try expect(UInt8(ascii: " "), "a space")
    }

    /// Consumes `word` (case-insensitive) when it stands alone: the next octet is not an atom
    /// character.
    mutating func consumeKeyword(_ word: String) -> Bool {
        let count = word.utf8.count
        guard index + count <= bytes.count,
              IMAPGrammar.equalsCaseInsensitive(bytes[index..<(index + count)], word) else { return false }
        if let next = peek(count), IMAPGrammar.isAtomChar(next) { return false }
        index += count
        return true
    }

    /// Octets while `predicate` holds (possibly none).
    mutating func readWhile(_ predicate: (UInt8) -> Bool) -> ArraySlice<UInt8> {
        let start = index
        while index < bytes.count && predicate(bytes[index]) { index += 1 }
        return bytes[start..<index]
    }

    /// `atom = 1*ATOM-CHAR`
    mutating func readAtom(_ what: String = "an atom") throws(IMAPParseError) -> ArraySlice<UInt8> {
        let atom = readWhile(IMAPGrammar.isAtomChar)
        guard !atom.isEmpty else { throw error("Expected \(what)") }
        return atom
    }

    // MARK: - Numbers

    /// `number = 1*DIGIT` as an unsigned value no larger than `maximum`.
    mutating func readNumber(maximum: UInt64 = UInt64(UInt32.max), _ what: String = "a number") throws(IMAPParseError) -> UInt64 {
        let digits = readWhile(IMAPGrammar.isDigit)
        guard !digits.isEmpty else { throw error("Expected \(what)") }
        var value: UInt64 = 0
        for digit in digits {
            let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
            value = times10 &+ UInt64(digit - 48)
            if overflow || value < times10 || value > maximum { throw error("\(what.capitalizedFirst) is too large") }
        }
        return value
    }

    /// `number` (32 bits).
    mutating func readNumber32(_ what: String = "a number") throws(IMAPParseError) -> UInt32 {
        UInt32(try readNumber(maximum: UInt64(UInt32.max), what))
    }

    /// `nz-number = digit-nz *DIGIT` (32 bits).
    mutating func readNonZeroNumber(_ what: String = "a non-zero number") throws(IMAPParseError) -> UInt32 {
        guard let first = peek(), first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9") else {
            throw error("Expected \(what)")
        }
        return try readNumber32(what)
    }

    /// `number64` / `mod-sequence-value`: at most 2^63-1 (RFC 9051 §9, RFC 7162 §7).
    mutating func readNumber64(_ what: String = "a number") throws(IMAPParseError) -> UInt64 {
        try readNumber(maximum: UInt64(Int64.max), what)
    }

    // MARK: - Strings

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`. RFC 9051 §9 lets QUOTED-CHAR be UTF-8; other 8-bit
    /// octets, CR, LF and NUL are refused.
    mutating func readQuoted() throws(IMAPParseError) -> [UInt8] {
        try expect(UInt8(ascii: "\""), "a quoted string")
        var value: [UInt8] = []
        var hasEightBit = false
        while true {
            guard let byte = peek() else { throw error("Unterminated quoted string") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                if hasEightBit && String(validating: value, as: UTF8.self) == nil {
                    throw error("Quoted string is not valid UTF-8")
                }
                return value
            case UInt8(ascii: "\\"):
                guard let escaped = peek(), escaped == UInt8(ascii: "\"") || escaped == UInt8(ascii: "\\") else {
                    throw error("Invalid escape in quoted string")
                }
                index += 1
                value.append(escaped)
            case 0, UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                throw error("Invalid character in quoted string")
            default:
                if byte >= 0x80 { hasEightBit = true }
                value.append(byte)
            }
        }
    }

    /// `literal = "{" number64 ["+"] "}" CRLF *CHAR8`, and `literal8 = "~{" … "}" CRLF *OCTET`
    /// when `allowBinary`. NUL is refused in a plain literal unless `allowNUL`.
    mutating func readLiteral(allowBinary: Bool = false, allowNUL: Bool = false) throws(IMAPParseError) -> (data: [UInt8], binary: Bool) {
        let binary = consume(UInt8(ascii: "~"))
        if binary && !allowBinary { throw error("literal8 is not allowed here") }
        try expect(UInt8(ascii: "{"), "a literal")
        let size = try readNumber64("a literal size")
        _ = consume(UInt8(ascii: "+"))
        try expect(UInt8(ascii: "}"), "} after the literal size")
        guard consume(UInt8(ascii: "\r")), consume(UInt8(ascii: "\n")) else {
            throw error("Expected CRLF after the literal size")
        }
        guard size <= UInt64(bytes.count - index) else { throw error("Literal data is missing") }
        let data = Array(bytes[index..<(index + Int(size))])
        index += Int(size)
        if !binary && !allowNUL && data.contains(0) { throw error("NUL in a literal") }
        return (data, binary)
    }

    /// `string = quoted / literal`
    mutating func readString() throws(IMAPParseError) -> [UInt8] {
        switch peek() {
        case UInt8(ascii: "\""): return try readQuoted()
        case UInt8(ascii: "{"): return try readLiteral().data
        case UInt8(ascii: "~"): throw error("literal8 is not allowed here") // RFC 3516 §4.1: only APPEND takes one
        default: throw error("Expected a string")
        }
    }

    /// `astring = 1*ASTRING-CHAR / string`
    mutating func readAString(_ what: String = "a string") throws(IMAPParseError) -> [UInt8] {
        switch peek() {
        case UInt8(ascii: "\""), UInt8(ascii: "{"): return try readString()
        default:
            let atom = readWhile(IMAPGrammar.isAStringChar)
            guard !atom.isEmpty else { throw error("Expected \(what)") }
            // "~" is an ASTRING-CHAR, so "~{n}" reads as the atom "~" and a stray literal: say
            // what it is (RFC 3516 §4.1: a literal8 only where the grammar names one).
            if atom.count == 1, atom.first == UInt8(ascii: "~"), peek() == UInt8(ascii: "{") {
                throw error("literal8 is not allowed here")
            }
            return Array(atom)
        }
    }

    /// `nstring = string / nil`
    mutating func readNString() throws(IMAPParseError) -> [UInt8]? {
        if consumeKeyword("NIL") { return nil }
        return try readString()
    }

    /// `mailbox = "INBOX" / astring`
    mutating func readMailbox() throws(IMAPParseError) -> IMAPMailboxName {
        IMAPMailboxName(bytes: try readAString("a mailbox name"))
    }

    /// `list-mailbox = 1*list-char / string` (a LIST pattern, wildcards allowed).
    mutating func readListMailbox() throws(IMAPParseError) -> IMAPMailboxName {
        switch peek() {
        case UInt8(ascii: "\""), UInt8(ascii: "{"): return IMAPMailboxName(bytes: try readString())
        default:
            let pattern = readWhile(IMAPGrammar.isListChar)
            guard !pattern.isEmpty else { throw error("Expected a mailbox pattern") }
            return IMAPMailboxName(bytes: Array(pattern))
        }
    }

    /// `flag = "\Answered" / … / flag-keyword / flag-extension` (RFC 9051 §9). Only APPEND's
    /// and STORE's flag lists use it: \Recent, which RFC 3501's `flag` leaves out ("the \Recent
    /// flag … cannot be altered by the client", §2.3.2, as in Dovecot), is a syntax error.
    mutating func readFlag() throws(IMAPParseError) -> IMAPFlag {
        let backslash = consume(UInt8(ascii: "\\"))
        let atom = try readAtom("a flag")
        if backslash && IMAPGrammar.uppercasedString(atom) == "RECENT" { throw error("\\Recent cannot be set") }
        return IMAPFlag((backslash ? "\\" : "") + String(decoding: atom, as: UTF8.self))
    }

    /// `flag-list = "(" [flag *(SP flag)] ")"`
    mutating func readFlagList() throws(IMAPParseError) -> [IMAPFlag] {
        try parseList(allowEmpty: true) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) in try cursor.readFlag() }
    }

    /// `charset = atom / quoted`, uppercased.
    mutating func readCharset() throws(IMAPParseError) -> String {
        let raw: [UInt8] = peek() == UInt8(ascii: "\"") ? try readQuoted() : Array(try readAtom("a charset"))
        return IMAPGrammar.uppercasedString(raw[...])
    }

    // MARK: - Lists

    /// `"(" item *(SP item) ")"`, bounded in nesting depth and item count.
    mutating func parseList<Item>(allowEmpty: Bool, _ item: (inout IMAPByteCursor) throws(IMAPParseError) -> Item) throws(IMAPParseError) -> [Item] {
        try expect(UInt8(ascii: "("), "(")
        try enterNesting()
        defer { depth -= 1 }
        var items: [Item] = []
        if consume(UInt8(ascii: ")")) {
            guard allowEmpty else { throw error("Empty list") }
            return items
        }
        while true {
            items.append(try item(&self))
            guard items.count <= limits.maxListItems else {
                throw error("Too many items in a list (limit \(limits.maxListItems))", .limitExceeded)
            }
            if consume(UInt8(ascii: ")")) { return items }
            try expectSpace()
        }
    }

    mutating func enterNesting() throws(IMAPParseError) {
        depth += 1
        guard depth <= limits.maxNestingDepth else {
            throw error("Nesting deeper than \(limits.maxNestingDepth)", .limitExceeded)
        }
    }

    // MARK: - Sequence sets (RFC 9051 §9, RFC 5182)

    mutating func parseSequenceBound() throws(IMAPParseError) -> IMAPSequenceBound {
        if consume(UInt8(ascii: "*")) { return .largest }
        return .number(try readNonZeroNumber("a message number"))
    }

    mutating func parseSequenceSet() throws(IMAPParseError) -> IMAPSequenceSet {
        var ranges: [IMAPSequenceRange] = []
        repeat {
            let first = try parseSequenceBound()
            let last = consume(UInt8(ascii: ":")) ? try parseSequenceBound() : first
            ranges.append(IMAPSequenceRange(first, last))
            guard ranges.count <= limits.maxSequenceRanges else {
                throw error("Too many ranges in a sequence set (limit \(limits.maxSequenceRanges))", .limitExceeded)
            }
        } while consume(UInt8(ascii: ","))
        return IMAPSequenceSet(ranges)
    }

    /// `sequence-set / "$"` (RFC 5182 §3: `$` stands alone).
    mutating func parseMessageSet() throws(IMAPParseError) -> IMAPMessageSet {
        if consume(UInt8(ascii: "$")) { return .lastSearchResult }
        return .set(try parseSequenceSet())
    }

    // MARK: - Dates (RFC 9051 §9)

    private mutating func parseMonth() throws(IMAPParseError) -> Int {
        guard index + 3 <= bytes.count else { throw error("Expected a month") }
        let name = bytes[index..<(index + 3)]
        guard let month = IMAPDate.monthNames.firstIndex(where: { IMAPGrammar.equalsCaseInsensitive(name, $0) }) else {
            throw error("Expected a month")
        }
        index += 3
        return month + 1
    }

    private mutating func readDigits(_ count: ClosedRange<Int>, _ what: String) throws(IMAPParseError) -> Int {
        let start = index
        while index < bytes.count, index - start < count.upperBound, IMAPGrammar.isDigit(bytes[index]) { index += 1 }
        guard count.contains(index - start) else { throw error("Expected \(what)") }
        return bytes[start..<index].reduce(0) { $0 * 10 + Int($1 - 48) }
    }

    /// `date-text = date-day "-" date-month "-" date-year`
    mutating func parseDateText() throws(IMAPParseError) -> IMAPDate {
        let day = try readDigits(1...2, "a day")
        try expect(UInt8(ascii: "-"), "- in a date")
        let month = try parseMonth()
        try expect(UInt8(ascii: "-"), "- in a date")
        let year = try readDigits(4...4, "a four-digit year")
        guard let date = IMAPDate(year: year, month: month, day: day) else { throw error("No such date") }
        return date
    }

    /// `date = date-text / DQUOTE date-text DQUOTE`
    mutating func parseDate() throws(IMAPParseError) -> IMAPDate {
        if consume(UInt8(ascii: "\"")) {
            let date = try parseDateText()
            try expect(UInt8(ascii: "\""), "closing quote of a date")
            return date
        }
        return try parseDateText()
    }

    /// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE`
    mutating func parseDateTime() throws(IMAPParseError) -> IMAPDateTime {
        try expect(UInt8(ascii: "\""), "a date-time")
        let value = try parseDateTimeBody()
        try expect(UInt8(ascii: "\""), "closing quote of a date-time")
        return value
    }

    mutating func parseDateTimeBody() throws(IMAPParseError) -> IMAPDateTime {
        _ = consume(UInt8(ascii: " "))  // date-day-fixed = (SP DIGIT) / 2DIGIT
        let day = try readDigits(1...2, "a day")
        try expect(UInt8(ascii: "-"), "- in a date")
        let month = try parseMonth()
        try expect(UInt8(ascii: "-"), "- in a date")
        let year = try readDigits(4...4, "a four-digit year")
        try expectSpace()
        let hour = try readDigits(2...2, "hours")
        try expect(UInt8(ascii: ":"), ": in a time")
        let minute = try readDigits(2...2, "minutes")
        try expect(UInt8(ascii: ":"), ": in a time")
        let second = try readDigits(2...2, "seconds")
        try expectSpace()
        let negative: Bool
        if consume(UInt8(ascii: "-")) { negative = true }
        else if consume(UInt8(ascii: "+")) { negative = false }
        else { throw error("Expected a time zone") }
        let zone = try readDigits(4...4, "a four-digit zone")
        guard zone % 100 < 60 else { throw error("Invalid time zone") }
        let offset = (zone / 100 * 60 + zone % 100) * (negative ? -1 : 1)
        guard let date = IMAPDate(year: year, month: month, day: day),
              let value = IMAPDateTime(date: date, hour: hour, minute: minute, second: second, zoneOffsetMinutes: offset) else {
            throw error("No such date or time")
        }
        return value
    }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}

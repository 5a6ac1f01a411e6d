/// One item of a FETCH response (RFC 9051 §7.5.2 `msg-att`).
public enum IMAPFetchResponseItem: Sendable, Equatable {
    case uid(UInt32)
    case flags([IMAPFlag])
    case internalDate(IMAPDateTime)
    case rfc822Size(UInt64)
    case envelope(IMAPEnvelope)
    /// `BODY` (no extension data).
    case body(IMAPBodyStructure)
    case bodyStructure(IMAPBodyStructure)
    case modSeq(UInt64)
    /// RFC 8474 §5.1: `EMAILID (id)`; `THREADID (id)` or `THREADID NIL`.
    case emailID(String)
    case threadID(String?)
    /// RFC 8514 §4.2: `SAVEDATE "date-time"` or `SAVEDATE NIL`.
    case saveDate(IMAPDateTime?)
    /// `BODY[section]<origin> data`; `origin` is the partial offset when a partial was asked for.
    /// nil data is written as NIL. Data is always sent as a literal.
    case bodySection(IMAPSection, origin: UInt64?, data: [UInt8]?)
    /// `BINARY[part]<origin> data`: a literal8 when the data holds NUL (RFC 3516 §4.2).
    case binary(part: [UInt32], origin: UInt64?, data: [UInt8]?)
    case binarySize(part: [UInt32], size: UInt64)
    case rfc822([UInt8]?)
    case rfc822Header([UInt8]?)
    case rfc822Text([UInt8]?)
    /// RFC 8970 §3: `PREVIEW nstring` (UTF-8; a literal unless quoted UTF-8 is allowed).
    case preview([UInt8]?)
}

/// `* n FETCH (…)`.
public struct IMAPFetchResponse: Sendable, Equatable {
    public var sequenceNumber: UInt32
    public var items: [IMAPFetchResponseItem]

    public init(sequenceNumber: UInt32, items: [IMAPFetchResponseItem]) {
        self.sequenceNumber = sequenceNumber
        self.items = items
    }
}

/// `* ESEARCH` (RFC 4731 §3.1, RFC 7162 §3.4). Absent values are omitted; an empty ALL is
/// omitted as RFC 4731 requires.
public struct IMAPESearchResponse: Sendable, Equatable {
    public var tag: String?
    public var uid: Bool
    public var min: UInt32?
    public var max: UInt32?
    public var count: UInt32?
    public var all: IMAPNumberSet?
    public var modSeq: UInt64?

    public init(tag: String?, uid: Bool, min: UInt32? = nil, max: UInt32? = nil, count: UInt32? = nil,
                all: IMAPNumberSet? = nil, modSeq: UInt64? = nil) {
        self.tag = tag
        self.uid = uid
        self.min = min
        self.max = max
        self.count = count
        self.all = all
        self.modSeq = modSeq
    }
}

/// `* LIST (attributes) "/" name [extended data]` (RFC 9051 §7.3.1, RFC 5258 §4).
public struct IMAPListResponse: Sendable, Equatable {
    public var attributes: [IMAPMailboxAttribute]
    /// Hierarchy delimiter, nil for a flat namespace.
    public var delimiter: UInt8?
    public var name: IMAPMailboxName
    /// CHILDINFO values such as "SUBSCRIBED" (RFC 5258 §4); empty for none.
    public var childInfo: [String]

    public init(attributes: [IMAPMailboxAttribute], delimiter: UInt8? = UInt8(ascii: "/"), name: IMAPMailboxName,
                childInfo: [String] = []) {
        self.attributes = attributes
        self.delimiter = delimiter
        self.name = name
        self.childInfo = childInfo
    }
}

/// One namespace of the NAMESPACE response (RFC 2342 §5).
public struct IMAPNamespace: Sendable, Equatable {
    public var prefix: IMAPMailboxName
    public var delimiter: UInt8?

    public init(prefix: IMAPMailboxName, delimiter: UInt8?) {
        self.prefix = prefix
        self.delimiter = delimiter
    }
}

/// Writes server responses with correct IMAP quoting into `bytes`. Strings become atoms, quoted
/// strings or literals as their content requires: a literal for CR, LF, NUL, 8-bit octets (unless
/// UTF8=ACCEPT is enabled and they are valid UTF-8, RFC 6855 §3) or more than
/// `maxQuotedLength` octets.
public struct IMAPResponseEncoder: Sendable {
    /// The encoded responses, ready to be written to the connection.
    public var bytes: [UInt8] = []
    /// Set after `ENABLE UTF8=ACCEPT`: UTF-8 may appear in quoted strings.
    public var utf8Enabled: Bool
    /// Longer strings are sent as literals.
    public var maxQuotedLength: Int = 1024

    public init(utf8Enabled: Bool = false) {
        self.utf8Enabled = utf8Enabled
    }

    /// Returns and clears the encoded bytes.
    public mutating func takeBytes() -> [UInt8] {
        defer { bytes = [] }
        return bytes
    }

    // MARK: - Status responses

    /// `tag OK [code] text`
    public mutating func tagged(_ tag: String, _ status: IMAPTaggedStatus, code: IMAPResponseCode? = nil, _ text: String) {
        write(tag)
        write(" " + status.rawValue)
        writeCodeAndText(code, text)
    }

    /// `* OK [code] text`, `* BYE …`, `* PREAUTH …`
    public mutating func untagged(_ status: IMAPUntaggedStatus, code: IMAPResponseCode? = nil, _ text: String) {
        write("* " + status.rawValue)
        writeCodeAndText(code, text)
    }

    /// `+ text` (RFC 9051 §7.5), e.g. before a literal.
    public mutating func continuation(_ text: String = "Ready for literal") {
        write("+ " + Self.sanitizedText(text, allowBracket: true))
        writeCRLF()
    }

    /// `+ base64` for a SASL challenge (already base64 text; empty gives "+ ").
    public mutating func continuation(base64Challenge: [UInt8]) {
        write("+ ")
        bytes.append(contentsOf: base64Challenge.filter { !IMAPGrammar.isControl($0) })
        writeCRLF()
    }

    /// The tagged reply to a command the parser refused (BAD, with [LIMIT] for limits), or an
    /// untagged BAD when the tag itself was unreadable.
    public mutating func reject(_ error: IMAPParseError) {
        let code: IMAPResponseCode? = error.kind == .limitExceeded ? .limit : nil
        if let tag = error.tag { tagged(tag, .bad, code: code, error.message) }
        else { untagged(.bad, code: code, error.message) }
    }

    /// The reply to a command the reader refused before it was complete.
    public mutating func reject(tag: String?, _ rejection: IMAPReaderRejection) {
        let (status, code, text) = rejection.suggestedResponse
        if let tag { tagged(tag, status, code: code, text) } else { untagged(.bad, code: code, text) }
    }

    // MARK: - Server data

    /// `* CAPABILITY IMAP4rev1 IMAP4rev2 …`
    public mutating func capability(_ capabilities: [String]) {
        write((["* CAPABILITY"] + capabilities).joined(separator: " "))
        writeCRLF()
    }

    /// `* ENABLED …` (RFC 5161 §3.2)
    public mutating func enabled(_ capabilities: [String]) {
        write((["* ENABLED"] + capabilities).joined(separator: " "))
        writeCRLF()
    }

    /// `* n EXISTS`
    public mutating func exists(_ count: UInt32) { write("* \(count) EXISTS"); writeCRLF() }
    /// `* n RECENT` (IMAP4rev1 only)
    public mutating func recent(_ count: UInt32) { write("* \(count) RECENT"); writeCRLF() }
    /// `* n EXPUNGE`
    public mutating func expunge(_ sequenceNumber: UInt32) { write("* \(sequenceNumber) EXPUNGE"); writeCRLF() }

    /// `* VANISHED [(EARLIER)] uid-set` (RFC 7162 §3.2.10); nothing for an empty set. Long sets
    /// are split into several responses, each line at most about 64 KiB.
    public mutating func vanished(_ uids: IMAPNumberSet, earlier: Bool) {
        var line = ""
        for range in uids.ranges {
            let item = range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound):\(range.upperBound)"
            if !line.isEmpty && line.utf8.count + item.utf8.count > 65_000 {
                write(earlier ? "* VANISHED (EARLIER) " : "* VANISHED "); write(line); writeCRLF()
                line = ""
            }
            line += line.isEmpty ? item : "," + item
        }
        if !line.isEmpty { write(earlier ? "* VANISHED (EARLIER) " : "* VANISHED "); write(line); writeCRLF() }
    }

    /// `* FLAGS (…)`
    public mutating func flags(_ flags: [IMAPFlag]) {
        write("* FLAGS (" + flags.map(\.name).joined(separator: " ") + ")")
        writeCRLF()
    }

    /// `* LIST …` or `* LSUB …`
    public mutating func list(_ response: IMAPListResponse, lsub: Bool = false) {
        write(lsub ? "* LSUB (" : "* LIST (")
        write(response.attributes.map(\.name).joined(separator: " "))
        write(") ")
        if let delimiter = response.delimiter { writeQuotedChar(delimiter) } else { write("NIL") }
        write(" ")
        writeAString(response.name.bytes)
        if !response.childInfo.isEmpty {
            write(" (\"CHILDINFO\" (")
            for (index, info) in response.childInfo.enumerated() {
                if index > 0 { write(" ") }
                writeString(Array(info.utf8))
            }
            write("))")
        }
        writeCRLF()
    }

    /// `* STATUS mailbox (MESSAGES n …)` (RFC 9051 §7.3.2).
    /// `* STATUS name (…)`; `mailboxID` adds `MAILBOXID (id)` (RFC 8474 §4.2) at the end.
    public mutating func status(_ mailbox: IMAPMailboxName, _ values: [(IMAPStatusAttribute, UInt64)], mailboxID: String? = nil) {
        write("* STATUS ")
        writeAString(mailbox.bytes)
        let items = values.map { "\($0.0.rawValue) \($0.1)" } + (mailboxID.map { ["MAILBOXID (\($0))"] } ?? [])
        write(" (" + items.joined(separator: " ") + ")")
        writeCRLF()
    }

    /// `* QUOTAROOT mailbox root …` (RFC 9208 §5.2).
    public mutating func quotaRoot(_ mailbox: IMAPMailboxName, roots: [[UInt8]]) {
        write("* QUOTAROOT ")
        writeAString(mailbox.bytes)
        for root in roots { write(" "); writeAString(root) }
        writeCRLF()
    }

    /// `* QUOTA root (STORAGE used limit MESSAGE used limit)` (RFC 9208 §5.1; STORAGE in
    /// units of 1024 octets).
    public mutating func quota(_ root: [UInt8], _ resources: [(name: String, usage: UInt64, limit: UInt64)]) {
        write("* QUOTA ")
        writeAString(root)
        write(" (" + resources.map { "\($0.name) \($0.usage) \($0.limit)" }.joined(separator: " ") + ")")
        writeCRLF()
    }

    /// `* SEARCH n n …` with RFC 7162 §3.4's `(MODSEQ n)` when given.
    public mutating func search(_ numbers: [UInt32], highestModSeq: UInt64? = nil) {
        write("* SEARCH")
        for number in numbers { write(" \(number)") }
        if let highestModSeq { write(" (MODSEQ \(highestModSeq))") }
        writeCRLF()
    }

    /// `* SORT n n …` (RFC 5256 §4).
    public mutating func sort(_ numbers: [UInt32], highestModSeq: UInt64? = nil) {
        write("* SORT")
        for number in numbers { write(" \(number)") }
        if let highestModSeq { write(" (MODSEQ \(highestModSeq))") }
        writeCRLF()
    }

    /// `* ESEARCH (TAG "A1") UID MIN 2 COUNT 3 …`
    public mutating func esearch(_ response: IMAPESearchResponse) {
        write("* ESEARCH")
        if let tag = response.tag {
            write(" (TAG ")
            writeString(Array(tag.utf8))
            write(")")
        }
        if response.uid { write(" UID") }
        if let min = response.min { write(" MIN \(min)") }
        if let max = response.max { write(" MAX \(max)") }
        if let count = response.count { write(" COUNT \(count)") }
        if let all = response.all, !all.isEmpty { write(" ALL \(all)") }
        if let modSeq = response.modSeq { write(" MODSEQ \(modSeq)") }
        writeCRLF()
    }

    /// `* NAMESPACE personal other shared` (RFC 2342 §5; empty lists are NIL).
    public mutating func namespace(personal: [IMAPNamespace], otherUsers: [IMAPNamespace], shared: [IMAPNamespace]) {
        write("* NAMESPACE")
        for group in [personal, otherUsers, shared] {
            write(" ")
            if group.isEmpty { write("NIL"); continue }
            write("(")
            for namespace in group {
                write("(")
                writeString(namespace.prefix.bytes)
                write(" ")
                if let delimiter = namespace.delimiter { writeQuotedChar(delimiter) } else { write("NIL") }
                write(")")
            }
            write(")")
        }
        writeCRLF()
    }

    /// `* ID (…)` or `* ID NIL` (RFC 2971 §3.2).
    public mutating func id(_ fields: [IMAPIDField]?) {
        write("* ID ")
        if let fields, !fields.isEmpty {
            write("(")
            for (index, field) in fields.enumerated() {
                if index > 0 { write(" ") }
                writeString(field.name)
                write(" ")
                writeNString(field.value)
            }
            write(")")
        } else {
            write("NIL")
        }
        writeCRLF()
    }

    /// `* n FETCH (…)`
    public mutating func fetch(_ response: IMAPFetchResponse) {
        write("* \(response.sequenceNumber) FETCH (")
        for (index, item) in response.items.enumerated() {
            if index > 0 { write(" ") }
            writeFetchItem(item)
        }
        write(")")
        writeCRLF()
    }

    // MARK: - Fetch items

    private mutating func writeFetchItem(_ item: IMAPFetchResponseItem) {
        switch item {
        case .uid(let uid): write("UID \(uid)")
        case .flags(let flags): write("FLAGS (" + flags.map(\.name).joined(separator: " ") + ")")
        case .internalDate(let date): write("INTERNALDATE \"\(date)\"")
        case .rfc822Size(let size): write("RFC822.SIZE \(size)")
        case .envelope(let envelope):
            write("ENVELOPE ")
            writeEnvelope(envelope)
        case .body(let body):
            write("BODY ")
            writeBodyStructure(body, extended: false)
        case .bodyStructure(let body):
            write("BODYSTRUCTURE ")
            writeBodyStructure(body, extended: true)
        case .modSeq(let value): write("MODSEQ (\(value))")
        case .emailID(let id): write("EMAILID (\(id))")
        case .threadID(let id): write(id.map { "THREADID (\($0))" } ?? "THREADID NIL")
        case .saveDate(let date): write(date.map { "SAVEDATE \"\($0)\"" } ?? "SAVEDATE NIL")
        case .bodySection(let section, let origin, let data):
            write("BODY[")
            writeSection(section)
            write("]")
            if let origin { write("<\(origin)>") }
            write(" ")
            if let data { writeLiteral(data) } else { write("NIL") }
        case .binary(let part, let origin, let data):
            write("BINARY[" + part.map(String.init).joined(separator: ".") + "]")
            if let origin { write("<\(origin)>") }
            write(" ")
            if let data { writeLiteral(data, binary: data.contains(0)) } else { write("NIL") }
        case .binarySize(let part, let size):
            write("BINARY.SIZE[" + part.map(String.init).joined(separator: ".") + "] \(size)")
        case .rfc822(let data): write("RFC822 "); writeNLiteral(data)
        case .rfc822Header(let data): write("RFC822.HEADER "); writeNLiteral(data)
        case .rfc822Text(let data): write("RFC822.TEXT "); writeNLiteral(data)
        case .preview(let text): write("PREVIEW "); writeNString(text)
        }
    }

    /// The contents of `section`'s brackets (shared with `IMAPCommandEncoder`).
    mutating func writeSection(_ section: IMAPSection) {
        var first = true
        for number in section.part {
            if !first { write(".") }
            write(String(number))
            first = false
        }
        guard let text = section.text else { return }
        if !first { write(".") }
        switch text {
        case .header: write("HEADER")
        case .text: write("TEXT")
        case .mime: write("MIME")
        case .headerFields(let names), .headerFieldsNot(let names):
            if case .headerFields = text { write("HEADER.FIELDS (") } else { write("HEADER.FIELDS.NOT (") }
            for (index, name) in names.enumerated() {
                if index > 0 { write(" ") }
                writeAString(Array(name.utf8))
            }
            write(")")
        }
    }

    /// `envelope` (RFC 9051 §7.5.2).
    public mutating func writeEnvelope(_ envelope: IMAPEnvelope) {
        write("(")
        writeNString(envelope.date)
        write(" ")
        writeNString(envelope.subject)
        for list in [envelope.from, envelope.sender, envelope.replyTo, envelope.to, envelope.cc, envelope.bcc] {
            write(" ")
            writeAddresses(list)
        }
        write(" ")
        writeNString(envelope.inReplyTo)
        write(" ")
        writeNString(envelope.messageID)
        write(")")
    }

    private mutating func writeAddresses(_ addresses: [IMAPAddress]) {
        guard !addresses.isEmpty else { write("NIL"); return }
        write("(")
        for address in addresses {
            write("(")
            writeNString(address.name)
            write(" ")
            writeNString(address.adl)
            write(" ")
            writeNString(address.mailbox)
            write(" ")
            writeNString(address.host)
            write(")")
        }
        write(")")
    }

    /// `body` (RFC 9051 §7.5.2): BODYSTRUCTURE when `extended`, else BODY.
    public mutating func writeBodyStructure(_ body: IMAPBodyStructure, extended: Bool) {
        write("(")
        switch body {
        case .single(let part):
            writeString(Array(part.type.utf8))
            write(" ")
            writeString(Array(part.subtype.utf8))
            write(" ")
            writeParameters(part.parameters)
            write(" ")
            writeNString(part.id)
            write(" ")
            writeNString(part.description)
            write(" ")
            writeString(Array(part.encoding.utf8))
            write(" \(part.octets)")
            switch part.kind {
            case .basic: break
            case .text(let lines): write(" \(lines)")
            case .message(let envelope, let inner, let lines):
                write(" ")
                writeEnvelope(envelope)
                write(" ")
                writeBodyStructure(inner, extended: extended)
                write(" \(lines)")
            }
            if extended {
                write(" ")
                writeNString(part.md5)
                writeExtension(part.extensionData)
            }
        case .multipart(let multipart):
            // body-type-mpart = 1*body SP media-subtype: the parts are not separated.
            for part in multipart.parts { writeBodyStructure(part, extended: extended) }
            if multipart.parts.isEmpty {
                // The grammar needs at least one part; an empty text/plain stands in (as Dovecot does).
                writeBodyStructure(.single(IMAPBodyPart(type: "TEXT", subtype: "PLAIN", octets: 0, kind: .text(lines: 0))),
                                   extended: extended)
            }
            write(" ")
            writeString(Array(multipart.subtype.utf8))
            if extended {
                write(" ")
                writeParameters(multipart.parameters)
                writeExtension(multipart.extensionData)
            }
        }
        write(")")
    }

    private mutating func writeExtension(_ data: IMAPBodyExtension) {
        write(" ")
        if let disposition = data.disposition {
            write("(")
            writeString(Array(disposition.type.utf8))
            write(" ")
            writeParameters(disposition.parameters)
            write(")")
        } else {
            write("NIL")
        }
        write(" ")
        switch data.language {
        case nil: write("NIL")
        case let languages? where languages.count == 1: writeString(Array(languages[0].utf8))
        case let languages?:
            write("(")
            for (index, language) in languages.enumerated() {
                if index > 0 { write(" ") }
                writeString(Array(language.utf8))
            }
            write(")")
        }
        write(" ")
        writeNString(data.location)
    }

    private mutating func writeParameters(_ parameters: [IMAPBodyParameter]) {
        guard !parameters.isEmpty else { write("NIL"); return }
        write("(")
        for (index, parameter) in parameters.enumerated() {
            if index > 0 { write(" ") }
            writeString(Array(parameter.name.utf8))
            write(" ")
            writeString(parameter.value)
        }
        write(")")
    }

    // MARK: - Strings

    /// An atom when every octet is an ASTRING-CHAR, else a quoted string or literal.
    public mutating func writeAString(_ value: [UInt8]) {
        if !value.isEmpty && value.count <= maxQuotedLength && value.allSatisfy(IMAPGrammar.isAStringChar)
            && !IMAPGrammar.equalsCaseInsensitive(value[...], "NIL") {
            bytes.append(contentsOf: value)
        } else {
            writeString(value)
        }
    }

    /// A quoted string when allowed, else a literal.
    public mutating func writeString(_ value: [UInt8]) {
        if canQuote(value) {
            bytes.append(UInt8(ascii: "\""))
            for byte in value {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        } else {
            writeLiteral(value)
        }
    }

    /// A string or NIL.
    public mutating func writeNString(_ value: [UInt8]?) {
        if let value { writeString(value) } else { write("NIL") }
    }

    /// `{n}` CRLF data, or `~{n}` for literal8.
    public mutating func writeLiteral(_ value: [UInt8], binary: Bool = false) {
        write((binary ? "~{" : "{") + "\(value.count)}")
        writeCRLF()
        bytes.append(contentsOf: value)
    }

    private mutating func writeNLiteral(_ value: [UInt8]?) {
        if let value { writeLiteral(value) } else { write("NIL") }
    }

    private func canQuote(_ value: [UInt8]) -> Bool {
        guard value.count <= maxQuotedLength else { return false }
        var eightBit = false
        for byte in value {
            if byte == 0 || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") { return false }
            if byte >= 0x80 { eightBit = true }
        }
        return !eightBit || (utf8Enabled && String(validating: value, as: UTF8.self) != nil)
    }

    private mutating func writeQuotedChar(_ char: UInt8) {
        bytes.append(UInt8(ascii: "\""))
        if char == UInt8(ascii: "\"") || char == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
        bytes.append(char)
        bytes.append(UInt8(ascii: "\""))
    }

    // MARK: - Low level

    private mutating func write(_ text: String) { bytes.append(contentsOf: text.utf8) }

    private mutating func writeCRLF() { bytes.append(contentsOf: [UInt8(ascii: "\r"), UInt8(ascii: "\n")]) }

    private mutating func writeCodeAndText(_ code: IMAPResponseCode?, _ text: String) {
        if let code { write(" [" + code.wireText + "]") }
        // resp-text = ["[" resp-text-code "]" SP] text: a text of our own must not open a bracket.
        write(" " + Self.sanitizedText(text.isEmpty ? "Done" : text, allowBracket: code != nil))
        writeCRLF()
    }

    /// Response text with CR, LF and other controls replaced by spaces, so a message from a lower
    /// layer can never inject a response line.
    static func sanitizedText(_ text: String, allowBracket: Bool) -> String {
        // Almost always clean: check the bytes first, copy only when something must go.
        let clean = text.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }
        if clean && (allowBracket || text.utf8.first != UInt8(ascii: "[")) { return text }
        var cleaned = clean ? text : String(String.UnicodeScalarView(text.unicodeScalars.map {
            ($0.value < 0x20 || $0.value == 0x7F) ? " " : $0
        }))
        if !allowBracket && cleaned.hasPrefix("[") { cleaned = "(" + cleaned.dropFirst() }
        return cleaned
    }
}

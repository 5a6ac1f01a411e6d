extension IMAPByteCursor {
    /// `fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
    /// "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]` (RFC 9051 §9, RFC 7162 §3.3.1).
    mutating func parseFetch(uid: Bool) throws(IMAPParseError) -> IMAPCommandKind {
        try expectSpace()
        let set = try parseMessageSet()
        try expectSpace()
        var attributes: [IMAPFetchAttribute]
        if peek() == UInt8(ascii: "(") {
            attributes = try parseList(allowEmpty: false) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) in
                try cursor.parseFetchAttribute()
            }
        } else if consumeKeyword("ALL") {
            attributes = IMAPFetchAttribute.all
        } else if consumeKeyword("FAST") {
            attributes = IMAPFetchAttribute.fast
        } else if consumeKeyword("FULL") {
            attributes = IMAPFetchAttribute.full
        } else {
            attributes = [try parseFetchAttribute()]
        }
        var changedSince: UInt64?
        var vanished = false
        if consume(UInt8(ascii: " ")) {
            // fetch-modifier: CHANGEDSINCE (RFC 7162 §3.3.1) and VANISHED (§3.2.6).
            let modifiers = try parseList(allowEmpty: false) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) -> UInt64? in
                if cursor.consumeKeyword("VANISHED") { return nil }
                guard cursor.consumeKeyword("CHANGEDSINCE") else { throw cursor.error("Unknown FETCH modifier") }
                try cursor.expectSpace()
                return try cursor.readNumber64("a mod-sequence")
            }
            let values = modifiers.compactMap { $0 }
            guard values.count <= 1 else { throw error("CHANGEDSINCE given twice") }
            guard modifiers.count - values.count <= 1 else { throw error("VANISHED given twice") }
            vanished = values.count < modifiers.count
            changedSince = values.first
            // RFC 7162 §3.2.6: VANISHED only in UID FETCH, and only with CHANGEDSINCE.
            if vanished && !uid { throw error("VANISHED is only allowed in UID FETCH") }
            if vanished && changedSince == nil { throw error("VANISHED needs CHANGEDSINCE") }
            // RFC 7162 §3.3.1: CHANGEDSINCE implies MODSEQ in the response.
            if changedSince != nil && !attributes.contains(.modSeq) { attributes.append(.modSeq) }
        }
        return .fetch(set, attributes, changedSince: changedSince, uid: uid, vanished: vanished)
    }

    /// One `fetch-att`.
    mutating func parseFetchAttribute() throws(IMAPParseError) -> IMAPFetchAttribute {
        let word = readWhile { IMAPGrammar.isAtomChar($0) && $0 != UInt8(ascii: "[") && $0 != UInt8(ascii: "<") }
        guard !word.isEmpty else { throw error("Expected a fetch attribute") }
        let name = IMAPGrammar.uppercasedString(word)
        switch name {
        case "ENVELOPE": return .envelope
        case "FLAGS": return .flags
        case "INTERNALDATE": return .internalDate
        case "RFC822": return .rfc822
        case "RFC822.HEADER": return .rfc822Header
        case "RFC822.SIZE": return .rfc822Size
        case "RFC822.TEXT": return .rfc822Text
        case "BODYSTRUCTURE": return .bodyStructure
        case "UID": return .uid
        case "MODSEQ": return .modSeq
        case "EMAILID": return .emailID
        case "THREADID": return .threadID
        case "SAVEDATE": return .saveDate
        case "BODY", "BODY.PEEK":
            guard peek() == UInt8(ascii: "[") else {
                if name == "BODY" { return .body }
                throw error("Expected [ after BODY.PEEK")
            }
            let section = try parseSection()
            return .bodySection(section, partial: try parsePartialIfPresent(), peek: name == "BODY.PEEK")
        case "BINARY", "BINARY.PEEK":
            let part = try parseBinarySection()
            return .binary(part: part, partial: try parsePartialIfPresent(), peek: name == "BINARY.PEEK")
        case "BINARY.SIZE":
            return .binarySize(part: try parseBinarySection())
        case "PREVIEW":
            // RFC 8970 §7: "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"], preview-mod = "LAZY".
            guard peek() == UInt8(ascii: " "), peek(1) == UInt8(ascii: "(") else { return .preview(lazy: false) }
            try expectSpace()
            _ = try parseList(allowEmpty: false) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) in
                guard cursor.consumeKeyword("LAZY") else { throw cursor.error("Unknown PREVIEW modifier") }
            }
            return .preview(lazy: true)
        default:
            throw error("Unknown fetch attribute \(name.prefix(32))")
        }
    }

    /// `section = "[" [section-spec] "]"`; `section-spec = section-msgtext / (section-part
    /// ["." section-text])`; `section-text = section-msgtext / "MIME"`.
    mutating func parseSection() throws(IMAPParseError) -> IMAPSection {
        try expect(UInt8(ascii: "["), "[")
        var section = IMAPSection()
        if consume(UInt8(ascii: "]")) { return section }
        if let first = peek(), IMAPGrammar.isDigit(first) {
            section.part = try parseSectionPart()
            if consume(UInt8(ascii: "]")) { return section }
            try expect(UInt8(ascii: "."), ". or ] in a section")
        }
        let word = IMAPGrammar.uppercasedString(readWhile {
            IMAPGrammar.isAlpha($0) || $0 == UInt8(ascii: ".")
        })
        switch word {
        case "HEADER": section.text = .header
        case "TEXT": section.text = .text
        case "MIME":
            guard !section.part.isEmpty else { throw error("MIME needs a part number") }
            section.text = .mime
        case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
            try expectSpace()
            let names = try parseList(allowEmpty: false) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) in
                String(decoding: try cursor.readAString("a header field name"), as: UTF8.self)
            }
            section.text = word == "HEADER.FIELDS" ? .headerFields(names) : .headerFieldsNot(names)
        default:
            throw error("Unknown section text \(word.prefix(32))")
        }
        try expect(UInt8(ascii: "]"), "] after the section")
        return section
    }

    /// `section-part = nz-number *("." nz-number)`, at most `maxSectionDepth` numbers.
    private mutating func parseSectionPart() throws(IMAPParseError) -> [UInt32] {
        var part = [try readNonZeroNumber("a part number")]
        while peek() == UInt8(ascii: "."), let next = peek(1), IMAPGrammar.isDigit(next) {
            index += 1
            part.append(try readNonZeroNumber("a part number"))
            guard part.count <= limits.maxSectionDepth else {
                throw error("Section deeper than \(limits.maxSectionDepth) parts", .limitExceeded)
            }
        }
        return part
    }

    /// `section-binary = "[" [section-part] "]"` (RFC 3516 §4.3).
    private mutating func parseBinarySection() throws(IMAPParseError) -> [UInt32] {
        try expect(UInt8(ascii: "["), "[")
        if consume(UInt8(ascii: "]")) { return [] }
        let part = try parseSectionPart()
        try expect(UInt8(ascii: "]"), "] after the section")
        return part
    }

    /// `partial = "<" number64 "." nz-number64 ">"`
    private mutating func parsePartialIfPresent() throws(IMAPParseError) -> IMAPPartial? {
        guard consume(UInt8(ascii: "<")) else { return nil }
        let offset = try readNumber64("a partial offset")
        try expect(UInt8(ascii: "."), ". in a partial range")
        guard peek() != UInt8(ascii: "0") else { throw error("Partial length must not be zero") }
        let length = try readNumber64("a partial length")
        try expect(UInt8(ascii: ">"), "> after a partial range")
        return IMAPPartial(offset: offset, length: length)
    }
}

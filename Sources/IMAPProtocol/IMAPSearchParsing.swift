extension IMAPByteCursor {
    /// `search = "SEARCH" [search-return-opts] SP search-program`;
    /// `search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)`
    /// (RFC 9051 §9, RFC 4731 §7, RFC 5182 §4).
    mutating func parseSearchCommand() throws(IMAPParseError) -> IMAPSearchCommand {
        try expectSpace()
        var returnOptions: [IMAPSearchReturnOption]?
        if consumeKeyword("RETURN") {
            try expectSpace()
            returnOptions = try parseList(allowEmpty: true) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) in
                let name = IMAPGrammar.uppercasedString(try cursor.readAtom("a search return option"))
                guard let option = IMAPSearchReturnOption(rawValue: name) else {
                    throw cursor.error("Unknown search return option \(name.prefix(32))")
                }
                return option
            }
            try expectSpace()
        }
        var charset: String?
        if consumeKeyword("CHARSET") {
            try expectSpace()
            charset = try readCharset()
            try expectSpace()
        }
        return IMAPSearchCommand(returnOptions: returnOptions, charset: charset, key: try parseSearchKeys())
    }

    /// `sort = "SORT" SP sort-criteria SP search-criteria`; `search-criteria = charset
    /// 1*(SP search-key)` (RFC 5256 §5, RFC 5957 §3).
    mutating func parseSortCommand() throws(IMAPParseError) -> IMAPSortCommand {
        try expectSpace()
        let criteria = try parseList(allowEmpty: false) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) in
            var reverse = false
            var name = IMAPGrammar.uppercasedString(try cursor.readAtom("a sort key"))
            if name == "REVERSE" {
                reverse = true
                try cursor.expectSpace()
                name = IMAPGrammar.uppercasedString(try cursor.readAtom("a sort key"))
            }
            guard let key = IMAPSortCriterion.Key(rawValue: name) else {
                throw cursor.error("Unknown sort key \(name.prefix(32))")
            }
            return IMAPSortCriterion(key, reverse: reverse)
        }
        try expectSpace()
        let charset = try readCharset()
        try expectSpace()
        return IMAPSortCommand(criteria: criteria, charset: charset, key: try parseSearchKeys())
    }

    /// `search-key *(SP search-key)`, to the end of the command.
    mutating func parseSearchKeys() throws(IMAPParseError) -> IMAPSearchKey {
        var keys: [IMAPSearchKey] = [try parseSearchKey()]
        while consume(UInt8(ascii: " ")) {
            keys.append(try parseSearchKey())
            guard keys.count <= limits.maxListItems else { throw error("Too many search keys", .limitExceeded) }
        }
        return keys.count == 1 ? keys[0] : .and(keys)
    }

    /// One `search-key` (RFC 9051 §9 with RFC 3501's NEW/OLD/RECENT, RFC 5032 OLDER/YOUNGER,
    /// RFC 7162 §3.4 MODSEQ). NOT, OR and parentheses count towards the nesting limit.
    mutating func parseSearchKey() throws(IMAPParseError) -> IMAPSearchKey {
        guard let first = peek() else { throw error("Expected a search key") }
        if first == UInt8(ascii: "(") {
            let keys = try parseList(allowEmpty: false) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) in
                try cursor.parseSearchKey()
            }
            return .and(keys)
        }
        if IMAPGrammar.isDigit(first) || first == UInt8(ascii: "*") || first == UInt8(ascii: "$") {
            return .sequenceNumbers(try parseMessageSet())
        }
        let name = IMAPGrammar.uppercasedString(try readAtom("a search key"))
        switch name {
        case "ALL": return .all
        case "ANSWERED": return .answered
        case "DELETED": return .deleted
        case "DRAFT": return .draft
        case "FLAGGED": return .flagged
        case "NEW": return .new
        case "OLD": return .old
        case "RECENT": return .recent
        case "SEEN": return .seen
        case "UNANSWERED": return .unanswered
        case "UNDELETED": return .undeleted
        case "UNDRAFT": return .undraft
        case "UNFLAGGED": return .unflagged
        case "UNSEEN": return .unseen
        case "BCC": return .bcc(try stringArgument())
        case "BODY": return .body(try stringArgument())
        case "CC": return .cc(try stringArgument())
        case "FROM": return .from(try stringArgument())
        case "SUBJECT": return .subject(try stringArgument())
        case "TEXT": return .text(try stringArgument())
        case "TO": return .to(try stringArgument())
        case "KEYWORD", "UNKEYWORD":
            try expectSpace()
            // flag-keyword = "$MDNSent" / "$Forwarded" / … / atom (no backslash)
            let keyword = IMAPFlag(String(decoding: try readAtom("a keyword"), as: UTF8.self))
            return name == "KEYWORD" ? .keyword(keyword) : .unkeyword(keyword)
        case "BEFORE": return .before(try dateArgument())
        case "ON": return .on(try dateArgument())
        case "SINCE": return .since(try dateArgument())
        case "SENTBEFORE": return .sentBefore(try dateArgument())
        case "SENTON": return .sentOn(try dateArgument())
        case "SENTSINCE": return .sentSince(try dateArgument())
        case "SAVEDBEFORE": return .savedBefore(try dateArgument())
        case "SAVEDON": return .savedOn(try dateArgument())
        case "SAVEDSINCE": return .savedSince(try dateArgument())
        case "HEADER":
            try expectSpace()
            let field = String(decoding: try readAString("a header field name"), as: UTF8.self)
            try expectSpace()
            return .header(field, try readAString())
        case "EMAILID", "THREADID":
            try expectSpace()
            let id = try readObjectID()
            return name == "EMAILID" ? .emailID(id) : .threadID(id)
        case "LARGER", "SMALLER":
            try expectSpace()
            let size = try readNumber64("a size")  // number64 in RFC 9051
            return name == "LARGER" ? .larger(size) : .smaller(size)
        case "UID":
            try expectSpace()
            return .uid(try parseMessageSet())
        case "OLDER", "YOUNGER":
            try expectSpace()
            let seconds = try readNonZeroNumber("a number of seconds")
            return name == "OLDER" ? .older(seconds) : .younger(seconds)
        case "MODSEQ":
            try expectSpace()
            var entry: IMAPModSeqEntry?
            if peek() == UInt8(ascii: "\"") {
                entry = try parseModSeqEntry()
                try expectSpace()
            }
            return .modSeq(try readNumber64("a mod-sequence"), entry: entry)
        case "NOT":
            try expectSpace()
            try enterNesting()
            defer { depth -= 1 }
            return .not(try parseSearchKey())
        case "OR":
            try expectSpace()
            try enterNesting()
            defer { depth -= 1 }
            let left = try parseSearchKey()
            try expectSpace()
            return .or(left, try parseSearchKey())
        default:
            throw error("Unknown search key \(name.prefix(32))")
        }
    }

    private mutating func stringArgument() throws(IMAPParseError) -> [UInt8] {
        try expectSpace()
        return try readAString()
    }

    private mutating func dateArgument() throws(IMAPParseError) -> IMAPDate {
        try expectSpace()
        return try parseDate()
    }

    /// `entry-name SP entry-type-req`; `entry-name = DQUOTE "/flags/" attr-flag DQUOTE`
    /// (RFC 7162 §7; attr-flag is a flag, possibly with an escaped backslash).
    private mutating func parseModSeqEntry() throws(IMAPParseError) -> IMAPModSeqEntry {
        let name = try readQuoted()
        let prefix = Array("/flags/".utf8)
        guard name.count > prefix.count, IMAPGrammar.equalsCaseInsensitive(name[0..<prefix.count], "/flags/") else {
            throw error("MODSEQ entry must name a /flags/ entry")
        }
        let flagName = name[prefix.count...]
        let atom = flagName.first == UInt8(ascii: "\\") ? flagName.dropFirst() : flagName
        guard !atom.isEmpty, atom.allSatisfy(IMAPGrammar.isAtomChar) else { throw error("Invalid flag in MODSEQ entry") }
        try expectSpace()
        let typeName = String(decoding: try readAtom("an entry type"), as: UTF8.self).lowercased()
        guard let type = IMAPModSeqEntry.EntryType(rawValue: typeName) else { throw error("Entry type must be priv, shared or all") }
        return IMAPModSeqEntry(flag: IMAPFlag(String(decoding: flagName, as: UTF8.self)), type: type)
    }
}

/// Turns a command frame from `IMAPCommandReader` into an `IMAPCommand` (RFC 9051 §9 `command`).
///
/// The parser checks syntax only; whether a command is valid in the session's state (LOGIN
/// after authentication, FETCH without a selected mailbox) is the session's business. Recursion
/// is bounded by `IMAPLimits.maxNestingDepth`, so hostile nesting costs a BAD, not the stack.
public struct IMAPCommandParser: Sendable {
    public var limits: IMAPLimits

    public init(limits: IMAPLimits = IMAPLimits()) {
        self.limits = limits
    }

    /// Parses one complete command. The error carries the tag when it was readable.
    public func parse(_ frame: IMAPCommandFrame) throws(IMAPParseError) -> IMAPCommand {
        var cursor = IMAPByteCursor(frame.bytes, limits: limits)
        let tagBytes = cursor.readWhile(IMAPGrammar.isTagChar)
        guard !tagBytes.isEmpty, cursor.peek() == UInt8(ascii: " ") || cursor.isAtEnd else {
            throw IMAPParseError(tag: nil, kind: .invalidTag, message: "Missing or invalid tag")
        }
        let tag = String(decoding: tagBytes, as: UTF8.self)
        do throws(IMAPParseError) {
            try cursor.expectSpace()
            let kind = try cursor.parseCommandKind()
            guard cursor.isAtEnd else { throw cursor.error("Unexpected characters after the command") }
            return IMAPCommand(tag: tag, kind: kind)
        } catch {
            var tagged = error
            tagged.tag = tag
            throw tagged
        }
    }

    /// Convenience: parses the text of a frame (`"A1 SELECT INBOX"`).
    public func parse(_ text: String) throws(IMAPParseError) -> IMAPCommand {
        try parse(IMAPCommandFrame(text))
    }
}

extension IMAPByteCursor {
    mutating func parseCommandKind() throws(IMAPParseError) -> IMAPCommandKind {
        let nameBytes = readWhile(IMAPGrammar.isAtomChar)
        guard !nameBytes.isEmpty else { throw error("Missing command") }
        let name = IMAPGrammar.uppercasedString(nameBytes)
        switch name {
        case "CAPABILITY": return .capability
        case "NOOP": return .noop
        case "LOGOUT": return .logout
        case "STARTTLS": return .startTLS
        case "NAMESPACE": return .namespace
        case "IDLE": return .idle
        case "CHECK": return .check
        case "CLOSE": return .close
        case "UNSELECT": return .unselect
        case "EXPUNGE": return .expunge
        case "AUTHENTICATE": return try parseAuthenticate()
        case "LOGIN":
            try expectSpace()
            let user = try readAString("a user name")
            try expectSpace()
            let password = try readAString("a password")
            return .login(user: user, password: password)
        case "ENABLE":
            var capabilities: [String] = []
            repeat {
                try expectSpace()
                capabilities.append(IMAPGrammar.uppercasedString(try readAtom("a capability")))
                guard capabilities.count <= limits.maxListItems else { throw error("Too many capabilities", .limitExceeded) }
            } while !isAtEnd
            return .enable(capabilities)
        case "SELECT", "EXAMINE":
            try expectSpace()
            let mailbox = try readMailbox()
            var condStore = false
            var qresync: IMAPQResyncParameters?
            if consume(UInt8(ascii: " ")) {
                // select-params (RFC 9051 §9, RFC 7162 §3.1.8 CONDSTORE, §3.2.5 QRESYNC)
                (condStore, qresync) = try parseSelectParameters()
            }
            return name == "SELECT" ? .select(mailbox, condStore: condStore, qresync: qresync)
                : .examine(mailbox, condStore: condStore, qresync: qresync)
        case "CREATE": return try parseCreate()
        case "DELETE":
            try expectSpace()
            return .delete(try readMailbox())
        case "RENAME":
            try expectSpace()
            let from = try readMailbox()
            try expectSpace()
            return .rename(from: from, to: try readMailbox())
        case "SUBSCRIBE":
            try expectSpace()
            return .subscribe(try readMailbox())
        case "UNSUBSCRIBE":
            try expectSpace()
            return .unsubscribe(try readMailbox())
        case "LIST": return .list(try parseList())
        case "LSUB":
            try expectSpace()
            let reference = try readMailbox()
            try expectSpace()
            return .lsub(reference: reference, pattern: try readListMailbox())
        case "STATUS":
            try expectSpace()
            let mailbox = try readMailbox()
            try expectSpace()
            return .status(mailbox, try parseStatusAttributes())
        case "APPEND": return try parseAppend()
        case "GETQUOTA":
            try expectSpace()
            return .getQuota(try readAString("a quota root"))
        case "GETQUOTAROOT":
            try expectSpace()
            return .getQuotaRoot(try readMailbox())
        case "SEARCH": return .search(try parseSearchCommand(), uid: false)
        case "FETCH": return try parseFetch(uid: false)
        case "STORE": return try parseStore(uid: false)
        case "COPY", "MOVE": return try parseCopyOrMove(move: name == "MOVE", uid: false)
        case "SORT": return .sort(try parseSortCommand(), uid: false)
        case "THREAD": return .thread(try parseThreadCommand(), uid: false)
        case "COMPRESS":
            try expectSpace()
            return .compress(IMAPGrammar.uppercasedString(try readAtom("a compression mechanism")))
        case "ID": return try parseID()
        case "UID": return try parseUIDCommand()
        case "REPLACE": return try parseReplace(uid: false)
        case "NOTIFY": return try parseNotify()
        default:
            throw error("Unknown command \(name.prefix(32))", .unknownCommand)
        }
    }

    /// `uid = "UID" SP ("COPY" / "MOVE" / "FETCH" / "SEARCH" / "STORE" / "EXPUNGE" / "SORT")`
    private mutating func parseUIDCommand() throws(IMAPParseError) -> IMAPCommandKind {
        try expectSpace()
        let name = IMAPGrammar.uppercasedString(try readAtom("a UID command"))
        switch name {
        case "FETCH": return try parseFetch(uid: true)
        case "STORE": return try parseStore(uid: true)
        case "COPY", "MOVE": return try parseCopyOrMove(move: name == "MOVE", uid: true)
        case "SEARCH": return .search(try parseSearchCommand(), uid: true)
        case "SORT": return .sort(try parseSortCommand(), uid: true)
        case "REPLACE": return try parseReplace(uid: true)
        case "THREAD": return .thread(try parseThreadCommand(), uid: true)
        case "EXPUNGE":
            try expectSpace()
            return .uidExpunge(try parseMessageSet())
        default:
            throw error("Unknown UID command \(name.prefix(32))", .unknownCommand)
        }
    }

    /// `authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]` (RFC 9051 §9, RFC 4959 §7).
    private mutating func parseAuthenticate() throws(IMAPParseError) -> IMAPCommandKind {
        try expectSpace()
        let mechanism = IMAPGrammar.uppercasedString(try readAtom("a SASL mechanism"))
        guard consume(UInt8(ascii: " ")) else { return .authenticate(mechanism: mechanism, initialResponse: nil) }
        if consume(UInt8(ascii: "=")) {
            return .authenticate(mechanism: mechanism, initialResponse: Array("=".utf8))
        }
        let response = readWhile { IMAPGrammar.isAlpha($0) || IMAPGrammar.isDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "/") }
        let padding = readWhile { $0 == UInt8(ascii: "=") }
        guard !response.isEmpty, padding.count <= 2, (response.count + padding.count) % 4 == 0 else {
            throw error("Invalid base64 initial response")
        }
        return .authenticate(mechanism: mechanism, initialResponse: Array(response) + Array(padding))
    }

    /// `create = "CREATE" SP mailbox [create-params]`; `create-param =/ "USE" SP "(" [use-attr
    /// *(SP use-attr)] ")"` (RFC 6154 §6).
    private mutating func parseCreate() throws(IMAPParseError) -> IMAPCommandKind {
        try expectSpace()
        let mailbox = try readMailbox()
        var specialUse: [IMAPMailboxAttribute] = []
        if consume(UInt8(ascii: " ")) {
            let groups = try parseList(allowEmpty: false) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) -> [IMAPMailboxAttribute] in
                guard cursor.consumeKeyword("USE") else { throw cursor.error("Unknown CREATE parameter") }
                try cursor.expectSpace()
                return try cursor.parseList(allowEmpty: true) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) in
                    try cursor.expect(UInt8(ascii: "\\"), "a special-use attribute")
                    return IMAPMailboxAttribute("\\" + String(decoding: try cursor.readAtom("a special-use attribute"), as: UTF8.self))
                }
            }
            specialUse = groups.flatMap { $0 }
        }
        return .create(mailbox, specialUse: specialUse)
    }

    /// `list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]`
    /// (RFC 5258 §6).
    private mutating func parseList() throws(IMAPParseError) -> IMAPListCommand {
        try expectSpace()
        var selection: [IMAPListSelectionOption] = []
        if peek() == UInt8(ascii: "(") {
            selection = try parseList(allowEmpty: true) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) in
                let option = IMAPGrammar.uppercasedString(try cursor.readAtom("a LIST selection option"))
                switch option {
                case "SUBSCRIBED": return IMAPListSelectionOption.subscribed
                case "REMOTE": return .remote
                case "RECURSIVEMATCH": return .recursiveMatch
                case "SPECIAL-USE": return .specialUse
                default: throw cursor.error("Unknown LIST selection option \(option.prefix(32))")
                }
            }
            // RFC 5258 §3: RECURSIVEMATCH alone (with nothing it could modify) is a BAD.
            if selection.contains(.recursiveMatch) && !selection.contains(where: { $0 != .recursiveMatch && $0 != .remote }) {
                throw error("RECURSIVEMATCH needs another selection option")
            }
            try expectSpace()
        }
        let reference = try readMailbox()
        try expectSpace()
        let patterns: [IMAPMailboxName]
        if peek() == UInt8(ascii: "(") {
            patterns = try parseList(allowEmpty: false) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) in
                try cursor.readListMailbox()
            }
        } else {
            patterns = [try readListMailbox()]
        }
        var returnOptions: [IMAPListReturnOption] = []
        if consume(UInt8(ascii: " ")) {
            guard consumeKeyword("RETURN") else { throw error("Expected RETURN") }
            try expectSpace()
            returnOptions = try parseList(allowEmpty: true) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) in
                let option = IMAPGrammar.uppercasedString(try cursor.readAtom("a LIST return option"))
                switch option {
                case "SUBSCRIBED": return IMAPListReturnOption.subscribed
                case "CHILDREN": return .children
                case "SPECIAL-USE": return .specialUse
                case "STATUS":
                    try cursor.expectSpace()
                    return .status(try cursor.parseStatusAttributes())
                default: throw cursor.error("Unknown LIST return option \(option.prefix(32))")
                }
            }
        }
        return IMAPListCommand(selectionOptions: selection, reference: reference, patterns: patterns,
                               returnOptions: returnOptions)
    }

    /// `"(" status-att *(SP status-att) ")"`
    mutating func parseStatusAttributes() throws(IMAPParseError) -> [IMAPStatusAttribute] {
        try parseList(allowEmpty: false) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) in
            let name = IMAPGrammar.uppercasedString(try cursor.readAtom("a status attribute"))
            guard let attribute = IMAPStatusAttribute(rawValue: name) else {
                throw cursor.error("Unknown status attribute \(name.prefix(32))")
            }
            return attribute
        }
    }

    /// `append = "APPEND" SP mailbox 1*append-message`; `append-message = append-opts SP
    /// append-data`; `append-opts = [SP flag-list] [SP date-time]` (RFC 3502 §6, RFC 3516 §4.4,
    /// RFC 6855 §4).
    private mutating func parseAppend() throws(IMAPParseError) -> IMAPCommandKind {
        try expectSpace()
        let mailbox = try readMailbox()
        var messages: [IMAPAppendMessage] = []
        repeat {
            try expectSpace()
            messages.append(try parseAppendMessage())
            guard messages.count <= limits.maxLiteralsPerCommand else { throw error("Too many messages", .limitExceeded) }
        } while !isAtEnd
        return .append(mailbox, messages)
    }

    /// `replace = "REPLACE" SP seq-number SP mailbox SP append-message` (RFC 8508 §6, with
    /// RFC 4466's append-message, one message), also after "UID".
    private mutating func parseReplace(uid: Bool) throws(IMAPParseError) -> IMAPCommandKind {
        try expectSpace()
        let number = try readNonZeroNumber(uid ? "a UID" : "a message number")
        try expectSpace()
        let mailbox = try readMailbox()
        try expectSpace()
        let message = try parseAppendMessage()
        return .replace(number, mailbox, message, uid: uid)
    }

    /// `append-message`: `[flag-list SP] [date-time SP] (literal / "UTF8" SP "(" literal8 ")")`.
    private mutating func parseAppendMessage() throws(IMAPParseError) -> IMAPAppendMessage {
            var flags: [IMAPFlag]?
            var date: IMAPDateTime?
            if peek() == UInt8(ascii: "(") {
                flags = try readFlagList()
                try expectSpace()
            }
            if peek() == UInt8(ascii: "\"") {
                date = try parseDateTime()
                try expectSpace()
            }
            if consumeKeyword("UTF8") {
                try expectSpace()
                try expect(UInt8(ascii: "("), "( after UTF8")
                guard peek() == UInt8(ascii: "~") else { throw error("UTF8 data must be a literal8") }
                let literal = try readLiteral(allowBinary: true)
                try expect(UInt8(ascii: ")"), ") after UTF8 data")
                return IMAPAppendMessage(flags: flags, internalDate: date, data: literal.data, isBinary: true, isUTF8: true)
            } else {
                guard peek() == UInt8(ascii: "{") || peek() == UInt8(ascii: "~") else {
                    throw error("Expected the message as a literal")
                }
                let literal = try readLiteral(allowBinary: true, allowNUL: true)
                return IMAPAppendMessage(flags: flags, internalDate: date, data: literal.data, isBinary: literal.binary)
            }
    }

    /// `store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags` (RFC 9051 §9,
    /// RFC 7162 §3.2: UNCHANGEDSINCE).
    private mutating func parseStore(uid: Bool) throws(IMAPParseError) -> IMAPCommandKind {
        try expectSpace()
        let set = try parseMessageSet()
        try expectSpace()
        var unchangedSince: UInt64?
        if peek() == UInt8(ascii: "(") {
            let modifiers = try parseList(allowEmpty: false) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) -> UInt64 in
                guard cursor.consumeKeyword("UNCHANGEDSINCE") else { throw cursor.error("Unknown STORE modifier") }
                try cursor.expectSpace()
                return try cursor.readNumber64("a mod-sequence")  // mod-sequence-valzer
            }
            guard modifiers.count == 1 else { throw error("UNCHANGEDSINCE given twice") }
            unchangedSince = modifiers[0]
            try expectSpace()
        }
        let operation: IMAPStoreAction.Operation
        if consume(UInt8(ascii: "+")) { operation = .add }
        else if consume(UInt8(ascii: "-")) { operation = .remove }
        else { operation = .replace }
        let item = IMAPGrammar.uppercasedString(try readAtom("FLAGS"))
        guard item == "FLAGS" || item == "FLAGS.SILENT" else { throw error("Expected FLAGS or FLAGS.SILENT") }
        try expectSpace()
        var flags: [IMAPFlag] = []
        if peek() == UInt8(ascii: "(") {
            flags = try readFlagList()
        } else {
            repeat {
                flags.append(try readFlag())
                guard flags.count <= limits.maxListItems else { throw error("Too many flags", .limitExceeded) }
            } while consume(UInt8(ascii: " "))
        }
        return .store(set, IMAPStoreAction(operation, silent: item == "FLAGS.SILENT", flags: flags),
                      unchangedSince: unchangedSince, uid: uid)
    }

    private mutating func parseCopyOrMove(move: Bool, uid: Bool) throws(IMAPParseError) -> IMAPCommandKind {
        try expectSpace()
        let set = try parseMessageSet()
        try expectSpace()
        let mailbox = try readMailbox()
        return move ? .move(set, mailbox, uid: uid) : .copy(set, mailbox, uid: uid)
    }

    /// `id = "ID" SP id-params-list`; `id-params-list = "(" *(string SP nstring) ")" / nil`.
    /// RFC 2971 §3.3: at most 30 pairs, names up to 30 octets, values up to 1024 octets.
    private mutating func parseID() throws(IMAPParseError) -> IMAPCommandKind {
        try expectSpace()
        if consumeKeyword("NIL") { return .id(nil) }
        let fields = try parseList(allowEmpty: true) { (cursor: inout IMAPByteCursor) throws(IMAPParseError) in
            let name = try cursor.readString()
            try cursor.expectSpace()
            let value = try cursor.readNString()
            guard name.count <= 30, (value?.count ?? 0) <= 1024 else { throw cursor.error("ID field too long") }
            return IMAPIDField(name: name, value: value)
        }
        guard fields.count <= 30 else { throw error("Too many ID fields", .limitExceeded) }
        return .id(fields)
    }
}

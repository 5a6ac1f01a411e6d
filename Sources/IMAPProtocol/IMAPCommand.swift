/// A parsed client command: its tag and what it asks for.
public struct IMAPCommand: Sendable, Equatable {
    public var tag: String
    public var kind: IMAPCommandKind

    public init(tag: String, kind: IMAPCommandKind) {
        self.tag = tag
        self.kind = kind
    }
}

/// Every command of RFC 3501 and RFC 9051 plus the extensions Postamt advertises. `uid` marks the
/// `UID` prefixed form (RFC 9051 §6.4.9). Whether a command is allowed in the current state is the
/// session's decision, not the parser's.
public enum IMAPCommandKind: Sendable, Equatable {
    case capability
    case noop
    case logout
    case startTLS
    /// `AUTHENTICATE mechanism [initial-response]`. The mechanism is uppercased. The initial
    /// response (RFC 4959) is the base64 text as sent; `=` (an empty response) is kept as "=".
    case authenticate(mechanism: String, initialResponse: [UInt8]?)
    /// User name and password octets (astrings).
    case login(user: [UInt8], password: [UInt8])
    /// RFC 5161: capability names, uppercased.
    case enable([String])
    /// With QRESYNC's parameter (RFC 7162 §3.2.5) when given.
    case select(IMAPMailboxName, condStore: Bool, qresync: IMAPQResyncParameters? = nil)
    case examine(IMAPMailboxName, condStore: Bool, qresync: IMAPQResyncParameters? = nil)
    /// `CREATE name [(USE (\Sent …))]` (RFC 6154 §3).
    case create(IMAPMailboxName, specialUse: [IMAPMailboxAttribute])
    case delete(IMAPMailboxName)
    case rename(from: IMAPMailboxName, to: IMAPMailboxName)
    case subscribe(IMAPMailboxName)
    case unsubscribe(IMAPMailboxName)
    case list(IMAPListCommand)
    case lsub(reference: IMAPMailboxName, pattern: IMAPMailboxName)
    case namespace
    case status(IMAPMailboxName, [IMAPStatusAttribute])
    /// One message, or several with MULTIAPPEND (RFC 3502).
    case append(IMAPMailboxName, [IMAPAppendMessage])
    case idle
    case check
    case close
    case unselect
    case expunge
    /// RFC 4315 §2.1.
    case uidExpunge(IMAPMessageSet)
    case search(IMAPSearchCommand, uid: Bool)
    /// `vanished`: the VANISHED modifier of UID FETCH (RFC 7162 §3.2.6).
    case fetch(IMAPMessageSet, [IMAPFetchAttribute], changedSince: UInt64?, uid: Bool, vanished: Bool = false)
    case store(IMAPMessageSet, IMAPStoreAction, unchangedSince: UInt64?, uid: Bool)
    case copy(IMAPMessageSet, IMAPMailboxName, uid: Bool)
    case move(IMAPMessageSet, IMAPMailboxName, uid: Bool)
    case sort(IMAPSortCommand, uid: Bool)
    /// RFC 2971: the client's field/value pairs, or nil for `ID NIL`.
    case id([IMAPIDField]?)
    /// RFC 9208 §4.2: GETQUOTA quota-root, and §4.3: GETQUOTAROOT mailbox.
    case getQuota([UInt8])
    case getQuotaRoot(IMAPMailboxName)
    /// RFC 8508: `[UID] REPLACE number mailbox append-message`.
    case replace(UInt32, IMAPMailboxName, IMAPAppendMessage, uid: Bool)
    /// RFC 5256 §4: THREAD algorithm charset search-criteria (IMAPThreadCommand.swift).
    case thread(IMAPThreadCommand, uid: Bool)
    /// RFC 4978 §3: COMPRESS mechanism, uppercased.
    case compress(String)
    /// RFC 5465: NOTIFY SET … / NOTIFY NONE (IMAPNotifyParsing.swift).
    case notify(IMAPNotifyCommand)
}

/// A flag: a system flag (`\Seen`), a keyword (`$Junk`), or another `\`-extension. System flags
/// are stored in their canonical case; all flags compare and hash case-insensitively (RFC 9051
/// §2.3.2), keeping the spelling first seen.
public struct IMAPFlag: Hashable, Sendable, CustomStringConvertible {
    public let name: String

    public static func == (left: IMAPFlag, right: IMAPFlag) -> Bool {
        left.name.utf8.count == right.name.utf8.count
            && zip(left.name.utf8, right.name.utf8).allSatisfy { IMAPGrammar.lowercased($0) == IMAPGrammar.lowercased($1) }
    }

    public func hash(into hasher: inout Hasher) {
        for byte in name.utf8 { hasher.combine(IMAPGrammar.lowercased(byte)) }
    }

    public init(_ name: String) {
        let systemFlags = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "\\Recent"]
        let lowered = name.lowercased()
        self.name = systemFlags.first { $0.lowercased() == lowered } ?? name
    }

    public static let seen = IMAPFlag("\\Seen")
    public static let answered = IMAPFlag("\\Answered")
    public static let flagged = IMAPFlag("\\Flagged")
    public static let deleted = IMAPFlag("\\Deleted")
    public static let draft = IMAPFlag("\\Draft")
    public static let recent = IMAPFlag("\\Recent")

    /// True for `\`-flags, false for keywords.
    public var isSystemOrExtension: Bool { name.hasPrefix("\\") }

    public var description: String { name }
}

/// A mailbox attribute in LIST responses and CREATE's USE list (RFC 9051 §7.3.1, RFC 6154 §2).
public struct IMAPMailboxAttribute: Hashable, Sendable, CustomStringConvertible {
    public let name: String

    public init(_ name: String) {
        let known: [String] = ["\\Noinferiors", "\\Noselect", "\\Marked", "\\Unmarked", "\\HasChildren",
                               "\\HasNoChildren", "\\NonExistent", "\\Subscribed", "\\Remote", "\\All",
                               "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"]
        let lowered = name.lowercased()
        self.name = known.first { $0.lowercased() == lowered } ?? name
    }

    public static let noInferiors = IMAPMailboxAttribute("\\Noinferiors")
    public static let noSelect = IMAPMailboxAttribute("\\Noselect")
    public static let marked = IMAPMailboxAttribute("\\Marked")
    public static let unmarked = IMAPMailboxAttribute("\\Unmarked")
    public static let hasChildren = IMAPMailboxAttribute("\\HasChildren")
    public static let hasNoChildren = IMAPMailboxAttribute("\\HasNoChildren")
    public static let nonExistent = IMAPMailboxAttribute("\\NonExistent")
    public static let subscribed = IMAPMailboxAttribute("\\Subscribed")
    public static let remote = IMAPMailboxAttribute("\\Remote")
    public static let all = IMAPMailboxAttribute("\\All")
    public static let archive = IMAPMailboxAttribute("\\Archive")
    public static let drafts = IMAPMailboxAttribute("\\Drafts")
    public static let flagged = IMAPMailboxAttribute("\\Flagged")
    public static let junk = IMAPMailboxAttribute("\\Junk")
    public static let sent = IMAPMailboxAttribute("\\Sent")
    public static let trash = IMAPMailboxAttribute("\\Trash")

    public var description: String { name }
}

/// LIST, basic or extended (RFC 5258 §3, RFC 5819, RFC 6154 §5).
public struct IMAPListCommand: Sendable, Equatable {
    public var selectionOptions: [IMAPListSelectionOption]
    public var reference: IMAPMailboxName
    /// One pattern, or several in the extended form `("a" "b")`.
    public var patterns: [IMAPMailboxName]
    public var returnOptions: [IMAPListReturnOption]

    public init(selectionOptions: [IMAPListSelectionOption] = [], reference: IMAPMailboxName,
                patterns: [IMAPMailboxName], returnOptions: [IMAPListReturnOption] = []) {
        self.selectionOptions = selectionOptions
        self.reference = reference
        self.patterns = patterns
        self.returnOptions = returnOptions
    }
}

/// `list-select-opt` (RFC 5258 §6, RFC 6154 §6).
public enum IMAPListSelectionOption: Hashable, Sendable {
    case subscribed, remote, recursiveMatch, specialUse
}

/// `return-option` (RFC 5258 §6, RFC 5819 §4, RFC 6154 §6).
public enum IMAPListReturnOption: Hashable, Sendable {
    case subscribed, children, specialUse
    case status([IMAPStatusAttribute])
}

/// `status-att` (RFC 9051 §9, RFC 8438, RFC 7162).
public enum IMAPStatusAttribute: String, Hashable, Sendable, CaseIterable {
    case messages = "MESSAGES"
    case recent = "RECENT"
    case uidNext = "UIDNEXT"
    case uidValidity = "UIDVALIDITY"
    case unseen = "UNSEEN"
    case deleted = "DELETED"
    case size = "SIZE"
    case highestModSeq = "HIGHESTMODSEQ"
    /// RFC 8474 §4.2 (OBJECTID): its value is an objectid, not a number.
    case mailboxID = "MAILBOXID"
}

/// One message of APPEND (RFC 3502 `append-message`).
public struct IMAPAppendMessage: Sendable, Equatable {
    public var flags: [IMAPFlag]?
    public var internalDate: IMAPDateTime?
    public var data: [UInt8]
    /// Sent as `~{n}` literal8 (RFC 3516 §4.4), possibly holding NUL octets.
    public var isBinary: Bool
    /// Sent as `UTF8 (~{n})` (RFC 6855 §4): the message may use UTF-8 headers.
    public var isUTF8: Bool

    public init(flags: [IMAPFlag]? = nil, internalDate: IMAPDateTime? = nil, data: [UInt8],
                isBinary: Bool = false, isUTF8: Bool = false) {
        self.flags = flags
        self.internalDate = internalDate
        self.data = data
        self.isBinary = isBinary
        self.isUTF8 = isUTF8
    }
}

/// STORE's action (RFC 9051 §6.4.6).
public struct IMAPStoreAction: Sendable, Equatable {
    public enum Operation: Sendable, Equatable { case replace, add, remove }
    public var operation: Operation
    public var silent: Bool
    public var flags: [IMAPFlag]

    public init(_ operation: Operation, silent: Bool = false, flags: [IMAPFlag]) {
        self.operation = operation
        self.silent = silent
        self.flags = flags
    }
}

/// One ID field/value pair (RFC 2971 §3.3).
public struct IMAPIDField: Sendable, Equatable {
    public var name: [UInt8]
    public var value: [UInt8]?

    public init(name: [UInt8], value: [UInt8]?) {
        self.name = name
        self.value = value
    }
}

/// SEARCH (RFC 9051 §6.4.4, RFC 4731, RFC 5182).
public struct IMAPSearchCommand: Sendable, Equatable {
    /// nil: a plain SEARCH answered by `* SEARCH`; otherwise `RETURN (…)`, answered by ESEARCH.
    /// An empty list means `RETURN ()`, which is ALL (RFC 4731 §3.1).
    public var returnOptions: [IMAPSearchReturnOption]?
    /// The CHARSET argument, uppercased; nil when absent (US-ASCII, or UTF-8 in IMAP4rev2).
    public var charset: String?
    /// The criteria; several top-level keys are an `.and`.
    public var key: IMAPSearchKey

    public init(returnOptions: [IMAPSearchReturnOption]? = nil, charset: String? = nil, key: IMAPSearchKey) {
        self.returnOptions = returnOptions
        self.charset = charset
        self.key = key
    }
}

/// `search-return-opt` (RFC 4731 §3.1, RFC 5182 §2).
public enum IMAPSearchReturnOption: String, Hashable, Sendable {
    case min = "MIN"
    case max = "MAX"
    case all = "ALL"
    case count = "COUNT"
    case save = "SAVE"
}

/// `search-key` of RFC 3501 and RFC 9051 with WITHIN (RFC 5032) and CONDSTORE (RFC 7162 §3.4).
/// Strings are octets in the command's charset.
public indirect enum IMAPSearchKey: Sendable, Equatable {
    case all, answered, deleted, draft, flagged, new, old, recent, seen
    case unanswered, undeleted, undraft, unflagged, unseen
    case bcc([UInt8]), body([UInt8]), cc([UInt8]), from([UInt8]), subject([UInt8]), text([UInt8]), to([UInt8])
    case keyword(IMAPFlag), unkeyword(IMAPFlag)
    case before(IMAPDate), on(IMAPDate), since(IMAPDate)
    case sentBefore(IMAPDate), sentOn(IMAPDate), sentSince(IMAPDate)
    /// Header field name and the substring to look for.
    case header(String, [UInt8])
    case larger(UInt64), smaller(UInt64)
    case uid(IMAPMessageSet)
    case sequenceNumbers(IMAPMessageSet)
    /// RFC 5032: seconds.
    case older(UInt32), younger(UInt32)
    /// RFC 7162 §3.4: `MODSEQ ["/flags/\Seen" all] 620162338`.
    case modSeq(UInt64, entry: IMAPModSeqEntry?)
    /// RFC 8474 §6: `EMAILID objectid`, `THREADID objectid`.
    case emailID(String), threadID(String)
    /// RFC 8514 §4.3: SAVEDBEFORE, SAVEDON, SAVEDSINCE.
    case savedBefore(IMAPDate), savedOn(IMAPDate), savedSince(IMAPDate)
    case not(IMAPSearchKey)
    case or(IMAPSearchKey, IMAPSearchKey)
    /// A parenthesised list, or several keys in a row.
    case and([IMAPSearchKey])
}

/// The optional metadata entry of the MODSEQ search key (RFC 7162 §3.4).
public struct IMAPModSeqEntry: Sendable, Equatable {
    public enum EntryType: String, Sendable, Equatable { case priv, shared, all }
    public var flag: IMAPFlag
    public var type: EntryType

    public init(flag: IMAPFlag, type: EntryType) {
        self.flag = flag
        self.type = type
    }
}

/// SORT (RFC 5256 §3, RFC 5957).
public struct IMAPSortCommand: Sendable, Equatable {
    public var criteria: [IMAPSortCriterion]
    /// The mandatory charset, uppercased.
    public var charset: String
    public var key: IMAPSearchKey

    public init(criteria: [IMAPSortCriterion], charset: String, key: IMAPSearchKey) {
        self.criteria = criteria
        self.charset = charset
        self.key = key
    }
}

/// `sort-criterion`: `[REVERSE] key`.
public struct IMAPSortCriterion: Sendable, Equatable {
    public enum Key: String, Sendable, Equatable {
        case arrival = "ARRIVAL"
        case cc = "CC"
        case date = "DATE"
        case from = "FROM"
        case size = "SIZE"
        case subject = "SUBJECT"
        case to = "TO"
        case displayFrom = "DISPLAYFROM"
        case displayTo = "DISPLAYTO"
    }
    public var key: Key
    public var reverse: Bool

    public init(_ key: Key, reverse: Bool = false) {
        self.key = key
        self.reverse = reverse
    }
}

/// `fetch-att` (RFC 9051 §6.4.5, RFC 3516, RFC 7162). The macros ALL, FAST and FULL are expanded
/// by the parser (RFC 9051 §6.4.5).
public enum IMAPFetchAttribute: Sendable, Equatable {
    case envelope, flags, internalDate, rfc822, rfc822Header, rfc822Size, rfc822Text
    /// `BODY` without a section: the non-extensible body structure.
    case body
    case bodyStructure
    case uid
    case modSeq
    /// RFC 8474 §5: `EMAILID`, `THREADID`.
    case emailID, threadID
    /// RFC 8514 §4.2: `SAVEDATE`.
    case saveDate
    /// `BODY[section]<partial>` or `BODY.PEEK[…]`.
    case bodySection(IMAPSection, partial: IMAPPartial?, peek: Bool)
    /// `BINARY[part]<partial>` or `BINARY.PEEK[…]` (RFC 3516).
    case binary(part: [UInt32], partial: IMAPPartial?, peek: Bool)
    /// `BINARY.SIZE[part]`.
    case binarySize(part: [UInt32])
    /// RFC 8970 §3: `PREVIEW` or `PREVIEW (LAZY)`.
    case preview(lazy: Bool)

    /// The macro expansions of RFC 9051 §6.4.5.
    public static let fast: [IMAPFetchAttribute] = [.flags, .internalDate, .rfc822Size]
    public static let all: [IMAPFetchAttribute] = [.flags, .internalDate, .rfc822Size, .envelope]
    public static let full: [IMAPFetchAttribute] = [.flags, .internalDate, .rfc822Size, .envelope, .body]
}

/// `section` (RFC 9051 §9): a part path and what to take from that part.
public struct IMAPSection: Hashable, Sendable, CustomStringConvertible {
    public enum Text: Hashable, Sendable {
        case header
        case headerFields([String])
        case headerFieldsNot([String])
        case text
        /// Only after a part number.
        case mime
    }

    /// `1.2.3`; empty for the whole message.
    public var part: [UInt32]
    public var text: Text?

    public init(part: [UInt32] = [], text: Text? = nil) {
        self.part = part
        self.text = text
    }

    /// The bracket contents for logs, e.g. `1.2.HEADER.FIELDS (From To)` (responses use the
    /// encoder, which quotes field names where needed).
    public var description: String {
        var pieces = part.map(String.init)
        switch text {
        case nil: break
        case .header: pieces.append("HEADER")
        case .text: pieces.append("TEXT")
        case .mime: pieces.append("MIME")
        case .headerFields(let names): pieces.append("HEADER.FIELDS (" + names.joined(separator: " ") + ")")
        case .headerFieldsNot(let names): pieces.append("HEADER.FIELDS.NOT (" + names.joined(separator: " ") + ")")
        }
        return pieces.joined(separator: ".")
    }
}

/// `<offset.length>` (RFC 9051 §9 `partial`).
public struct IMAPPartial: Hashable, Sendable {
    public var offset: UInt64
    public var length: UInt64

    public init(offset: UInt64, length: UInt64) {
        self.offset = offset
        self.length = length
    }
}

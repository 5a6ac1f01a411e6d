import Testing
@testable import IMAPProtocol

func mailbox(_ text: String) -> IMAPMailboxName { IMAPMailboxName(bytes: Array(text.utf8)) }
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
func set(_ text: String) -> IMAPMessageSet { text == "$" ? .lastSearchResult : .set(IMAPSequenceSet(text)!) }
func date(_ text: String) -> IMAPDate { IMAPDate(text)! }

func parse(_ text: String, limits: IMAPLimits = IMAPLimits()) throws(IMAPParseError) -> IMAPCommand {
    try IMAPCommandParser(limits: limits).parse(text)
}

struct ParserCase: CustomTestStringConvertible, Sendable {
    let line: String
    let expected: IMAPCommandKind
    var testDescription: String { line }
    init(_ line: String, _ expected: IMAPCommandKind) {
        self.line = line
        self.expected = expected
    }
}

@Suite struct CommandParserTests {
    /// RFC 3501 §8 sample session, client lines.
    static let rfc3501Session: [ParserCase] = [
        ParserCase("a001 login mrc secret", .login(user: bytes("mrc"), password: bytes("secret"))),
        ParserCase("a002 select inbox", .select(mailbox("INBOX"), condStore: false)),
        ParserCase("a003 fetch 12 full", .fetch(set("12"), IMAPFetchAttribute.full, changedSince: nil, uid: false)),
        ParserCase("a004 fetch 12 body[header]",
                   .fetch(set("12"), [.bodySection(IMAPSection(text: .header), partial: nil, peek: false)], changedSince: nil, uid: false)),
        ParserCase("a005 store 12 +flags \\deleted",
                   .store(set("12"), IMAPStoreAction(.add, flags: [.deleted]), unchangedSince: nil, uid: false)),
        ParserCase("a006 logout", .logout),
    ]

    /// Examples from RFC 9051 §6 and the extension RFCs.
    static let examples: [ParserCase] = [
        ParserCase("abcd CAPABILITY", .capability),
        ParserCase("a047 NOOP", .noop),
        ParserCase("a002 STARTTLS", .startTLS),
        ParserCase("A142 SELECT INBOX", .select(mailbox("INBOX"), condStore: false)),
        ParserCase("A932 EXAMINE blurdybloop", .examine(mailbox("blurdybloop"), condStore: false)),
        ParserCase("A160 SELECT INBOX (CONDSTORE)", .select(mailbox("INBOX"), condStore: true)),
        ParserCase("A003 CREATE owatagusiam/", .create(mailbox("owatagusiam/"), specialUse: [])),
        ParserCase("t1 CREATE MySpecialArchive (USE (\\Archive))", .create(mailbox("MySpecialArchive"), specialUse: [.archive])),
        ParserCase("A683 DELETE blurdybloop", .delete(mailbox("blurdybloop"))),
        ParserCase("A683 RENAME blurdybloop sarasoop", .rename(from: mailbox("blurdybloop"), to: mailbox("sarasoop"))),
        ParserCase("A002 SUBSCRIBE #news.comp.mail.mime", .subscribe(mailbox("#news.comp.mail.mime"))),
        ParserCase("A002 UNSUBSCRIBE #news.comp.mail.mime", .unsubscribe(mailbox("#news.comp.mail.mime"))),
        ParserCase("A101 LIST \"\" \"\"", .list(IMAPListCommand(reference: mailbox(""), patterns: [mailbox("")]))),
        ParserCase("A202 LIST ~/Mail/ %", .list(IMAPListCommand(reference: mailbox("~/Mail/"), patterns: [mailbox("%")]))),
        ParserCase("A01 LIST (SUBSCRIBED) \"\" \"*\"", .list(IMAPListCommand(selectionOptions: [.subscribed], reference: mailbox(""), patterns: [mailbox("*")]))),
        ParserCase("A02 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)",
                   .list(IMAPListCommand(selectionOptions: [.subscribed, .recursiveMatch], reference: mailbox(""), patterns: [mailbox("%")], returnOptions: [.children]))),
        ParserCase("A03 LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")",
                   .list(IMAPListCommand(reference: mailbox(""), patterns: [mailbox("INBOX"), mailbox("Drafts"), mailbox("Sent/%")]))),
        ParserCase("A04 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))",
                   .list(IMAPListCommand(reference: mailbox(""), patterns: [mailbox("%")], returnOptions: [.status([.messages, .unseen])]))),
        ParserCase("t1 LIST (SPECIAL-USE) \"\" \"*\" RETURN (SPECIAL-USE SUBSCRIBED)",
                   .list(IMAPListCommand(selectionOptions: [.specialUse], reference: mailbox(""), patterns: [mailbox("*")], returnOptions: [.specialUse, .subscribed]))),
        ParserCase("A002 LSUB \"#news.\" \"comp.mail.*\"", .lsub(reference: mailbox("#news."), pattern: mailbox("comp.mail.*"))),
        ParserCase("A001 NAMESPACE", .namespace),
        ParserCase("A042 STATUS blurdybloop (UIDNEXT MESSAGES)", .status(mailbox("blurdybloop"), [.uidNext, .messages])),
        ParserCase("A042 STATUS INBOX (SIZE HIGHESTMODSEQ DELETED UNSEEN RECENT UIDVALIDITY)",
                   .status(mailbox("INBOX"), [.size, .highestModSeq, .deleted, .unseen, .recent, .uidValidity])),
        ParserCase("a IDLE", .idle),
        ParserCase("FXXZ CHECK", .check),
        ParserCase("A341 CLOSE", .close),
        ParserCase("A342 UNSELECT", .unselect),
        ParserCase("A202 EXPUNGE", .expunge),
        ParserCase("A003 UID EXPUNGE 3000:3002", .uidExpunge(set("3000:3002"))),
        ParserCase("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
                   .search(IMAPSearchCommand(key: .and([.flagged, .since(date("1-Feb-1994")), .not(.from(bytes("Smith")))])), uid: false)),
        ParserCase("A283 SEARCH TEXT \"string not in mailbox\"", .search(IMAPSearchCommand(key: .text(bytes("string not in mailbox"))), uid: false)),
        ParserCase("A284 SEARCH CHARSET UTF-8 TEXT {12}\r\nXXXXXXXXXXXX",
                   .search(IMAPSearchCommand(charset: "UTF-8", key: .text(bytes("XXXXXXXXXXXX"))), uid: false)),
        ParserCase("A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
                   .search(IMAPSearchCommand(returnOptions: [.min, .count], key: .and([.flagged, .since(date("1-Feb-1994")), .not(.from(bytes("Smith")))])), uid: false)),
        ParserCase("A301 SEARCH RETURN () UNDELETED", .search(IMAPSearchCommand(returnOptions: [], key: .undeleted), uid: false)),
        ParserCase("A SEARCH RETURN (SAVE) FLAGGED", .search(IMAPSearchCommand(returnOptions: [.save], key: .flagged), uid: false)),
        ParserCase("B FETCH $ (UID)", .fetch(.lastSearchResult, [.uid], changedSince: nil, uid: false)),
        ParserCase("C UID SEARCH UID $ SMALLER 4096", .search(IMAPSearchCommand(key: .and([.uid(.lastSearchResult), .smaller(4096)])), uid: true)),
        ParserCase("a SEARCH OR (SEEN FLAGGED) 1:5,7 YOUNGER 3600 OLDER 60",
                   .search(IMAPSearchCommand(key: .and([.or(.and([.seen, .flagged]), .sequenceNumbers(set("1:5,7"))), .younger(3600), .older(60)])), uid: false)),
        ParserCase("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338",
                   .search(IMAPSearchCommand(key: .modSeq(620162338, entry: IMAPModSeqEntry(flag: .draft, type: .all))), uid: false)),
        ParserCase("a SEARCH MODSEQ 0", .search(IMAPSearchCommand(key: .modSeq(0, entry: nil)), uid: false)),
        ParserCase("a SEARCH HEADER Message-ID <x@y> KEYWORD $Junk UNKEYWORD $Forwarded LARGER 10000000000",
                   .search(IMAPSearchCommand(key: .and([.header("Message-ID", bytes("<x@y>")), .keyword(IMAPFlag("$Junk")), .unkeyword(IMAPFlag("$Forwarded")), .larger(10_000_000_000)])), uid: false)),
        ParserCase("a SEARCH SENTBEFORE \"1-Feb-1994\" SENTON 2-Feb-1994 SENTSINCE 03-Feb-1994 BEFORE 1-Jan-2000 ON 29-Feb-2000",
                   .search(IMAPSearchCommand(key: .and([.sentBefore(date("1-Feb-1994")), .sentOn(date("2-Feb-1994")), .sentSince(date("3-Feb-1994")), .before(date("1-Jan-2000")), .on(date("29-Feb-2000"))])), uid: false)),
        ParserCase("a SEARCH ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN",
                   .search(IMAPSearchCommand(key: .and([.all, .answered, .deleted, .draft, .flagged, .new, .old, .recent, .seen, .unanswered, .undeleted, .undraft, .unflagged, .unseen])), uid: false)),
        ParserCase("a SEARCH BCC a BODY b CC c SUBJECT \"d e\" TO f",
                   .search(IMAPSearchCommand(key: .and([.bcc(bytes("a")), .body(bytes("b")), .cc(bytes("c")), .subject(bytes("d e")), .to(bytes("f"))])), uid: false)),
        ParserCase("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
                   .fetch(set("2:4"), [.flags, .bodySection(IMAPSection(text: .headerFields(["DATE", "FROM"])), partial: nil, peek: false)], changedSince: nil, uid: false)),
        ParserCase("a FETCH 1 (BODY.PEEK[1.2.MIME] BODY[]<0.2048> BODY[3.HEADER.FIELDS.NOT (X-A \"Y\")] BODY[TEXT])",
                   .fetch(set("1"), [
                    .bodySection(IMAPSection(part: [1, 2], text: .mime), partial: nil, peek: true),
                    .bodySection(IMAPSection(), partial: IMAPPartial(offset: 0, length: 2048), peek: false),
                    .bodySection(IMAPSection(part: [3], text: .headerFieldsNot(["X-A", "Y"])), partial: nil, peek: false),
                    .bodySection(IMAPSection(text: .text), partial: nil, peek: false),
                   ], changedSince: nil, uid: false)),
        ParserCase("a FETCH 1:* (ENVELOPE INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ)",
                   .fetch(set("1:*"), [.envelope, .internalDate, .rfc822, .rfc822Header, .rfc822Size, .rfc822Text, .body, .bodyStructure, .uid, .modSeq], changedSince: nil, uid: false)),
        ParserCase("a FETCH 1 fast", .fetch(set("1"), IMAPFetchAttribute.fast, changedSince: nil, uid: false)),
        ParserCase("a FETCH 1 ALL", .fetch(set("1"), IMAPFetchAttribute.all, changedSince: nil, uid: false)),
        ParserCase("a FETCH 1 (BINARY.PEEK[1]<0.100> BINARY[] BINARY.SIZE[2.1])",
                   .fetch(set("1"), [.binary(part: [1], partial: IMAPPartial(offset: 0, length: 100), peek: true), .binary(part: [], partial: nil, peek: false), .binarySize(part: [2, 1])], changedSince: nil, uid: false)),
        ParserCase("s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)", .fetch(set("1:*"), [.flags, .modSeq], changedSince: 12345, uid: true)),
        // RFC 7162 §3.2.5.2 and §3.2.6 (QRESYNC).
        ParserCase("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
                   .select(mailbox("INBOX"), condStore: false, qresync: IMAPQResyncParameters(
                       uidValidity: 67890007, modSeq: 20050715194045000, knownUIDs: IMAPSequenceSet("41,43:211,214:541")))),
        ParserCase("B02 EXAMINE INBOX (CONDSTORE QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
                   .examine(mailbox("INBOX"), condStore: true, qresync: IMAPQResyncParameters(
                       uidValidity: 67890007, modSeq: 90060115194045000, knownUIDs: IMAPSequenceSet("1:29997"),
                       sequenceMatch: (IMAPSequenceSet("5000,7500,9000,9990:9999")!,
                                       IMAPSequenceSet("15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997")!)))),
        ParserCase("a SELECT INBOX (QRESYNC (1 2 (3 4)))",
                   .select(mailbox("INBOX"), condStore: false, qresync: IMAPQResyncParameters(
                       uidValidity: 1, modSeq: 2, sequenceMatch: (IMAPSequenceSet("3")!, IMAPSequenceSet("4")!)))),
        ParserCase("A03 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
                   .fetch(set("300:500"), [.flags, .modSeq], changedSince: 12345, uid: true, vanished: true)),
        // RFC 8474 §4.2, §5.1, §6 (OBJECTID).
        ParserCase("6 status foo (mailboxid)", .status(mailbox("foo"), [.mailboxID])),
        ParserCase("5 fetch 1:* (emailid threadid)", .fetch(set("1:*"), [.emailID, .threadID], changedSince: nil, uid: false)),
        ParserCase("27 uid search emailid M6d99ac3275bb4e", .search(IMAPSearchCommand(key: .emailID("M6d99ac3275bb4e")), uid: true)),
        ParserCase("28 search threadid T64b478a75b7ea9", .search(IMAPSearchCommand(key: .threadID("T64b478a75b7ea9")), uid: false)),
        // RFC 8508 §3 (REPLACE).
        ParserCase("A003 REPLACE 4 Drafts (\\Seen \\Draft) {3+}\r\nabc",
                   .replace(4, mailbox("Drafts"), IMAPAppendMessage(flags: [.seen, .draft], data: bytes("abc")), uid: false)),
        ParserCase("A004 UID REPLACE 2000 INBOX {3+}\r\nabc",
                   .replace(2000, mailbox("INBOX"), IMAPAppendMessage(data: bytes("abc")), uid: true)),
        // RFC 8514 §4.2, §4.3 (SAVEDATE).
        ParserCase("a FETCH 1 (SAVEDATE)", .fetch(set("1"), [.saveDate], changedSince: nil, uid: false)),
        ParserCase("a SEARCH SAVEDBEFORE 1-Feb-2018 SAVEDON 2-Feb-2018 SAVEDSINCE 3-Feb-2018",
                   .search(IMAPSearchCommand(key: .and([.savedBefore(date("1-Feb-2018")), .savedOn(date("2-Feb-2018")),
                                                        .savedSince(date("3-Feb-2018"))])), uid: false)),
        ParserCase("A999 UID FETCH 4827313:4828442 FLAGS", .fetch(set("4827313:4828442"), [.flags], changedSince: nil, uid: true)),
        ParserCase("a FETCH 1:* BODY[1.2.3.4.5.6.7.8.9]",
                   .fetch(set("1:*"), [.bodySection(IMAPSection(part: [1, 2, 3, 4, 5, 6, 7, 8, 9]), partial: nil, peek: false)], changedSince: nil, uid: false)),
        ParserCase("A003 STORE 2:4 +FLAGS (\\Deleted)", .store(set("2:4"), IMAPStoreAction(.add, flags: [.deleted]), unchangedSince: nil, uid: false)),
        ParserCase("A004 STORE 2 -FLAGS.SILENT (\\Seen $Label1)", .store(set("2"), IMAPStoreAction(.remove, silent: true, flags: [.seen, IMAPFlag("$Label1")]), unchangedSince: nil, uid: false)),
        ParserCase("A005 STORE 2 FLAGS ()", .store(set("2"), IMAPStoreAction(.replace, flags: []), unchangedSince: nil, uid: false)),
        ParserCase("a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)",
                   .store(set("6,4,8"), IMAPStoreAction(.add, silent: true, flags: [.deleted]), unchangedSince: 12121230045, uid: true)),
        ParserCase("A003 COPY 2:4 MEETING", .copy(set("2:4"), mailbox("MEETING"), uid: false)),
        ParserCase("a UID COPY 1:3 \"Saved Mail\"", .copy(set("1:3"), mailbox("Saved Mail"), uid: true)),
        ParserCase("a UID MOVE 42:69 foo", .move(set("42:69"), mailbox("foo"), uid: true)),
        ParserCase("a MOVE $ Trash", .move(.lastSearchResult, mailbox("Trash"), uid: false)),
        ParserCase("A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994",
                   .sort(IMAPSortCommand(criteria: [IMAPSortCriterion(.subject)], charset: "UTF-8", key: .since(date("1-Feb-1994"))), uid: false)),
        ParserCase("A283 UID SORT (REVERSE DATE DISPLAYFROM DISPLAYTO ARRIVAL CC FROM SIZE TO) us-ascii ALL",
                   .sort(IMAPSortCommand(criteria: [IMAPSortCriterion(.date, reverse: true), IMAPSortCriterion(.displayFrom), IMAPSortCriterion(.displayTo), IMAPSortCriterion(.arrival), IMAPSortCriterion(.cc), IMAPSortCriterion(.from), IMAPSortCriterion(.size), IMAPSortCriterion(.to)], charset: "US-ASCII", key: .all), uid: true)),
        ParserCase("a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" NIL)",
                   .id([IMAPIDField(name: bytes("name"), value: bytes("sodr")), IMAPIDField(name: bytes("version"), value: bytes("19.34")), IMAPIDField(name: bytes("vendor"), value: nil)])),
        ParserCase("a024 ID NIL", .id(nil)),
        ParserCase("t1 ENABLE CONDSTORE utf8=accept", .enable(["CONDSTORE", "UTF8=ACCEPT"])),
        ParserCase("a AUTHENTICATE plain", .authenticate(mechanism: "PLAIN", initialResponse: nil)),
        ParserCase("a AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=", .authenticate(mechanism: "PLAIN", initialResponse: bytes("dGVzdAB0ZXN0AHRlc3Q="))),
        ParserCase("a AUTHENTICATE EXTERNAL =", .authenticate(mechanism: "EXTERNAL", initialResponse: bytes("="))),
        ParserCase("a LOGIN \"fred \\\"x\\\\\" {4}\r\npass", .login(user: bytes("fred \"x\\"), password: bytes("pass"))),
        ParserCase("a LOGIN fred {4+}\r\np ss", .login(user: bytes("fred"), password: bytes("p ss"))),
        // Hostile names parse: the mailbox layer refuses them.
        ParserCase("a SELECT ../../etc", .select(mailbox("../../etc"), condStore: false)),
        ParserCase("a CREATE \"a/../../b\"", .create(mailbox("a/../../b"), specialUse: [])),
        ParserCase("a SELECT \"&Jjo-\"", .select(mailbox("&Jjo-"), condStore: false)),
        ParserCase("a SELECT \"föö\"", .select(mailbox("föö"), condStore: false)),
    ]

    @Test(arguments: rfc3501Session + examples)
    func parsesCommand(_ testCase: ParserCase) throws {
        let parsed = try parse(testCase.line)
        #expect(parsed.kind == testCase.expected)
        #expect(parsed.tag == String(testCase.line.prefix { $0 != " " }))
    }

    @Test func appendWithFlagsDateAndLiteral() throws {
        let message = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred\r\n\r\nHello Joe\r\n"
        let line = "A003 APPEND saved-messages (\\Seen) \"07-Feb-1994 21:52:25 -0800\" {\(message.utf8.count)}\r\n" + message
        let parsed = try parse(line)
        let expectedDate = IMAPDateTime(date: date("7-Feb-1994"), hour: 21, minute: 52, second: 25, zoneOffsetMinutes: -480)!
        #expect(parsed.kind == .append(mailbox("saved-messages"), [IMAPAppendMessage(flags: [.seen], internalDate: expectedDate, data: bytes(message))]))
    }

    @Test func multiAppendBinaryAndUTF8() throws {
        let frame = IMAPCommandFrame(bytes: bytes("a APPEND INBOX {3}\r\nabc (\\Flagged) ~{3}\r\n") + [0, 1, 2] + bytes(" UTF8 (~{2}\r\nhi)"))
        let parsed = try IMAPCommandParser().parse(frame)
        #expect(parsed.kind == .append(mailbox("INBOX"), [
            IMAPAppendMessage(data: bytes("abc")),
            IMAPAppendMessage(flags: [.flagged], data: [0, 1, 2], isBinary: true),
            IMAPAppendMessage(data: bytes("hi"), isBinary: true, isUTF8: true),
        ]))
    }

    /// Bad syntax for each command gives a BAD carrying the tag.
    @Test(arguments: [
        "a NOOP extra", "a LOGIN", "a LOGIN onlyuser", "a LOGIN (x) y", "a SELECT", "a SELECT INBOX (QRESYNC)",
        "a SELECT INBOX ()", "a CREATE", "a CREATE x (USE (Sent))", "a DELETE", "a RENAME a", "a SUBSCRIBE",
        "a LIST", "a LIST \"\"", "a LIST (BOGUS) \"\" *", "a LIST (RECURSIVEMATCH) \"\" *", "a LIST \"\" * RETURN (BOGUS)",
        "a LSUB \"\"", "a STATUS INBOX", "a STATUS INBOX ()", "a STATUS INBOX (MESSAGES BOGUS)",
        "a APPEND INBOX", "a APPEND INBOX \"quoted message\"", "a APPEND INBOX (\\Seen) \"31-Feb-2020 00:00:00 +0000\" {1}\r\nx",
        "a APPEND INBOX {5}\r\nab", "a SEARCH", "a SEARCH BOGUS", "a SEARCH SINCE 1-Foo-2000", "a SEARCH SINCE 32-Jan-2000",
        "a SEARCH OR SEEN", "a SEARCH NOT", "a SEARCH (SEEN", "a SEARCH ()", "a SEARCH RETURN (BOGUS) ALL", "a SEARCH 0",
        "a SEARCH 1:", "a SEARCH 4294967296", "a SEARCH $,1", "a SEARCH MODSEQ \"/flags/\\\\Seen\" bogus 1", "a SEARCH OLDER 0",
        "a SEARCH LARGER 9223372036854775808", "a SEARCH CHARSET", "a FETCH", "a FETCH 1", "a FETCH 1 BOGUS", "a FETCH 1 ()",
        "a FETCH 1 BODY[", "a FETCH 1 BODY[0]", "a FETCH 1 BODY[MIME]", "a FETCH 1 BODY[HEADER.FIELDS]", "a FETCH 1 BODY[1]<0.0>",
        "a FETCH 1 BODY.PEEK", "a FETCH 1 (FLAGS) (VANISHED)", "a UID FETCH 1 (FLAGS) (VANISHED)",
        "a FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)", "a SELECT INBOX (QRESYNC (0 1))", "a SELECT INBOX (QRESYNC (1 0))",
        "a SELECT INBOX (QRESYNC (1 2 1:*))", "a SELECT INBOX (QRESYNC 1 2)", "a SELECT INBOX (QRESYNC (1 2 3 (4)))",
        "a SELECT INBOX (BOGUS)", "a SEARCH EMAILID", "a REPLACE 1 INBOX", "a REPLACE 0 INBOX {1+}\r\nx", "a UID REPLACE x INBOX {1+}\r\nx", "a SEARCH SAVEDON", "a SEARCH SAVEDSINCE 1-Foo-2018", "a SEARCH EMAILID a.b", "a SEARCH THREADID \"x\"", "a SELECT INBOX (CONDSTORE CONDSTORE)", "a SELECT INBOX ()", "a FETCH 1 BINARY[TEXT]", "a STORE 1 FLAGS", "a STORE 1 +FLAGZ (\\Seen)",
        "a STORE 1 (UNCHANGEDSINCE x) FLAGS ()", "a COPY 1", "a MOVE 1", "a COPY x y", "a UID", "a UID BOGUS 1", "a UID EXPUNGE",
        "a SORT ALL", "a SORT (SUBJECT) ALL", "a SORT (BOGUS) UTF-8 ALL", "a SORT () UTF-8 ALL", "a ID", "a ID (\"name\")",
        "a ENABLE", "a AUTHENTICATE", "a AUTHENTICATE PLAIN !!!!", "a AUTHENTICATE PLAIN abc", "a LOGIN \"unterminated",
        "a LOGIN \"bad \\x escape\" p", "a LOGIN {3}\r\na\u{0}b p", "a LOGIN \"a\u{1}\r\" p", "a  NOOP",
    ])
    func badSyntaxIsRefusedWithTag(_ line: String) {
        #expect {
            try parse(line)
        } throws: { error in
            let parseError = error as? IMAPParseError
            return parseError?.tag == "a" && (parseError?.kind == .syntax || parseError?.kind == .unknownCommand)
        }
    }

    @Test(arguments: ["a XFOO", "a X-BOGUS arg", "a FROBNICATE", "a UID XFETCH 1"])
    func unknownCommandsAreRefused(_ line: String) {
        #expect(throws: IMAPParseError.self) { try parse(line) }
        do {
            _ = try parse(line)
        } catch {
            #expect(error.kind == .unknownCommand)
            #expect(error.tag == "a")
        }
    }

    @Test(arguments: ["", " NOOP", "+a NOOP", "a(b NOOP", "\"a\" NOOP"])
    func invalidTag(_ line: String) {
        do {
            _ = try parse(line)
            Issue.record("parsed \(line)")
        } catch {
            #expect(error.kind == .invalidTag)
            #expect(error.tag == nil)
        }
    }

    @Test func tenThousandNestedParenthesesGiveBADWithoutDeepRecursion() {
        let line = "a SEARCH " + String(repeating: "(", count: 10_000) + "ALL" + String(repeating: ")", count: 10_000)
        do {
            _ = try parse(line)
            Issue.record("parsed")
        } catch {
            #expect(error.kind == .limitExceeded)
            #expect(error.tag == "a")
        }
        // A reader delivers it (it is under the line limit) and the parser refuses it.
        let events = readEvents(line + "\r\n")
        #expect(events.count == 1)
    }

    @Test func nestedNotAndOrAreBounded() {
        let nots = "a SEARCH " + String(repeating: "NOT ", count: 5000) + "ALL"
        #expect(throws: IMAPParseError.self) { try parse(nots) }
        let ors = "a SEARCH " + String(repeating: "OR ALL ", count: 5000) + "ALL"
        #expect(throws: IMAPParseError.self) { try parse(ors) }
        let deepButAllowed = "a SEARCH " + String(repeating: "NOT ", count: 30) + "ALL"
        #expect((try? parse(deepButAllowed)) != nil)
    }

    @Test func nestedParenthesesInOtherCommands() {
        let line = "a FETCH 1 " + String(repeating: "(", count: 10_000)
        #expect(throws: IMAPParseError.self) { try parse(line) }
        let list = "a LIST " + String(repeating: "(", count: 10_000)
        #expect(throws: IMAPParseError.self) { try parse(list) }
    }

    @Test func sectionDepthIsLimited() throws {
        let deep = "a FETCH 1 BODY[" + (1...33).map(String.init).joined(separator: ".") + "]"
        do {
            _ = try parse(deep)
            Issue.record("parsed")
        } catch {
            #expect(error.kind == .limitExceeded)
        }
        let allowed = "a FETCH 1 BODY[" + (1...32).map(String.init).joined(separator: ".") + "]"
        _ = try parse(allowed)
    }

    @Test func listItemAndRangeLimits() throws {
        var limits = IMAPLimits()
        limits.maxListItems = 3
        limits.maxSequenceRanges = 3
        _ = try parse("a STORE 1 FLAGS (a b c)", limits: limits)
        #expect(throws: IMAPParseError.self) { try parse("a STORE 1 FLAGS (a b c d)", limits: limits) }
        _ = try parse("a FETCH 1,2,3 FLAGS", limits: limits)
        #expect(throws: IMAPParseError.self) { try parse("a FETCH 1,2,3,4 FLAGS", limits: limits) }
        #expect(throws: IMAPParseError.self) { try parse("a SEARCH SEEN SEEN SEEN SEEN", limits: limits) }
    }

    @Test func literalSizeBeyondFrameIsAnError() {
        #expect(throws: IMAPParseError.self) { try parse("a LOGIN {4294967296}\r\nab c") }
        #expect(throws: IMAPParseError.self) { try parse("a LOGIN {99999999999999999999999}\r\n") }
    }

    @Test func eightBitQuotedStringsMustBeUTF8() {
        let valid = IMAPCommandFrame(bytes: bytes("a LOGIN \"") + [0xC3, 0xA4] + bytes("\" p"))
        #expect((try? IMAPCommandParser().parse(valid)) != nil)
        let invalid = IMAPCommandFrame(bytes: bytes("a LOGIN \"") + [0xC3] + bytes("\" p"))
        #expect(throws: IMAPParseError.self) { try IMAPCommandParser().parse(invalid) }
    }

    @Test func fetchModifiersAddModSeq() throws {
        let parsed = try parse("a FETCH 1 (FLAGS MODSEQ) (CHANGEDSINCE 7)")
        #expect(parsed.kind == .fetch(set("1"), [.flags, .modSeq], changedSince: 7, uid: false))
    }

    @Test func storeWithoutParenthesesTakesSeveralFlags() throws {
        let parsed = try parse("a STORE 1 +FLAGS \\Seen \\Flagged $x")
        #expect(parsed.kind == .store(set("1"), IMAPStoreAction(.add, flags: [.seen, .flagged, IMAPFlag("$x")]), unchangedSince: nil, uid: false))
    }
}

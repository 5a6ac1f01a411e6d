import Testing
@testable import IMAPProtocol

func text(_ encoder: IMAPResponseEncoder) -> String { String(decoding: encoder.bytes, as: UTF8.self) }

@Suite struct ResponseEncoderTests {
    @Test func statusResponses() {
        var encoder = IMAPResponseEncoder()
        encoder.untagged(.ok, code: .uidValidity(3857529045), "UIDs valid")
        encoder.untagged(.ok, code: .permanentFlags([.deleted, .seen], allowsNewKeywords: true), "Limited")
        encoder.tagged("A142", .ok, code: .readWrite, "SELECT completed")
        encoder.tagged("A003", .ok, code: .appendUID(uidValidity: 38505, uids: IMAPNumberSet(numbers: [3955] as [UInt32])), "APPEND completed")
        encoder.tagged("A004", .ok, code: .copyUID(uidValidity: 38505, source: IMAPNumberSet(numbers: [304, 319, 320] as [UInt32]), destination: IMAPNumberSet(numbers: [3956, 3957, 3958] as [UInt32])), "Done")
        encoder.tagged("a", .no, code: .tryCreate, "No such mailbox")
        encoder.untagged(.bye, "Autologout; idle for too long")
        encoder.continuation()
        encoder.tagged("b", .ok, "")
        #expect(text(encoder) == """
        * OK [UIDVALIDITY 3857529045] UIDs valid\r
        * OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r
        A142 OK [READ-WRITE] SELECT completed\r
        A003 OK [APPENDUID 38505 3955] APPEND completed\r
        A004 OK [COPYUID 38505 304,319:320 3956:3958] Done\r
        a NO [TRYCREATE] No such mailbox\r
        * BYE Autologout; idle for too long\r
        + Ready for literal\r
        b OK Done\r

        """)
    }

    @Test(arguments: [
        (IMAPResponseCode.highestModSeq(715194045007), "HIGHESTMODSEQ 715194045007"),
        (.alreadyExists, "ALREADYEXISTS"), (.nonexistent, "NONEXISTENT"), (.cannot, "CANNOT"), (.limit, "LIMIT"),
        (.authenticationFailed, "AUTHENTICATIONFAILED"), (.clientBug, "CLIENTBUG"), (.readOnly, "READ-ONLY"),
        (.uidNext(4392), "UIDNEXT 4392"), (.unseen(12), "UNSEEN 12"), (.noModSeq, "NOMODSEQ"),
        (.modified(IMAPNumberSet(numbers: [7, 9] as [UInt32])), "MODIFIED 7,9"),
        (.badCharset(["UTF-8", "US-ASCII"]), "BADCHARSET (UTF-8 US-ASCII)"),
        (.capability(["IMAP4rev1", "IDLE"]), "CAPABILITY IMAP4rev1 IDLE"),
        (.other("X-FOO", "a]b"), "X-FOO a)b"),
    ])
    func responseCodes(code: IMAPResponseCode, expected: String) {
        #expect(code.wireText == expected)
    }

    @Test func textCannotInjectLinesOrFakeCodes() {
        var encoder = IMAPResponseEncoder()
        encoder.tagged("a", .no, "bad\r\nb OK [ALERT] pwned")
        encoder.untagged(.ok, "[ALERT] not a code")
        #expect(text(encoder) == "a NO bad  b OK [ALERT] pwned\r\n* OK (ALERT] not a code\r\n")
    }

    @Test func stringQuotingRules() {
        var encoder = IMAPResponseEncoder()
        encoder.writeAString(Array("INBOX".utf8)); encoder.bytes.append(32)
        encoder.writeAString(Array("a b".utf8)); encoder.bytes.append(32)
        encoder.writeAString(Array("".utf8)); encoder.bytes.append(32)
        encoder.writeAString(Array("NIL".utf8)); encoder.bytes.append(32)
        encoder.writeAString(Array("q\"\\".utf8)); encoder.bytes.append(32)
        encoder.writeString(Array("two\r\nlines".utf8)); encoder.bytes.append(32)
        encoder.writeString(Array("Entwürfe".utf8))
        #expect(text(encoder) == "INBOX \"a b\" \"\" \"NIL\" \"q\\\"\\\\\" {10}\r\ntwo\r\nlines {9}\r\nEntwürfe")
        var utf8 = IMAPResponseEncoder(utf8Enabled: true)
        utf8.writeString(Array("Entwürfe".utf8))
        utf8.bytes.append(32)
        utf8.writeString([0xFF])
        #expect(utf8.bytes == Array("\"Entwürfe\" {1}\r\n".utf8) + [0xFF])
        var long = IMAPResponseEncoder()
        long.writeString(Array(repeating: UInt8(ascii: "a"), count: 2000))
        #expect(long.bytes.starts(with: Array("{2000}\r\n".utf8)))
    }

    /// RFC 3501 §7.4.2 / §8 example FETCH response.
    @Test func fetchWithEnvelopeAndBody() {
        let gray = IMAPAddress(name: bytes("Terry Gray"), mailbox: bytes("gray"), host: bytes("cac.washington.edu"))
        let envelope = IMAPEnvelope(
            date: bytes("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)"),
            subject: bytes("IMAP4rev1 WG mtg summary and minutes"),
            from: [gray], sender: [gray], replyTo: [gray],
            to: [IMAPAddress(mailbox: bytes("imap"), host: bytes("cac.washington.edu"))],
            cc: [IMAPAddress(mailbox: bytes("minutes"), host: bytes("CNRI.Reston.VA.US")),
                 IMAPAddress(name: bytes("John Klensin"), mailbox: bytes("KLENSIN"), host: bytes("MIT.EDU"))],
            messageID: bytes("<B27397-0100000@cac.washington.edu>"))
        let body = IMAPBodyStructure.single(IMAPBodyPart(type: "TEXT", subtype: "PLAIN", parameters: [IMAPBodyParameter("CHARSET", "US-ASCII")],
                                                         encoding: "7BIT", octets: 3028, kind: .text(lines: 92)))
        var encoder = IMAPResponseEncoder()
        encoder.fetch(IMAPFetchResponse(sequenceNumber: 12, items: [
            .flags([.seen]),
            .internalDate(IMAPDateTime("\"17-Jul-1996 02:44:25 -0700\"")!),
            .rfc822Size(4286),
            .envelope(envelope),
            .body(body),
        ]))
        #expect(text(encoder) == """
        * 12 FETCH (FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" RFC822.SIZE 4286 ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" (("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) ((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL "<B27397-0100000@cac.washington.edu>") BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92))\r

        """)
    }

    /// RFC 3501 §7.4.2 BODYSTRUCTURE example (multipart), plus extension data.
    @Test func bodyStructureMultipart() {
        let first = IMAPBodyPart(type: "TEXT", subtype: "PLAIN", parameters: [IMAPBodyParameter("CHARSET", "US-ASCII")],
                                 encoding: "7BIT", octets: 1152, kind: .text(lines: 23))
        let second = IMAPBodyPart(type: "TEXT", subtype: "PLAIN", parameters: [IMAPBodyParameter("CHARSET", "US-ASCII"), IMAPBodyParameter("NAME", "cc.diff")],
                                  id: bytes("<960723163407.20117h@cac.washington.edu>"), description: bytes("Compiler diff"),
                                  encoding: "BASE64", octets: 4554, kind: .text(lines: 73))
        let multipart = IMAPBodyStructure.multipart(IMAPMultipart(parts: [.single(first), .single(second)], subtype: "MIXED",
                                                                  parameters: [IMAPBodyParameter("BOUNDARY", "x")]))
        var encoder = IMAPResponseEncoder()
        encoder.writeBodyStructure(multipart, extended: false)
        #expect(text(encoder) == #"(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff") "<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73) "MIXED")"#)
        var extended = IMAPResponseEncoder()
        extended.writeBodyStructure(multipart, extended: true)
        #expect(text(extended) == #"(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23 NIL NIL NIL NIL)("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff") "<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "x") NIL NIL NIL)"#)
    }

    @Test func bodyStructureMessageRFC822WithExtensions() {
        let inner = IMAPBodyStructure.single(IMAPBodyPart(type: "TEXT", subtype: "PLAIN", octets: 10, kind: .text(lines: 1)))
        let attachment = IMAPBodyPart(type: "MESSAGE", subtype: "RFC822", octets: 300,
                                      kind: .message(envelope: IMAPEnvelope(subject: bytes("Fwd")), body: inner, lines: 12),
                                      md5: nil,
                                      extensionData: IMAPBodyExtension(disposition: IMAPBodyDisposition(type: "attachment", parameters: [IMAPBodyParameter("filename", "a.eml")]),
                                                                       language: ["en", "de"], location: bytes("http://x")))
        var encoder = IMAPResponseEncoder()
        encoder.writeBodyStructure(.single(attachment), extended: true)
        #expect(text(encoder) == #"("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 300 (NIL "Fwd" NIL NIL NIL NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) 12 NIL ("attachment" ("filename" "a.eml")) ("en" "de") "http://x")"#)
    }

    @Test func groupAddresses() {
        var encoder = IMAPResponseEncoder()
        encoder.writeEnvelope(IMAPEnvelope(to: [.groupStart(bytes("undisclosed-recipients")), .groupEnd]))
        #expect(text(encoder) == #"(NIL NIL NIL NIL NIL ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL)"#)
    }

    @Test func fetchBodySectionsAndBinary() {
        var encoder = IMAPResponseEncoder()
        encoder.fetch(IMAPFetchResponse(sequenceNumber: 3, items: [
            .uid(42),
            .bodySection(IMAPSection(part: [1, 2], text: .headerFields(["From", "To"])), origin: nil, data: bytes("From: a\r\n\r\n")),
            .bodySection(IMAPSection(), origin: 0, data: bytes("abc")),
            .bodySection(IMAPSection(text: .text), origin: nil, data: nil),
            .binary(part: [1], origin: nil, data: [0, 1]),
            .binarySize(part: [1], size: 2),
            .modSeq(624140003),
        ]))
        #expect(encoder.bytes == bytes("* 3 FETCH (UID 42 BODY[1.2.HEADER.FIELDS (From To)] {11}\r\nFrom: a\r\n\r\n BODY[]<0> {3}\r\nabc BODY[TEXT] NIL BINARY[1] ~{2}\r\n") + [0, 1] + bytes(" BINARY.SIZE[1] 2 MODSEQ (624140003))\r\n"))
    }

    @Test func listStatusSearchAndFriends() {
        var encoder = IMAPResponseEncoder()
        encoder.list(IMAPListResponse(attributes: [.hasNoChildren, .sent], name: IMAPMailboxName("Gesendete Objekte")))
        encoder.list(IMAPListResponse(attributes: [.noSelect], delimiter: nil, name: mailbox("")))
        encoder.list(IMAPListResponse(attributes: [], delimiter: UInt8(ascii: "\\"), name: mailbox("Foo"), childInfo: ["SUBSCRIBED"]))
        encoder.list(IMAPListResponse(attributes: [], name: mailbox("news"), childInfo: []), lsub: true)
        encoder.status(mailbox("blurdybloop"), [(.messages, 231), (.uidNext, 44292)])
        encoder.search([2, 84, 882])
        encoder.search([], highestModSeq: nil)
        encoder.search([2, 5], highestModSeq: 917162500)
        encoder.sort([5, 3])
        encoder.esearch(IMAPESearchResponse(tag: "A282", uid: false, min: 2, count: 3))
        encoder.esearch(IMAPESearchResponse(tag: "A283", uid: true, all: IMAPNumberSet(numbers: [1, 2, 3, 5] as [UInt32]), modSeq: 7))
        encoder.esearch(IMAPESearchResponse(tag: "A284", uid: false, all: IMAPNumberSet()))
        encoder.namespace(personal: [IMAPNamespace(prefix: mailbox(""), delimiter: UInt8(ascii: "/"))], otherUsers: [], shared: [])
        encoder.id([IMAPIDField(name: bytes("name"), value: bytes("Postamt")), IMAPIDField(name: bytes("os"), value: nil)])
        encoder.id(nil)
        encoder.capability(["IMAP4rev1", "IMAP4rev2", "IDLE"])
        encoder.enabled(["CONDSTORE"])
        encoder.exists(23)
        encoder.recent(5)
        encoder.expunge(3)
        encoder.flags([.answered, .flagged, .deleted, .seen, .draft])
        #expect(text(encoder) == """
        * LIST (\\HasNoChildren \\Sent) "/" "Gesendete Objekte"\r
        * LIST (\\Noselect) NIL ""\r
        * LIST () "\\\\" Foo ("CHILDINFO" ("SUBSCRIBED"))\r
        * LSUB () "/" news\r
        * STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r
        * SEARCH 2 84 882\r
        * SEARCH\r
        * SEARCH 2 5 (MODSEQ 917162500)\r
        * SORT 5 3\r
        * ESEARCH (TAG "A282") MIN 2 COUNT 3\r
        * ESEARCH (TAG "A283") UID ALL 1:3,5 MODSEQ 7\r
        * ESEARCH (TAG "A284")\r
        * NAMESPACE (("" "/")) NIL NIL\r
        * ID ("name" "Postamt" "os" NIL)\r
        * ID NIL\r
        * CAPABILITY IMAP4rev1 IMAP4rev2 IDLE\r
        * ENABLED CONDSTORE\r
        * 23 EXISTS\r
        * 5 RECENT\r
        * 3 EXPUNGE\r
        * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r

        """)
    }

    @Test func rejectionReplies() {
        var encoder = IMAPResponseEncoder()
        encoder.reject(IMAPParseError(tag: "a", kind: .syntax, message: "Expected a space"))
        encoder.reject(IMAPParseError(tag: nil, kind: .invalidTag, message: "Missing or invalid tag"))
        encoder.reject(IMAPParseError(tag: "b", kind: .limitExceeded, message: "Nesting deeper than 32"))
        encoder.reject(tag: "c", .literalTooLarge(size: 9, limit: 8, synchronizing: true, isAppend: true))
        encoder.reject(tag: "d", .lineTooLong(limit: 10))
        #expect(text(encoder) == """
        a BAD Expected a space\r
        * BAD Missing or invalid tag\r
        b BAD [LIMIT] Nesting deeper than 32\r
        c NO [TOOBIG] Literal larger than 8 octets\r
        d BAD [TOOBIG] Command line longer than 10 octets\r

        """)
    }
}

/// Encode with the response encoder's string rules, parse with the command grammar: the value
/// comes back unchanged.
@Suite struct RoundTripTests {
    @Test func astringsRoundTrip() throws {
        var generator = SplitMix64(seed: 11)
        let samples: [[UInt8]] = [bytes("INBOX"), bytes(""), bytes("a b"), bytes("q\"\\"), bytes("x\r\ny"), bytes("NIL"),
                                  bytes("Entwürfe"), bytes("]"), bytes("{5}"), bytes("%*")]
        var randomSamples: [[UInt8]] = []
        for _ in 0..<300 {
            let length = Int(generator.next() % 20)
            randomSamples.append((0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next() % 255 + 1) })
        }
        for utf8 in [false, true] {
            for value in samples + randomSamples {
                var encoder = IMAPResponseEncoder(utf8Enabled: utf8)
                encoder.bytes = bytes("t LOGIN ")
                encoder.writeAString(value)
                encoder.bytes.append(UInt8(ascii: " "))
                encoder.writeString(value)
                let parsed = try IMAPCommandParser().parse(IMAPCommandFrame(bytes: encoder.bytes))
                #expect(parsed.kind == .login(user: value, password: value))
            }
        }
    }

    @Test func mailboxNamesRoundTrip() throws {
        for name in ["INBOX", "Entwürfe", "台北/日本語", "a&b", "Sent Items", "~peter/\"quoted\"", "☺"] {
            for utf8 in [false, true] {
                var encoder = IMAPResponseEncoder(utf8Enabled: utf8)
                encoder.bytes = bytes("t SELECT ")
                encoder.writeAString(IMAPMailboxName(name, utf8Enabled: utf8).bytes)
                let parsed = try IMAPCommandParser().parse(IMAPCommandFrame(bytes: encoder.bytes))
                guard case .select(let parsedName, _, _) = parsed.kind else {
                    Issue.record("not a SELECT")
                    continue
                }
                #expect(try parsedName.decoded(utf8Enabled: utf8) == name)
            }
        }
    }

    @Test func sectionsRoundTrip() throws {
        let sections = [IMAPSection(), IMAPSection(part: [1, 2, 3]), IMAPSection(part: [4], text: .mime),
                        IMAPSection(text: .headerFields(["From", "X Y"])), IMAPSection(part: [2], text: .headerFieldsNot(["A"])),
                        IMAPSection(text: .text), IMAPSection(part: [1], text: .header)]
        for section in sections {
            var encoder = IMAPResponseEncoder()
            encoder.fetch(IMAPFetchResponse(sequenceNumber: 1, items: [.bodySection(section, origin: nil, data: nil)]))
            // "* 1 FETCH (BODY[…] NIL)\r\n" → "t FETCH 1 (BODY[…])"
            let response = text(encoder)
            #expect(response.hasPrefix("* 1 FETCH (BODY[") && response.hasSuffix(" NIL)\r\n"))
            let attribute = response.dropFirst("* 1 FETCH (".count).dropLast(" NIL)\r\n".count)
            let parsed = try parse("t FETCH 1 (" + attribute + ")")
            #expect(parsed.kind == .fetch(set("1"), [.bodySection(section, partial: nil, peek: false)], changedSince: nil, uid: false))
        }
    }
}

/// Commands: parse, encode with `IMAPCommandEncoder`, parse again: the same command.
@Suite struct CommandRoundTripTests {
    @Test(arguments: CommandParserTests.rfc3501Session + CommandParserTests.examples)
    func parsedCommandsRoundTrip(_ testCase: ParserCase) throws {
        let parsed = try parse(testCase.line)
        for utf8 in [false, true] {
            var encoder = IMAPCommandEncoder(utf8Enabled: utf8)
            let wire = encoder.encode(parsed)
            let reparsed = try IMAPCommandParser().parse(IMAPCommandFrame(bytes: wire))
            #expect(reparsed == parsed, "\(String(decoding: wire, as: UTF8.self))")
        }
    }

    @Test func appendRoundTrip() throws {
        let command = IMAPCommand(tag: "x", kind: .append(mailbox("Sent Items"), [
            IMAPAppendMessage(flags: [.seen, IMAPFlag("$Forwarded")], internalDate: IMAPDateTime("\" 1-Jan-2024 00:00:00 +0100\""), data: bytes("a\r\nb")),
            IMAPAppendMessage(data: [0, 1, 2], isBinary: true),
            IMAPAppendMessage(flags: [], data: bytes("Subject: ü"), isBinary: true, isUTF8: true),
        ]))
        var encoder = IMAPCommandEncoder()
        let wire = encoder.encode(command)
        #expect(try IMAPCommandParser().parse(IMAPCommandFrame(bytes: wire)) == command)
        // And through the reader, byte by byte, with continuation requests.
        let events = readEvents(wire + bytes("\r\n"), chunkSize: 1)
        #expect(events.last == .command(IMAPCommandFrame(bytes: wire)))
        #expect(events.filter { $0 == .continuationRequired(tag: "x") }.count == 3)
    }

    /// Random search key trees survive encode → parse.
    @Test func randomSearchKeysRoundTrip() throws {
        var generator = SplitMix64(seed: 99)
        func randomKey(depth: Int) -> IMAPSearchKey {
            let leaves: [IMAPSearchKey] = [
                .all, .seen, .unseen, .recent, .draft, .undraft, .new, .old,
                .from(bytes("a b")), .subject(bytes("x\r\ny")), .body(bytes("")), .text(bytes("plain")),
                .keyword(IMAPFlag("$Junk")), .header("X-Spam", bytes("yes")), .larger(5), .smaller(9_000_000_000),
                .since(date("1-Feb-1994")), .sentOn(date("29-Feb-2000")), .uid(set("1:*,5")), .sequenceNumbers(set("$")),
                .sequenceNumbers(set("2,4:6")), .older(5), .younger(1), .modSeq(77, entry: IMAPModSeqEntry(flag: .seen, type: .priv)),
                .modSeq(0, entry: nil),
            ]
            if depth > 4 { return leaves[Int(generator.next() % UInt64(leaves.count))] }
            switch generator.next() % 6 {
            case 0: return .not(randomKey(depth: depth + 1))
            case 1: return .or(randomKey(depth: depth + 1), randomKey(depth: depth + 1))
            case 2: return .and((0...(generator.next() % 3)).map { _ in randomKey(depth: depth + 1) })
            default: return leaves[Int(generator.next() % UInt64(leaves.count))]
            }
        }
        for index in 0..<300 {
            let key = randomKey(depth: 0)
            let command = IMAPCommand(tag: "s\(index)", kind: .search(IMAPSearchCommand(returnOptions: index % 2 == 0 ? nil : [.min, .save], charset: index % 3 == 0 ? "UTF-8" : nil, key: key), uid: index % 5 == 0))
            var encoder = IMAPCommandEncoder()
            let wire = encoder.encode(command)
            let reparsed = try IMAPCommandParser().parse(IMAPCommandFrame(bytes: wire))
            #expect(reparsed == command, "\(String(decoding: wire, as: UTF8.self))")
        }
    }
}

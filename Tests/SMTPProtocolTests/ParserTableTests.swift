import MailCodec
import Testing
@testable import SMTPProtocol

@Suite("Address, base64 and xtext tables")
struct AddressTableTests {
    @Test("valid paths", arguments: [
        ("<user@example.org>", "user@example.org"),
        ("<User.Name+tag@Sub.Example.ORG>", "User.Name+tag@Sub.Example.ORG"),
        ("<\"quoted local\"@example.org>", "\"quoted local\"@example.org"),
        ("<\"a\\\"b\"@example.org>", "\"a\\\"b\"@example.org"),
        ("<\"\"@example.org>", "\"\"@example.org"),
        ("<`id`@example.org>", "`id`@example.org"),
        ("<\"$(rm -rf /)\"@example.org>", "\"$(rm -rf /)\"@example.org"),
        ("<!#$%&'*+-/=?^_`{|}~@example.org>", "!#$%&'*+-/=?^_`{|}~@example.org"),
        ("<@relay.example:user@example.org>", "user@example.org"),
        ("<@a.example,@b.example:user@example.org>", "user@example.org"),
        ("<user@[192.0.2.1]>", "user@[192.0.2.1]"),
        ("<user@[IPv6:2001:db8::1]>", "user@[IPv6:2001:db8::1]"),
        ("<user@[x-tag:stuff]>", "user@[x-tag:stuff]"),
        ("<user@a-b.c1.example>", "user@a-b.c1.example"),
        ("<user@1.2.3.4.example>", "user@1.2.3.4.example"),
    ])
    func validPaths(text: String, expected: String) throws {
        let mailbox = try SMTPPathParser.parse(text)
        #expect(mailbox?.text == expected)
    }

    @Test("invalid paths", arguments: [
        "user@example.org", "<user@example.org", "<user>", "<>", "<user@>", "<@example.org>", "<.user@example.org>",
        "<user.@example.org>", "<us..er@example.org>", "<user@-example.org>", "<user@example-.org>", "<user@example..org>",
        "<user@exa_mple.org>", "<user@[300.1.1.1]>", "<user@[1.2.3]>", "<user@[]>", "<user name@example.org>",
        "<\"unterminated@example.org>", "<\"bad\\\u{1}\"@example.org>", "<user@example.org> ", "<us(er)@example.org>",
        "<user@" + String(repeating: "a", count: 64) + ".example>", "<@relay.example user@example.org>",
        "<user@example.org\u{7F}>", "<a\u{0}b@example.org>", "<a\tb@example.org>", "<ünï@example.org>",
    ])
    func invalidPaths(text: String) {
        #expect(throws: SMTPPathError.self) { try SMTPPathParser.parse(text) }
    }

    @Test("null path and bare postmaster only where allowed")
    func specialPaths() throws {
        #expect(try SMTPPathParser.parse("<>", options: .init(allowsNullPath: true)) == nil)
        #expect(throws: SMTPPathError.self) { try SMTPPathParser.parse("<postmaster>") }
        let postmaster = try SMTPPathParser.parse("<PostMaster>", options: .init(allowsBarePostmaster: true))
        #expect(postmaster?.isBarePostmaster == true)
        #expect(postmaster?.text == "PostMaster")
        #expect(throws: SMTPPathError.nonASCIIWithoutSMTPUTF8) { try SMTPPathParser.parse("<ünï@example.org>") }
        let utf8 = try SMTPPathParser.parse("<ünï@bücher.example>", options: .init(allowsUTF8: true))
        #expect(utf8?.isASCII == false)
        #expect(utf8?.domain == "bücher.example")
        #expect(throws: SMTPPathError.tooLong) { try SMTPPathParser.parse("<" + String(repeating: "a", count: 300) + "@example.org>") }
    }

    @Test("unquoting and lowercasing")
    func mailboxViews() throws {
        let parsed = try SMTPPathParser.parse(#"<"a\"b c"@Example.ORG>"#)
        let quoted = try #require(parsed)
        #expect(quoted.unquotedLocalPart == #"a"b c"#)
        #expect(quoted.lowercasedDomain == "example.org")
        #expect(quoted.localPart == #""a\"b c""#)
    }

    @Test("strict base64", arguments: [
        ("", [UInt8]?.some([])), ("YQ==", Array("a".utf8)), ("YWI=", Array("ab".utf8)), ("YWJj", Array("abc".utf8)),
        ("AGFsaWNlAHNlY3JldA==", Array("\0alice\0secret".utf8)),
        ("YQ=", nil), ("YQ", nil), ("Y===", nil), ("YR==", nil), ("YWJ=", nil), ("YQ==YQ==", nil), ("Y Q==", nil),
        ("YQ\r\n", nil), ("!!!!", nil), ("=AAA", nil), ("A=AA", nil), ("AA=A", nil), ("YWJj\n", nil),
    ])
    func base64(text: String, expected: [UInt8]?) {
        #expect(Base64.decode(Array(text.utf8)) == expected)
        if let expected { #expect(Base64.encode(expected) == text) }
    }

    @Test("xtext", arguments: [
        ("abc", "abc"), ("a+2Bb", "a+b"), ("user+40example.org", "user@example.org"), ("a+3Db", "a=b"),
    ])
    func xtext(text: String, decoded: String) {
        #expect(XText.decode(Array(text.utf8)) == decoded)
    }

    @Test("invalid xtext", arguments: ["a+2", "a+2b", "a=b", "a b", "a+0Ab", "a\u{7F}"])
    func invalidXText(text: String) {
        #expect(XText.decode(Array(text.utf8)) == nil)
    }

    @Test("enhanced status codes")
    func enhancedCodes() {
        #expect(SMTPEnhancedStatusCode("5.7.1")?.description == "5.7.1")
        #expect(SMTPEnhancedStatusCode("2.0.0") == SMTPEnhancedStatusCode(statusClass: 2, subject: 0, detail: 0))
        #expect(SMTPEnhancedStatusCode("5.123.456")?.detail == 456)
        for bad in ["3.0.0", "5.1", "5.1.1.1", "5..1", "5.1234.1", "x.1.1", "5.1.-1", "", "55.1.1"] {
            #expect(SMTPEnhancedStatusCode(bad) == nil, "\(bad)")
        }
    }

    @Test("reply formatting: continuation dashes, codes on each line, no stray CR/LF")
    func replyFormatting() {
        #expect(SMTPReply(250, "2.0.0", "Ok").wireBytes == Array("250 2.0.0 Ok\r\n".utf8))
        #expect(SMTPReply(code: 250, enhancedCode: SMTPEnhancedStatusCode("2.0.0"), lines: ["a", "b"]).wireBytes
                == Array("250-2.0.0 a\r\n250 2.0.0 b\r\n".utf8))
        #expect(SMTPReply(code: 554, lines: ["evil\r\n250 ok"]).wireBytes == Array("554 evil  250 ok\r\n".utf8))
        #expect(SMTPReply(code: 334, lines: [""]).wireBytes == Array("334 \r\n".utf8))
    }
}

@Suite("Client side: reply parser, capabilities, DATA encoder")
struct ClientTableTests {
    @Test("replies", arguments: [
        ("250 2.1.0 Ok\r\n", 250, "2.1.0", ["Ok"]),
        ("220 mx.example.org ESMTP\n", 220, nil, ["mx.example.org ESMTP"]),
        ("250\r\n", 250, nil, [""]),
        ("250 \r\n", 250, nil, [""]),
        ("550-5.1.1 <x@example.org>: no such user\r\n550 5.1.1 see you\r\n", 550, "5.1.1", ["<x@example.org>: no such user", "see you"]),
        ("250 5.1.1 class mismatch\r\n", 250, nil, ["5.1.1 class mismatch"]),
        ("451 4.3.0\r\n", 451, "4.3.0", [""]),
        ("250-mx\n250-PIPELINING\r\n250 SIZE 100\n", 250, nil, ["mx", "PIPELINING", "SIZE 100"]),
        ("354 End data with <CR><LF>.<CR><LF>\r\n", 354, nil, ["End data with <CR><LF>.<CR><LF>"]),
    ] as [(String, Int, String?, [String])])
    func replies(text: String, code: Int, enhanced: String?, lines: [String]) throws {
        // Whole, and byte by byte.
        var parser = SMTPReplyParser()
        let replies = try parser.feed(Array(text.utf8))
        #expect(replies == [SMTPReply(code: code, enhancedCode: enhanced.flatMap { SMTPEnhancedStatusCode($0) }, lines: lines)])
        var byteParser = SMTPReplyParser()
        var collected: [SMTPReply] = []
        for byte in text.utf8 { collected += try byteParser.feed([byte]) }
        #expect(collected == replies)
        #expect(!byteParser.hasIncompleteReply)
    }

    @Test("several replies in one read, one incomplete")
    func severalReplies() throws {
        var parser = SMTPReplyParser()
        let replies = try parser.feed(Array("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n250-part".utf8))
        #expect(replies.map(\.code) == [250, 250, 354])
        #expect(parser.hasIncompleteReply)
        #expect(try parser.feed(Array("ial\r\n250 end\r\n".utf8)) == [SMTPReply(code: 250, lines: ["partial", "end"])])
    }

    @Test("malformed server output", arguments: [
        ("hello\r\n", SMTPReplyParserError.malformedLine("hello")),
        ("25\r\n", .malformedLine("25")),
        ("2500 x\r\n", .malformedLine("2500 x")),
        ("650 x\r\n", .malformedLine("650 x")),
        ("250x\r\n", .malformedLine("250x")),
        ("250-a\r\n251 b\r\n", .inconsistentCode(expected: 250, found: 251)),
    ])
    func malformed(text: String, error: SMTPReplyParserError) {
        var parser = SMTPReplyParser()
        #expect(throws: error) { try parser.feed(Array(text.utf8)) }
        #expect(throws: error) { try parser.feed(Array("250 ok\r\n".utf8)) }
    }

    @Test("line and line-count limits")
    func parserLimits() {
        var limits = SMTPReplyParser.Limits()
        limits.maximumLineLength = 100
        limits.maximumLines = 5
        var parser = SMTPReplyParser(limits: limits)
        #expect(throws: SMTPReplyParserError.lineTooLong) { try parser.feed(Array(repeating: UInt8(ascii: "5"), count: 200)) }
        var counting = SMTPReplyParser(limits: limits)
        #expect(throws: SMTPReplyParserError.tooManyLines) {
            try counting.feed(Array(String(repeating: "250-x\r\n", count: 6).utf8))
        }
    }

    @Test("capabilities from our own EHLO reply and from old-style servers")
    func capabilities() throws {
        var parser = SMTPReplyParser()
        let ours = try parser.feed(Array((ehloTLSWithAuth.split(separator: "\n").map { $0.trimmingPrefix(while: { $0 == " " }).dropFirst(3) + "\r\n" }.joined()).utf8))
        let first = try #require(ours.first)
        let capabilities = try #require(SMTPCapabilities(ehloReply: first))
        #expect(capabilities.serverName == "mx.example.org")
        #expect(capabilities.pipelining && capabilities.eightBitMIME && capabilities.smtpUTF8 && capabilities.chunking)
        #expect(capabilities.dsn && capabilities.enhancedStatusCodes && !capabilities.startTLS && !capabilities.binaryMIME)
        #expect(capabilities.maximumMessageSize == 52_428_800)
        #expect(capabilities.authenticationMechanisms == ["PLAIN", "LOGIN"])

        let old = try #require(SMTPCapabilities(ehloReply: SMTPReply(code: 250, lines: [
            "old.example Hello", "AUTH=LOGIN PLAIN", "AUTH LOGIN CRAM-MD5", "SIZE", "starttls",
        ])))
        #expect(old.authenticationMechanisms == ["LOGIN", "PLAIN", "CRAM-MD5"])
        #expect(old.maximumMessageSize == 0)
        #expect(old.startTLS)
        #expect(!old.pipelining)
        #expect(SMTPCapabilities(ehloReply: SMTPReply(code: 502, lines: ["no"])) == nil)
    }

    @Test("DATA encoding", arguments: [
        ("", ".\r\n"),
        ("a", "a\r\n.\r\n"),
        ("a\n", "a\r\n.\r\n"),
        ("a\r\n", "a\r\n.\r\n"),
        ("a\nb\n", "a\r\nb\r\n.\r\n"),
        ("a\rb", "a\r\nb\r\n.\r\n"),
        ("a\r\rb", "a\r\n\r\nb\r\n.\r\n"),
        ("a\n\rb", "a\r\n\r\nb\r\n.\r\n"),
        (".", "..\r\n.\r\n"),
        (".\n", "..\r\n.\r\n"),
        ("..x\n.y\n", "...x\r\n..y\r\n.\r\n"),
        ("a\n.\nb", "a\r\n..\r\nb\r\n.\r\n"),
        ("a\r\n.\r\n", "a\r\n..\r\n.\r\n"),
        ("x.y\n", "x.y\r\n.\r\n"),
        ("a\r", "a\r\n.\r\n"),
        ("\n", "\r\n.\r\n"),
        ("a\0b\n", "a\0b\r\n.\r\n"),
    ])
    func dataEncoding(message: String, wire: String) {
        #expect(SMTPDataEncoder.encodeMessage(Array(message.utf8)) == Array(wire.utf8))
        // Every split point gives the same bytes.
        let bytes = Array(message.utf8)
        for split in 0...bytes.count {
            var encoder = SMTPDataEncoder()
            let out = encoder.encode(bytes[..<split]) + encoder.encode(bytes[split...]) + encoder.finish()
            #expect(out == Array(wire.utf8), "split at \(split)")
        }
    }

    @Test("what the encoder sends, our server receives unchanged (LF form)")
    func encoderRoundTrip() {
        var generator = SplitMix64(seed: 7)
        let alphabet: [UInt8] = Array("ab.\r\n ".utf8)
        for _ in 0..<200 {
            let message = (0..<Int(generator.next() % 60)).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            var decoder = DotStuffedDataDecoder(limits: SMTPLimits())
            var output: [UInt8] = []
            let wire = SMTPDataEncoder.encodeMessage(message)
            let (consumed, finished) = decoder.decode(wire[...], into: &output)
            #expect(finished && consumed == wire.count && decoder.violation == nil)
            // Expected: every line end (CRLF, CR, LF) as one LF, and a final LF if missing.
            var normalised: [UInt8] = []
            var previousCR = false
            for byte in message {
                if previousCR && byte == 10 { previousCR = false; continue }
                previousCR = byte == 13
                normalised.append(byte == 13 ? 10 : byte)
            }
            if let last = normalised.last, last != 10 { normalised.append(10) }
            #expect(output == normalised)
        }
    }
}

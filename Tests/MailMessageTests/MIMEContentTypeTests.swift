import Testing
@testable import MailMessage

@Suite struct MIMEContentTypeTests {
    struct TypeCase: Sendable, CustomTestStringConvertible {
        let value: String
        let type: String
        let subtype: String
        let parameters: [String: String]
        var testDescription: String { value }
    }

    static let typeCases: [TypeCase] = [
        // RFC 2045 §5.1: these three are equivalent.
        TypeCase(value: "text/plain; charset=us-ascii (Plain text)", type: "text", subtype: "plain", parameters: ["charset": "us-ascii"]),
        TypeCase(value: "text/plain; charset=\"us-ascii\"", type: "text", subtype: "plain", parameters: ["charset": "us-ascii"]),
        TypeCase(value: "TEXT/PLAIN; CHARSET=us-ascii", type: "text", subtype: "plain", parameters: ["charset": "us-ascii"]),
        // RFC 2046 §5.1.1.
        TypeCase(value: "multipart/mixed; boundary=\"simple boundary\"", type: "multipart", subtype: "mixed", parameters: ["boundary": "simple boundary"]),
        TypeCase(value: "multipart/mixed; boundary=gc0p4Jq0M2Yt08jU534c0p", type: "multipart", subtype: "mixed", parameters: ["boundary": "gc0p4Jq0M2Yt08jU534c0p"]),
        // Comments everywhere, folding, quoted pairs.
        TypeCase(value: "(c) text (x) / (y) html (z) ; (a) charset (b) = (c) \"utf\\-8\" (d)", type: "text", subtype: "html", parameters: ["charset": "utf-8"]),
        TypeCase(value: "text/plain;\r\n\tformat=flowed; delsp=yes;; ", type: "text", subtype: "plain", parameters: ["format": "flowed", "delsp": "yes"]),
        // Unquoted boundary with "=" (common), unquoted file name with spaces (lenient).
        TypeCase(value: "multipart/alternative; boundary==_NextPart_000=", type: "multipart", subtype: "alternative", parameters: ["boundary": "=_NextPart_000="]),
        TypeCase(value: "application/pdf; name=My Report.pdf", type: "application", subtype: "pdf", parameters: ["name": "My Report.pdf"]),
        // RFC 2047 words inside a quoted parameter (not allowed, but common).
        TypeCase(value: "application/pdf; name=\"=?utf-8?Q?Gr=C3=BC=C3=9Fe.pdf?=\"", type: "application", subtype: "pdf", parameters: ["name": "Grüße.pdf"]),
        // RFC 2231 §3: continuations.
        TypeCase(value: "message/external-body; access-type=URL;\r\n URL*0=\"ftp://\";\r\n URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"",
                 type: "message", subtype: "external-body",
                 parameters: ["access-type": "URL", "url": "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"]),
        // RFC 2231 §4: charset and language.
        TypeCase(value: "application/x-stuff;\r\n title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
                 type: "application", subtype: "x-stuff", parameters: ["title": "This is ***fun***"]),
        // RFC 2231 §4.1: both combined.
        TypeCase(value: "application/x-stuff;\r\n title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n title*2=\"isn't it!\"",
                 type: "application", subtype: "x-stuff", parameters: ["title": "This is even more ***fun*** isn't it!"]),
        // Out-of-order segments are sorted; UTF-8 percent escapes are decoded.
        TypeCase(value: "application/octet-stream; name*1*=%C3%A9.txt; name*0*=utf-8''caf",
                 type: "application", subtype: "octet-stream", parameters: ["name": "café.txt"]),
        TypeCase(value: "text/plain; title*=iso-8859-1''%E9t%E9", type: "text", subtype: "plain", parameters: ["title": "été"]),
    ]

    @Test(arguments: typeCases)
    func parsesContentType(_ c: TypeCase) throws {
        let parsed = try #require(ContentType.parse(c.value))
        #expect(parsed.type == c.type)
        #expect(parsed.subtype == c.subtype)
        #expect(parsed.parameters.count == c.parameters.count)
        for (name, value) in c.parameters {
            #expect(parsed[parameter: name] == value, "\(name)")
        }
    }

    @Test(arguments: ["", "text", "/plain", "text/", "; charset=x", "(only a comment)"])
    func rejectsValuesWithoutTypeAndSubtype(_ value: String) {
        #expect(ContentType.parse(value) == nil)
    }

    @Test func rfc2231KeepsCharsetLanguageAndWireForm() throws {
        let parsed = try #require(ContentType.parse("application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\""))
        let title = try #require(parsed.parameters.first)
        #expect(title.charset == "us-ascii")
        #expect(title.language == "en")
        #expect(title.wireName == "title*")
        #expect(title.wireValue == "us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn%27t%20it!")
        let plain = try #require(ContentType.parse("text/plain; name=\"=?utf-8?Q?x?=\""))
        #expect(plain.parameters[0].wireValue == "=?utf-8?Q?x?=")
        #expect(plain.parameters[0].value == "x")
    }

    @Test func segmentGapStopsJoining() throws {
        let parsed = try #require(ContentType.parse("text/plain; a*0=one; a*2=three"))
        #expect(parsed[parameter: "a"] == "one")
    }

    @Test func dispositionRFC2183() throws {
        let d = try #require(ContentDisposition.parse("attachment; filename=genome.jpeg;\r\n modification-date=\"Wed, 12 Feb 1997 16:29:51 -0500\";"))
        #expect(d.type == "attachment")
        #expect(d.isAttachment)
        #expect(d.filename == "genome.jpeg")
        #expect(d[parameter: "Modification-Date"] == "Wed, 12 Feb 1997 16:29:51 -0500")
        let inline = try #require(ContentDisposition.parse("INLINE"))
        #expect(inline.type == "inline" && inline.parameters.isEmpty)
        let encoded = try #require(ContentDisposition.parse("attachment; filename*=UTF-8''%E2%82%AC%20rates.txt"))
        #expect(encoded.filename == "€ rates.txt")
    }

    @Test(arguments: [
        ("7bit", ContentTransferEncoding.sevenBit), ("8BIT", .eightBit), ("Binary", .binary),
        ("Quoted-Printable", .quotedPrintable), (" base64 (comment)", .base64), ("", .sevenBit),
        ("x-uuencode", .other("x-uuencode")),
    ])
    func transferEncodings(_ value: String, _ expected: ContentTransferEncoding) {
        #expect(ContentTransferEncoding(parsing: value) == expected)
    }

    @Test func transferEncodingNames() {
        #expect(ContentTransferEncoding.quotedPrintable.name == "QUOTED-PRINTABLE")
        #expect(ContentTransferEncoding.other("x-uuencode").name == "X-UUENCODE")
    }
}

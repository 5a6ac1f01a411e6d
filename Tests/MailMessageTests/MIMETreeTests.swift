import Testing
@testable import MailMessage

/// LF → CRLF, so test messages can be written as multi-line literals.
func mimeCRLF(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    for b in text.utf8 {
        if b == 0x0A { out.append(0x0D) }
        out.append(b)
    }
    return out
}

enum MIMESamples {
    /// RFC 2046 §5.1.1's example, verbatim.
    static let rfc2046 = mimeCRLF("""
    From: Nathaniel Borenstein <nsb@bellcore.com>
    To: Ned Freed <ned@innosoft.com>
    Date: Sun, 21 Mar 1993 23:56:48 -0800 (PST)
    Subject: Sample message
    MIME-Version: 1.0
    Content-type: multipart/mixed; boundary="simple boundary"

    This is the preamble.  It is to be ignored, though it
    is a handy place for composition agents to include an
    explanatory note to non-MIME conformant readers.

    --simple boundary

    This is implicitly typed plain US-ASCII text.
    It does NOT end with a linebreak.
    --simple boundary
    Content-type: text/plain; charset=us-ascii

    This is explicitly typed plain US-ASCII text.
    It DOES end with a linebreak.

    --simple boundary--

    This is the epilogue.  It is also to be ignored.

    """)

    /// A realistic message: alternative text/HTML, a PDF attachment, and a forwarded message
    /// that is itself multipart.
    static let realistic = mimeCRLF("""
    Return-Path: <alice@example.org>
    From: =?utf-8?Q?Alice_M=C3=BCller?= <alice@example.org>
    To: Bob <bob@example.net>, "Carol, C." <carol@example.com>
    Cc: team: dave@example.com, erin@example.com;
    Subject: =?utf-8?B?UXVhcnRhbHNiZXJpY2h0IOKCrA==?=
    Date: Tue, 3 Mar 2026 09:15:00 +0100
    Message-ID: <abc123@example.org>
    In-Reply-To: <prev@example.net>
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary="outer"

    This is a multi-part message in MIME format.
    --outer
    Content-Type: multipart/alternative; boundary="alt"

    --alt
    Content-Type: text/plain; charset=utf-8
    Content-Transfer-Encoding: quoted-printable

    Hallo Bob,=20
    hier ist der Bericht f=C3=BCr Q1 =E2=82=AC.
    --alt
    Content-Type: text/html; charset=utf-8
    Content-Transfer-Encoding: base64

    PGh0bWw+PGJvZHk+PHA+SGFsbG8gPGI+Qm9iPC9iPiwgaGllciBpc3QgZGVyIEJlcmljaHQg
    ZsO8ciBRMSAmZXVybzsuPC9wPjwvYm9keT48L2h0bWw+
    --alt--
    --outer
    Content-Type: application/pdf; name="Bericht.pdf"
    Content-Disposition: attachment;
     filename*=utf-8''Bericht%20Q1%20%E2%82%AC.pdf
    Content-Transfer-Encoding: base64
    Content-ID: <pdf1@example.org>
    Content-Description: Quarterly report

    JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0
    ZURlY29kZT4+CnN0cmVhbQo=
    --outer
    Content-Type: message/rfc822

    From: Erin <erin@example.com>
    To: alice@example.org
    Subject: Original
    Date: Mon, 2 Mar 2026 18:00:00 -0500
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary=inner

    --inner
    Content-Type: text/plain

    Forwarded text.
    --inner
    Content-Type: image/png
    Content-Transfer-Encoding: base64

    iVBORw0KGgo=
    --inner--
    --outer--
    """)
}

@Suite struct MIMETreeTests {
    private func text(_ message: MIMEMessage, _ range: Range<Int>?) -> String? {
        range.map { String(decoding: message.bytes[$0], as: UTF8.self) }
    }

    @Test func rfc2046ExampleParts() throws {
        let message = MIMEMessage(parsing: MIMESamples.rfc2046)
        let root = message.root
        #expect(root.contentType.mimeType == "multipart/mixed")
        #expect(root.contentType.boundary == "simple boundary")
        #expect(root.children.count == 2)
        #expect(!root.missingCloseDelimiter)
        #expect(text(message, root.preambleRange) == "This is the preamble.  It is to be ignored, though it\r\nis a handy place for composition agents to include an\r\nexplanatory note to non-MIME conformant readers.\r\n")
        #expect(text(message, root.epilogueRange) == "\r\nThis is the epilogue.  It is also to be ignored.\r\n")

        let first = root.children[0]
        #expect(first.header.fields.isEmpty)
        #expect(!first.hasContentTypeField)
        #expect(first.contentType == .textPlainASCII)
        #expect(text(message, first.headerRange) == "\r\n")
        #expect(text(message, first.bodyRange) == "This is implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak.")
        #expect(first.bodyLines == 2)

        let second = root.children[1]
        #expect(second.contentType.charset == "us-ascii")
        #expect(text(message, second.headerRange) == "Content-type: text/plain; charset=us-ascii\r\n\r\n")
        #expect(text(message, second.bodyRange) == "This is explicitly typed plain US-ASCII text.\r\nIt DOES end with a linebreak.\r\n")
        #expect(second.bodyLines == 2)
        #expect(message.textContents() == [
            "This is implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak.",
            "This is explicitly typed plain US-ASCII text.\r\nIt DOES end with a linebreak.\r\n",
        ])
    }

    @Test func realisticStructure() throws {
        let message = MIMEMessage(parsing: MIMESamples.realistic)
        #expect(message.partCount == 9)
        #expect(!message.limitReached)
        let types = [[1], [1, 1], [1, 2], [2], [3], [3, 1], [3, 2]].map { message.part(at: $0)?.contentType.mimeType }
        #expect(types == ["multipart/alternative", "text/plain", "text/html", "application/pdf", "message/rfc822", "text/plain", "image/png"])
        #expect(message.part(at: [4]) == nil)
        #expect(message.part(at: [1, 3]) == nil)
        #expect(message.part(at: [2, 1]) == nil)
        #expect(message.part(at: [3, 3]) == nil)
        #expect(message.part(at: [0]) == nil)

        let plain = try #require(message.part(at: [1, 1]))
        #expect(message.text(of: plain) == "Hallo Bob, \r\nhier ist der Bericht für Q1 €.")
        let html = try #require(message.part(at: [1, 2]))
        #expect(message.text(of: html) == "<html><body><p>Hallo <b>Bob</b>, hier ist der Bericht für Q1 &euro;.</p></body></html>")
        #expect(message.textContents().contains("Hallo Bob, hier ist der Bericht für Q1 €."))

        let pdf = try #require(message.part(at: [2]))
        #expect(pdf.disposition?.filename == "Bericht Q1 €.pdf")
        #expect(pdf.contentID == "<pdf1@example.org>")
        #expect(pdf.contentDescription == "Quarterly report")
        #expect(Array(message.decodedBody(of: pdf).prefix(8)) == Array("%PDF-1.4".utf8))

        let forwarded = try #require(message.part(at: [3]))
        let inner = try #require(forwarded.encapsulatedMessage)
        #expect(inner.isMessage && !forwarded.isMessage)
        #expect(inner.header.first("Subject")?.value == "Original")
        #expect(message.text(of: try #require(message.part(at: [3, 1]))) == "Forwarded text.")
    }

    @Test func sectionByteRanges() throws {
        let message = MIMEMessage(parsing: MIMESamples.realistic)
        func fetch(_ section: [Int], _ kind: MIMESectionText = .all) -> String? { text(message, message.range(of: section, kind)) }

        #expect(fetch([]) == String(decoding: MIMESamples.realistic, as: UTF8.self))
        #expect(fetch([], .header)?.hasPrefix("Return-Path: <alice@example.org>\r\n") == true)
        #expect(fetch([], .header)?.hasSuffix("boundary=\"outer\"\r\n\r\n") == true)
        #expect(fetch([], .text)?.hasPrefix("This is a multi-part message in MIME format.\r\n--outer\r\n") == true)
        #expect(fetch([], .mime) == nil)
        #expect(fetch([1, 1], .mime) == "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
        #expect(fetch([1, 1]) == "Hallo Bob,=20\r\nhier ist der Bericht f=C3=BCr Q1 =E2=82=AC.")
        #expect(fetch([1]) == """
            --alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHallo Bob,=20\r\nhier ist der Bericht f=C3=BCr Q1 =E2=82=AC.\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nPGh0bWw+PGJvZHk+PHA+SGFsbG8gPGI+Qm9iPC9iPiwgaGllciBpc3QgZGVyIEJlcmljaHQg\r\nZsO8ciBRMSAmZXVybzsuPC9wPjwvYm9keT48L2h0bWw+\r\n--alt--
            """)
        // HEADER and TEXT only exist for message/rfc822 parts.
        #expect(fetch([1], .header) == nil)
        #expect(fetch([2], .text) == nil)
        #expect(fetch([3], .mime) == "Content-Type: message/rfc822\r\n\r\n")
        #expect(fetch([3])?.hasPrefix("From: Erin <erin@example.com>\r\n") == true)
        #expect(fetch([3])?.hasSuffix("iVBORw0KGgo=\r\n--inner--") == true)
        #expect(fetch([3], .header)?.hasSuffix("Content-Type: multipart/mixed; boundary=inner\r\n\r\n") == true)
        #expect(fetch([3], .text)?.hasPrefix("--inner\r\n") == true)
        #expect(fetch([3, 1]) == "Forwarded text.")
        #expect(fetch([3, 1], .mime) == "Content-Type: text/plain\r\n\r\n")
        #expect(fetch([3, 2]) == "iVBORw0KGgo=")
        #expect(message.messageHeader(of: [3])?.first("From")?.value == "Erin <erin@example.com>")

        // Every part's ranges nest: header then body, inside the parent.
        message.root.forEachPart { part in
            #expect(part.range.lowerBound == part.headerRange.lowerBound)
            #expect(part.headerRange.upperBound == part.bodyRange.lowerBound)
            #expect(part.bodyRange.upperBound == part.range.upperBound)
            for child in part.children { #expect(part.bodyRange.contains(child.range.lowerBound) || child.range.isEmpty) }
            if let inner = part.encapsulatedMessage { #expect(inner.range == part.bodyRange) }
        }
    }

    @Test func singlePartMessageSections() throws {
        let bytes = mimeCRLF("Subject: hi\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9\nline 2\n")
        let message = MIMEMessage(parsing: bytes)
        // RFC 3501 §6.4.5: a non-multipart message has part 1, its body.
        #expect(text(message, message.range(of: [1])) == "Caf=E9\r\nline 2\r\n")
        #expect(text(message, message.range(of: [], .text)) == "Caf=E9\r\nline 2\r\n")
        #expect(message.range(of: [2]) == nil)
        #expect(message.range(of: [1, 1]) == nil)
        #expect(message.root.bodyLines == 2)
        #expect(message.text(of: message.root) == "Café\r\nline 2\r\n")
    }

    @Test func messageRFC822WithSinglePartBody() throws {
        let bytes = mimeCRLF("""
        Content-Type: multipart/mixed; boundary=b

        --b
        Content-Type: message/rfc822

        Subject: inner
        Content-Type: message/rfc822

        Subject: innermost

        deep text
        --b--
        """)
        let message = MIMEMessage(parsing: bytes)
        // 1 is the message/rfc822 part; 1.1 is its message's body (itself message/rfc822);
        // 1.1.1 is the innermost message's body.
        #expect(message.part(at: [1])?.contentType.mimeType == "message/rfc822")
        #expect(text(message, message.range(of: [1, 1])) == "Subject: innermost\r\n\r\ndeep text")
        #expect(text(message, message.range(of: [1, 1], .header)) == "Subject: innermost\r\n\r\n")
        #expect(text(message, message.range(of: [1, 1, 1])) == "deep text")
        #expect(message.range(of: [1, 2]) == nil)
        #expect(message.range(of: [1, 1, 2]) == nil)
    }

    @Test func digestDefaultsToMessageRFC822() throws {
        let bytes = mimeCRLF("""
        Content-Type: multipart/digest; boundary=d

        --d

        Subject: one

        first
        --d
        Content-Type: text/plain

        not a message
        --d--
        """)
        let message = MIMEMessage(parsing: bytes)
        #expect(message.part(at: [1])?.contentType == .messageRFC822)
        #expect(message.part(at: [1])?.encapsulatedMessage?.header.first("Subject")?.value == "one")
        #expect(text(message, message.range(of: [1, 1])) == "first")
        #expect(message.part(at: [2])?.contentType.mimeType == "text/plain")
    }

    @Test func toleratesMissingCloseDelimiterPaddingAndLF() throws {
        let bytes = Array("Content-Type: multipart/mixed; boundary=\"x y\"\n\n--x y  \t\nContent-Type: text/plain\n\none\n--x y\n\ntwo\n".utf8)
        let message = MIMEMessage(parsing: bytes)
        #expect(message.root.children.count == 2)
        #expect(message.root.missingCloseDelimiter)
        #expect(text(message, message.range(of: [1])) == "one")
        #expect(text(message, message.range(of: [2])) == "two\n")
        #expect(message.root.preambleRange == nil)
        #expect(message.root.epilogueRange == nil)
    }

    @Test func delimiterMustMatchTheWholeLine() throws {
        // "--outerX" is not a delimiter of "outer"; "--outer--x" is not a close delimiter.
        let bytes = mimeCRLF("Content-Type: multipart/mixed; boundary=outer\n\n--outer\n\n--outerX\n--outer--x\nstill part one\n--outer--\n")
        let message = MIMEMessage(parsing: bytes)
        #expect(message.root.children.count == 1)
        #expect(text(message, message.range(of: [1])) == "--outerX\r\n--outer--x\r\nstill part one")
    }

    @Test func multipartWithoutDelimitersGetsOneTextPart() throws {
        for header in ["Content-Type: multipart/mixed; boundary=nothere", "Content-Type: multipart/mixed"] {
            let message = MIMEMessage(parsing: mimeCRLF("\(header)\n\nJust text.\n"))
            #expect(message.root.children.count == 1)
            #expect(message.part(at: [1])?.contentType == .textPlainASCII)
            #expect(text(message, message.range(of: [1])) == "Just text.\r\n")
        }
    }

    @Test func headerWithoutSeparatorAndEmptyMessage() throws {
        let noBlank = MIMEMessage(parsing: Array("Subject: x\nbody line without blank\n".utf8))
        #expect(noBlank.root.header.fields.count == 1)
        #expect(text(noBlank, noBlank.root.bodyRange) == "body line without blank\n")
        let onlyHeader = MIMEMessage(parsing: Array("Subject: x".utf8))
        #expect(onlyHeader.root.bodyRange.isEmpty)
        #expect(onlyHeader.root.bodyLines == 0)
        let empty = MIMEMessage(parsing: [])
        #expect(empty.partCount == 1)
        #expect(empty.range(of: [1]) == 0..<0)
    }

    @Test func base64EncodedMessageRFC822IsOpaque() throws {
        let bytes = mimeCRLF("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeAoKeQo=\n--b--\n")
        let message = MIMEMessage(parsing: bytes)
        let part = try #require(message.part(at: [1]))
        #expect(part.isOpaque)
        #expect(part.encapsulatedMessage == nil)
        #expect(message.bodyStructure.parts[0].type == "application")
    }
}

@Suite struct MIMEHeaderAccessTests {
    @Test func absoluteFieldRangesSliceTheMessage() throws {
        let message = MIMEMessage(parsing: MIMESamples.realistic)
        let pdf = try #require(message.part(at: [2]))
        let disposition = try #require(pdf.header.first("content-disposition"))
        #expect(String(decoding: message.bytes[pdf.absoluteRange(of: disposition)], as: UTF8.self)
                == "Content-Disposition: attachment;\r\n filename*=utf-8''Bericht%20Q1%20%E2%82%AC.pdf\r\n")
    }

    @Test func firstFieldsInOnePass() {
        let header = HeaderSection.parse(mimeCRLF("X-A: 1\nsubject: first\nSUBJECT: second\nTo: t\n\n"))
        let found = header.firstFields(named: ["Subject", "to", "cc"])
        #expect(found["subject"]?.value == "first")
        #expect(found["to"]?.value == "t")
        #expect(found["cc"] == nil)
    }

    @Test func decodedHeaderText() throws {
        let header = HeaderSection.parse(mimeCRLF("Subject: =?utf-8?B?UXVhcnRhbHNiZXJpY2h0IOKCrA==?=\n =?iso-8859-1?Q?_f=FCr_Q1?=\nX-Raw: caf\u{E9}\n\n"))
        #expect(header.first("Subject")?.decodedText == "Quartalsbericht € für Q1")
        var raw = mimeCRLF("X-Latin: caf")
        raw += [0xE9, 0x0D, 0x0A, 0x0D, 0x0A]
        #expect(HeaderSection.parse(raw).first("X-Latin")?.unfoldedText == "café")
    }
}

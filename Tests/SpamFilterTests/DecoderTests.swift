import Testing
@testable import SpamFilter

/// A message from lines written with LF, sent with CRLF as on the wire.
func message(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    for byte in text.utf8 {
        if byte == 10 { bytes.append(13) }
        bytes.append(byte)
    }
    return bytes
}

@Suite struct DecoderTests {
    @Test func headersAreUnfoldedAndBodySplit() {
        let document = SpamDocument.decode(rawMessage: message("""
            From sender@example.org Sat Jun 30 00:19:08 2001
            Subject: hello
             world
            From: A <a@example.org>
            X-Odd:value
            not a header line
            
            body text
            """))
        #expect(document.headers.map(\.name) == ["Subject", "From", "X-Odd"])
        #expect(document.headers[0].value == " hello world")
        #expect(document.headers[2].value == "value")
        // MailMessage's reading: a line that is no field ends the header and starts the body.
        #expect(document.textParts == ["not a header line\r\n\r\nbody text"])
        #expect(document.truncation.isEmpty)
    }

    @Test(arguments: [
        ("=?utf-8?B?R3LDvMOfZQ==?=", "Grüße"),
        ("=?iso-8859-1?Q?Gr=FC=DFe_aus?= Bern", "Grüße aus Bern"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  // RFC 2047 §6.2: space between words dropped
        ("plain =?bogus", "plain =?bogus"),
        ("=?x?Z?abc?=", "=?x?Z?abc?="),
    ])
    func encodedWordsInHeaders(raw: String, decoded: String) {
        let document = SpamDocument.decode(rawMessage: message("Subject: \(raw)\n\nx"))
        #expect(trimmedASCIIWhitespace(document.headers[0].value) == Substring(decoded))
    }

    @Test(arguments: [
        ("base64", "aGVsbG8g\nd29ybGQ=\n", "hello world"),
        ("base64", "aGVs*bG8=garbage", "hello"),
        ("quoted-printable", "caf=C3=A9 soft=\nbreak =3D ok", "café softbreak = ok"),
        ("quoted-printable", "bad =ZZ escape=", "bad =ZZ escape"),
        ("7bit", "as is", "as is"),
    ])
    func transferEncodings(encoding: String, body: String, text: String) {
        let document = SpamDocument.decode(rawMessage: message("""
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: \(encoding)

            \(body)
            """))
        #expect(document.textParts.first?.trimmingSuffixWhitespace == text)
    }

    @Test func latin1FallbackAndLabel() {
        var raw = message("Content-Type: text/plain; charset=\"ISO-8859-1\"\n\n")
        raw += [0x47, 0x72, 0xFC, 0x65]  // "Grüe" in Latin-1
        #expect(SpamDocument.decode(rawMessage: raw).textParts == ["Grüe"])
        var unlabelled = message("\n")
        unlabelled += [0xFF, 0x41]  // not UTF-8: read as Latin-1
        #expect(SpamDocument.decode(rawMessage: unlabelled).textParts == ["ÿA"])
    }

    @Test func multipartAlternativeWithHTML() {
        let document = SpamDocument.decode(rawMessage: message("""
            Subject: offer
            Content-Type: multipart/alternative; boundary="b1"

            preamble is ignored
            --b1
            Content-Type: text/plain

            plain part
            --b1
            Content-Type: text/html
            Content-Transfer-Encoding: quoted-printable

            <html><body><p>V<!-- x -->iagra &amp; more</p><a href=3D"http://spam.example/buy">here</a></body></html>
            --b1
            Content-Type: image/gif; name="x.gif"
            Content-Transfer-Encoding: base64

            R0lGODlh
            --b1--
            epilogue is ignored
            """))
        #expect(document.textParts.count == 2)
        #expect(document.textParts[0] == "plain part")
        #expect(document.textParts[1].contains("Viagra & more"))
        #expect(document.textParts[1].contains("http://spam.example/buy"))
        #expect(!document.textParts[1].contains("<"))
        #expect(document.headers.filter { $0.name == "Content-Type" }.count == 4)
        #expect(!document.textParts.joined().contains("preamble"))
        #expect(!document.textParts.joined().contains("epilogue"))
    }

    @Test(arguments: [
        ("<style>p { color: red }</style>text", "text"),
        ("<b>bo</b><i>ld</i>", "bold"),
        ("a<br>b", "a b"),
        ("&lt;tag&gt; &#65;&#x42; &nosuch; &", "<tag> AB &nosuch; &"),
        ("<img src='http://x.example/i.png'>", " http://x.example/i.png  "),
        ("1 < 2", "1 < 2"),
        ("<a title=\"a > b\" href=u>t</a>", " u  t "),
        ("<script>var a = '<p>';</script>after", "after"),
    ])
    func htmlStripping(html: String, text: String) {
        #expect(String(decoding: HTMLText.strip(Array(html.utf8)), as: UTF8.self) == text)
    }

    @Test func nestedMessageAndDepthLimit() {
        let inner = "Content-Type: multipart/mixed; boundary=in\n\n--in\n\ninner text\n--in--\n"
        let raw = message("Content-Type: multipart/mixed; boundary=out\n\n--out\nContent-Type: message/rfc822\n\nSubject: inner\n\(inner)--out--\n")
        #expect(SpamDocument.decode(rawMessage: raw).textParts == ["inner text"])
        var shallow = SpamDecodeLimits()
        shallow.maxMimeDepth = 2
        let limited = SpamDocument.decode(rawMessage: raw, limits: shallow)
        #expect(limited.textParts.isEmpty)
        #expect(limited.truncation == [.mimeDepth])
    }

    @Test func partAndByteLimits() {
        var body = "Content-Type: multipart/mixed; boundary=b\n\n"
        for i in 0..<10 { body += "--b\n\npart \(i)\n" }
        body += "--b--\n"
        var limits = SpamDecodeLimits()
        limits.maxParts = 4
        let parts = SpamDocument.decode(rawMessage: message(body), limits: limits)
        // MailMessage's parser: the last part allowed takes the rest of its multipart.
        #expect(Array(parts.textParts.prefix(2)) == ["part 0", "part 1"])
        #expect(parts.textParts.count == 3)
        #expect(parts.truncation.contains(.mimeParts))

        limits = SpamDecodeLimits()
        limits.maxScannedBytes = 20
        let scanned = SpamDocument.decode(rawMessage: message("Subject: s\n\n0123456789abcdef"), limits: limits)
        #expect(scanned.truncation.contains(.scannedBytes))
        #expect(scanned.textParts.joined().count < 10)

        limits = SpamDecodeLimits()
        limits.maxTextBytes = 5
        let text = SpamDocument.decode(rawMessage: message("\n0123456789"), limits: limits)
        #expect(text.textParts == ["01234"])
        #expect(text.truncation == [.textBytes])

        limits = SpamDecodeLimits()
        limits.maxHeaderFields = 3
        let fields = SpamDocument.decode(rawMessage: message((0..<10).map { "X-\($0): v\n" }.joined() + "\nbody"), limits: limits)
        #expect(fields.headers.count == 3)
        #expect(fields.truncation.contains(.headers))
        #expect(fields.textParts == ["body"])
    }

    @Test func messageKeyFromMessageIDOrBody() {
        let a = SpamDocument.decode(rawMessage: message("Message-ID: <1@x>\nSubject: a\n\none"))
        let b = SpamDocument.decode(rawMessage: message("Subject: b\nMessage-ID:  <1@x> \n\ntwo"))
        #expect(a.messageKey == b.messageKey)
        let c = SpamDocument.decode(rawMessage: message("Subject: a\n\nsame body"))
        let d = SpamDocument.decode(rawMessage: message("Subject: b\n\nsame body"))
        let e = SpamDocument.decode(rawMessage: message("Subject: a\n\nother body"))
        #expect(c.messageKey == d.messageKey)
        #expect(c.messageKey != e.messageKey)
        #expect(a.messageKey != c.messageKey)
    }
}

extension String {
    var trimmingSuffixWhitespace: String {
        var s = self
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return s
    }
}

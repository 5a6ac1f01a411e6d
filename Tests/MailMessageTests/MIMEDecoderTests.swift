import Testing
@testable import MailMessage

@Suite struct MIMEDecoderTests {
    private func s(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test(arguments: [
        ("SGVsbG8sIHdvcmxkIQ==", "Hello, world!"),
        ("SGVs\r\nbG8s\r\n IHdv cmxk\tIQ==", "Hello, world!"),       // line breaks and blanks
        ("SGVs*bG8$sIHdvcmxkIQ==", "Hello, world!"),                // garbage ignored (§6.8)
        ("SGVsbG8=IGlnbm9yZWQ=", "Hello"),                          // stops at padding
        ("SGVsbG8", "Hello"),                                       // missing padding
        ("SGVsbA", "Hell"),
        ("S", ""),                                                   // a lone sixth carries no byte
        ("", ""),
    ])
    func base64(_ input: String, _ expected: String) {
        #expect(s(Base64Decoder.decode(Array(input.utf8))) == expected)
    }

    @Test func base64StreamsAcrossChunksAndCaps() {
        let encoded = Array(Base64Decoder.encode(Array("The quick brown fox jumps over the lazy dog".utf8)).utf8)
        var decoder = Base64Decoder()
        var out: [UInt8] = []
        for chunk in stride(from: 0, to: encoded.count, by: 3).map({ encoded[$0..<min($0 + 3, encoded.count)] }) {
            decoder.decode(chunk, into: &out)
        }
        decoder.finish(into: &out)
        #expect(s(out) == "The quick brown fox jumps over the lazy dog")
        #expect(s(Base64Decoder.decode(encoded, limit: 9)) == "The quick")
    }

    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ])
    func base64EncodeRFC4648Vectors(_ plain: String, _ encoded: String) {
        #expect(Base64Decoder.encode(Array(plain.utf8)) == encoded)
        #expect(s(Base64Decoder.decode(Array(encoded.utf8))) == plain)
    }

    @Test(arguments: [
        ("Caf=C3=A9", "Café"),
        ("caf=c3=a9", "café"),                                      // lowercase hex, leniently
        ("soft=\r\nbreak", "softbreak"),
        ("soft=\nbreak", "softbreak"),
        ("soft= \t\r\nbreak", "softbreak"),                         // transport-added blanks
        ("trailing   \r\nspace", "trailing\r\nspace"),              // rule 3
        ("a=3D=3Db", "a==b"),
        ("bad =ZZ escape", "bad =ZZ escape"),                       // lenient
        ("bad =4 end", "bad =4 end"),
        ("ends with =", "ends with "),
        ("x=4", "x=4"),
        ("line1\r\nline2\r\n", "line1\r\nline2\r\n"),
        ("tab\there", "tab\there"),
    ])
    func quotedPrintable(_ input: String, _ expected: String) {
        #expect(s(QuotedPrintableDecoder.decode(Array(input.utf8))) == expected)
    }

    @Test func quotedPrintableStreamsByteByByte() {
        let input = Array("J=C3=A4hrlich   =\r\nvorbei=\r\n und =E2=82=AC  \r\nfertig".utf8)
        var decoder = QuotedPrintableDecoder()
        var out: [UInt8] = []
        for b in input { decoder.decode([b], into: &out) }
        decoder.finish(into: &out)
        #expect(s(out) == "Jährlich   vorbei und €\r\nfertig")
        #expect(QuotedPrintableDecoder.decode(input, limit: 4).count == 4)
    }
}

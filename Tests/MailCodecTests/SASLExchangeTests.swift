import Testing
@testable import MailCodec

@Suite struct SASLExchangeTests {
    func b64(_ s: String) -> ArraySlice<UInt8> { Array(Base64.encode(Array(s.utf8)).utf8)[...] }

    @Test func plainWithAndWithoutInitialResponse() {
        var e = SASLExchange(mechanism: "PLAIN")!
        #expect(e.start(initialResponse: nil) == .challenge(""))
        #expect(e.respond(b64("\0bob\0secret")) == .credentials(authorization: [], user: Array("bob".utf8), password: Array("secret".utf8)))
        var i = SASLExchange(mechanism: "PLAIN")!
        #expect(i.start(initialResponse: b64("bob\0bob\0pw")) == .credentials(authorization: Array("bob".utf8), user: Array("bob".utf8), password: Array("pw".utf8)))
    }

    @Test func loginAsksForTheUserThenThePassword() {
        var e = SASLExchange(mechanism: "LOGIN")!
        #expect(e.start(initialResponse: nil) == .challenge("VXNlcm5hbWU6"))
        #expect(e.respond(b64("bob")) == .user(Array("bob".utf8)))
        #expect(SASLExchange.passwordChallenge == "UGFzc3dvcmQ6")
        #expect(e.respond(b64("pw")) == .credentials(authorization: [], user: Array("bob".utf8), password: Array("pw".utf8)))
        var resumed = SASLExchange(mechanism: "LOGIN", user: Array("amy".utf8))!
        #expect(resumed.respond(b64("x")) == .credentials(authorization: [], user: Array("amy".utf8), password: Array("x".utf8)))
    }

    @Test func failures() {
        #expect(SASLExchange(mechanism: "CRAM-MD5") == nil)
        #expect(SASLExchange(mechanism: "SCRAM-SHA-256") == nil)
        var e = SASLExchange(mechanism: "PLAIN")!
        #expect(e.respond(Array("*".utf8)[...]) == .failed(.cancelled))
        #expect(e.respond(Array("Ym9i=".utf8)[...]) == .failed(.invalidBase64))
        #expect(e.respond(b64("no-nul")) == .failed(.malformed))
        // RFC 4616 §2: the password holds no NUL.
        #expect(e.respond(b64("\0bob\0pa\0ss")) == .failed(.malformed))
        // "=" is an empty response: for PLAIN, malformed.
        #expect(e.respond(Array("=".utf8)[...]) == .failed(.malformed))
    }

    @Test func lenientDecodingAcceptsMissingPaddingButNotSpaces() {
        var strict = SASLExchange(mechanism: "LOGIN")!
        #expect(strict.respond(Array("Ym9i".utf8)[...]) == .user(Array("bob".utf8)))
        var s2 = SASLExchange(mechanism: "LOGIN")!
        #expect(s2.respond(Array("YW15".utf8)[...]) == .user(Array("amy".utf8)))
        var s3 = SASLExchange(mechanism: "LOGIN")!
        #expect(s3.respond(Array("Ym8".utf8)[...]) == .failed(.invalidBase64))
        var lenient = SASLExchange(mechanism: "LOGIN", decoding: .lenient)!
        #expect(lenient.respond(Array("Ym8".utf8)[...]) == .user(Array("bo".utf8)))
        var l2 = SASLExchange(mechanism: "LOGIN", decoding: .lenient)!
        #expect(l2.respond(Array("Ym 8=".utf8)[...]) == .failed(.invalidBase64))
    }

    @Test func base64AndXText() {
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            #expect(Base64.decode(Array(Base64.encode(Array(s.utf8)).utf8)) == Array(s.utf8))
            #expect(Base64.decodeLenient(Array(Base64.encode(Array(s.utf8)).utf8)) == Array(s.utf8))
        }
        #expect(Base64.decode(Array("Zm9vYg=".utf8)) == nil)
        #expect(Base64.decode(Array("Zh==".utf8)) == nil)  // non-zero padding bits (RFC 4648 §3.5)
        #expect(Base64.decodeLenient(Array("Zm9v\r\n YmFy".utf8)) == Array("foobar".utf8))
        #expect(XText.isValid(Array("a+2Bb".utf8)) && !XText.isValid(Array("a+2bb".utf8)) && !XText.isValid(Array("a=b".utf8)))
        #expect(XText.decode(Array("a+2Bb".utf8)) == "a+b")
    }
}

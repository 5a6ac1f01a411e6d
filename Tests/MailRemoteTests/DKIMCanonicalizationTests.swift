import Testing
@testable import MailDKIM
@testable import MailRemote

struct DKIMCanonicalizationTests {
    // RFC 6376 §3.4.6's example.
    @Test func rfcExample() {
        let message = DKIMMessage(crlfMessage: Array("A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n".utf8))
        #expect(message.fields.map { String(decoding: DKIMCanonicalization.relaxedHeader($0), as: UTF8.self) }
                == ["a:X\r\n", "b:Y Z\r\n"])
        #expect(String(decoding: DKIMCanonicalization.relaxedBody(message.body), as: UTF8.self) == " C\r\nD E\r\n")
    }

    @Test func emptyBody() {
        #expect(DKIMCanonicalization.relaxedBody([][...]).isEmpty)
        #expect(DKIMCanonicalization.relaxedBody(Array("\r\n\r\n".utf8)[...]).isEmpty)
    }

    @Test func lineEndsNormalised() {
        #expect(DKIMMessage.normalizingLineEnds(Array("a\nb\rc\r\nd".utf8)) == Array("a\r\nb\r\nc\r\nd".utf8))
    }

    @Test(arguments: [DKIMKey.Algorithm.rsa, .ed25519])
    func signsAndRecord(_ algorithm: DKIMKey.Algorithm) throws {
        let key = try DKIMKey.generate(algorithm, bits: 1024)
        let reloaded = try DKIMKey(pem: try key.privateKeyPEM())
        #expect(try reloaded.dnsRecordText() == (try key.dnsRecordText()))
        let message = DKIMMessage(crlfMessage: Array("From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n".utf8))
        let field = try DKIMSigner(domain: "example.org", selector: "s1", key: reloaded, signedHeaders: ["subject"])
            .signatureField(for: message, time: 1)
        let text = String(decoding: field, as: UTF8.self)
        #expect(text.hasPrefix("DKIM-Signature: v=1; a=\(algorithm.signatureAlgorithm); c=relaxed/relaxed;"))
        #expect(text.contains("h=from:subject:from;"))
    }

    @Test func fromDomain() {
        #expect(DKIMSigning.fromDomain("Ann <ann@Example.ORG>") == "example.org")
        #expect(DKIMSigning.fromDomain("ann@example.org (Ann)") == "example.org")
        #expect(DKIMSigning.fromDomain("nobody") == nil)
    }

    @Test func quotedPrintable() {
        let out = SevenBitDowngrade.downgrade(Array("Subject: x\r\n\r\nGr\u{fc}\u{df}e \r\n".utf8))!
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.contains("Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe=20\r\n"))
        #expect(out.allSatisfy { $0 < 0x80 })
    }

    @Test func reportBytes() {
        let r = RemoteReport(recipients: [(.accepted, "ok"), (.permanent, "no\0such")], message: (.delivered, "done"))
        #expect(r.bytes == Array("rok\0hno such\0Kdone\0".utf8))
    }
}

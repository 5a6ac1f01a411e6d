import Testing
@testable import SpamFilter

@Suite struct FuzzTests {
    static let seeds: [String] = [
        "Subject: =?utf-8?B?w7w=?=\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>hi =3D &amp; <a href=3D\"http://x.example/\">x</a></p>\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n",
        "From: a@b.example\r\nReceived: from x (y [10.0.0.1])\r\n\r\nvisit www.spam.example now http://1.2.3.4/x?y=z mail me a@b.c\r\n",
    ]

    @Test func garbageNeverTraps() {
        var rng = SplitMix(state: 0xF00D)
        let alphabet = Array("=?<>&;:-\r\n \t\"'/@.#bBqQ".utf8) + Array("--boundary".utf8)
        for round in 0..<3000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<Int.random(in: 0..<600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 1:
                bytes = (0..<Int.random(in: 0..<600, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            default:
                bytes = Array(Self.seeds[round % Self.seeds.count].utf8)
                for _ in 0..<Int.random(in: 1..<12, using: &rng) where !bytes.isEmpty {
                    let at = Int.random(in: 0..<bytes.count, using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                    case 1: bytes.remove(at: at)
                    default: bytes.insert(alphabet.randomElement(using: &rng)!, at: at)
                    }
                }
            }
            SpamFilterFuzzing.run(bytes)
        }
    }

    @Test func hostileShapesStayBounded() {
        var nested = ""
        for level in 0..<2000 { nested += "Content-Type: multipart/mixed; boundary=\"l\(level)\"\r\n\r\n--l\(level)\r\n" }
        let manyParts = "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + String(repeating: "--b\r\n\r\nx\r\n", count: 20_000)
        let inputs: [[UInt8]] = [
            Array(nested.utf8),
            Array(manyParts.utf8),
            Array(("Subject: " + String(repeating: "=?x?q?", count: 20_000) + "\r\n\r\n").utf8),
            Array(("\r\n" + String(repeating: "<a href=\"", count: 50_000)).utf8),
            Array(("Content-Type: text/html\r\n\r\n" + String(repeating: "<style", count: 50_000)).utf8),
            Array(("\r\n" + String(repeating: "x", count: 2_000_000)).utf8),
            Array(String(repeating: "X-A: b\r\n", count: 100_000).utf8),
        ]
        let clock = ContinuousClock()
        for input in inputs {
            let elapsed = clock.measure {
                let document = SpamDocument.decode(rawMessage: input)
                let tokens = SpamTokenizer().tokenize(document)
                #expect(tokens.count <= SpamTokenizerLimits().maxTokens)
                #expect(document.textParts.reduce(0) { $0 + $1.utf8.count } <= SpamDecodeLimits().maxTextBytes)
            }
            #expect(elapsed < .seconds(3))
        }
        let deep = SpamDocument.decode(rawMessage: Array(nested.utf8))
        #expect(deep.truncation.contains(.mimeDepth))
        #expect(SpamDocument.decode(rawMessage: Array(manyParts.utf8)).truncation.contains(.mimeParts))
    }
}

import Testing
@testable import MailMessage

@Suite struct HeaderSectionTests {
    @Test func fieldsFoldingAndBody() {
        let msg = Array("Subject: hello\r\n  world\r\nTo: a@x\r\n\r\nbody\r\n".utf8)
        let h = HeaderSection.parse(msg)
        #expect(h.fields.map(\.name) == ["Subject", "To"])
        #expect(h.first("subject")?.value == "hello  world")
        #expect(Array(msg[h.bodyStart...]) == Array("body\r\n".utf8))
        #expect(!h.missingSeparator)
    }

    @Test func lfOnlyAndRanges() {
        let msg = Array("A: 1\nB: 2\n\nx".utf8)
        let h = HeaderSection.parse(msg)
        #expect(h.fields.count == 2)
        #expect(Array(msg[h.fields[1].range]) == Array("B: 2\n".utf8))
        #expect(h.bodyStart == 11)
    }

    @Test func nonHeaderLineStartsTheBody() {
        let msg = Array("Subject: x\nthis is body\n".utf8)
        let h = HeaderSection.parse(msg)
        #expect(h.fields.count == 1)
        #expect(h.missingSeparator)
        #expect(h.bodyStart == 11)
    }

    @Test func noHeaderAtAll() {
        let h = HeaderSection.parse(Array("hi\n".utf8))
        #expect(h.fields.isEmpty && h.missingSeparator && h.bodyStart == 0)
    }

    @Test func headersOnlyEndAtEOF() {
        let h = HeaderSection.parse(Array("A: 1\nB: 2".utf8))
        #expect(h.fields.count == 2 && h.endedAtEOF)
        #expect(h.fields[1].value == "2")
    }

    @Test func garbageNeverTraps() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let bytes = (0..<Int.random(in: 0..<300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let h = HeaderSection.parse(bytes)
            #expect(h.bodyStart <= bytes.count)
            for f in h.fields { _ = f.value }
        }
    }
}

@Suite struct AddressListTests {
    @Test(arguments: [
        ("a@x", ["a@x"]),
        ("Alice <alice@example.org>, bob@example.org", ["alice@example.org", "bob@example.org"]),
        ("\"Doe, John\" <john@x>", ["john@x"]),
        ("team: a@x, b@y;, c@z", ["a@x", "b@y", "c@z"]),
        ("undisclosed-recipients:;", []),
        ("a@x (Alice, the (nested) one), b@y", ["a@x", "b@y"]),
        ("<@relay.net:user@host>", ["user@host"]),
        ("\"strange,local\"@x", ["\"strange,local\"@x"]),
        ("user", ["user"]),
        ("", []),
    ])
    func extracts(value: String, expected: [String]) {
        #expect(AddressList.addresses(in: value) == expected)
    }
}

import MailCodec
import Testing
@testable import MailAuth

@Suite struct AuthProtocolTests {
    func parse(_ line: String) throws -> AuthRequest {
        try AuthProtocol.parseRequest(Array(line.utf8)[...])
    }

    @Test func parsesAuth() throws {
        // user "alice", password "p w\u{0}x" (NUL and space survive base64), peer "192.0.2.1"
        let line = "AUTH imap \(Base64.encode(Array("alice".utf8))) \(Base64.encode([0x70, 0x20, 0x77, 0x00, 0x78])) \(Base64.encode(Array("192.0.2.1".utf8)))"
        #expect(try parse(line) == .authenticate(AuthCredentials(service: "imap", user: Array("alice".utf8),
                                                                   password: [0x70, 0x20, 0x77, 0x00, 0x78],
                                                                   peer: Array("192.0.2.1".utf8))))
        #expect(try parse("AUTH smtp YQ== - -") == .authenticate(AuthCredentials(service: "smtp", user: [0x61], password: [], peer: [])))
        #expect(try parse("STATS") == .stats)
    }

    @Test(arguments: [
        ("", "empty line"),
        ("HELLO", "unknown command"),
        ("auth imap YQ== YQ== -", "unknown command"),
        ("AUTH imap YQ== YQ==", "AUTH takes 4 fields"),
        ("AUTH imap YQ== YQ== - extra", "AUTH takes 4 fields"),
        ("AUTH  YQ== YQ== -", "bad service name"),
        ("AUTH IMAP YQ== YQ== -", "bad service name"),
        ("AUTH im/ap YQ== YQ== -", "bad service name"),
        ("AUTH imap - YQ== -", "empty user"),
        ("AUTH imap YQ YQ== -", "bad base64 in user"),
        ("AUTH imap YQ== YQ=\u{0D} -", "bad base64 in password"),
        ("AUTH imap YQ==  -", "bad password field"),
        ("STATS now", "STATS takes no fields"),
    ])
    func refusesMalformed(line: String, reason: String) {
        #expect(throws: AuthProtocolError(reason)) { try parse(line) }
    }

    @Test func enforcesFieldLimits() throws {
        var limits = AuthProtocolLimits()
        limits.maxUserLength = 4
        let ok = "AUTH imap \(Base64.encode(Array("abcd".utf8))) - -"
        let long = "AUTH imap \(Base64.encode(Array("abcde".utf8))) - -"
        #expect(throws: Never.self) { try AuthProtocol.parseRequest(Array(ok.utf8)[...], limits: limits) }
        #expect(throws: AuthProtocolError.self) { try AuthProtocol.parseRequest(Array(long.utf8)[...], limits: limits) }
        let hugePassword = "AUTH imap YQ== \(Base64.encode([UInt8](repeating: 1, count: 513))) -"
        #expect(throws: AuthProtocolError.self) { try parse(hugePassword) }
    }

    @Test func requestsRoundTrip() throws {
        let credentials = AuthCredentials(service: "pop3", user: Array("bob@example.org".utf8),
                                          password: Array("pässwörd \n".utf8), peer: [])
        for request in [AuthRequest.authenticate(credentials), .stats] {
            var line = AuthProtocol.encode(request)
            #expect(line.last == 0x0A)
            line.removeLast()
            #expect(!line.contains(0x0A))
            #expect(try AuthProtocol.parseRequest(line[...]) == request)
        }
    }

    @Test(arguments: [
        (AuthResponse.ok(user: Array("alice".utf8)), "OK YWxpY2U=\n"),
        (.fail, "FAIL\n"),
        (.temporary(reason: "PAM unavailable"), "TEMP PAM unavailable\n"),
        (.error(reason: "line too long"), "ERR line too long\n"),
        (.stats([AuthStatistic("requests", 3), AuthStatistic("cache_hits", 1)]), "STATS requests=3 cache_hits=1\n"),
    ])
    func responsesEncodeAndParse(response: AuthResponse, wire: String) throws {
        #expect(AuthProtocol.encode(response) == Array(wire.utf8))
        #expect(try AuthProtocol.parseResponse(Array(wire.utf8).dropLast()) == response)
    }

    @Test func reasonsCannotBreakTheLine() {
        let wire = AuthProtocol.encode(.temporary(reason: "bad\nFAIL\r\u{0}"))
        #expect(wire.filter { $0 == 0x0A }.count == 1)
        #expect(wire == Array("TEMP bad\\xaFAIL\\xd\\x0\n".utf8))
    }

    @Test(arguments: ["", "OK", "OK -", "FAIL now", "YES", "STATS a", "STATS a=b", "OK !!!!"])
    func refusesMalformedResponses(line: String) {
        #expect(throws: AuthProtocolError.self) { try AuthProtocol.parseResponse(Array(line.utf8)[...]) }
    }

    @Test func lineReaderSplitsAndLimits() {
        var reader = AuthLineReader(maxLineLength: 8)
        reader.append(Array("STATS\nST".utf8))
        #expect(reader.next() == .line(Array("STATS".utf8)))
        #expect(reader.next() == .needMore)
        reader.append(Array("ATS\n".utf8))
        #expect(reader.next() == .line(Array("STATS".utf8)))
        reader.append(Array("1234567".utf8))
        #expect(reader.next() == .needMore)
        reader.append(Array("8".utf8))
        #expect(reader.next() == .tooLong)
        reader.append(Array("\n".utf8))
        #expect(reader.next() == .tooLong)   // once broken, always broken
    }

    @Test func lineReaderDropsAnOverlongPartialLineAtOnce() {
        var reader = AuthLineReader(maxLineLength: 16)
        reader.append([UInt8](repeating: 0x41, count: 100_000))
        #expect(!reader.hasPartialLine)
        #expect(reader.next() == .tooLong)
    }

    @Test func fuzzEntryPointSurvivesGarbage() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("AUTH STATS OK FAIL TEMP ERR imap YWxpY2U= - = \n\r\u{0}/+".utf8)
        for round in 0..<2000 {
            let length = Int.random(in: 0...600, using: &generator)
            let bytes: [UInt8] = (0..<length).map { _ in
                round % 2 == 0 ? UInt8.random(in: 0...255, using: &generator) : alphabet.randomElement(using: &generator)!
            }
            _ = AuthProtocol.fuzz(bytes)
        }
        #expect(AuthProtocol.fuzz(Array("STATS\nAUTH imap YQ== YQ== -\nnonsense\n".utf8)) == 2)
    }
}

@Suite struct CheckpasswordInputTests {
    @Test(arguments: [
        ("alice\0secret\0", "alice", "secret", nil),
        ("alice\0secret\0 1234567890\0", "alice", "secret", " 1234567890"),
        ("alice\0secret\01234", "alice", "secret", "1234"),
        ("alice\0\0", "alice", "", nil),
        ("alice\0secret\0ts\0trailing data", "alice", "secret", "ts"),
    ] as [(String, String, String, String?)])
    func parses(input: String, user: String, password: String, timestamp: String?) throws {
        let parsed = try CheckpasswordInput.parse(Array(input.utf8))
        #expect(parsed == CheckpasswordInput(user: Array(user.utf8), password: Array(password.utf8),
                                             timestamp: timestamp.map { Array($0.utf8) }))
    }

    @Test(arguments: [
        ("", CheckpasswordInput.ParseError.missingUserTerminator),
        ("alice", .missingUserTerminator),
        ("alice\0secret", .missingPasswordTerminator),
        ("\0secret\0", .emptyUser),
    ])
    func refuses(input: String, error: CheckpasswordInput.ParseError) {
        #expect(throws: error) { try CheckpasswordInput.parse(Array(input.utf8)) }
    }

    @Test func refusesMoreThan512Bytes() throws {
        let exact = Array("u\0".utf8) + [UInt8](repeating: 0x61, count: 509) + [0]
        #expect(exact.count == 512)
        #expect(try CheckpasswordInput.parse(exact).password.count == 509)
        #expect(throws: CheckpasswordInput.ParseError.tooLong) { try CheckpasswordInput.parse(exact + [0]) }
    }
}

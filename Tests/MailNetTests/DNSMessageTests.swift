import Testing
@testable import MailNet

/// Hand-made DNS packets.
private enum Packet {
    static func header(id: UInt16 = 0x1234, flags: UInt16 = 0x8180, counts: [UInt16]) -> [UInt8] {
        var bytes = [UInt8(id >> 8), UInt8(id & 0xFF), UInt8(flags >> 8), UInt8(flags & 0xFF)]
        for count in counts { bytes += [UInt8(count >> 8), UInt8(count & 0xFF)] }
        return bytes
    }

    static func name(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for label in text.split(separator: ".") {
            bytes.append(UInt8(label.utf8.count))
            bytes += Array(label.utf8)
        }
        return bytes + [0]
    }

    static func u16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    /// type, class IN, TTL 300, RDATA with its length.
    static func record(type: UInt16, rdata: [UInt8]) -> [UInt8] {
        u16(type) + [0, 1, 0, 0, 0x01, 0x2C] + u16(UInt16(rdata.count)) + rdata
    }

    /// A response for example.org/MX with `answers` (each starting with its owner name bytes).
    static func mxResponse(_ answers: [[UInt8]], flags: UInt16 = 0x8180) -> [UInt8] {
        header(flags: flags, counts: [1, UInt16(answers.count), 0, 0]) + name("example.org") + u16(15) + [0, 1]
            + answers.flatMap { $0 }
    }

    /// Pointer to the question name (offset 12).
    static let toQuestion: [UInt8] = [0xC0, 0x0C]
}

@Suite struct DNSMessageTests {
    @Test func parsesCompressedMXAnswer() throws {
        // mail.example.org as "mail" + pointer to the question's "example.org".
        let packet = Packet.mxResponse([
            Packet.toQuestion + Packet.record(type: 15, rdata: Packet.u16(10) + [4] + Array("mail".utf8) + Packet.toQuestion),
            Packet.toQuestion + Packet.record(type: 15, rdata: Packet.u16(20) + Packet.name("backup.example.net")),
        ])
        let message = try DNSMessage(parsing: packet)
        #expect(message.id == 0x1234)
        #expect(message.isResponse && message.recursionAvailable && !message.isTruncated)
        #expect(message.responseCode == .noError)
        #expect(message.questions == [DNSQuestion(name: DNSName("example.org")!, type: .mx, questionClass: 1)])
        #expect(message.answers.map(\.data) == [
            .mx(preference: 10, exchange: DNSName("mail.example.org")!),
            .mx(preference: 20, exchange: DNSName("backup.example.net")!),
        ])
        #expect(message.answers[0].name == DNSName("EXAMPLE.org"))
        #expect(message.answers[0].ttl == 300)
    }

    @Test func nestedPointersAreFollowed() throws {
        // Second answer's exchange points into the first answer's exchange, which points to the question.
        let first = Packet.toQuestion + Packet.record(type: 15, rdata: Packet.u16(10) + [2] + Array("mx".utf8) + Packet.toQuestion)
        let firstExchangeOffset = UInt8(12 + 13 + 4 + first.count - 5)  // "mx" label inside first's RDATA
        let second = Packet.toQuestion + Packet.record(type: 15, rdata: Packet.u16(20) + [1, 0x61, 0xC0, firstExchangeOffset])
        let message = try DNSMessage(parsing: Packet.mxResponse([first, second]))
        #expect(message.answers[1].data == .mx(preference: 20, exchange: DNSName("a.mx.example.org")!))
    }

    @Test func nullMXIsRecognised() throws {
        let packet = Packet.mxResponse([Packet.toQuestion + Packet.record(type: 15, rdata: [0, 0, 0])])
        let message = try DNSMessage(parsing: packet)
        let records = message.answers.compactMap { record -> MXRecord? in
            if case .mx(let preference, let exchange) = record.data { return MXRecord(preference: preference, exchange: exchange) }
            return nil
        }
        #expect(records.isNullMX)
        #expect(records[0].exchange.description == ".")
        #expect(![MXRecord(preference: 10, exchange: .root)].isNullMX)
        #expect(!(records + [MXRecord(preference: 10, exchange: DNSName("mx.example.org")!)]).isNullMX)
    }

    @Test func txtCharacterStringsAndOtherTypes() throws {
        let txt = Packet.toQuestion + Packet.record(type: 16, rdata: [5] + Array("v=spf".utf8) + [6] + Array("1 -all".utf8) + [0])
        let a = Packet.toQuestion + Packet.record(type: 1, rdata: [192, 0, 2, 1])
        let aaaa = Packet.toQuestion + Packet.record(type: 28, rdata: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1])
        let unknown = Packet.toQuestion + Packet.record(type: 99, rdata: [1, 2, 3])
        let message = try DNSMessage(parsing: Packet.mxResponse([txt, a, aaaa, unknown]))
        #expect(message.answers[0].data == .txt([Array("v=spf".utf8), Array("1 -all".utf8), []]))
        #expect(TXTRecord(strings: [Array("v=spf".utf8), Array("1 -all".utf8)]).text == "v=spf1 -all")
        #expect(message.answers[1].data == .a(IPAddress("192.0.2.1")!))
        #expect(message.answers[2].data == .aaaa(IPAddress("2001:db8::1")!))
        #expect(message.answers[3].data == .other([1, 2, 3]))
        #expect(message.answers[3].type.description == "TYPE99")
    }

    @Test(arguments: [
        // A pointer to itself.
        ([0xC0, 0x0C], DNSWireError.Reason.pointerNotBackwards),
        // A pointer forwards.
        ([0xC0, 0x20], .pointerNotBackwards),
        // A label, then a pointer back to that same label: would loop forever.
        ([1, 0x61, 0xC0, 0x0C], .pointerNotBackwards),
        // Label types 01 and 10 are not allowed.
        ([0x41, 0x61, 0], .badLabelType),
        ([0x81, 0x61, 0], .badLabelType),
        // A label running past the end.
        ([10, 0x61], .truncated),
        // A pointer cut in half.
        ([0xC0], .truncated),
    ])
    func hostileQuestionNames(name: [UInt8], reason: DNSWireError.Reason) {
        let packet = Packet.header(counts: [1, 0, 0, 0]) + name + Packet.u16(1) + [0, 1]
        #expect { try DNSMessage(parsing: packet) } throws: { ($0 as? DNSWireError)?.reason == reason }
    }

    @Test func nameLongerThan255BytesIsRejected() {
        let label = [63] + [UInt8](repeating: 0x61, count: 63)
        let packet = Packet.header(counts: [1, 0, 0, 0]) + label + label + label + label + [0] + Packet.u16(1) + [0, 1]
        #expect { try DNSMessage(parsing: packet) } throws: { ($0 as? DNSWireError)?.reason == .nameTooLong }
    }

    @Test func pointerChainsAreBounded() {
        // An unknown record's RDATA holds 200 pointers, each to the one before it (the first to the
        // question name); the next record's owner name enters the chain at its end. Every jump goes
        // backwards, but no valid name needs more than 127 of them.
        var packet = Packet.header(counts: [1, 2, 0, 0]) + [1, 0x61, 0] + Packet.u16(1) + [0, 1]
        var chain: [UInt8] = []
        var previous = 12
        let chainStart = packet.count + 2 + 10
        for index in 0..<200 {
            chain += [0xC0 | UInt8(previous >> 8), UInt8(previous & 0xFF)]
            previous = chainStart + 2 * index
        }
        packet += Packet.toQuestion + Packet.record(type: 99, rdata: chain)
        packet += [0xC0 | UInt8(previous >> 8), UInt8(previous & 0xFF)] + Packet.record(type: 1, rdata: [1, 2, 3, 4])
        #expect { try DNSMessage(parsing: packet) } throws: { ($0 as? DNSWireError)?.reason == .tooManyPointers }
        // The same with a chain of 100 parses: the limit is not below what valid names need.
        var short = Packet.header(counts: [1, 2, 0, 0]) + [1, 0x61, 0] + Packet.u16(1) + [0, 1]
        short += Packet.toQuestion + Packet.record(type: 99, rdata: Array(chain[0..<200]))
        let last = chainStart + 2 * 99
        short += [0xC0 | UInt8(last >> 8), UInt8(last & 0xFF)] + Packet.record(type: 1, rdata: [1, 2, 3, 4])
        #expect(throws: Never.self) { try DNSMessage(parsing: short) }
    }

    @Test(arguments: [
        // A record with 5 bytes of RDATA.
        (Packet.toQuestion + Packet.record(type: 1, rdata: [1, 2, 3, 4, 5]), DNSWireError.Reason.badRecordData),
        // An MX whose name does not fill its RDATA.
        (Packet.toQuestion + Packet.record(type: 15, rdata: Packet.u16(1) + [0, 0x99]), .badRecordData),
        // An MX whose name runs past its RDATA into the next bytes.
        (Packet.toQuestion + Packet.u16(15) + [0, 1, 0, 0, 0, 1] + Packet.u16(3) + Packet.u16(1) + [1, 0x61, 0], .badRecordData),
        // A TXT string longer than the RDATA.
        (Packet.toQuestion + Packet.record(type: 16, rdata: [9, 0x61]), .badRecordData),
        // RDATA length beyond the message.
        (Packet.toQuestion + Packet.u16(1) + [0, 1, 0, 0, 0, 1] + Packet.u16(200) + [1, 2, 3, 4], .truncated),
    ])
    func badRecordData(answer: [UInt8], reason: DNSWireError.Reason) {
        #expect { try DNSMessage(parsing: Packet.mxResponse([answer])) } throws: { ($0 as? DNSWireError)?.reason == reason }
    }

    @Test func everyTruncationAndTrailingByteIsAnError() throws {
        let packet = Packet.mxResponse([
            Packet.toQuestion + Packet.record(type: 15, rdata: Packet.u16(10) + [4] + Array("mail".utf8) + Packet.toQuestion),
        ])
        _ = try DNSMessage(parsing: packet)
        for length in 0..<packet.count {
            #expect(throws: DNSWireError.self) { try DNSMessage(parsing: Array(packet[0..<length])) }
        }
        #expect { try DNSMessage(parsing: packet + [0]) } throws: { ($0 as? DNSWireError)?.reason == .trailingBytes }
    }

    @Test func queryRoundTrips() throws {
        let query = DNSMessage.query(id: 77, name: DNSName("Mail.Example.org.")!, type: .aaaa)
        let parsed = try DNSMessage(parsing: query)
        #expect(parsed.id == 77 && !parsed.isResponse && parsed.recursionDesired)
        #expect(parsed.questions == [DNSQuestion(name: DNSName("mail.example.org")!, type: .aaaa, questionClass: 1)])
        #expect(parsed.questions[0].name.description == "Mail.Example.org")
    }

    @Test(arguments: [
        ("example.org", "example.org"), ("example.org.", "example.org"), (".", "."),
        ("a..b", nil), (String(repeating: "a", count: 64) + ".org", nil),
        (Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: "."), nil),
    ] as [(String, String?)])
    func namesFromText(text: String, expected: String?) {
        #expect(DNSName(text)?.description == expected)
    }

    @Test func nameEscapesAndCaseInsensitivity() {
        let name = DNSName(labels: [[0x61, 0x2E, 0x62], [0x00, 0x5C]])!
        #expect(name.description == "a\\.b.\\000\\\\")
        #expect(DNSName("MX.Example.ORG") == DNSName("mx.example.org"))
        #expect(Set([DNSName("A.b")!, DNSName("a.B")!]).count == 1)
    }

    @Test func reverseNames() {
        #expect(IPAddress("192.0.2.1")!.reverseLookupName.description == "1.2.0.192.in-addr.arpa")
        #expect(IPAddress("2001:db8::1")!.reverseLookupName.description
            == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")
    }

    @Test func fuzzGarbageAndMutationsNeverTrap() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let bytes = (0..<Int.random(in: 0..<300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            DNSMessage.fuzz(bytes)
        }
        let valid = Packet.mxResponse([
            Packet.toQuestion + Packet.record(type: 15, rdata: Packet.u16(10) + [4] + Array("mail".utf8) + Packet.toQuestion),
            Packet.toQuestion + Packet.record(type: 16, rdata: [3, 0x61, 0x62, 0x63]),
        ])
        #expect(DNSMessage.fuzz(valid))
        for _ in 0..<5000 {
            var mutated = valid
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                mutated[Int.random(in: 0..<mutated.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            DNSMessage.fuzz(mutated)
        }
    }
}

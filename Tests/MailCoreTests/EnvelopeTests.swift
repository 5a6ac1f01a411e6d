import Testing
@testable import MailCore

@Suite struct EnvelopeTests {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func parsesQmailEnvelope() throws {
        let e = try Envelope.parse(qmailBytes: bytes("Fa@x\0Tb@y\0Tc@z\0\0"))
        #expect(e.sender.text == "a@x")
        #expect(e.recipients.map(\.text) == ["b@y", "c@z"])
    }

    @Test func nullSenderIsValid() throws {
        let e = try Envelope.parse(qmailBytes: bytes("F\0Tb@y\0\0"))
        #expect(e.sender.isNull)
    }

    @Test func roundTrip() throws {
        let e = Envelope(sender: try EnvelopeAddress("s@x"), recipients: [try EnvelopeAddress("r@y"), try EnvelopeAddress("ü@z")])
        #expect(try Envelope.parse(qmailBytes: e.qmailBytes) == e)
    }

    @Test(arguments: [
        ("", Envelope.FormatError.truncated),
        ("Ta@x\0\0", .missingSender),
        ("Fa@x\0Tb@y\0", .truncated),
        ("Fa@x\0Tb@y", .truncated),
        ("Fa@x\0\0", .noRecipients),
        ("Fa@x\0Xb@y\0\0", .badRecord(offset: 5)),
        ("Fa@x\0Tb@y\0\0junk", .trailingBytes),
        ("Fa@x\0T\0\0", .badAddress("empty recipient")),
    ])
    func rejectsMalformed(input: String, expected: Envelope.FormatError) {
        #expect(throws: expected) { try Envelope.parse(qmailBytes: bytes(input)) }
    }

    @Test(arguments: ["a\rb@x", "a\nb@x", "a\u{7F}@x", "a\tb@x"])
    func rejectsControlCharacters(address: String) {
        let input = bytes("Fs@x\0T") + bytes(address) + [0, 0]
        #expect(throws: Envelope.FormatError.badAddress("address contains a control character")) {
            try Envelope.parse(qmailBytes: input)
        }
    }

    @Test func rejectsOverlongAddress() {
        let long = String(repeating: "a", count: 600) + "@x"
        #expect(throws: Envelope.FormatError.addressTooLong(limit: 512)) {
            try Envelope.parse(qmailBytes: bytes("Fs@x\0T\(long)\0\0"))
        }
    }

    @Test func recipientLimit() {
        var input = bytes("Fs@x\0")
        for i in 0..<11 { input += bytes("Tr\(i)@x\0") }
        input.append(0)
        #expect(throws: Envelope.FormatError.tooManyRecipients(limit: 10)) {
            try Envelope.parse(qmailBytes: input, recipientLimit: 10)
        }
    }

    @Test func nulInsideAddressEndsIt() {
        // A NUL inside an address splits it: "a" then a record starting with "b" is bad.
        #expect(throws: Envelope.FormatError.self) { try Envelope.parse(qmailBytes: bytes("Fs@x\0Ta\0b@x\0\0")) }
    }

    @Test func queueExitClasses() {
        #expect(QueueExit.disposition(ofExitCode: 0) == .success)
        #expect(QueueExit.disposition(ofExitCode: 11) == .permanent)
        #expect(QueueExit.disposition(ofExitCode: 31) == .permanent)
        #expect(QueueExit.disposition(ofExitCode: 53) == .temporary)
        #expect(QueueExit.disposition(ofExitCode: 91) == .temporary)
        #expect(SysExit.disposition(ofExitCode: 75) == .temporary)
        #expect(SysExit.disposition(ofExitCode: 67) == .permanent)
    }
}

import Testing
@testable import SpamCheck

struct ResidentCheckTests {
    /// What smtpd sends its checker child comes back whole: every field, any bytes (tabs, line
    /// ends, NULs, a message that is not UTF-8), several recipients, absent fields absent.
    @Test func aRequestRoundTrips() throws {
        var input = SpamCheckInput(message: [0x46, 0x72, 0x6F, 0x6D, 0x3A, 0x20, 0xFF, 0x00, 0x0D, 0x0A, 0x0D, 0x0A, 0x62])
        input.clientIP = "2001:db8::1"
        input.helo = "odd\thelo name"
        input.sender = "a@b.example"
        input.recipients = ["x@y.example", "", "z\n@y.example"]
        let back = try #require(ResidentCheck.decode(ResidentCheck.encode(input)))
        #expect(back.message == input.message)
        #expect(back.clientIP == input.clientIP && back.helo == input.helo && back.sender == input.sender)
        #expect(back.recipients == input.recipients)
        #expect(back.user == nil)
        let bare = try #require(ResidentCheck.decode(ResidentCheck.encode(SpamCheckInput(message: []))))
        #expect(bare.message.isEmpty && bare.clientIP == nil && bare.recipients.isEmpty)
    }

    /// A damaged request is refused, never half read: cut anywhere, an unknown field, a length
    /// past the end, no message.
    @Test func aDamagedRequestIsRefused() {
        var input = SpamCheckInput(message: Array("Subject: x\r\n\r\nbody\r\n".utf8))
        input.sender = "a@b.example"
        let bytes = ResidentCheck.encode(input)
        for cut in 1..<bytes.count { #expect(ResidentCheck.decode(Array(bytes[0..<cut])) == nil, "cut at \(cut)") }
        #expect(ResidentCheck.decode([UInt8(ascii: "q"), 0, 0, 0, 0] + bytes) == nil)
        #expect(ResidentCheck.decode([UInt8(ascii: "m"), 0, 0, 1, 0, 1, 2]) == nil)
        #expect(ResidentCheck.decode([UInt8(ascii: "s"), 0, 0, 0, 1, 0x61]) == nil)
        #expect(ResidentCheck.decode([]) == nil)
    }
}

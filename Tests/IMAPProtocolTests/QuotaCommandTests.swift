import Testing
@testable import IMAPProtocol

/// RFC 9208 QUOTA commands and responses.
@Suite struct QuotaCommandTests {
    @Test(arguments: [
        // RFC 9208 §4.2 and §4.3 examples.
        ParserCase("G0001 GETQUOTA \"!partition/sda4\"", .getQuota(bytes("!partition/sda4"))),
        ParserCase("G0002 GETQUOTA \"\"", .getQuota([])),
        ParserCase("G0003 GETQUOTAROOT INBOX", .getQuotaRoot(mailbox("INBOX"))),
        ParserCase("G0004 getquotaroot \"Archive/2024\"", .getQuotaRoot(mailbox("Archive/2024"))),
    ])
    func parses(_ testCase: ParserCase) throws {
        #expect(try parse(testCase.line).kind == testCase.expected)
    }

    @Test(arguments: ["a GETQUOTA", "a GETQUOTAROOT", "a GETQUOTA (x)", "a GETQUOTAROOT INBOX extra"])
    func refusesBadSyntax(_ line: String) {
        #expect(throws: IMAPParseError.self) { try parse(line) }
    }

    @Test func encodesQuotaResponses() {
        var out = IMAPResponseEncoder()
        out.quotaRoot(mailbox("INBOX"), roots: [[]])
        out.quota([], [("STORAGE", 10, 512), ("MESSAGE", 3, 100)])
        #expect(String(decoding: out.bytes, as: UTF8.self) == "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE 10 512 MESSAGE 3 100)\r\n")
    }
}

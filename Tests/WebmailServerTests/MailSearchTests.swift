import MailMessage
import Testing
@testable import WebmailServer

@Suite struct MailSearchTests {
    static let message = """
    From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.org>
    To: anna@example.net
    Cc: Bob <bob@example.com>
    Subject: Quarterly REPORT
    Date: Tue, 03 Mar 2026 23:30:00 -0200

    body text
    """

    func matches(_ query: MailSearch?, body: String = "The Invoice is attached") -> Bool {
        let header = HeaderSection.parse(Array(Self.message.utf8))
        return query!.matches(header: header) { body }
    }

    @Test(arguments: [
        ("jürgen", "any", true), ("JÜRGEN", "from", true), ("juergen@", "from", true), ("jürgen", "to", false),
        ("bob@example.com", "to", true), ("anna", "to", true), ("report", "subject", true), ("report", "body", false),
        ("invoice", "body", true), ("invoice", "any", true), ("nothing like it", "any", false),
    ])
    func text(_ q: String, _ field: String, _ expected: Bool) {
        #expect(matches(MailSearch(q: q, in: field, since: nil, before: nil)) == expected)
    }

    /// The Date: field is 2026-03-04 01:30 UTC.
    @Test(arguments: [
        ("2026-03-04", nil, true), ("2026-03-05", nil, false), (nil, "2026-03-04", false), (nil, "2026-03-05", true),
        ("2026-03-01", "2026-03-31", true),
    ] as [(String?, String?, Bool)])
    func dates(_ since: String?, _ before: String?, _ expected: Bool) {
        #expect(matches(MailSearch(q: "", in: nil, since: since, before: before)) == expected)
    }

    @Test func theBodyIsReadOnlyWhenNeeded() {
        let header = HeaderSection.parse(Array(Self.message.utf8))
        var asked = false
        _ = MailSearch(q: "report", in: "subject", since: nil, before: nil)!.matches(header: header) { asked = true; return nil }
        #expect(!asked)
    }

    @Test(arguments: [
        ("x", "everywhere", nil, nil), ("x", nil, "2026-13-01", nil), ("x", nil, nil, "yesterday"), ("x", nil, "26-03-01", nil),
        ("a\r\nb", nil, nil, nil), (String(repeating: "x", count: 257), nil, nil, nil),
    ] as [(String?, String?, String?, String?)])
    func malformedQueries(_ q: String?, _ field: String?, _ since: String?, _ before: String?) {
        #expect(MailSearch(q: q, in: field, since: since, before: before) == nil)
    }

    @Test func days() {
        #expect(MailSearch.day("1970-01-01") == 0)
        #expect(MailSearch.day("2000-03-01") == 951_868_800)
        #expect(MailSearch.day("2026-03-04") == 1_772_582_400)
    }
}

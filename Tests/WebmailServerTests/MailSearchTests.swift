#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MailMessage
import Maildir
import MailSystem
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

    /// A Maildir in a temporary directory holding `message` (and a second, unrelated one).
    static func maildir() throws -> String {
        let root = "/tmp/postamt-mailsearch-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let inbox = MaildirMailbox(maildir: Maildir(path: root), rootPath: root)
        try Maildir(path: root).create()
        _ = try inbox.append(Array(message.replacingLineEnds().utf8) + Array("The Invoice is attached, Straße 5\n".utf8))
        _ = try inbox.append(Array("From: other@example.com\nSubject: hello\nDate: Mon, 02 Feb 2026 10:00:00 +0000\n\nnothing\n".utf8))
        return root
    }

    /// Runs the query through imapd's SEARCH (IMAPCommandRunner) and says whether the first message matched.
    func matches(_ query: MailSearch?) throws -> Bool {
        let root = try Self.maildir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let uids = IMAPCommandRunner(user: "tester", maildirPath: root).search(in: "INBOX", criteria: query!.criteria, newest: 100)
        #expect(uids != nil)
        return uids?.contains(1) == true
    }

    @Test(arguments: [
        ("jürgen", "any", true), ("JÜRGEN", "from", true), ("juergen@", "from", true), ("jürgen", "to", false),
        ("bob@example.com", "to", true), ("anna", "to", true), ("report", "subject", true), ("report", "body", false),
        ("invoice", "body", true), ("invoice", "any", true), ("nothing like it", "any", false),
        // i;unicode-casemap (RFC 5051): case and compatibility forms fold as IMAP clients expect.
        ("STRASSE", "body", false), ("straße", "body", true), ("quarterly report", "subject", true), ("a\"b\\", "any", false),
    ])
    func text(_ q: String, _ field: String, _ expected: Bool) throws {
        #expect(try matches(MailSearch(q: q, in: field, since: nil, before: nil)) == expected)
    }

    /// The Date: field is 2026-03-04 01:30 UTC; SENTSINCE/SENTBEFORE compare the date in the
    /// field's own zone (2026-03-03, RFC 9051 §6.4.4).
    @Test(arguments: [
        ("2026-03-03", nil, true), ("2026-03-04", nil, false), (nil, "2026-03-03", false), (nil, "2026-03-04", true),
        ("2026-03-01", "2026-03-31", true),
    ] as [(String?, String?, Bool)])
    func dates(_ since: String?, _ before: String?, _ expected: Bool) throws {
        #expect(try matches(MailSearch(q: "", in: nil, since: since, before: before)) == expected)
    }

    @Test func criteria() {
        #expect(MailSearch(q: "x y", in: "to", since: "2026-03-04", before: nil)!.criteria == "SENTSINCE 4-Mar-2026 OR TO \"x y\" CC \"x y\"")
        #expect(MailSearch(q: "ü", in: "subject", since: nil, before: "2000-12-31")!.criteria == "SENTBEFORE 31-Dec-2000 SUBJECT {2+}\r\nü")
        #expect(MailSearch.imapDate(0) == "1-Jan-1970")
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

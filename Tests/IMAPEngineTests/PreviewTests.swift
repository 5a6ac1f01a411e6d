import Foundation
import Testing
@testable import IMAPEngine

/// PREVIEW (RFC 8970): the text, its decoding, the response form and the cache.
@Suite struct PreviewTests {
    static let long = String(repeating: "word ", count: 80)  // 400 characters
    static let messages = [
        // 1: the RFC 8970 §4 example text, plain
        "From: a@example.org\nSubject: one\n\nPreview text!\n",
        // 2: quoted-printable UTF-8, white space to collapse
        "From: a@example.org\nSubject: two\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n  Gr=C3=BC=C3=9Fe\taus\n\n   K=C3=B6ln  \n",
        // 3: base64 HTML in ISO-8859-1 inside multipart/mixed, after an attachment-free preamble
        "From: a@example.org\nSubject: three\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\npreamble\n--XX\nContent-Type: text/html; charset=iso-8859-1\nContent-Transfer-Encoding: base64\n\nPGh0bWw+PGhlYWQ+PHN0eWxlPnB7fTwvc3R5bGU+PC9oZWFkPjxib2R5PjxwPkNhZukgJmFtcDsgPGI+Y3LobWU8L2I+PC9wPjwvYm9keT48L2h0bWw+\n--XX--\n",
        // 4: only an attachment: the empty preview
        "From: a@example.org\nSubject: four\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\nContent-Disposition: attachment; filename=a.txt\n\nnot this\n--XX\nContent-Type: application/pdf\n\n%PDF\n--XX--\n",
        // 5: longer than 256 characters
        "From: a@example.org\nSubject: five\n\n\(long)\n",
        // 6: multipart/alternative: the text/plain part comes first
        "From: a@example.org\nSubject: six\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=YY\n\n--YY\nContent-Type: text/plain\n\nplain version\n--YY\nContent-Type: text/html\n\n<p>html version</p>\n--YY--\n",
    ]

    @Test func transcript() throws {
        let fixture = try EngineFixture(messages: Self.messages)
        _ = fixture.send("p0 SELECT INBOX")
        #expect(fixture.send("c CAPABILITY").contains(" PREVIEW"))
        let cut = String(String(repeating: "word ", count: 52).dropLast(4))  // 256 characters: 51 words, a space, "w"
        Transcript.check("""
        C: p1 FETCH 1 (PREVIEW)
        S: * 1 FETCH (PREVIEW "Preview text!")
        S: p1 OK FETCH completed
        C: p2 FETCH 2 (PREVIEW (LAZY))
        S: * 2 FETCH (PREVIEW {17}
        S: Grüße aus Köln)
        S: p2 OK FETCH completed
        C: p3 UID FETCH 3:6 (PREVIEW)
        S: * 3 FETCH (UID 3 PREVIEW {14}
        S: Café & crème)
        S: * 4 FETCH (UID 4 PREVIEW "")
        S: * 5 FETCH (UID 5 PREVIEW "\(cut)")
        S: * 6 FETCH (UID 6 PREVIEW "plain version")
        S: p3 OK FETCH completed
        C: p4 ENABLE UTF8=ACCEPT
        S: * ENABLED UTF8=ACCEPT
        S: p4 OK ENABLE completed
        C: p5 FETCH 2 (PREVIEW)
        S: * 2 FETCH (PREVIEW "Grüße aus Köln")
        S: p5 OK FETCH completed
        C: p6 FETCH 1 (PREVIEW (FAST))
        S: p6 BAD Unknown PREVIEW modifier
        """, fixture: fixture)
        #expect(cut.count == 256)
    }

    @Test func cachedBesideTheStructure() throws {
        let fixture = try EngineFixture(messages: Self.messages)
        _ = fixture.send("p0 SELECT INBOX")
        let first = fixture.send("p1 FETCH 1:6 (ENVELOPE BODYSTRUCTURE PREVIEW)")
        _ = fixture.send("p2 LOGOUT")
        // Another session reads the cache: the same answer, and the cache holds the preview.
        let other = fixture.anotherSession()
        _ = other.send("p0 SELECT INBOX")
        #expect(other.send("p1 FETCH 1:6 (ENVELOPE BODYSTRUCTURE PREVIEW)") == first)
        let maildir = fixture.root + "/Maildir"
        let cache = try String(decoding: Data(contentsOf: URL(fileURLWithPath: maildir + "/" + (FileManager.default.contentsOfDirectory(atPath: maildir).first { $0.contains("cache") } ?? "postamt-cache"))), as: UTF8.self)
        #expect(cache.contains("Preview text!"))
    }

    @Test func collapsing() {
        #expect(IMAPPreview.collapsed(" \r\n a\u{0}\u{7}b \t\u{a0} c  ") == "a b c")
        #expect(IMAPPreview.collapsed(String(repeating: "é", count: 300)).count == 256)
    }
}

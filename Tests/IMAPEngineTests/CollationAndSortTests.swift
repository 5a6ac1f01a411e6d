import Foundation
import Testing
@testable import IMAPEngine

/// i;unicode-casemap (RFC 5051) for SEARCH and SORT, the base subject of RFC 5256 §2.1 and the
/// SORT keys of RFC 5256 §3 and RFC 5957.
@Suite struct UnicodeCasemapTests {
    @Test func asciiIsCaseInsensitive() {
        #expect(UnicodeCasemap.equal("Hello World", "hELLO wORLD"))
        #expect(UnicodeCasemap.contains("The Quick Brown Fox", "quick brown"))
        #expect(!UnicodeCasemap.contains("The Quick Brown Fox", "quick  brown"))
        #expect(UnicodeCasemap.contains("anything", ""))
        #expect(UnicodeCasemap.precedes("apple", "Banana"))
        #expect(UnicodeCasemap.precedes("a", "B") && !UnicodeCasemap.precedes("B", "a"))
    }

    @Test func greekSigmaInAllItsForms() {
        // σ (U+03C3), final ς (U+03C2) and Σ (U+03A3) all titlecase to Σ.
        #expect(UnicodeCasemap.equal("ς", "σ"))
        #expect(UnicodeCasemap.equal("ς", "Σ"))
        #expect(UnicodeCasemap.equal("ΟΔΥΣΣΕΥΣ", "οδυσσευς"))
        #expect(UnicodeCasemap.contains("Ὀδυσσεύς", "ΔΥΣΣ"))
    }

    @Test func sharpSIsNotSS() {
        // RFC 5051 uses UnicodeData.txt's simple titlecase mapping, not SpecialCasing.txt: ß
        // has none, so it stays ß and does not match "ss" or "SS" (neither does Dovecot).
        #expect(!UnicodeCasemap.equal("ß", "ss"))
        #expect(!UnicodeCasemap.equal("Straße", "STRASSE"))
        #expect(UnicodeCasemap.equal("Straße", "STRAßE"))
        #expect(UnicodeCasemap.contains("Grüße aus Köln", "GRÜSSE") == false)
        #expect(UnicodeCasemap.contains("Grüße aus Köln", "grüße"))
        #expect(UnicodeCasemap.canonical("ß") == Array("ß".utf8))
        // The ligature ﬀ has only a two-letter titlecase ("Ff"): it stays, as ß does.
        #expect(!UnicodeCasemap.equal("ﬀ", "ff"))
    }

    @Test func titlecaseNotUppercase() {
        // ǆ, ǅ and Ǆ: the titlecase mapping of all three is ǅ (U+01C5).
        #expect(UnicodeCasemap.equal("ǆ", "Ǆ"))
        #expect(UnicodeCasemap.equal("ǅ", "Ǆ"))
        #expect(UnicodeCasemap.canonical("ǆ") == Array("\u{01C5}".utf8))
    }

    @Test func precomposedEqualsDecomposed() {
        #expect(UnicodeCasemap.equal("café", "cafe\u{301}"))
        #expect(UnicodeCasemap.equal("CAFÉ", "cafe\u{301}"))
        #expect(UnicodeCasemap.equal("Köln", "KO\u{308}LN"))
        // Å as a letter, as the Ångström sign (a singleton decomposition) and decomposed.
        #expect(UnicodeCasemap.equal("å", "\u{212B}"))
        #expect(UnicodeCasemap.equal("a\u{30A}", "\u{212B}"))
        #expect(UnicodeCasemap.canonical("é") == Array("E\u{301}".utf8))
    }

    @Test func diacriticsAreKeptButBaseLettersMatchAsSubstrings() {
        // Decomposition keeps the marks: é is not e, but e is a substring of é (RFC 5051 §1).
        #expect(!UnicodeCasemap.equal("é", "e"))
        #expect(UnicodeCasemap.contains("résumé", "RE"))
        #expect(!UnicodeCasemap.contains("resume", "résumé"))
        // é sorts right after e, not after z as its code point would.
        #expect(UnicodeCasemap.precedes("emile", "Émile") && UnicodeCasemap.precedes("Émile", "f"))
    }

    @Test func titlecaseAndDecompositionRepeatUntilStable() {
        // ᾳ titlecases to ᾼ, which decomposes to Α + U+0345, whose titlecase is Ι.
        #expect(UnicodeCasemap.canonical("ᾳ") == Array("ΑΙ".utf8))
    }
}

@Suite struct BaseSubjectTests {
    @Test(arguments: [
        ("Re: test", "test"),
        ("RE: Re: re: test", "test"),
        ("Re[2]: test", "test"),
        ("Re [2]: test", "test"),
        ("re : test", "test"),
        ("Fw: test", "test"),
        ("FWD: test", "test"),
        ("Fwd: Re: Fw: test", "test"),
        ("test (fwd)", "test"),
        ("test (fwd) (FWD)  ", "test"),
        ("[list] Re: test", "test"),
        ("[list] [other] Re: test", "test"),
        ("Re: [list] test", "test"),
        ("[a][b] c", "c"),
        ("[list]", "[list]"),
        ("Re: [list]", "[list]"),
        ("[Fwd: test]", "test"),
        ("[fwd: Re: test]", "test"),
        ("Fwd: [Fwd: [list] Re: test (fwd)] (fwd)", "test"),
        ("[Fwd: [Fwd: test]]", "test"),
        ("  lots   of\t spaces\r\n folded  ", "lots of spaces folded"),
        ("Re:", ""),
        ("", ""),
        ("Reunion", "Reunion"),
        ("Fwdx: test", "Fwdx: test"),
        ("Réunion: à Köln", "Réunion: à Köln"),
        ("Re: Köln [Fwd: x]", "Köln [Fwd: x]"),
        ("[Fwd: unterminated", "[Fwd: unterminated"),
    ])
    func baseSubject(_ subject: String, _ base: String) {
        #expect(IMAPBaseSubject.of(subject) == base, "\(subject)")
    }
}

@Suite struct SortKeyTests {
    static let messages = [
        // 1
        "From: \"Zed\" <zed@example.org>\nCc: \"Adam\" <adam@example.org>\nTo: x@example.org\nSubject: Re: [list] banana\nDate: Tue, 3 Jan 2006 10:00:00 +0100\n\none\n",
        // 2 (the smallest): no Date (DATE is the internal date, 3 Jan 2006 15:04:05 UTC), no display name
        "From: alice@example.org\nTo: \"Wanda\" <w@example.org>\nSubject: [Fwd: Apple]\n\ntwo, a little longer\n",
        // 3: an encoded display name with a precomposed É
        "From: =?utf-8?q?=C3=89mile?= <emile@example.org>\nTo: =?utf-8?q?=C3=A9va?= <eva@example.org>\nSubject: Cherry (fwd)\nDate: Mon, 2 Jan 2006 12:00:00 +0000\n\nthree\n",
        // 4
        "From: Bob <Bob@example.org>\nCc: carol@example.org\nTo: Yves <a@example.org>\nSubject: apple\nDate: Sun, 1 Jan 2006 12:00:00 +0000\n\nfour, the longest body of all of them\n",
    ]

    @Test func sortKeys() throws {
        let fixture = try EngineFixture(messages: Self.messages)
        _ = fixture.send("s0 SELECT INBOX")
        func sort(_ criteria: String) -> String {
            let answer = fixture.send("s SORT (\(criteria)) UTF-8 ALL")
            return answer.split(separator: "\r\n").first.map(String.init) ?? ""
        }
        // Base subjects Apple, apple (a tie: sequence order), banana, Cherry.
        #expect(sort("SUBJECT") == "* SORT 2 4 1 3")
        #expect(sort("REVERSE SUBJECT") == "* SORT 3 1 2 4")
        #expect(sort("SUBJECT DATE") == "* SORT 4 2 1 3")
        // Sent dates in UTC; message 2 falls back to its internal date.
        #expect(sort("DATE") == "* SORT 4 3 1 2")
        #expect(sort("ARRIVAL") == "* SORT 1 2 3 4")
        #expect(sort("REVERSE ARRIVAL") == "* SORT 4 3 2 1")
        #expect(sort("SIZE") == "* SORT 2 1 3 4")
        #expect(sort("REVERSE SIZE") == "* SORT 4 3 1 2")
        // addr-mailbox of the first address: alice, Bob, emile, zed.
        #expect(sort("FROM") == "* SORT 2 4 3 1")
        // No Cc sorts as the empty string, first: 2 3, then adam, carol.
        #expect(sort("CC") == "* SORT 2 3 1 4")
        #expect(sort("REVERSE CC") == "* SORT 4 1 2 3")
        #expect(sort("TO") == "* SORT 4 3 2 1")
        // RFC 5957: display name, else the address; Émile sorts between Bob and Zed.
        #expect(sort("DISPLAYFROM") == "* SORT 2 4 3 1")
        // Wanda, x@example.org, éva → ÉVA, Yves: ÉVA < WANDA < X@EXAMPLE.ORG < YVES.
        #expect(sort("DISPLAYTO") == "* SORT 3 2 1 4")
    }

    @Test func searchUsesTheCollation() throws {
        let fixture = try EngineFixture(messages: [
            "From: a@example.org\nSubject: =?utf-8?q?Stra=C3=9Fe_in_K=C3=B6ln?=\n\nGr=C3=BC=C3=9Fe\n",
            "From: b@example.org\nSubject: =?utf-8?q?=CE=9F=CE=94=CE=A5=CE=A3=CE=A3=CE=95=CE=A5=CE=A3?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nCafe=CC=81 au lait\n",
        ])
        _ = fixture.send("s0 SELECT INBOX")
        func search(_ key: String, _ value: String) -> String {
            let bytes = value.utf8.count
            let answer = fixture.send("s SEARCH CHARSET UTF-8 \(key) {\(bytes)+}\r\n\(value)")
            return answer.split(separator: "\r\n").first.map(String.init) ?? ""
        }
        #expect(search("SUBJECT", "STRAßE IN KÖLN") == "* SEARCH 1")
        #expect(search("SUBJECT", "KO\u{308}LN") == "* SEARCH 1")
        #expect(search("SUBJECT", "strasse") == "* SEARCH")
        #expect(search("SUBJECT", "οδυσσευς") == "* SEARCH 2")
        #expect(search("SUBJECT", "ΟΔΥΣΣΕΥς") == "* SEARCH 2")
        #expect(search("BODY", "CAFÉ") == "* SEARCH 2")
        #expect(search("TEXT", "café au") == "* SEARCH 2")
        #expect(search("HEADER SUBJECT", "köln") == "* SEARCH 1")
        #expect(search("FROM", "B@EXAMPLE") == "* SEARCH 2")
    }
}

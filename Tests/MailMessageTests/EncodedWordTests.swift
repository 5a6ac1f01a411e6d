import Testing
@testable import MailMessage

@Suite struct EncodedWordTests {
    /// RFC 2047 §8, the table of encoded forms and how they are displayed, exactly.
    @Test(arguments: [
        ("(=?ISO-8859-1?Q?a?=)", "(a)"),
        ("(=?ISO-8859-1?Q?a?= b)", "(a b)"),
        ("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"),
        ("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)"),
        ("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)"),
        ("(=?ISO-8859-1?Q?a_b?=)", "(a b)"),
        ("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)"),
    ])
    func rfc2047Section8Table(_ encoded: String, _ displayed: String) {
        #expect(EncodedWord.decode(encoded) == displayed)
    }

    /// RFC 2047 §8, the header examples.
    @Test(arguments: [
        ("=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>", "Keith Moore <moore@cs.utk.edu>"),
        ("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>", "Keld Jørn Simonsen <keld@dkuug.dk>"),
        ("=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>", "André Pirard <PIRARD@vm1.ulg.ac.be>"),
        ("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n    =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
         "If you can read this you understand the example."),
        ("=?ISO-8859-1?Q?Olle_J=E4rnefors?= <ojarnef@admin.kth.se>", "Olle Järnefors <ojarnef@admin.kth.se>"),
        ("ietf-822@dimacs.rutgers.edu, ojarnef@admin.kth.se", "ietf-822@dimacs.rutgers.edu, ojarnef@admin.kth.se"),
        ("Nathaniel Borenstein <nsb@thumper.bellcore.com>\r\n    (=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)",
         "Nathaniel Borenstein <nsb@thumper.bellcore.com>    (\u{05DD}\u{05D5}\u{05DC}\u{05E9} \u{05DF}\u{05D1} \u{05D9}\u{05DC}\u{05D8}\u{05E4}\u{05E0})"),
        ("=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?= <paf@nada.kth.se>", "Patrik Fältström <paf@nada.kth.se>"),
    ])
    func rfc2047Section8Headers(_ encoded: String, _ displayed: String) {
        #expect(EncodedWord.decode(encoded) == displayed)
    }

    @Test(arguments: [
        // Malformed words stay as they are.
        ("=?utf-8?X?abc?=", "=?utf-8?X?abc?="),
        ("=?utf-8?Q?no end", "=?utf-8?Q?no end"),
        ("=??Q?abc?=", "=??Q?abc?="),
        ("=?utf-8?Q?with space?=", "=?utf-8?Q?with space?="),
        ("a =?= b", "a =?= b"),
        // Lowercase encodings, a language suffix (RFC 2231 §5), unknown charsets use the fallback.
        ("=?utf-8?q?caf=C3=A9?=", "café"),
        ("=?UTF-8*en?Q?hello?=", "hello"),
        ("=?x-unknown?Q?caf=E9?=", "café"),
        // A UTF-8 character split across two words (a common mailer bug) is rejoined.
        ("=?UTF-8?B?w6k=?= =?UTF-8?B?4oKs?=", "é€"),
        ("=?UTF-8?Q?=E2=82?= =?UTF-8?Q?=AC?=", "€"),
        // Text after a word keeps its leading space.
        ("=?utf-8?Q?Re:?= hello  world", "Re: hello  world"),
        // Raw 8-bit Latin-1 outside words is kept.
        ("plain text", "plain text"),
    ])
    func decodingEdgeCases(_ encoded: String, _ displayed: String) {
        #expect(EncodedWord.decode(encoded) == displayed)
    }

    @Test func rawLatin1BytesFallBack() {
        #expect(EncodedWord.decode(bytes: [0x63, 0x61, 0x66, 0xE9]) == "café")
    }

    @Test(arguments: [
        "Grüße aus Köln",
        "Re: [list] 日本語のメール",
        "plain ascii stays",
        "looks like =?utf-8?Q?a?= word",
        "emoji 🎉 and a very long line of text with ümlauts that must be split into several encoded words because each may hold at most seventy-five characters",
        "  leading and  double spaces é ",
    ])
    func encodeRoundTrips(_ text: String) {
        let encoded = EncodedWord.encode(text)
        #expect(EncodedWord.decode(encoded) == text)
        #expect(encoded.utf8.allSatisfy { $0 < 0x80 })
        for word in encoded.split(separator: " ") where word.hasPrefix("=?") {
            #expect(word.utf8.count <= 75, "\(word)")
        }
    }

    @Test func encodeLeavesAsciiAloneAndEncodesOnlyWhatItMust() {
        #expect(EncodedWord.encode("Hello world") == "Hello world")
        // B is shorter here; Q where it is shorter.
        #expect(EncodedWord.encode("Re: Grüße") == "Re: =?utf-8?B?R3LDvMOfZQ==?=")
        #expect(EncodedWord.encode("Re: Kaffee-Rösterei") == "Re: =?utf-8?Q?Kaffee-R=C3=B6sterei?=")
    }
}

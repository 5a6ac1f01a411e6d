import Testing
@testable import Maildir

struct FlagsTests {
    @Test(arguments: [
        ("1700000000.M1P2Q3.host:2,", "1700000000.M1P2Q3.host", "", true),
        ("1700000000.M1P2Q3.host:2,S", "1700000000.M1P2Q3.host", "S", true),
        ("x:2,TSRPFD", "x", "DFPRST", true),          // rebuilt in ASCII order
        ("x:2,SaDb", "x", "DSab", true),              // keywords after system flags
        ("x:2,S1,", "x", "S", true),                  // non-letters ignored
        ("x", "x", "", false),                        // new/ names have no info
        ("x,S=10,W=12:2,Z", "x,S=10,W=12", "Z", true), // unknown uppercase kept
    ])
    func parseAndBuild(name: String, base: String, letters: String, hasInfo: Bool) {
        let parsed = MaildirFileName(parsing: name)
        #expect(parsed.baseName == base)
        #expect(parsed.flags.letters == letters)
        #expect(parsed.hasInfo == hasInfo)
        if hasInfo { #expect(parsed.name == "\(base):2,\(letters)") } else { #expect(parsed.name == base) }
    }

    @Test func foreignInfoKeptUntilFlagsChange() {
        let parsed = MaildirFileName(parsing: "x:1,experimental")
        #expect(parsed.name == "x:1,experimental")
        #expect(parsed.flags.isEmpty)
        #expect(parsed.with(flags: .seen).name == "x:2,S")
    }

    @Test func systemFlagLetters() {
        #expect(MaildirFlags.draft.letters == "D")
        #expect(MaildirFlags.flagged.letters == "F")
        #expect(MaildirFlags.passed.letters == "P")
        #expect(MaildirFlags.replied.letters == "R")
        #expect(MaildirFlags.seen.letters == "S")
        #expect(MaildirFlags.trashed.letters == "T")
        #expect(MaildirFlags.keyword(0).letters == "a")
        #expect(MaildirFlags.keyword(25).letters == "z")
        #expect(MaildirFlags(letters: "Sbz").keywordIndexes == [1, 25])
        #expect(MaildirFlags(letters: "Sbz").withoutKeywords == .seen)
        #expect(MaildirFlags(letter: "1") == nil)
        #expect(MaildirFlags(letter: "é") == nil)
    }

    @Test(arguments: [
        ("1.M1P1.h,S=123", 123, nil as Int?),
        ("1.M1P1.h,S=123,W=130", 123, 130),
        ("1.M1P1.h,W=130,S=5", 5, 130),
        ("1.M1P1.h", nil, nil),
        ("1.M1P1.h,S=abc", nil, nil),
        ("1.M1P1.h,S=", nil, nil),
    ])
    func sizeFields(base: String, size: Int?, crlf: Int?) {
        let n = MaildirFileName(baseName: base)
        #expect(n.size == size)
        #expect(n.crlfSize == crlf)
    }

    @Test func deliveryOrderUsesTimeNotText() {
        // Lexically "M10" < "M9", but 9 µs came first.
        let names = ["1700000000.M10P1.h", "1700000000.M9P1.h", "1699999999.M999999P1.h", "garbage"]
        #expect(names.sorted(by: MaildirFileName.deliveryOrder) ==
                ["1699999999.M999999P1.h", "1700000000.M9P1.h", "1700000000.M10P1.h", "garbage"])
        // The decorated sort gives the same order, also on names with info after the base name.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let many = (0..<40).map { _ in "\(1_700_000_000 + Int.random(in: 0..<3, using: &rng)).M\(Int.random(in: 0..<20, using: &rng))P\(Int.random(in: 0..<99, using: &rng)).h" }
            #expect(MaildirFileName.inDeliveryOrder(many) == many.sorted(by: MaildirFileName.deliveryOrder))
            #expect(MaildirFileName.inDeliveryOrder(many.map { $0 + ":2,S" }, baseName: { String(MaildirName.baseName($0)) })
                    == many.sorted(by: MaildirFileName.deliveryOrder).map { $0 + ":2,S" })
        }
        #expect(MaildirFileName(baseName: "1700000000.M123456789P1.h").deliveryTime == 1_700_000_000_123_456)
        #expect(MaildirFileName(baseName: "1700000000.X5.h").deliveryTime == 1_700_000_000_000_000)
        #expect(MaildirFileName(baseName: "x1").deliveryTime == nil)
    }

    @Test func keywordTable() throws {
        var table = MaildirKeywords()
        let (flags, added) = try table.letters(for: ["$Forwarded", "Work"], create: true)
        #expect(added)
        #expect(flags.letters == "ab")
        #expect(table.index(of: "work") == 1) // case-insensitive
        let round = MaildirKeywords(parsing: table.encoded())
        #expect(round == table)
        #expect(String(decoding: table.encoded(), as: UTF8.self) == "0 $Forwarded\n1 Work\n")
        #expect(round.keywords(in: MaildirFlags(letters: "Sbc")) == ["Work"])
        #expect(throws: MaildirError.invalidKeyword("a b")) { _ = try table.letters(for: ["a b"], create: true) }
        #expect(throws: MaildirError.invalidKeyword("\\Seen")) { _ = try table.letters(for: ["\\Seen"], create: true) }
        for i in 2..<26 { _ = try table.letters(for: ["k\(i)"], create: true) }
        #expect(throws: MaildirError.tooManyKeywords) { _ = try table.letters(for: ["one-more"], create: true) }
        // A damaged line costs only itself.
        let damaged = MaildirKeywords(parsing: Array("0 A\nzz B\n30 C\n2 D\n".utf8))
        #expect(damaged.names == [0: "A", 2: "D"])
    }
}

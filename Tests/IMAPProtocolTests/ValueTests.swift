import Testing
@testable import IMAPProtocol

@Suite struct SequenceSetTests {
    @Test(arguments: [
        ("1:*", 10 as UInt32, [1...10] as [ClosedRange<UInt32>]),
        ("5:3", 10, [3...5]),
        ("*:4", 10, [4...10]),
        ("*", 10, [10...10]),
        ("2,4:7,9,12:*", 15, [2...2, 4...7, 9...9, 12...15]),
        ("12:*", 10, [10...12]),
        ("1:3,2:5,7,6", 10, [1...7]),
        ("1:*", 0, []),
        ("*", 0, []),
        ("3,1,2", 10, [1...3]),
        ("1:4294967295", 5, [1...4294967295]),
    ])
    func resolvesAndNormalises(text: String, largest: UInt32, expected: [ClosedRange<UInt32>]) throws {
        let parsed = try #require(IMAPSequenceSet(text))
        #expect(parsed.description == text)
        #expect(parsed.resolved(largest: largest).ranges == expected)
    }

    @Test(arguments: ["", "0", "1:", ":1", "1,,2", "1:2:3", "a", "$", "01", "4294967296", "1 2"])
    func rejectsInvalidSets(_ text: String) {
        #expect(IMAPSequenceSet(text) == nil)
    }

    @Test func iteratesHugeRangesLazily() {
        let all = IMAPSequenceSet("1:*")!.resolved(largest: UInt32.max)
        #expect(all.count == UInt64(UInt32.max))
        var iterator = all.makeIterator()
        #expect(iterator.next() == 1)
        #expect(iterator.next() == 2)
        #expect(all.contains(UInt32.max))
        #expect(!all.contains(0))
        let top = IMAPNumberSet(ranges: [(UInt32.max - 1)...UInt32.max])
        #expect(Array(top) == [UInt32.max - 1, UInt32.max])
    }

    @Test func iterationAcrossRanges() {
        let numbers = IMAPSequenceSet("9,2:4,7")!.resolved(largest: 100)
        #expect(Array(numbers) == [2, 3, 4, 7, 9])
        #expect(numbers.count == 5)
        #expect(numbers.contains(7) && !numbers.contains(5) && !numbers.contains(10))
        #expect(numbers.min == 2 && numbers.max == 9)
    }

    @Test func compactEncodingForUIDPLUS() {
        let uids = IMAPNumberSet(numbers: [304, 305, 306, 309, 310, 311, 312, 320] as [UInt32])
        #expect(uids.description == "304:306,309:312,320")
        #expect(IMAPNumberSet(numbers: [UInt32]()).description == "")
        #expect(IMAPNumberSet(numbers: [5, 5, 5] as [UInt32]).description == "5")
        // round trip through the grammar
        #expect(IMAPSequenceSet(uids.description)!.resolved(largest: 1).ranges == uids.ranges)
    }

    @Test func clamping() {
        let numbers = IMAPSequenceSet("1:5,8:20")!.resolved(largest: 0)
        #expect(numbers.clamped(to: 3...10).ranges == [3...5, 8...10])
    }
}

@Suite struct MailboxNameTests {
    /// RFC 3501 §5.1.3 examples, and a few more.
    @Test(arguments: [
        ("~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"),
        ("&Jjo-!", "☺!"),
        ("Entw&APw-rfe", "Entwürfe"),
        ("A&-B", "A&B"),
        ("&-", "&"),
        ("&2D3eAA-", "😀"),
        ("Gel&APY-schte Elemente", "Gelöschte Elemente"),
        ("plain", "plain"),
        ("", ""),
    ])
    func modifiedUTF7RoundTrip(encoded: String, decoded: String) throws {
        #expect(try ModifiedUTF7.decode(Array(encoded.utf8)) == decoded)
        #expect(ModifiedUTF7.encode(decoded) == Array(encoded.utf8))
        #expect(try IMAPMailboxName(decoded).decoded() == decoded)
    }

    @Test(arguments: [
        "&Jjo!",        // unterminated shift
        "&U,BTF2XlZyyKng-", // fine base64 but see below? (kept valid: checked separately)
        "&AGE-",        // encodes printable "a"
        "&Jjo-&Jjo-",   // two adjacent shifts
        "&Jj-",         // leftover bits
        "&Jjp-",        // non-zero padding bits
        "&2D3-",        // odd number of octets
        "&2D0-",        // lone high surrogate
        "&3gA-",        // lone low surrogate
        "&*-",          // not base64
        "a\u{1}b",      // control character
        "tab\there",
    ])
    func brokenModifiedUTF7IsAnError(_ name: String) {
        if name == "&U,BTF2XlZyyKng-" {
            #expect((try? ModifiedUTF7.decode(Array(name.utf8))) == "台北日本語")
            return
        }
        #expect(throws: IMAPMailboxNameError.self) { try ModifiedUTF7.decode(Array(name.utf8)) }
    }

    @Test func eightBitIsAnErrorUnlessUTF8IsEnabled() throws {
        let name = IMAPMailboxName(bytes: Array("Entwürfe".utf8))
        #expect(throws: IMAPMailboxNameError.self) { try name.decoded() }
        #expect(try name.decoded(utf8Enabled: true) == "Entwürfe")
        #expect(throws: IMAPMailboxNameError.invalidUTF8) { try IMAPMailboxName(bytes: [0xFF]).decoded(utf8Enabled: true) }
        #expect(IMAPMailboxName("Entwürfe", utf8Enabled: true).bytes == Array("Entwürfe".utf8))
    }

    @Test func inboxIsCaseInsensitive() {
        #expect(IMAPMailboxName(bytes: Array("iNbOx".utf8)) == IMAPMailboxName(bytes: Array("INBOX".utf8)))
        #expect(IMAPMailboxName(bytes: Array("inbox".utf8)).isInbox)
        #expect(!IMAPMailboxName(bytes: Array("inbox/sub".utf8)).isInbox)
    }

    @Test func randomBytesNeverTrapTheDecoder() {
        var generator = SplitMix64(seed: 7)
        for _ in 0..<5000 {
            let length = Int(generator.next() % 12)
            let alphabet = Array("&-+,AZaz09/\u{7F} é".utf8)
            let name = (0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            if let decoded = try? ModifiedUTF7.decode(name) {
                // Whatever decodes is canonical: it encodes back to the same octets.
                #expect(ModifiedUTF7.encode(decoded) == name)
            }
        }
    }
}

@Suite struct DateTests {
    @Test(arguments: [
        ("1-Feb-1994", 1994, 2, 1),
        ("\"01-feb-1994\"", 1994, 2, 1),
        ("29-Feb-2000", 2000, 2, 29),
        ("31-Dec-9999", 9999, 12, 31),
    ])
    func parsesDates(text: String, year: Int, month: Int, day: Int) throws {
        let parsed = try #require(IMAPDate(text))
        #expect(parsed == IMAPDate(year: year, month: month, day: day))
    }

    @Test(arguments: ["29-Feb-1900", "0-Jan-2000", "1-Foo-2000", "1-Feb-94", "123-Feb-1994", "1 Feb 1994", "\"1-Feb-1994", "31-Apr-2001"])
    func rejectsBadDates(_ text: String) {
        #expect(IMAPDate(text) == nil)
    }

    @Test func dateTimeRoundTrip() throws {
        let parsed = try #require(IMAPDateTime("\"17-Jul-1996 02:44:25 -0700\""))
        #expect(parsed.description == "17-Jul-1996 02:44:25 -0700")
        #expect(parsed.secondsSinceEpoch == 837_596_665)
        let padded = try #require(IMAPDateTime("\" 7-Jul-1996 02:44:25 +0130\""))
        #expect(padded.description == " 7-Jul-1996 02:44:25 +0130")
        #expect(IMAPDateTime(padded.description) == padded)
    }

    @Test func epochConversions() {
        #expect(IMAPDate(daysSinceEpoch: 0) == IMAPDate(year: 1970, month: 1, day: 1))
        #expect(IMAPDate(year: 2000, month: 3, day: 1)!.daysSinceEpoch == 11017)
        let moment = IMAPDateTime(secondsSinceEpoch: 837_596_665, zoneOffsetMinutes: -420)
        #expect(moment.description == "17-Jul-1996 02:44:25 -0700")
        #expect(IMAPDateTime(secondsSinceEpoch: -1).description == "31-Dec-1969 23:59:59 +0000")
        var generator = SplitMix64(seed: 3)
        for _ in 0..<1000 {
            let seconds = Int64(generator.next() % 253_402_300_799)
            let zone = Int(generator.next() % 1440) - 720
            #expect(IMAPDateTime(secondsSinceEpoch: seconds, zoneOffsetMinutes: zone).secondsSinceEpoch == seconds)
        }
    }

    @Test(arguments: ["\"17-Jul-1996 24:00:00 -0700\"", "\"17-Jul-1996 02:44:25 -0760\"", "\"17-Jul-1996 02:44:25\"", "\"17-Jul-1996 2:44:25 -0700\""])
    func rejectsBadDateTimes(_ text: String) {
        #expect(IMAPDateTime(text) == nil)
    }
}

@Suite struct FlagAndDateSafetyTests {
    @Test func flagsCompareCaseInsensitively() {
        #expect(IMAPFlag("\\SEEN") == .seen)
        #expect(IMAPFlag("\\SEEN").name == "\\Seen")
        #expect(IMAPFlag("$junk") == IMAPFlag("$Junk"))
        #expect(IMAPFlag("$junk").name == "$junk")
        #expect(Set([IMAPFlag("$junk"), IMAPFlag("$JUNK")]).count == 1)
        #expect(IMAPFlag("$junk") != IMAPFlag("$junk2"))
    }

    @Test func extremeInstantsGiveValidDateTimes() {
        for seconds in [Int64.min, Int64.max, -62_135_596_800, 253_402_300_799] {
            for zone in [Int.min, -1000, 0, 1000, Int.max] {
                let value = IMAPDateTime(secondsSinceEpoch: seconds, zoneOffsetMinutes: zone)
                #expect(IMAPDateTime("\"" + value.description + "\"") == value)
            }
        }
    }

    @Test func emptyMultipartStillMatchesTheGrammar() {
        var encoder = IMAPResponseEncoder()
        encoder.writeBodyStructure(.multipart(IMAPMultipart(parts: [], subtype: "MIXED")), extended: false)
        #expect(text(encoder) == #"(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 0 0) "MIXED")"#)
    }
}

import Testing
@testable import Maildir
import TestSupport

/// The parser's byte scanning: vector loops with a byte-by-byte tail, and decimal fields.
struct UIDListScanningTests {
    static let texts: [String] = [
        "", "\n", "abc", "a\nb\n", String(repeating: "x", count: 15) + "\n",
        String(repeating: "0123456789abcde\n", count: 300), // more than 255 chunks of 16
        String(repeating: "y", count: 4081) + "\n" + String(repeating: "\n", count: 17),
        String(repeating: "name.host,S=1", count: 9) + ":2," + "\n",
    ]

    @Test(arguments: texts) func lineEndsAreCounted(_ text: String) {
        let bytes = Array(text.utf8)
        let count = bytes.withUnsafeBufferPointer { UIDListFile.countLineEnds($0) }
        #expect(count == bytes.filter { $0 == 0x0A }.count)
    }

    @Test(arguments: texts) func theFirstLineEndOrColonIsFound(_ text: String) {
        let bytes = Array(text.utf8)
        for from in Set([0, 1, 7, 16, 17].filter { $0 <= bytes.count }) {
            let found = bytes.withUnsafeBufferPointer { b in
                b.baseAddress.map { UIDListFile.firstLineEndOrColon($0, from: from, to: b.count) } ?? 0
            }
            let expected = bytes[from...].firstIndex { $0 == 0x0A || $0 == UInt8(ascii: ":") } ?? bytes.count
            #expect(found == expected, "from \(from)")
        }
    }

    /// Random bytes drawn mostly from the values the word tricks could confuse ("\n", ":",
    /// their neighbours, the same with the top bit set, 0, 0xFF), at every alignment: both
    /// scanners agree with a byte-by-byte reading.
    @Test func scannersAgreeWithABytewiseReadingOnRandomBytes() {
        var rng = SplitMix64(seed: 0x5EED_0A3A)
        let tricky: [UInt8] = [0x0A, 0x3A, 0x09, 0x0B, 0x39, 0x3B, 0x8A, 0xBA, 0x00, 0xFF, 0x80, 0x7F, 0x01]
        for _ in 0..<400 {
            let count = Int(rng.next() % 600)
            let bytes = (0..<count).map { _ -> UInt8 in
                let r = rng.next()
                return r % 4 == 0 ? UInt8(truncatingIfNeeded: r >> 8) : tricky[Int((r >> 8) % UInt64(tricky.count))]
            }
            let counted = bytes.withUnsafeBufferPointer { UIDListFile.countLineEnds($0) }
            #expect(counted == bytes.filter { $0 == 0x0A }.count)
            guard !bytes.isEmpty else { continue }
            let from = Int(rng.next() % UInt64(bytes.count))
            let found = bytes.withUnsafeBufferPointer { UIDListFile.firstLineEndOrColon($0.baseAddress!, from: from, to: $0.count) }
            #expect(found == (bytes[from...].firstIndex { $0 == 0x0A || $0 == 0x3A } ?? bytes.count))
        }
    }

    @Test(arguments: [
        ("0 ", UInt64(0) as UInt64?), ("42x", 42), ("1234567890123456789 ", 1_234_567_890_123_456_789),
        ("18446744073709551615", UInt64.max), ("18446744073709551616", nil), ("99999999999999999999", nil),
        ("000000000000000000001", nil), ("00000000000000000001", 1), ("x1", nil),
    ])
    func decimalFields(_ text: String, _ value: UInt64?) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { b in
            var c = UIDListFile.FieldCursor(b: b, i: 0, end: b.count)
            #expect(c.number() == value, "\(text)")
        }
    }
}

import Testing
import IMAPProtocol

@Suite struct FuzzTests {
    static let seeds: [String] = [
        "a1 LOGIN {3}\r\nfoo {3+}\r\nbar\r\n",
        "a APPEND INBOX (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {5}\r\nhello ~{2}\r\nhi\r\n",
        "a UID FETCH 1:*,$ (BODY.PEEK[1.2.HEADER.FIELDS (From)]<0.10> BINARY[1] MODSEQ) (CHANGEDSINCE 5)\r\n",
        "a SEARCH RETURN (MIN SAVE) CHARSET UTF-8 OR (NOT SEEN) MODSEQ \"/flags/\\\\seen\" all 5 HEADER x {2+}\r\nyz\r\n",
        "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"%\" \"&Jjo-\") RETURN (STATUS (MESSAGES SIZE) CHILDREN)\r\n",
        "a AUTHENTICATE PLAIN\r\ndGVzdA==\r\n*\r\nb IDLE\r\nDONE\r\n",
        "a UID STORE 1:5 (UNCHANGEDSINCE 9) -FLAGS.SILENT (\\Deleted $x)\r\na SORT (REVERSE DISPLAYFROM) UTF-8 ALL\r\n",
        "a ID (\"name\" NIL)\r\na CREATE x (USE (\\Sent))\r\na STATUS x (HIGHESTMODSEQ)\r\n",
    ]

    @Test func seedsRunCleanly() {
        for seed in Self.seeds {
            #expect(IMAPProtocol.fuzz(Array(seed.utf8)) > 0)
        }
    }

    /// Random garbage, and mutations of valid commands, never trap.
    @Test func garbageNeverTraps() {
        var generator = SplitMix64(seed: 0xF00D)
        for _ in 0..<3000 {
            let length = Int(generator.next() % 300)
            let garbage = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            IMAPProtocol.fuzz(garbage)
        }
        let interesting = Array("(){}[]<>~+-*$%\\\" \r\n0123456789.:,NILBODYSEARCHUIDAPPENDFETCH".utf8)
        for _ in 0..<5000 {
            var input = Array(Self.seeds[Int(generator.next() % UInt64(Self.seeds.count))].utf8)
            for _ in 0..<(1 + generator.next() % 6) {
                let position = Int(generator.next() % UInt64(input.count + 1))
                switch generator.next() % 4 {
                case 0 where position < input.count: input.remove(at: position)
                case 1: input.insert(interesting[Int(generator.next() % UInt64(interesting.count))], at: position)
                case 2 where position < input.count: input[position] = UInt8(truncatingIfNeeded: generator.next())
                default: input.insert(contentsOf: input[position...].prefix(20), at: position)
                }
            }
            IMAPProtocol.fuzz(input)
        }
    }

    @Test func hostileShapes() {
        IMAPProtocol.fuzz(Array(("a SEARCH " + String(repeating: "(", count: 10_000)).utf8))
        IMAPProtocol.fuzz(Array(("a SEARCH " + String(repeating: "NOT ", count: 10_000) + "\r\n").utf8))
        IMAPProtocol.fuzz(Array("A LOGIN {4294967296}\r\n".utf8))
        IMAPProtocol.fuzz(Array("A LOGIN {18446744073709551615+}\r\nxyz\r\n".utf8))
        IMAPProtocol.fuzz(Array(("a FETCH " + String(repeating: "1,", count: 10_000) + "1 FLAGS\r\n").utf8))
        IMAPProtocol.fuzz([UInt8](repeating: 0, count: 10_000))
        IMAPProtocol.fuzz([UInt8](repeating: UInt8(ascii: "\n"), count: 10_000))
    }
}

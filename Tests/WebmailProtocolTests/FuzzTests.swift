import Testing
import WebmailProtocol

/// `WebmailProtocol.fuzz` with seeds, random bytes and mutations of the seeds, a fixed number of
/// iterations from a fixed seed (the same inputs on every run): none may trap.
@Suite struct WebmailFuzzTests {
    static let seeds: [String] = [
        "GET /folder?f=INBOX&page=2 HTTP/1.1\r\nHost: a\r\nCookie: __Host-postamt_session=ab; x=y\r\n\r\n",
        "POST /login HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 22\r\n\r\nuser=a%20b&password=+x",
        "POST /compose HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n"
            + "2f\r\n--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--b--\r\n0\r\n\r\n",
        "--b\r\nContent-Disposition: form-data; name=\"a\"; filename=\"x\\\\y.txt\"\r\nContent-Type: text/plain\r\n\r\n<b>x</b>\r\n--b--",
        "<p style=x onclick=alert(1)><a href=\"jav&#x09;ascript:x\">y</a><img src=\"data:image/png;base64,AA\"><table><tr><td>z</table>",
        "<!--[if IE]><script>x</script><![endif]--><svg><style>@import 'x'</style></svg><math><mi>&#0;</mi></math>",
    ]

    @Test func seedsRunCleanly() {
        for seed in Self.seeds {
            #expect(WebmailProtocol.fuzz(Array(seed.utf8)) > 0)
        }
    }

    @Test func garbageAndMutationsNeverTrap() {
        var generator = SplitMix64(seed: 0x5EB)
        for _ in 0..<2000 {
            let length = Int(generator.next() % 400)
            WebmailProtocol.fuzz((0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
        }
        let interesting = Array("\r\n:;=\"-%&+<>/!?b0123456789 \t\\".utf8)
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
            WebmailProtocol.fuzz(input)
        }
    }

    @Test func hostileShapes() {
        WebmailProtocol.fuzz(Array(String(repeating: "<div>", count: 5_000).utf8))
        WebmailProtocol.fuzz(Array(("--b\r\n" + String(repeating: "X: y\r\n", count: 5_000)).utf8))
        WebmailProtocol.fuzz(Array(("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n").utf8))
        WebmailProtocol.fuzz(Array(("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n").utf8))
        WebmailProtocol.fuzz([UInt8](repeating: 0, count: 10_000))
        WebmailProtocol.fuzz([UInt8](repeating: 13, count: 10_000))
    }
}

/// A small deterministic generator for tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

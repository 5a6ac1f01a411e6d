import Testing
import WebmailProtocol

/// `WebmailProtocol.fuzz` with seeds, garbage and mutations of the seeds, a fixed number of
/// iterations (the same inputs on every run): none may trap.
@Suite struct WebmailFuzzTests {
    static let seeds: [String] = [
        "GET /folder?f=INBOX&page=2 HTTP/1.1\r\nHost: a\r\nCookie: __Host-postamt_session=ab; x=y\r\n\r\n",
        "POST /login HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 22\r\n\r\nuser=a%20b&password=+x",
        "POST /compose HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n"
            + "39\r\n--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--b--\r\n0\r\n\r\n",
        "--b\r\nContent-Disposition: form-data; name=\"a\"; filename=\"x\\\\y.txt\"\r\nContent-Type: text/plain\r\n\r\n<b>x</b>\r\n--b--",
        "<p style=x onclick=alert(1)><a href=\"jav&#x09;ascript:x\">y</a><img src=\"data:image/png;base64,AA\"><table><tr><td>z</table>",
        "<!--[if IE]><script>x</script><![endif]--><svg><style>@import 'x'</style></svg><math><mi>&#0;</mi></math>",
    ]

    @Test func seedsRunCleanly() {
        for seed in Self.seeds {
            #expect(WebmailProtocol.fuzz(Array(seed.utf8)) > 0)
        }
    }

    /// Deterministic inputs, no random generator: garbage from a fixed byte formula, and every
    /// seed mutated at every position (the byte deleted, replaced, an interesting byte inserted,
    /// the next bytes doubled).
    @Test func garbageAndMutationsNeverTrap() {
        for n in 0..<1500 {
            WebmailProtocol.fuzz((0..<(n % 400)).map { i in UInt8(truncatingIfNeeded: (i &* 31 &+ n &* 131) ^ (i >> 3) ^ (n >> 2)) })
        }
        let interesting = Array("\r\n:;=\"-%&+<>/!?b0123456789 \t\\".utf8)
        for seed in Self.seeds.map({ Array($0.utf8) }) {
            for position in 0...seed.count {
                let other = interesting[(position &* 7) % interesting.count]
                var inserted = seed
                inserted.insert(other, at: position)
                WebmailProtocol.fuzz(inserted)
                var doubled = seed
                doubled.insert(contentsOf: seed[position...].prefix(20), at: position)
                WebmailProtocol.fuzz(doubled)
                guard position < seed.count else { continue }
                var deleted = seed
                deleted.remove(at: position)
                WebmailProtocol.fuzz(deleted)
                var replaced = seed
                replaced[position] = interesting[position % interesting.count]
                WebmailProtocol.fuzz(replaced)
            }
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

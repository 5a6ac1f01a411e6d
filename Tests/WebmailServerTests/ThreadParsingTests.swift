import Testing
@testable import WebmailServer

@Suite("the webmail's reading of imapd's THREAD response (RFC 5256 §4)")
struct ThreadParsingTests {
    func parsed(_ text: String) -> [[String]] {
        IMAPCommandRunner.parseThreads(Array(text.utf8)[...]).map { $0.map { "\($0.uid)@\($0.depth)" } }
    }

    @Test("chains, branches, lone messages and threads without a root")
    func shapes() {
        // RFC 5256 §4's example.
        #expect(parsed(" (2)(3 6 (4 23)(44 7 96))") == [["2@0"], ["3@0", "6@1", "4@2", "23@3", "44@2", "7@3", "96@4"]])
        #expect(parsed(" ((3)(5))") == [["3@0", "5@0"]])
        #expect(parsed("") == [])
        #expect(parsed(" (1 2 3 4)") == [["1@0", "2@1", "3@2", "4@3"]])
    }

    @Test("broken or hostile input ends without trapping; nesting is bounded")
    func hostile() {
        #expect(parsed(" (1 (2") == [["1@0", "2@1"]])
        #expect(parsed(" (x 1)") == [["1@0"]])
        let deep = " " + String(repeating: "(", count: 10_000) + "7" + String(repeating: ")", count: 10_000)
        #expect(parsed(deep).flatMap { $0 }.isEmpty || parsed(deep).count == 1)
        #expect(parsed(" (99999999999999999999)").count == 1)
    }
}

import Testing
@testable import MailQueue
@testable import MailQueueClient

struct RemoteResultsTests {
    @Test func parsesReports() {
        let r = RemoteResults(parsing: Array("rok\0hno\0sla ter\0Kdone\0".utf8))
        #expect(r.recipients.map { "\($0.0)\($0.1)" } == ["rok", "hno", "sla ter"])
        #expect(r.message?.0 == "K" && r.message?.1 == "done")
    }

    @Test func messageOnlyAndTruncated() {
        let only = RemoteResults(parsing: Array("Zdns trouble\0".utf8))
        #expect(only.recipients.isEmpty && only.message?.0 == "Z")
        // A crash mid-write: the unterminated tail is not a report.
        let cut = RemoteResults(parsing: Array("rok\0Kdo".utf8))
        #expect(cut.message == nil && cut.recipients.count == 1)
        #expect(RemoteResults(parsing: []).message == nil)
    }

    @Test func warnedSurvivesTheStateFile() throws {
        var state = MessageState(id: "6B0C72DF040421E31", arrival: 1, size: 2, sender: "a@b",
                                 recipients: [RecipientState(original: "x@y", destination: .remote(address: "x@y"))])
        #expect(!String(decoding: state.encoded(), as: UTF8.self).contains("warned"))
        state.warned = true
        #expect(try MessageState.decode(state.encoded()) == state)
    }
}

import Foundation
import Testing
@testable import IMAPEngine

@Suite struct SessionOutputTests {
    /// Long FETCH output goes to the sink as it is produced, not all at once at the end.
    @Test func fetchStreamsToTheSink() throws {
        let fixture = try EngineFixture()
        var chunks: [[UInt8]] = []
        fixture.session.flushThreshold = 100
        fixture.session.outputSink = { chunks.append($0); return true }
        _ = fixture.send("a SELECT INBOX")
        let rest = fixture.send("b FETCH 1:* BODY.PEEK[]")
        #expect(chunks.count >= 3)
        let all = String(decoding: chunks.joined(), as: UTF8.self) + rest
        #expect(all.contains("* 1 FETCH (BODY[] {"))
        #expect(all.contains("* 3 FETCH (BODY[] {"))
        #expect(rest.hasSuffix("b OK FETCH completed\r\n"))
    }

    /// A sink that fails ends the session.
    @Test func failingSinkEndsTheSession() throws {
        let fixture = try EngineFixture()
        fixture.session.flushThreshold = 10
        fixture.session.outputSink = { _ in false }
        _ = fixture.send("a SELECT INBOX")
        _ = fixture.send("b FETCH 1:* BODY.PEEK[]")
        #expect(fixture.session.isFinished)
    }

    /// Two sessions on one Maildir: an expunge in one is an EXPUNGE in the other, a new
    /// message an EXISTS, and UIDs are never reused.
    @Test func twoSessionsSeeEachOther() throws {
        let fixture = try EngineFixture()
        let other = IMAPSession(preauthenticatedUser: "tester", maildirPath: fixture.root + "/Maildir")
        func send(_ s: IMAPSession, _ line: String) -> String { String(decoding: s.receive(Array((line + "\r\n").utf8)), as: UTF8.self) }
        _ = fixture.send("a SELECT INBOX")
        _ = send(other, "a SELECT INBOX")
        _ = fixture.send("b STORE 3 +FLAGS.SILENT (\\Deleted)")
        #expect(fixture.send("c EXPUNGE").contains("* 3 EXPUNGE"))
        #expect(send(other, "b FETCH 1 FLAGS").contains("* 3 EXPUNGE") == false) // not during FETCH
        let noop = send(other, "c NOOP")
        #expect(noop.contains("* 3 EXPUNGE"), "\(noop)")
        _ = fixture.send("d APPEND INBOX {12+}\r\nSubject: x\r\n")
        let update = send(other, "d NOOP")
        #expect(update.contains("* 3 EXISTS"), "\(update)")
        #expect(send(other, "e UID FETCH 3:* UID").contains("UID 4"))
    }
}

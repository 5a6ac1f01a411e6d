import Foundation
import Testing
@testable import IMAPEngine

/// RENAME of the selected mailbox or of a parent of it (RFC 9051 §6.3.6 leaves it open): as in
/// Dovecot, the RENAME completes and the session then ends with an untagged BYE, since the
/// directory it selected no longer exists. Another session that has the mailbox selected ends
/// the same way at its next command, or at once while it idles.
@Suite struct RenameSelectedTests {
    static let selectWork = #"""
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 1 EXISTS
        S: * 1 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 2] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        """#

    /// The APPENDed message is recent in the first session to select its mailbox (RFC 3501
    /// §2.3.2), EXAMINE included (which does not take it away).
    func prepare(_ fixture: EngineFixture) {
        _ = fixture.send("p0 CREATE Projects")
        _ = fixture.send("p1 CREATE Projects.Work")
        _ = fixture.send("p2 APPEND Projects.Work {20+}\r\nSubject: x\r\n\r\nbody\r\n")
    }

    @Test func renamingTheSelectedMailboxEndsTheSession() throws {
        let fixture = try EngineFixture()
        prepare(fixture)
        Transcript.check(#"""
        C: r1 SELECT Projects.Work
        \#(Self.selectWork)
        S: r1 OK [READ-WRITE] SELECT completed
        C: r2 RENAME Projects.Work Done
        S: r2 OK RENAME completed
        S: * BYE Selected mailbox was deleted, have to disconnect
        """#, fixture: fixture)
        #expect(fixture.session.isFinished)
        #expect(FileManager.default.fileExists(atPath: fixture.root + "/Maildir/.Done/cur"))
        #expect(!FileManager.default.fileExists(atPath: fixture.root + "/Maildir/.Projects.Work"))
    }

    @Test func renamingAParentEndsTheSession() throws {
        let fixture = try EngineFixture()
        prepare(fixture)
        Transcript.check(#"""
        C: r1 EXAMINE Projects.Work
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 1 EXISTS
        S: * 1 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS ()] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 2] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: r1 OK [READ-ONLY] EXAMINE completed
        C: r2 RENAME Projects Old
        S: r2 OK RENAME completed
        S: * BYE Selected mailbox was deleted, have to disconnect
        """#, fixture: fixture)
        #expect(fixture.session.isFinished)
        #expect(FileManager.default.fileExists(atPath: fixture.root + "/Maildir/.Old.Work/cur"))
    }

    @Test func renamingAnotherMailboxKeepsTheSelection() throws {
        let fixture = try EngineFixture()
        prepare(fixture)
        _ = fixture.send("p3 CREATE Projects2")
        Transcript.check(#"""
        C: r1 SELECT Projects.Work
        \#(Self.selectWork)
        S: r1 OK [READ-WRITE] SELECT completed
        C: r2 RENAME Projects2 Projects3
        S: r2 OK RENAME completed
        C: r3 FETCH 1 (FLAGS)
        S: * 1 FETCH (FLAGS (\Recent))
        S: r3 OK FETCH completed
        """#, fixture: fixture)
        #expect(!fixture.session.isFinished)
    }

    @Test func anotherSessionRenamesTheSelectedMailbox() throws {
        let fixture = try EngineFixture()
        prepare(fixture)
        let other = IMAPSession(preauthenticatedUser: "tester", maildirPath: fixture.root + "/Maildir",
                                configuration: IMAPSessionConfiguration())
        func send(_ s: IMAPSession, _ line: String) -> String { String(decoding: s.receive(Array((line + "\r\n").utf8)), as: UTF8.self) }
        #expect(fixture.send("a1 SELECT Projects.Work").contains("a1 OK"))
        #expect(send(other, "b1 RENAME Projects.Work Elsewhere").hasSuffix("b1 OK RENAME completed\r\n"))
        #expect(fixture.send("a2 FETCH 1 (FLAGS)") == "* BYE Selected mailbox was deleted, have to disconnect\r\n")
        #expect(fixture.session.isFinished)
        #expect(!FileManager.default.fileExists(atPath: fixture.root + "/Maildir/.Projects.Work"), "not recreated")
    }

    @Test func anIdlingSessionEndsWhenItsMailboxIsRenamed() throws {
        let fixture = try EngineFixture()
        prepare(fixture)
        let other = IMAPSession(preauthenticatedUser: "tester", maildirPath: fixture.root + "/Maildir",
                                configuration: IMAPSessionConfiguration())
        #expect(fixture.send("a1 SELECT Projects.Work").contains("a1 OK"))
        #expect(fixture.send("a2 IDLE") == "+ idling\r\n")
        _ = other.receive(Array("b1 DELETE Projects.Work\r\n".utf8))
        let woken = String(decoding: fixture.session.idleCheck(), as: UTF8.self)
        #expect(woken == "* BYE Selected mailbox was deleted, have to disconnect\r\n")
        #expect(fixture.session.isFinished)
    }
}

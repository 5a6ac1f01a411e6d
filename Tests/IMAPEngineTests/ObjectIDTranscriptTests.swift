import Foundation
import Testing
import Maildir
@testable import IMAPEngine

/// OBJECTID (RFC 8474): MAILBOXID from CREATE, STATUS and SELECT, the same after RENAME;
/// EMAILID the same after COPY and MOVE; THREADID NIL; SEARCH EMAILID and THREADID.
struct ObjectIDTranscriptTests {
    func mailboxID(in response: String) -> String? {
        guard let range = response.range(of: #"MAILBOXID \(([A-Za-z0-9_-]+)\)"#, options: .regularExpression) else { return nil }
        return String(response[range].dropFirst("MAILBOXID (".count).dropLast())
    }

    @Test func mailboxIDIsStableAcrossRename() throws {
        let fixture = try EngineFixture()
        let created = fixture.send("o1 CREATE Work")
        #expect(created.hasPrefix("o1 OK [MAILBOXID (F"), "\(created)")
        let id = try #require(mailboxID(in: created))
        #expect(MaildirObjectID.isObjectID(id) && id.count == 25)
        #expect(fixture.send("o2 STATUS Work (MESSAGES MAILBOXID)") == "* STATUS Work (MESSAGES 0 MAILBOXID (\(id)))\r\no2 OK STATUS completed\r\n")
        #expect(fixture.send("o3 RENAME Work Job") == "o3 OK RENAME completed\r\n")
        #expect(fixture.send("o4 STATUS Job (MAILBOXID)") == "* STATUS Job (MAILBOXID (\(id)))\r\no4 OK STATUS completed\r\n")
        // A new mailbox of the old name is another mailbox (RFC 8474 §4.1).
        let again = try #require(mailboxID(in: fixture.send("o5 CREATE Work")))
        #expect(again != id)
        // LIST-STATUS carries it too; INBOX has its own, also in SELECT's response.
        let list = fixture.send(#"o6 LIST "" "Job" RETURN (STATUS (MAILBOXID))"#)
        #expect(list.contains("* STATUS Job (MAILBOXID (\(id)))"), "\(list)")
        let inbox = try #require(mailboxID(in: fixture.send("o7 STATUS INBOX (MAILBOXID)")))
        let select = fixture.send("o8 SELECT INBOX")
        #expect(select.contains("* OK [MAILBOXID (\(inbox))] Ok\r\n"), "\(select)")
        #expect(![id, again].contains(inbox))
        // Another session sees the same ids.
        let other = fixture.anotherSession()
        #expect(mailboxID(in: other.send("p1 STATUS Job (MAILBOXID)")) == id)
    }

    @Test func emailIDIsStableAcrossCopyAndMove() throws {
        let fixture = try EngineFixture()
        let ids = (0..<3).map { MaildirObjectID.emailID(baseName: "\(1136214245 + $0).M\($0)P1.test") }
        #expect(Set(ids).count == 3 && ids.allSatisfy { MaildirObjectID.isObjectID($0) && $0.hasPrefix("M") })
        _ = fixture.send("o0 CREATE Job")
        Transcript.check(#"""
        C: o1 SELECT INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 3 EXISTS
        S: * 3 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 4] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: o1 OK [READ-WRITE] SELECT completed
        C: o2 FETCH 1:* (EMAILID THREADID)
        S: * 1 FETCH (EMAILID (\#(ids[0])) THREADID NIL)
        S: * 2 FETCH (EMAILID (\#(ids[1])) THREADID NIL)
        S: * 3 FETCH (EMAILID (\#(ids[2])) THREADID NIL)
        S: o2 OK FETCH completed
        C: o3 SEARCH EMAILID \#(ids[2])
        S: * SEARCH 3
        S: o3 OK SEARCH completed
        C: o4 UID SEARCH THREADID T1
        S: * SEARCH
        S: o4 OK SEARCH completed
        C: o5 UID COPY 1 Job
        S: o5 OK [COPYUID V 1 1] COPY completed
        C: o6 UID MOVE 2 Job
        S: * OK [COPYUID V 2 2] Moved UIDs
        S: * 2 EXPUNGE
        S: o6 OK MOVE completed
        C: o7 SELECT Job
        S: * OK [CLOSED] Previous mailbox closed
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 2 EXISTS
        S: * 2 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 3] Predicted next UID
        S: * OK [HIGHESTMODSEQ 3] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: o7 OK [READ-WRITE] SELECT completed
        C: o8 UID FETCH 1:* (EMAILID)
        S: * 1 FETCH (UID 1 EMAILID (\#(ids[0])))
        S: * 2 FETCH (UID 2 EMAILID (\#(ids[1])))
        S: o8 OK FETCH completed
        C: o9 UID SEARCH EMAILID \#(ids[1])
        S: * SEARCH 2
        S: o9 OK SEARCH completed
        """#, fixture: fixture)
        // A copy of a copy keeps it too.
        #expect(fixture.send("p1 UID COPY 1 INBOX").contains("p1 OK [COPYUID "))
        _ = fixture.send("p2 SELECT INBOX")
        let fetched = fixture.send("p3 UID FETCH 4 (EMAILID)")
        #expect(fetched.hasPrefix("* 3 FETCH (UID 4 EMAILID (\(ids[0])))\r\n"), "\(fetched)")
    }
}

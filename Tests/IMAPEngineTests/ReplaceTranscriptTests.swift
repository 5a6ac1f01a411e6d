import Foundation
import Testing
@testable import IMAPEngine

/// REPLACE (RFC 8508 §3, after its examples): the new message is appended (APPENDUID in an
/// untagged OK), then the old one is expunged; into the selected mailbox or another one; a
/// failing APPEND removes nothing; UID REPLACE; read-only and unknown messages refused.
struct ReplaceTranscriptTests {
    @Test func replaceAppendsThenExpunges() throws {
        let fixture = try EngineFixture()
        _ = fixture.send("r0 CREATE Drafts")
        Transcript.check(#"""
        C: r1 SELECT INBOX
        \#(ConformanceTests.selectedFixture)
        S: r1 OK [READ-WRITE] SELECT completed
        C: r2 REPLACE 2 INBOX (\Seen \Draft) {16+}
        C: Subject: v2 ok
        C: 
        S: * OK [APPENDUID V 4] Replacement Message ID
        S: * 2 EXPUNGE
        S: * 3 EXISTS
        S: * 3 RECENT
        S: r2 OK REPLACE completed
        C: r3 UID FETCH 1:* (FLAGS)
        S: * 1 FETCH (UID 1 FLAGS (\Recent))
        S: * 2 FETCH (UID 3 FLAGS (\Recent))
        S: * 3 FETCH (UID 4 FLAGS (\Recent \Seen \Draft))
        S: r3 OK FETCH completed
        C: r4 UID REPLACE 4 Drafts (\Draft) {16+}
        C: Subject: v3 ok
        C: 
        S: * OK [APPENDUID V 1] Replacement Message ID
        S: * 3 EXPUNGE
        S: r4 OK REPLACE completed
        C: r5 STATUS Drafts (MESSAGES)
        S: * STATUS Drafts (MESSAGES 1)
        S: r5 OK STATUS completed
        C: r6 REPLACE 1 Nope {3+}
        C: abc
        S: r6 NO [TRYCREATE] No such mailbox
        C: r7 UID REPLACE 99 INBOX {3+}
        C: abc
        S: r7 NO [NONEXISTENT] No such message
        C: r8 REPLACE 9 INBOX {3+}
        C: abc
        S: r8 BAD Invalid message sequence number
        C: r9 REPLACE 1 INBOX (\Recent) {3+}
        C: abc
        S: r9 BAD \Recent cannot be set
        C: r10 EXAMINE INBOX
        S: * OK [CLOSED] Previous mailbox closed
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 2 EXISTS
        S: * 0 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS ()] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 5] Predicted next UID
        S: * OK [HIGHESTMODSEQ 5] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: r10 OK [READ-ONLY] EXAMINE completed
        C: r11 REPLACE 1 Drafts {3+}
        C: abc
        S: r11 NO [READ-ONLY] Mailbox is read-only
        C: r12 STATUS Drafts (MESSAGES)
        S: * STATUS Drafts (MESSAGES 1)
        S: r12 OK STATUS completed
        """#, fixture: fixture)
    }
}

import Foundation
import Testing
import Maildir
@testable import IMAPEngine

/// QRESYNC (RFC 7162 §3.2) as golden transcripts after the RFC's examples (§3.2.3 ENABLE,
/// §3.2.5 SELECT with QRESYNC, known UIDs and seq-match-data, §3.2.6 UID FETCH (CHANGEDSINCE
/// VANISHED), §3.2.10 VANISHED instead of EXPUNGE), with this server's values: twelve
/// messages, HIGHESTMODSEQ 2 after the first SELECT. UIDVALIDITY is shown as V.
struct QResyncTranscriptTests {
    static let twelve = (1...12).map { "From: a@example.org\nSubject: m\($0)\n\nbody \($0)\n" }

    static func validity(_ fixture: EngineFixture) throws -> UInt32 {
        try #require(try UIDList(folderPath: fixture.root + "/Maildir").read()).uidValidity
    }

    /// Session A expunges UIDs 3:5 and 9 and flags UID 1; session B comes back with the
    /// state it had before (HIGHESTMODSEQ 2) and is told exactly that.
    @Test func selectWithQResyncReportsOnlyTheChanges() throws {
        let a = try EngineFixture(messages: Self.twelve)
        Transcript.check(#"""
        C: a1 ENABLE QRESYNC
        S: * ENABLED QRESYNC
        S: a1 OK ENABLE completed
        C: a2 SELECT INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 12 EXISTS
        S: * 12 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 13] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: a2 OK [READ-WRITE] SELECT completed
        C: a3 STORE 3:5,9 +FLAGS.SILENT (\Deleted)
        S: * 3 FETCH (UID 3 MODSEQ (3))
        S: * 4 FETCH (UID 4 MODSEQ (3))
        S: * 5 FETCH (UID 5 MODSEQ (3))
        S: * 9 FETCH (UID 9 MODSEQ (3))
        S: a3 OK STORE completed
        C: a4 EXPUNGE
        S: * VANISHED 3:5,9
        S: a4 OK EXPUNGE completed
        C: a5 STORE 1 +FLAGS.SILENT (\Seen)
        S: * 1 FETCH (UID 1 MODSEQ (5))
        S: a5 OK STORE completed
        """#, fixture: a)
        let v = try Self.validity(a)
        let b = a.anotherSession()
        let selected = #"""
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 8 EXISTS
        S: * 0 RECENT
        S: * OK [UNSEEN 2] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 13] Predicted next UID
        S: * OK [HIGHESTMODSEQ 5] Highest
        S: * OK [MAILBOXID (ID)] Ok
        """#
        let examined = selected.replacingOccurrences(of: #"(\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)"#, with: "()")
        Transcript.check(#"""
        C: b0 SELECT INBOX (QRESYNC (\#(v) 2))
        S: b0 BAD QRESYNC is not enabled
        C: b1 ENABLE QRESYNC
        S: * ENABLED QRESYNC
        S: b1 OK ENABLE completed
        C: b2 SELECT INBOX (QRESYNC (\#(v) 2))
        \#(selected)
        S: * VANISHED (EARLIER) 3:5,9
        S: * 1 FETCH (UID 1 FLAGS (\Seen) MODSEQ (5))
        S: b2 OK [READ-WRITE] SELECT completed
        C: b3 SELECT INBOX (QRESYNC (\#(v) 2 2:4,6:8))
        S: * OK [CLOSED] Previous mailbox closed
        \#(selected)
        S: * VANISHED (EARLIER) 3:4
        S: b3 OK [READ-WRITE] SELECT completed
        C: b4 EXAMINE INBOX (QRESYNC (\#(v) 4))
        S: * OK [CLOSED] Previous mailbox closed
        \#(examined)
        S: * 1 FETCH (UID 1 FLAGS (\Seen) MODSEQ (5))
        S: b4 OK [READ-ONLY] EXAMINE completed
        C: b5 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 2 VANISHED)
        S: * VANISHED (EARLIER) 3:5,9
        S: * 1 FETCH (UID 1 FLAGS (\Seen) MODSEQ (5))
        S: b5 OK FETCH completed
        C: b6 UID FETCH 6:8 (FLAGS) (CHANGEDSINCE 2 VANISHED)
        S: b6 OK FETCH completed
        C: b7 FETCH 1:* (FLAGS) (CHANGEDSINCE 2 VANISHED)
        S: b7 BAD VANISHED is only allowed in UID FETCH
        C: b8 UID FETCH 1:* (FLAGS) (VANISHED)
        S: b8 BAD VANISHED needs CHANGEDSINCE
        C: b9 SELECT INBOX (QRESYNC (\#(v &+ 1) 2))
        S: * OK [CLOSED] Previous mailbox closed
        \#(selected)
        S: b9 OK [READ-WRITE] SELECT completed
        """#, fixture: b)
    }

    /// A client older than the history (here: a writer that keeps no expunged UID) gets every
    /// UID of its range that is not there (RFC 7162 §3.2.5.2), narrowed by seq-match-data.
    @Test func olderThanTheHistoryGetsEveryMissingUID() throws {
        let a = try EngineFixture(messages: Self.twelve) { $0.expungeHistoryLimit = 0 }
        Transcript.check(#"""
        C: a1 ENABLE QRESYNC
        S: * ENABLED QRESYNC
        S: a1 OK ENABLE completed
        C: a2 SELECT INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 12 EXISTS
        S: * 12 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 13] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: a2 OK [READ-WRITE] SELECT completed
        C: a3 UID STORE 3,4,10 +FLAGS.SILENT (\Deleted)
        S: * 3 FETCH (UID 3 MODSEQ (3))
        S: * 4 FETCH (UID 4 MODSEQ (3))
        S: * 10 FETCH (UID 10 MODSEQ (3))
        S: a3 OK STORE completed
        C: a4 UID EXPUNGE 3:4
        S: * VANISHED 3:4
        S: a4 OK EXPUNGE completed
        C: a5 UID EXPUNGE 10
        S: * VANISHED 10
        S: a5 OK EXPUNGE completed
        """#, fixture: a)
        let v = try Self.validity(a)
        let b = a.anotherSession()
        let selected = #"""
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 9 EXISTS
        S: * 0 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS ()] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 13] Predicted next UID
        S: * OK [HIGHESTMODSEQ 5] Highest
        S: * OK [MAILBOXID (ID)] Ok
        """#
        // Modseq 4 (after 3:4 went) is older than the history (none kept): every missing UID;
        // modseq 5 is now: nothing. With seq-match-data (RFC 7162 §3.2.5.2) saying message 7
        // is still UID 9, nothing up to UID 9 vanished: only 10 is reported.
        Transcript.check(#"""
        C: b1 ENABLE QRESYNC
        S: * ENABLED QRESYNC
        S: b1 OK ENABLE completed
        C: b2 EXAMINE INBOX (QRESYNC (\#(v) 4))
        \#(selected)
        S: * VANISHED (EARLIER) 3:4,10
        S: b2 OK [READ-ONLY] EXAMINE completed
        C: b3 EXAMINE INBOX (QRESYNC (\#(v) 5))
        S: * OK [CLOSED] Previous mailbox closed
        \#(selected)
        S: b3 OK [READ-ONLY] EXAMINE completed
        C: b4 EXAMINE INBOX (QRESYNC (\#(v) 4 1:12 (1,3,7 1,5,9)))
        S: * OK [CLOSED] Previous mailbox closed
        \#(selected)
        S: * VANISHED (EARLIER) 10
        S: b4 OK [READ-ONLY] EXAMINE completed
        C: b5 EXAMINE INBOX (QRESYNC (\#(v) 4 1:12 (1,3 1,4)))
        S: * OK [CLOSED] Previous mailbox closed
        \#(selected)
        S: * VANISHED (EARLIER) 3:4,10
        S: b5 OK [READ-ONLY] EXAMINE completed
        C: b6 UID FETCH 9:* (FLAGS) (CHANGEDSINCE 3 VANISHED)
        S: * VANISHED (EARLIER) 10
        S: b6 OK FETCH completed
        """#, fixture: b)
    }
}

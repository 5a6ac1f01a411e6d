import Foundation
import Testing
@testable import IMAPEngine

/// Issue 20: the behaviours an independent conformance suite found wrong, as golden transcripts
/// after the RFC sections named in each test.
@Suite struct ConformanceTests {
    /// The untagged answer to the first SELECT of the fixture's INBOX (three messages, all
    /// recent in that session).
    static let selectedFixture = #"""
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 3 EXISTS
        S: * 3 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 4] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        """#

    /// RFC 3501 §2.3.2, §6.3.1, §6.3.2, §6.3.10, §7.3.2: a message is recent in exactly one
    /// session, the first to select the mailbox after it arrived, however it arrived.
    @Test func recentBelongsToExactlyOneSession() throws {
        let a = try EngineFixture()
        let b = a.anotherSession()
        let c = a.anotherSession()
        Transcript.check(#"""
        C: a1 SELECT INBOX
        \#(Self.selectedFixture)
        S: a1 OK [READ-WRITE] SELECT completed
        """#, fixture: a)
        // A took all three: nothing is recent for anyone else.
        Transcript.check(#"""
        C: b1 STATUS INBOX (MESSAGES RECENT)
        S: * STATUS INBOX (MESSAGES 3 RECENT 0)
        S: b1 OK STATUS completed
        C: b2 APPEND INBOX {19+}
        C: Subject: appended
        C: 
        S: b2 OK [APPENDUID V 4] APPEND completed
        C: b3 STATUS INBOX (RECENT)
        S: * STATUS INBOX (RECENT 1)
        S: b3 OK STATUS completed
        """#, fixture: b)
        // EXAMINE shows the appended message as recent but does not take it (§6.3.2).
        Transcript.check(#"""
        C: c1 EXAMINE INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 4 EXISTS
        S: * 1 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS ()] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 5] Predicted next UID
        S: * OK [HIGHESTMODSEQ 3] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: c1 OK [READ-ONLY] EXAMINE completed
        C: c2 FETCH 3:4 (FLAGS)
        S: * 3 FETCH (FLAGS ())
        S: * 4 FETCH (FLAGS (\Recent))
        S: c2 OK FETCH completed
        C: c3 SEARCH RECENT
        S: * SEARCH 4
        S: c3 OK SEARCH completed
        C: c4 SEARCH NEW
        S: * SEARCH 4
        S: c4 OK SEARCH completed
        C: c5 SEARCH OLD
        S: * SEARCH 1 2 3
        S: c5 OK SEARCH completed
        """#, fixture: c)
        Transcript.check(#"""
        C: b4 STATUS INBOX (RECENT)
        S: * STATUS INBOX (RECENT 1)
        S: b4 OK STATUS completed
        """#, fixture: b)
        // A, selected read-write, learns of it and takes it.
        Transcript.check(#"""
        C: a2 NOOP
        S: * 4 EXISTS
        S: * 4 RECENT
        S: a2 OK NOOP completed
        C: a3 FETCH 4 (FLAGS)
        S: * 4 FETCH (FLAGS (\Recent))
        S: a3 OK FETCH completed
        C: a4 STATUS INBOX (RECENT)
        S: * STATUS INBOX (RECENT 4)
        S: a4 OK STATUS completed
        C: a5 COPY 1 Archive
        S: a5 OK [COPYUID V 1 1] COPY completed
        """#, fixture: a)
        Transcript.check(#"""
        C: b5 STATUS INBOX (RECENT)
        S: * STATUS INBOX (RECENT 0)
        S: b5 OK STATUS completed
        C: b6 STATUS Archive (MESSAGES RECENT)
        S: * STATUS Archive (MESSAGES 1 RECENT 1)
        S: b6 OK STATUS completed
        C: b7 SELECT Archive
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 1 EXISTS
        S: * 1 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 2] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: b7 OK [READ-WRITE] SELECT completed
        C: b8 FETCH 1 (FLAGS)
        S: * 1 FETCH (FLAGS (\Recent))
        S: b8 OK FETCH completed
        """#, fixture: b)
        // The EXAMINE session never took anything; a SELECT now finds nothing left.
        Transcript.check(#"""
        C: c6 SELECT INBOX
        S: * OK [CLOSED] Previous mailbox closed
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 4 EXISTS
        S: * 0 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 5] Predicted next UID
        S: * OK [HIGHESTMODSEQ 3] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: c6 OK [READ-WRITE] SELECT completed
        C: c7 SEARCH RECENT
        S: * SEARCH
        S: c7 OK SEARCH completed
        """#, fixture: c)
    }

    /// RFC 9051 §2.3.2: IMAP4rev2 has no \Recent; such a session neither shows nor takes it.
    /// RFC 3501 §2.3.2: a client cannot set \Recent.
    @Test func recentIsAbsentInIMAP4rev2AndCannotBeSet() throws {
        let a = try EngineFixture()
        let b = a.anotherSession()
        Transcript.check(#"""
        C: a1 ENABLE IMAP4rev2
        S: * ENABLED IMAP4rev2
        S: a1 OK ENABLE completed
        C: a2 SELECT INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 3 EXISTS
        S: * LIST () "." INBOX
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 4] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: a2 OK [READ-WRITE] SELECT completed
        C: a3 FETCH 1 (FLAGS)
        S: * 1 FETCH (FLAGS ())
        S: a3 OK FETCH completed
        C: a4 APPEND INBOX (\Recent) {3+}
        C: abc
        S: a4 BAD \Recent cannot be set
        C: a5 STORE 1 +FLAGS (\Recent)
        S: a5 BAD \Recent cannot be set
        C: a6 STORE 1 FLAGS \Seen \recent
        S: a6 BAD \Recent cannot be set
        """#, fixture: a)
        Transcript.check(#"""
        C: b1 STATUS INBOX (RECENT)
        S: * STATUS INBOX (RECENT 3)
        S: b1 OK STATUS completed
        """#, fixture: b)
    }

    /// RFC 3516 §4.4: APPEND of a literal8 holding NUL; BINARY and BINARY.SIZE of it (§4.2,
    /// §4.3); a literal8 elsewhere is a syntax error, not the end of the connection.
    @Test func binaryAppendAndFetch() throws {
        let fixture = try EngineFixture()
        Transcript.check(#"""
        C: a1 SELECT INBOX
        \#(Self.selectedFixture)
        S: a1 OK [READ-WRITE] SELECT completed
        C: a2 APPEND INBOX ~{82+}
        C: Content-Type: application/octet-stream
        C: Content-Transfer-Encoding: binary
        C: 
        C: a\#u{0}b
        C: 
        S: * 4 EXISTS
        S: * 4 RECENT
        S: a2 OK [APPENDUID V 4] APPEND completed
        C: a3 FETCH 4 (BINARY.SIZE[1] BINARY.PEEK[1])
        S: * 4 FETCH (BINARY.SIZE[1] 5 BINARY[1] ~{5}
        S: a\#u{0}b
        S: )
        S: a3 OK FETCH completed
        C: a4 UID FETCH 4 (BINARY.PEEK[])
        S: * 4 FETCH (UID 4 BINARY[] ~{82}
        S: Content-Type: application/octet-stream
        S: Content-Transfer-Encoding: binary
        S: 
        S: a\#u{0}b
        S: )
        S: a4 OK FETCH completed
        C: a5 SELECT ~{5+}
        C: INBOX
        S: a5 BAD literal8 is not allowed here
        C: a6 SEARCH TEXT ~{1+}
        C: x
        S: a6 BAD literal8 is not allowed here
        C: a7 NOOP
        S: a7 OK NOOP completed
        C: a8 UID FETCH 4 (BINARY.PEEK[1]<1.1>)
        S: * 4 FETCH (UID 4 BINARY[1]<1> ~{1}
        S: \#u{0})
        S: a8 OK FETCH completed
        """#, fixture: fixture)
        // Before login, too (LITERAL-: a non-synchronising literal of at most 4096 octets).
        let unauthenticated = try EngineFixture(preauth: false) { $0.allowPlaintextAuth = true }
        Transcript.check(#"""
        C: b1 LOGIN ~{6+}
        C: tester secret
        S: b1 BAD literal8 is not allowed here
        C: b2 LOGIN tester ~{6+}
        C: secret
        S: b2 BAD literal8 is not allowed here
        C: b3 NOOP
        S: b3 OK NOOP completed
        """#, fixture: unauthenticated)
    }

    /// RFC 3501 §6.4.7 and RFC 6851 §3.3: COPY and MOVE to the selected mailbox itself.
    @Test func copyAndMoveWithinTheSelectedMailbox() throws {
        let fixture = try EngineFixture()
        Transcript.check(#"""
        C: a1 SELECT INBOX
        \#(Self.selectedFixture)
        S: a1 OK [READ-WRITE] SELECT completed
        C: a2 STORE 1 +FLAGS.SILENT (\Flagged)
        S: a2 OK STORE completed
        C: a3 COPY 1 INBOX
        S: * 4 EXISTS
        S: * 4 RECENT
        S: a3 OK [COPYUID V 1 4] COPY completed
        C: a4 UID MOVE 2 INBOX
        S: * OK [COPYUID V 2 5] Moved UIDs
        S: * 2 EXPUNGE
        S: * 4 EXISTS
        S: * 4 RECENT
        S: a4 OK MOVE completed
        C: a5 FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])
        S: * 1 FETCH (UID 1 FLAGS (\Recent \Flagged) BODY[HEADER.FIELDS (SUBJECT)] {18}
        S: Subject: first
        S: 
        S: )
        S: * 2 FETCH (UID 3 FLAGS (\Recent) BODY[HEADER.FIELDS (SUBJECT)] {22}
        S: Subject: Re: first
        S: 
        S: )
        S: * 3 FETCH (UID 4 FLAGS (\Recent \Flagged) BODY[HEADER.FIELDS (SUBJECT)] {18}
        S: Subject: first
        S: 
        S: )
        S: * 4 FETCH (UID 5 FLAGS (\Recent) BODY[HEADER.FIELDS (SUBJECT)] {39}
        S: Subject: =?utf-8?q?K=C3=B6ln?= trip
        S: 
        S: )
        S: a5 OK FETCH completed
        """#, fixture: fixture)
    }

    static let sortMessages = [
        "From: Zed <_x@example.org>\nTo: b@example.org\nCc: dave@example.org\nSubject: one\n\n1\n",
        "From: bob@example.org\nTo: Zoe <a@example.org>\nSubject: two\n\n2\n",
        "From: Alice <BOB@example.org>\nSubject: three\n\n3\n",
        "To: _y@example.org\nSubject: four\n\n4\n",
        "From: \u{E9}bert@example.org\nSubject: five\n\n5\n",
    ]

    /// RFC 5256 §3: CC, FROM and TO by the addr-mailbox of the first address with
    /// i;ascii-casemap ("_" after the letters, UTF-8 octets after "_", where i;unicode-casemap
    /// would put "\u{E9}" beside "e"), a missing one as ""; REVERSE reverses its own
    /// key only; ties in sequence order. RFC 5957: DISPLAYFROM/DISPLAYTO by the display name,
    /// else the address.
    @Test func sortByAddress() throws {
        let fixture = try EngineFixture(messages: Self.sortMessages)
        Transcript.check(#"""
        C: s0 EXAMINE INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 5 EXISTS
        S: * 5 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS ()] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 6] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: s0 OK [READ-ONLY] EXAMINE completed
        C: s1 SORT (FROM) UTF-8 ALL
        S: * SORT 4 2 3 1 5
        S: s1 OK SORT completed
        C: s2 SORT (REVERSE FROM) UTF-8 ALL
        S: * SORT 5 1 2 3 4
        S: s2 OK SORT completed
        C: s3 SORT (CC FROM) UTF-8 ALL
        S: * SORT 4 2 3 5 1
        S: s3 OK SORT completed
        C: s4 SORT (REVERSE CC REVERSE FROM) UTF-8 ALL
        S: * SORT 1 5 2 3 4
        S: s4 OK SORT completed
        C: s5 SORT (TO) UTF-8 ALL
        S: * SORT 3 5 2 1 4
        S: s5 OK SORT completed
        C: s6 SORT (DISPLAYFROM) UTF-8 ALL
        S: * SORT 4 3 2 5 1
        S: s6 OK SORT completed
        C: s7 SORT (DISPLAYTO) UTF-8 ALL
        S: * SORT 3 5 1 2 4
        S: s7 OK SORT completed
        C: s8 UID SORT (FROM) UTF-8 NOT FROM bob
        S: * SORT 4 1 5
        S: s8 OK SORT completed
        """#, fixture: fixture)
    }

    /// RFC 3501 §6.3.9 (LSUB and "%"), RFC 5258 §3.5 and §4 (RECURSIVEMATCH, CHILDINFO, several
    /// patterns). CREATE of Lists.Work.Deep makes that folder only: its parents are implied
    /// (\NonExistent), as Maildir++ has them.
    @Test func subscriptionsInLSUBAndListExtended() throws {
        let fixture = try EngineFixture()
        Transcript.check(#"""
        C: l1 CREATE Lists.Work.Deep
        S: l1 OK [MAILBOXID (ID)] CREATE completed
        C: l2 SUBSCRIBE Lists.Work.Deep
        S: l2 OK SUBSCRIBE completed
        C: l3 LSUB "" Lists.%
        S: * LSUB (\Noselect) "." Lists.Work
        S: l3 OK LSUB completed
        C: l4 LSUB "" L%
        S: * LSUB (\Noselect) "." Lists
        S: l4 OK LSUB completed
        C: l5 LSUB "" Lists.*
        S: * LSUB () "." Lists.Work.Deep
        S: l5 OK LSUB completed
        C: l6 LSUB Lists. %
        S: * LSUB (\Noselect) "." Lists.Work
        S: l6 OK LSUB completed
        C: l7 LIST (SUBSCRIBED RECURSIVEMATCH) "" L%
        S: * LIST (\NonExistent \Noselect \HasChildren) "." Lists ("CHILDINFO" ("SUBSCRIBED"))
        S: l7 OK LIST completed
        C: l8 LIST (SUBSCRIBED RECURSIVEMATCH) "" Lists.%
        S: * LIST (\NonExistent \Noselect \HasChildren) "." Lists.Work ("CHILDINFO" ("SUBSCRIBED"))
        S: l8 OK LIST completed
        C: l9 LIST (SUBSCRIBED RECURSIVEMATCH) "" Lists*
        S: * LIST (\HasNoChildren \Subscribed) "." Lists.Work.Deep
        S: l9 OK LIST completed
        C: l10 LIST (SUBSCRIBED RECURSIVEMATCH) "" (L% Lists.Work.Deep)
        S: * LIST (\HasNoChildren \Subscribed) "." Lists.Work.Deep
        S: l10 OK LIST completed
        C: l11 LIST (SUBSCRIBED RECURSIVEMATCH) "" (L% Lists.%)
        S: * LIST (\NonExistent \Noselect \HasChildren) "." Lists ("CHILDINFO" ("SUBSCRIBED"))
        S: * LIST (\NonExistent \Noselect \HasChildren) "." Lists.Work ("CHILDINFO" ("SUBSCRIBED"))
        S: l11 OK LIST completed
        C: l12 SUBSCRIBE Lists.Work
        S: l12 OK SUBSCRIBE completed
        C: l13 LIST (SUBSCRIBED RECURSIVEMATCH) "" (Lists.% Lists.Work)
        S: * LIST (\NonExistent \Noselect \HasChildren \Subscribed) "." Lists.Work
        S: l13 OK LIST completed
        C: l14 LSUB "" Lists.%
        S: * LSUB (\Noselect) "." Lists.Work
        S: l14 OK LSUB completed
        C: l15 LIST (SUBSCRIBED) "" Lists.%
        S: * LIST (\NonExistent \Noselect \HasChildren \Subscribed) "." Lists.Work
        S: l15 OK LIST completed
        """#, fixture: fixture)
    }

    /// RFC 7162 §3.1.5 and RFC 4731 §3.2: MODSEQ in SEARCH and ESEARCH answers.
    @Test func esearchWithModSeq() throws {
        let fixture = try EngineFixture()
        Transcript.check(#"""
        C: e1 SELECT INBOX (CONDSTORE)
        \#(Self.selectedFixture)
        S: e1 OK [READ-WRITE] SELECT completed
        C: e2 STORE 2 +FLAGS.SILENT (\Flagged)
        S: * 2 FETCH (UID 2 MODSEQ (3))
        S: e2 OK STORE completed
        C: e3 SEARCH RETURN (MIN MAX COUNT) MODSEQ 1
        S: * ESEARCH (TAG "e3") MIN 1 MAX 3 COUNT 3 MODSEQ 3
        S: e3 OK SEARCH completed
        C: e4 SEARCH RETURN (MIN) MODSEQ 1
        S: * ESEARCH (TAG "e4") MIN 1 MODSEQ 2
        S: e4 OK SEARCH completed
        C: e5 UID SEARCH RETURN (MAX) MODSEQ 1 NOT UID 3
        S: * ESEARCH (TAG "e5") UID MAX 2 MODSEQ 3
        S: e5 OK SEARCH completed
        C: e6 SEARCH RETURN () MODSEQ 3
        S: * ESEARCH (TAG "e6") ALL 2 MODSEQ 3
        S: e6 OK SEARCH completed
        C: e7 SEARCH RETURN (ALL COUNT) MODSEQ 4
        S: * ESEARCH (TAG "e7") COUNT 0
        S: e7 OK SEARCH completed
        C: e8 SEARCH MODSEQ 4
        S: * SEARCH
        S: e8 OK SEARCH completed
        C: e9 SEARCH MODSEQ 3
        S: * SEARCH 2 (MODSEQ 3)
        S: e9 OK SEARCH completed
        C: e10 SEARCH RETURN (COUNT) FLAGGED
        S: * ESEARCH (TAG "e10") COUNT 1
        S: e10 OK SEARCH completed
        """#, fixture: fixture)
    }
}

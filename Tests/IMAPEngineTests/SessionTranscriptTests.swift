import Foundation
import Testing
@testable import IMAPEngine

@Suite struct SessionTranscriptTests {
    @Test func authenticatedStateCommands() throws {
        let fixture = try EngineFixture()
        Transcript.check(#"""
        C: a1 CAPABILITY
        S: * CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES WITHIN CONDSTORE SORT SORT=DISPLAY STATUS=SIZE STATUS=DELETED MULTIAPPEND UTF8=ACCEPT BINARY APPENDLIMIT=67108864 QRESYNC OBJECTID SAVEDATE REPLACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES PREVIEW NOTIFY
        S: a1 OK CAPABILITY completed
        C: a2 NOOP
        S: a2 OK NOOP completed
        C: a3 ID ("name" "test")
        S: * ID ("name" "Postamt")
        S: a3 OK ID completed
        C: a4 NAMESPACE
        S: * NAMESPACE (("" ".")) NIL NIL
        S: a4 OK NAMESPACE completed
        C: a5 LIST "" ""
        S: * LIST (\Noselect) "." ""
        S: a5 OK LIST completed
        C: a6 LIST "" "*"
        S: * LIST (\HasNoChildren) "." INBOX
        S: * LIST (\HasNoChildren \Archive) "." Archive
        S: * LIST (\HasNoChildren \Drafts) "." Drafts
        S: * LIST (\HasNoChildren \Junk) "." Junk
        S: * LIST (\HasNoChildren \Sent) "." Sent
        S: * LIST (\HasNoChildren \Trash) "." Trash
        S: a6 OK LIST completed
        C: a7 CREATE Lists.Work
        S: a7 OK [MAILBOXID (ID)] CREATE completed
        C: a8 CREATE Lists.Work
        S: a8 NO [ALREADYEXISTS] Mailbox exists
        C: a9 LIST "" "Lists%"
        S: * LIST (\NonExistent \Noselect \HasChildren) "." Lists
        S: a9 OK LIST completed
        C: a10 LIST "" "Lists.%"
        S: * LIST (\HasNoChildren) "." Lists.Work
        S: a10 OK LIST completed
        C: a11 LIST (SPECIAL-USE) "" "*"
        S: * LIST (\HasNoChildren \Archive) "." Archive
        S: * LIST (\HasNoChildren \Drafts) "." Drafts
        S: * LIST (\HasNoChildren \Junk) "." Junk
        S: * LIST (\HasNoChildren \Sent) "." Sent
        S: * LIST (\HasNoChildren \Trash) "." Trash
        S: a11 OK LIST completed
        C: a12 LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN))
        S: * LIST (\HasNoChildren) "." INBOX
        S: * STATUS INBOX (MESSAGES 3 UNSEEN 3)
        S: * LIST (\HasNoChildren \Archive) "." Archive
        S: * STATUS Archive (MESSAGES 0 UNSEEN 0)
        S: * LIST (\HasNoChildren \Drafts) "." Drafts
        S: * STATUS Drafts (MESSAGES 0 UNSEEN 0)
        S: * LIST (\HasNoChildren \Junk) "." Junk
        S: * STATUS Junk (MESSAGES 0 UNSEEN 0)
        S: * LIST (\NonExistent \Noselect \HasChildren) "." Lists
        S: * LIST (\HasNoChildren) "." Lists.Work
        S: * STATUS Lists.Work (MESSAGES 0 UNSEEN 0)
        S: * LIST (\HasNoChildren \Sent) "." Sent
        S: * STATUS Sent (MESSAGES 0 UNSEEN 0)
        S: * LIST (\HasNoChildren \Trash) "." Trash
        S: * STATUS Trash (MESSAGES 0 UNSEEN 0)
        S: a12 OK LIST completed
        C: a13 SUBSCRIBE Lists.Work
        S: a13 OK SUBSCRIBE completed
        C: a14 LSUB "" "*"
        S: * LSUB () "." Sent
        S: * LSUB () "." Drafts
        S: * LSUB () "." Trash
        S: * LSUB () "." Junk
        S: * LSUB () "." Archive
        S: * LSUB () "." Lists.Work
        S: a14 OK LSUB completed
        C: a15 LIST (SUBSCRIBED) "" "L*"
        S: * LIST (\HasNoChildren \Subscribed) "." Lists.Work
        S: a15 OK LIST completed
        C: a16 UNSUBSCRIBE Lists.Work
        S: a16 OK UNSUBSCRIBE completed
        C: a17 RENAME Lists.Work Lists.Job
        S: a17 OK RENAME completed
        C: a18 RENAME Nope Other
        S: a18 NO [NONEXISTENT] No such mailbox
        C: a19 DELETE Lists.Job
        S: a19 OK DELETE completed
        C: a20 DELETE Lists.Job
        S: a20 NO [NONEXISTENT] No such mailbox
        C: a21 DELETE INBOX
        S: a21 NO [CANNOT] INBOX cannot be deleted
        C: a22 STATUS INBOX (MESSAGES RECENT UIDNEXT UNSEEN DELETED SIZE)
        S: * STATUS INBOX (MESSAGES 3 RECENT 3 UIDNEXT 4 UNSEEN 3 DELETED 0 SIZE 739)
        S: a22 OK STATUS completed
        C: a23 STATUS Nope (MESSAGES)
        S: a23 NO [NONEXISTENT] No such mailbox
        C: a24 ENABLE CONDSTORE
        S: * ENABLED CONDSTORE
        S: a24 OK ENABLE completed
        C: a25 CREATE "&AOQ-pfel"
        S: a25 OK [MAILBOXID (ID)] CREATE completed
        C: a26 LIST "" "&AOQ-*"
        S: * LIST (\HasNoChildren) "." &AOQ-pfel
        S: a26 OK LIST completed
        C: a27 CREATE "&Jjo"
        S: a27 NO [CANNOT] Invalid mailbox name encoding
        C: a28 CREATE "a/../../b"
        S: a28 NO [CANNOT] Invalid mailbox name
        C: a29 SELECT ../../etc
        S: a29 NO [CANNOT] Invalid mailbox name
        C: a30 FETCH 1 FLAGS
        S: a30 BAD No mailbox selected
        C: a31 LOGIN a b
        S: a31 BAD Already logged in
        C: a32 FROB
        S: a32 BAD Unknown command FROB
        C: a33 LOGOUT
        S: * BYE Logging out
        S: a33 OK LOGOUT completed
        """#, fixture: fixture)
    }

    @Test func selectedStateCommands() throws {
        let fixture = try EngineFixture()
        Transcript.check(#"""
        C: b1 EXAMINE INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 3 EXISTS
        S: * 3 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS ()] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 4] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: b1 OK [READ-ONLY] EXAMINE completed
        C: b2 STORE 1 +FLAGS (\Seen)
        S: b2 NO [READ-ONLY] Mailbox is read-only
        C: b3 SELECT INBOX
        S: * OK [CLOSED] Previous mailbox closed
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 3 EXISTS
        S: * 3 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 4] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: b3 OK [READ-WRITE] SELECT completed
        C: b4 FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)
        S: * 1 FETCH (FLAGS (\Recent) INTERNALDATE " 2-Jan-2006 15:04:05 +0000" RFC822.SIZE 157 ENVELOPE ("Mon, 2 Jan 2006 15:04:05 +0000" "first" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<1@example.org>"))
        S: b4 OK FETCH completed
        C: b5 FETCH 2 (BODYSTRUCTURE)
        S: * 2 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "QUOTED-PRINTABLE" 15 1 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7BIT" 53 (NIL "inner" ((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL) "mixed" ("boundary" "XX") NIL NIL NIL))
        S: b5 OK FETCH completed
        C: b6 FETCH 2 (BODY)
        S: * 2 FETCH (BODY (("text" "plain" ("charset" "utf-8") NIL NIL "QUOTED-PRINTABLE" 15 1)("message" "rfc822" NIL NIL NIL "7BIT" 53 (NIL "inner" ((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 10 1) 4) "mixed"))
        S: b6 OK FETCH completed
        C: b7 FETCH 2 (BODY.PEEK[1] BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[1.MIME])
        S: * 2 FETCH (BODY[1] {15}
        S: Gr=C3=BC=C3=9Fe BODY[2.HEADER] {43}
        S: From: inner@example.org
        S: Subject: inner
        S: 
        S:  BODY[2.TEXT] {10}
        S: inner body BODY[1.MIME] {88}
        S: Content-Type: text/plain; charset=utf-8
        S: Content-Transfer-Encoding: quoted-printable
        S: 
        S: )
        S: b7 OK FETCH completed
        C: b8 FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject From)] BODY.PEEK[TEXT]<0.5>)
        S: * 1 FETCH (BODY[HEADER.FIELDS (Subject From)] {51}
        S: From: Alice <alice@example.org>
        S: Subject: first
        S: 
        S:  BODY[TEXT]<0> {5}
        S: Hello)
        S: b8 OK FETCH completed
        C: b9 FETCH 1 BODY[1.2.3.4.5.6.7.8.9]
        S: * 1 FETCH (BODY[1.2.3.4.5.6.7.8.9] NIL FLAGS (\Recent \Seen))
        S: b9 OK FETCH completed
        C: b10 FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])
        S: * 1 FETCH (BINARY[1] {12}
        S: Hello Bob.
        S:  BINARY.SIZE[1] 12)
        S: b10 OK FETCH completed
        C: b11 FETCH 1 RFC822.HEADER
        S: * 1 FETCH (RFC822.HEADER {145}
        S: From: Alice <alice@example.org>
        S: To: Bob <bob@example.org>
        S: Subject: first
        S: Date: Mon, 2 Jan 2006 15:04:05 +0000
        S: Message-ID: <1@example.org>
        S: 
        S: )
        S: b11 OK FETCH completed
        C: b12 FETCH 1 BODY[]<0.20>
        S: * 1 FETCH (BODY[]<0> {20}
        S: From: Alice <alice@e FLAGS (\Recent \Seen))
        S: b12 OK FETCH completed
        C: b13 FETCH 9 FLAGS
        S: b13 BAD Invalid message sequence number
        C: b14 UID FETCH 1:* (FLAGS)
        S: * 1 FETCH (UID 1 FLAGS (\Recent \Seen))
        S: * 2 FETCH (UID 2 FLAGS (\Recent))
        S: * 3 FETCH (UID 3 FLAGS (\Recent))
        S: b14 OK FETCH completed
        C: b15 STORE 1:2 +FLAGS (\Flagged $Work)
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Work)
        S: * 1 FETCH (FLAGS (\Recent \Flagged \Seen $Work))
        S: * 2 FETCH (FLAGS (\Recent \Flagged $Work))
        S: b15 OK STORE completed
        C: b16 STORE 1 +FLAGS (\Flagged)
        S: * 1 FETCH (FLAGS (\Recent \Flagged \Seen $Work))
        S: b16 OK STORE completed
        C: b17 STORE 2 -FLAGS.SILENT (\Flagged)
        S: b17 OK STORE completed
        C: b18 STORE 3 FLAGS (\Answered \Draft)
        S: * 3 FETCH (FLAGS (\Recent \Answered \Draft))
        S: b18 OK STORE completed
        C: b19 UID STORE 3 +FLAGS (\Bogus)
        S: b19 NO Unknown system flag \Bogus
        C: b20 SEARCH FLAGGED
        S: * SEARCH 1
        S: b20 OK SEARCH completed
        C: b21 SEARCH KEYWORD $Work NOT SEEN
        S: * SEARCH 2
        S: b21 OK SEARCH completed
        C: b22 SEARCH FROM carol
        S: * SEARCH 2
        S: b22 OK SEARCH completed
        C: b23 SEARCH CHARSET UTF-8 SUBJECT "Köln"
        S: * SEARCH 2
        S: b23 OK SEARCH completed
        C: b24 SEARCH CHARSET UTF-8 BODY {7+}
        C: grüße
        S: * SEARCH 2
        S: b24 OK SEARCH completed
        C: b25 SEARCH TEXT "inner body"
        S: * SEARCH 2
        S: b25 OK SEARCH completed
        C: b26 SEARCH OR ANSWERED FLAGGED
        S: * SEARCH 1 3
        S: b26 OK SEARCH completed
        C: b27 SEARCH SENTBEFORE 3-Jan-2006
        S: * SEARCH 1
        S: b27 OK SEARCH completed
        C: b28 SEARCH SINCE 3-Jan-2006
        S: * SEARCH 2 3
        S: b28 OK SEARCH completed
        C: b29 SEARCH LARGER 300 SMALLER 1000
        S: * SEARCH 2
        S: b29 OK SEARCH completed
        C: b30 SEARCH HEADER Message-ID "<1@example.org>"
        S: * SEARCH 1
        S: b30 OK SEARCH completed
        C: b31 UID SEARCH UID 2:*
        S: * SEARCH 2 3
        S: b31 OK SEARCH completed
        C: b32 SEARCH RETURN (MIN MAX COUNT ALL) ALL
        S: * ESEARCH (TAG "b32") MIN 1 MAX 3 COUNT 3 ALL 1:3
        S: b32 OK SEARCH completed
        C: b33 SEARCH RETURN (SAVE) FLAGGED
        S: b33 OK SEARCH completed
        C: b34 FETCH $ (UID)
        S: * 1 FETCH (UID 1)
        S: b34 OK FETCH completed
        C: b35 SEARCH CHARSET KOI8-R ALL
        S: b35 NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset
        C: b36 SEARCH 2:3 NOT 3
        S: * SEARCH 2
        S: b36 OK SEARCH completed
        C: b36a SEARCH RECENT NEW
        S: * SEARCH 2 3
        S: b36a OK SEARCH completed
        C: b37 SORT (SUBJECT) UTF-8 ALL
        S: * SORT 1 3 2
        S: b37 OK SORT completed
        C: b38 SORT (REVERSE DATE) UTF-8 ALL
        S: * SORT 3 2 1
        S: b38 OK SORT completed
        C: b39 SORT (FROM) UTF-8 ALL
        S: * SORT 1 3 2
        S: b39 OK SORT completed
        C: b40 SORT (DISPLAYFROM) UTF-8 ALL
        S: * SORT 1 3 2
        S: b40 OK SORT completed
        C: b41 UID SORT (SIZE) UTF-8 ALL
        S: * SORT 3 1 2
        S: b41 OK SORT completed
        C: b42 SORT (ARRIVAL) KOI8-R ALL
        S: b42 NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset
        C: b43 COPY 1 Archive
        S: b43 OK [COPYUID V 1 1] COPY completed
        C: b44 COPY 1 Nope
        S: b44 NO [TRYCREATE] No such mailbox
        C: b45 UID MOVE 3 Trash
        S: * OK [COPYUID V 3 1] Moved UIDs
        S: * 3 EXPUNGE
        S: b45 OK MOVE completed
        C: b46 STATUS Trash (MESSAGES UIDNEXT)
        S: * STATUS Trash (MESSAGES 1 UIDNEXT 2)
        S: b46 OK STATUS completed
        C: b47 APPEND INBOX (\Seen) " 2-Jan-2006 10:00:00 +0000" {19+}
        C: Subject: appended
        C: 
        S: * 3 EXISTS
        S: * 3 RECENT
        S: b47 OK [APPENDUID V 4] APPEND completed
        C: b47a FETCH 3 (FLAGS INTERNALDATE BODY[])
        S: * 3 FETCH (FLAGS (\Recent \Seen) INTERNALDATE " 2-Jan-2006 10:00:00 +0000" BODY[] {19}
        S: Subject: appended
        S: )
        S: b47a OK FETCH completed
        C: b48 APPEND Nope {3+}
        C: abc
        S: b48 NO [TRYCREATE] No such mailbox
        C: b49 NOOP
        S: b49 OK NOOP completed
        C: b50 STORE 1 +FLAGS.SILENT (\Deleted)
        S: b50 OK STORE completed
        C: b51 EXPUNGE
        S: * 1 EXPUNGE
        S: b51 OK EXPUNGE completed
        C: b52 FETCH 1:* (UID FLAGS)
        S: * 1 FETCH (UID 2 FLAGS (\Recent $Work))
        S: * 2 FETCH (UID 4 FLAGS (\Recent \Seen))
        S: b52 OK FETCH completed
        C: b53 UID EXPUNGE 1:*
        S: b53 OK EXPUNGE completed
        C: b54 CHECK
        S: b54 OK CHECK completed
        C: b55 UNSELECT
        S: b55 OK UNSELECT completed
        C: b56 SELECT Archive
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Work)
        S: * 1 EXISTS
        S: * 1 RECENT
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Work \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 2] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: b56 OK [READ-WRITE] SELECT completed
        C: b57 STORE 1 +FLAGS (\Deleted)
        S: * 1 FETCH (FLAGS (\Recent \Flagged \Deleted \Seen $Work))
        S: b57 OK STORE completed
        C: b58 CLOSE
        S: b58 OK CLOSE completed
        C: b59 STATUS Archive (MESSAGES)
        S: * STATUS Archive (MESSAGES 0)
        S: b59 OK STATUS completed
        C: b60 SELECT Nope
        S: b60 NO [NONEXISTENT] No such mailbox
        C: b61 LOGOUT
        S: * BYE Logging out
        S: b61 OK LOGOUT completed
        """#, fixture: fixture)
    }

    @Test func condStoreAndIdle() throws {
        let fixture = try EngineFixture()
        Transcript.check(#"""
        C: c1 SELECT INBOX (CONDSTORE)
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 3 EXISTS
        S: * 3 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 4] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: c1 OK [READ-WRITE] SELECT completed
        C: c2 FETCH 1:* (UID MODSEQ)
        S: * 1 FETCH (UID 1 MODSEQ (2))
        S: * 2 FETCH (UID 2 MODSEQ (2))
        S: * 3 FETCH (UID 3 MODSEQ (2))
        S: c2 OK FETCH completed
        C: c3 STORE 1 +FLAGS (\Seen)
        S: * 1 FETCH (UID 1 FLAGS (\Recent \Seen) MODSEQ (3))
        S: c3 OK STORE completed
        C: c4 FETCH 1:* (FLAGS) (CHANGEDSINCE 2)
        S: * 1 FETCH (UID 1 FLAGS (\Recent \Seen) MODSEQ (3))
        S: c4 OK FETCH completed
        C: c5 STORE 1,2 (UNCHANGEDSINCE 2) +FLAGS (\Flagged)
        S: * 2 FETCH (UID 2 FLAGS (\Recent \Flagged) MODSEQ (4))
        S: c5 OK [MODIFIED 1] Conditional STORE failed for some messages
        C: c6 SEARCH MODSEQ 3
        S: * SEARCH 1 2 (MODSEQ 4)
        S: c6 OK SEARCH completed
        C: c7 STATUS INBOX (HIGHESTMODSEQ)
        S: * STATUS INBOX (HIGHESTMODSEQ 4)
        S: c7 OK STATUS completed
        C: c8 IDLE
        S: + idling
        C: DONE
        S: c8 OK IDLE terminated
        C: c9 LOGOUT
        S: * BYE Logging out
        S: c9 OK LOGOUT completed
        """#, fixture: fixture)
    }

    @Test func notAuthenticatedState() throws {
        let fixture = try EngineFixture(preauth: false) { $0.allowPlaintextAuth = true; $0.maxAuthFailures = 2 }
        Transcript.check(#"""
        C: d1 CAPABILITY
        S: * CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL- SASL-IR ID ENABLE IDLE AUTH=PLAIN AUTH=LOGIN
        S: d1 OK CAPABILITY completed
        C: d2 SELECT INBOX
        S: d2 BAD Log in first
        C: d3 STARTTLS
        S: d3 BAD TLS is not available
        C: d4 AUTHENTICATE CRAM-MD5
        S: d4 NO [CANNOT] Unsupported mechanism
        C: d5 AUTHENTICATE PLAIN
        S: + 
        C: *
        S: d5 BAD Authentication cancelled
        C: d6 AUTHENTICATE PLAIN AHRlc3RlcgB3cm9uZw==
        S: d6 NO [AUTHENTICATIONFAILED] Authentication failed
        C: d7 LOGIN {6}
        S: + Ready for literal
        C: tester {6}
        S: + Ready for literal
        C: secret
        S: d7 OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES WITHIN CONDSTORE SORT SORT=DISPLAY STATUS=SIZE STATUS=DELETED MULTIAPPEND UTF8=ACCEPT BINARY APPENDLIMIT=67108864 QRESYNC OBJECTID SAVEDATE REPLACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES PREVIEW NOTIFY] Logged in
        C: d8 SELECT INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 3 EXISTS
        S: * 3 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 4] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: d8 OK [READ-WRITE] SELECT completed
        C: d9 LOGOUT
        S: * BYE Logging out
        S: d9 OK LOGOUT completed
        """#, fixture: fixture)
    }

    @Test func loginFailuresDisconnect() throws {
        let fixture = try EngineFixture(preauth: false) { $0.allowPlaintextAuth = true; $0.maxAuthFailures = 2 }
        Transcript.check(#"""
        C: e1 LOGIN tester wrong
        S: e1 NO [AUTHENTICATIONFAILED] Authentication failed
        C: e2 AUTHENTICATE LOGIN
        S: + VXNlcm5hbWU6
        C: dGVzdGVy
        S: + UGFzc3dvcmQ6
        C: bm9wZQ==
        S: e2 NO [AUTHENTICATIONFAILED] Authentication failed
        S: * BYE Too many authentication failures
        C: e3 NOOP
        """#, fixture: fixture)
        #expect(fixture.session.isFinished)
    }

    @Test func loginNeedsTLS() throws {
        let fixture = try EngineFixture(preauth: false) { $0.startTLSAvailable = true }
        Transcript.check(#"""
        C: f1 CAPABILITY
        S: * CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL- SASL-IR ID ENABLE IDLE STARTTLS LOGINDISABLED
        S: f1 OK CAPABILITY completed
        C: f2 LOGIN tester secret
        S: f2 NO [PRIVACYREQUIRED] LOGIN needs TLS (STARTTLS)
        C: f3 AUTHENTICATE PLAIN AHRlc3RlcgBzZWNyZXQ=
        S: f3 NO [PRIVACYREQUIRED] Authentication needs TLS (STARTTLS)
        C: f4 STARTTLS
        S: f4 OK Begin TLS negotiation now
        C: f5 NOOP
        """#, fixture: fixture)
        #expect(fixture.session.wantsStartTLS)
        fixture.session.tlsStarted()
        Transcript.check(#"""
        C: f6 CAPABILITY
        S: * CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL- SASL-IR ID ENABLE IDLE AUTH=PLAIN AUTH=LOGIN
        S: f6 OK CAPABILITY completed
        C: f7 LOGIN tester secret
        S: f7 OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES WITHIN CONDSTORE SORT SORT=DISPLAY STATUS=SIZE STATUS=DELETED MULTIAPPEND UTF8=ACCEPT BINARY APPENDLIMIT=67108864 QRESYNC OBJECTID SAVEDATE REPLACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES PREVIEW NOTIFY] Logged in
        """#, fixture: fixture)
    }

    @Test func hostileInput() throws {
        let fixture = try EngineFixture()
        let nested = String(repeating: "(", count: 10_000)
        Transcript.check(#"""
        C: g1 LOGIN {4294967296}
        S: g1 BAD [TOOBIG] Literal larger than 65536 octets
        C: g2 SELECT INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 3 EXISTS
        S: * 3 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 4] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: g2 OK [READ-WRITE] SELECT completed
        C: g3 FETCH 1 (BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27.28.29.30.31.32.33])
        S: g3 BAD [LIMIT] Section deeper than 32 parts
        C: g4 APPEND INBOX {99999999999}
        S: g4 NO [TOOBIG] Literal larger than 67108864 octets
        C: g5 NOOP
        S: g5 OK NOOP completed
        """#, fixture: fixture)
        #expect(fixture.send("g6 SEARCH \(nested)").hasPrefix("g6 BAD"))
        #expect(fixture.send("g7 NOOP") == "g7 OK NOOP completed\r\n")
    }

    @Test func utf8AcceptMultiAppendAndWithin() throws {
        let fixture = try EngineFixture()
        Transcript.check(#"""
        C: h1 CREATE "&AMQ-pfel"
        S: h1 OK [MAILBOXID (ID)] CREATE completed
        C: h2 ENABLE UTF8=ACCEPT
        S: * ENABLED UTF8=ACCEPT
        S: h2 OK ENABLE completed
        C: h3 LIST "" "Ä*"
        S: * LIST (\HasNoChildren) "." "Äpfel"
        S: h3 OK LIST completed
        C: h4 CREATE "Birnen/Kerne"
        S: h4 NO [CANNOT] Invalid mailbox name
        C: h5 CREATE "Birnen.Kerne"
        S: h5 OK [MAILBOXID (ID)] CREATE completed
        C: h6 LIST "" "B*" RETURN (CHILDREN SPECIAL-USE)
        S: * LIST (\NonExistent \Noselect \HasChildren) "." Birnen
        S: * LIST (\HasNoChildren) "." Birnen.Kerne
        S: h6 OK LIST completed
        C: h7 APPEND "Äpfel" (\Seen) {14+}
        C: Subject: one
        C:  (\Flagged) {14+}
        C: Subject: two
        C: 
        S: h7 OK [APPENDUID V 1:2] APPEND completed
        C: h8 SELECT "Äpfel"
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 2 EXISTS
        S: * 2 RECENT
        S: * OK [UNSEEN 2] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 3] Predicted next UID
        S: * OK [HIGHESTMODSEQ 3] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: h8 OK [READ-WRITE] SELECT completed
        C: h9 SEARCH YOUNGER 3600
        S: * SEARCH 1 2
        S: h9 OK SEARCH completed
        C: h10 SEARCH OLDER 3600
        S: * SEARCH
        S: h10 OK SEARCH completed
        C: h11 UID SEARCH RETURN (COUNT) FLAGGED
        S: * ESEARCH (TAG "h11") UID COUNT 1
        S: h11 OK SEARCH completed
        C: h12 FETCH 1:2 (FLAGS)
        S: * 1 FETCH (FLAGS (\Recent \Seen))
        S: * 2 FETCH (FLAGS (\Recent \Flagged))
        S: h12 OK FETCH completed
        """#, fixture: fixture)
    }

    @Test func imap4rev2() throws {
        let fixture = try EngineFixture()
        Transcript.check(#"""
        C: i1 ENABLE IMAP4rev2
        S: * ENABLED IMAP4rev2
        S: i1 OK ENABLE completed
        C: i2 CREATE "Bücher"
        S: i2 OK [MAILBOXID (ID)] CREATE completed
        C: i3 LIST "" "B*"
        S: * LIST (\HasNoChildren) "." "Bücher"
        S: i3 OK LIST completed
        C: i4 SELECT INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 3 EXISTS
        S: * LIST () "." INBOX
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 4] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: i4 OK [READ-WRITE] SELECT completed
        C: i5 SEARCH FROM alice
        S: * ESEARCH (TAG "i5") ALL 1
        S: i5 OK SEARCH completed
        C: i6 UID SEARCH NOT ALL
        S: * ESEARCH (TAG "i6") UID
        S: i6 OK SEARCH completed
        C: i7 FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[1])
        S: * 2 FETCH (BINARY[1] {7}
        S: Grüße BINARY.SIZE[1] 7)
        S: i7 OK FETCH completed
        C: i8 EXAMINE "Bücher"
        S: * OK [CLOSED] Previous mailbox closed
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 0 EXISTS
        S: * LIST () "." "Bücher"
        S: * OK [PERMANENTFLAGS ()] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 1] Predicted next UID
        S: * OK [HIGHESTMODSEQ 1] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: i8 OK [READ-ONLY] EXAMINE completed
        C: i9 SELECT Sent
        S: * OK [CLOSED] Previous mailbox closed
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 0 EXISTS
        S: * LIST (\Sent) "." Sent
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 1] Predicted next UID
        S: * OK [HIGHESTMODSEQ 1] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: i9 OK [READ-WRITE] SELECT completed
        C: i10 STATUS "Bücher" (MESSAGES SIZE DELETED)
        S: * STATUS "Bücher" (MESSAGES 0 SIZE 0 DELETED 0)
        S: i10 OK STATUS completed
        """#, fixture: fixture)
    }

    @Test func listExtendedSubscriptions() throws {
        let fixture = try EngineFixture()
        Transcript.check(#"""
        C: j1 CREATE Lists.Work
        S: j1 OK [MAILBOXID (ID)] CREATE completed
        C: j2 CREATE Lists.Home
        S: j2 OK [MAILBOXID (ID)] CREATE completed
        C: j3 SUBSCRIBE Lists.Work
        S: j3 OK SUBSCRIBE completed
        C: j4 SUBSCRIBE Gone
        S: j4 OK SUBSCRIBE completed
        C: j5 LIST (SUBSCRIBED) "" "*"
        S: * LIST (\HasNoChildren \Archive \Subscribed) "." Archive
        S: * LIST (\HasNoChildren \Drafts \Subscribed) "." Drafts
        S: * LIST (\NonExistent \Noselect \HasNoChildren \Subscribed) "." Gone
        S: * LIST (\HasNoChildren \Junk \Subscribed) "." Junk
        S: * LIST (\HasNoChildren \Subscribed) "." Lists.Work
        S: * LIST (\HasNoChildren \Sent \Subscribed) "." Sent
        S: * LIST (\HasNoChildren \Trash \Subscribed) "." Trash
        S: j5 OK LIST completed
        C: j6 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"
        S: * LIST (\HasNoChildren \Archive \Subscribed) "." Archive
        S: * LIST (\HasNoChildren \Drafts \Subscribed) "." Drafts
        S: * LIST (\NonExistent \Noselect \HasNoChildren \Subscribed) "." Gone
        S: * LIST (\HasNoChildren \Junk \Subscribed) "." Junk
        S: * LIST (\NonExistent \Noselect \HasChildren) "." Lists ("CHILDINFO" ("SUBSCRIBED"))
        S: * LIST (\HasNoChildren \Sent \Subscribed) "." Sent
        S: * LIST (\HasNoChildren \Trash \Subscribed) "." Trash
        S: j6 OK LIST completed
        C: j7 LIST (RECURSIVEMATCH) "" "%"
        S: j7 BAD RECURSIVEMATCH needs another selection option
        C: j8 LIST "" ("Lists.*" "INBOX") RETURN (SUBSCRIBED CHILDREN)
        S: * LIST (\HasNoChildren) "." INBOX
        S: * LIST (\HasNoChildren) "." Lists.Home
        S: * LIST (\HasNoChildren \Subscribed) "." Lists.Work
        S: j8 OK LIST completed
        C: j9 LIST "Lists." "%"
        S: * LIST (\HasNoChildren) "." Lists.Home
        S: * LIST (\HasNoChildren) "." Lists.Work
        S: j9 OK LIST completed
        C: j10 LSUB "" "*"
        S: * LSUB () "." Sent
        S: * LSUB () "." Drafts
        S: * LSUB () "." Trash
        S: * LSUB () "." Junk
        S: * LSUB () "." Archive
        S: * LSUB () "." Lists.Work
        S: * LSUB (\Noselect) "." Gone
        S: j10 OK LSUB completed
        """#, fixture: fixture)
    }

    @Test func renameInbox() throws {
        let fixture = try EngineFixture()
        Transcript.check(#"""
        C: k1 SELECT INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 3 EXISTS
        S: * 3 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 4] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: k1 OK [READ-WRITE] SELECT completed
        C: k2 STORE 1 +FLAGS (\Flagged)
        S: * 1 FETCH (FLAGS (\Recent \Flagged))
        S: k2 OK STORE completed
        C: k3 RENAME INBOX Old
        S: * 1 EXPUNGE
        S: * 1 EXPUNGE
        S: * 1 EXPUNGE
        S: k3 OK RENAME completed
        C: k4 NOOP
        S: k4 OK NOOP completed
        C: k5 STATUS Old (MESSAGES)
        S: * STATUS Old (MESSAGES 3)
        S: k5 OK STATUS completed
        C: k6 RENAME INBOX Sent
        S: k6 NO [ALREADYEXISTS] Mailbox exists
        C: k7 RENAME Old INBOX
        S: k7 NO [ALREADYEXISTS] INBOX exists
        C: k8 RENAME Old Old.Inner
        S: k8 NO [CANNOT] Invalid mailbox name
        """#, fixture: fixture)
    }

    @Test func commandsBeforeLoginAreLimited() throws {
        let fixture = try EngineFixture(preauth: false) { $0.maxCommandsBeforeLogin = 3 }
        Transcript.check(#"""
        C: l1 NOOP
        S: l1 OK NOOP completed
        C: l2 NOOP
        S: l2 OK NOOP completed
        C: l3 NOOP
        S: l3 OK NOOP completed
        C: l4 NOOP
        S: * BYE Too many commands before login
        """#, fixture: fixture)
        #expect(fixture.session.isFinished)
    }

    @Test func binaryFetchAndAppend() throws {
        let fixture = try EngineFixture(messages: [
            "Subject: bin\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=Z\n\n--Z\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nYWJj\n--Z\nContent-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n--Z\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAEC\n--Z--\n",
        ])
        Transcript.check(#"""
        C: m1 SELECT INBOX
        S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
        S: * 1 EXISTS
        S: * 1 RECENT
        S: * OK [UNSEEN 1] First unseen
        S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted
        S: * OK [UIDVALIDITY V] UIDs valid
        S: * OK [UIDNEXT 2] Predicted next UID
        S: * OK [HIGHESTMODSEQ 2] Highest
        S: * OK [MAILBOXID (ID)] Ok
        S: m1 OK [READ-WRITE] SELECT completed
        C: m2 FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])
        S: * 1 FETCH (BINARY.SIZE[1] 3 BINARY[1] {3}
        S: abc)
        S: m2 OK FETCH completed
        C: m3 FETCH 1 BINARY.PEEK[2]
        S: m3 NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding
        C: m4 FETCH 1 BINARY.PEEK[4]
        S: * 1 FETCH (BINARY[4] NIL)
        S: m4 OK FETCH completed
        C: m5 APPEND INBOX ~{5+}
        C: abc
        C: 
        S: * 2 EXISTS
        S: * 2 RECENT
        S: m5 OK [APPENDUID V 2] APPEND completed
        """#, fixture: fixture)
        // A literal8 may hold NUL and is stored as it is (RFC 3516 §4.4); a plain literal may
        // not (CHAR8 excludes NUL): NO [UNKNOWN-CTE].
        #expect(Transcript.normalise(fixture.send("m6 APPEND INBOX ~{3+}\r\na\u{0}b"))
                == "* 3 EXISTS\n* 3 RECENT\nm6 OK [APPENDUID V 3] APPEND completed\n")
        #expect(fixture.send("m6a FETCH 3 BINARY[]") == "* 3 FETCH (BINARY[] ~{3}\r\na\u{0}b FLAGS (\\Recent \\Seen))\r\nm6a OK FETCH completed\r\n")
        #expect(fixture.send("m6b APPEND INBOX {3+}\r\na\u{0}b") == "m6b NO [UNKNOWN-CTE] Message contains NUL\r\n")
        // NUL octets go out as a literal8 (RFC 3516 §4.2).
        #expect(fixture.send("m7 FETCH 1 BINARY.PEEK[3]") == "* 1 FETCH (BINARY[3] ~{3}\r\n\u{0}\u{1}\u{2})\r\nm7 OK FETCH completed\r\n")
    }
}

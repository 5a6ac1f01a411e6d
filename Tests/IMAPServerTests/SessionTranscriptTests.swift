import Foundation
import Testing
@testable import IMAPServer

@Suite struct SessionTranscriptTests {
    @Test func authenticatedStateCommands() throws {
        let fixture = try EngineFixture()
        Transcript.check(#"""
        C: a1 CAPABILITY
        S: * CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES WITHIN CONDSTORE SORT SORT=DISPLAY STATUS=SIZE MULTIAPPEND
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
        S: a7 OK CREATE completed
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
        S: * STATUS INBOX (MESSAGES 3 RECENT 0 UIDNEXT 4 UNSEEN 3 DELETED 0 SIZE 739)
        S: a22 OK STATUS completed
        C: a23 STATUS Nope (MESSAGES)
        S: a23 NO [NONEXISTENT] No such mailbox
        C: a24 ENABLE CONDSTORE
        S: * ENABLED CONDSTORE
        S: a24 OK ENABLE completed
        C: a25 CREATE "&AOQ-pfel"
        S: a25 OK CREATE completed
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
}

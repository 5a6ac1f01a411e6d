import Foundation
import Testing
@testable import IMAPEngine

/// CREATE with a USE list (RFC 6154 §3, CREATE-SPECIAL-USE): the use is stored and LIST shows
/// it; an unknown use, a virtual one (\All, \Flagged), or one another mailbox already has, is
/// refused with NO [USEATTR] and nothing is created. RENAME carries the use, DELETE drops it.
@Suite struct CreateSpecialUseTests {
    @Test func createWithUse() throws {
        let fixture = try EngineFixture()
        // The default folders exist from the first login (Sent, Drafts, Trash, Junk, Archive).
        Transcript.check(#"""
        C: u1 DELETE Archive
        S: u1 OK DELETE completed
        C: u2 CREATE "Old Mail" (USE (\Archive))
        S: u2 OK [MAILBOXID (ID)] CREATE completed
        C: u3 LIST "" "Old Mail"
        S: * LIST (\HasNoChildren \Archive) "." "Old Mail"
        S: u3 OK LIST completed
        C: u4 CREATE "Some Other Junk" (USE (\Junk))
        S: u4 NO [USEATTR] Mailbox not created; Junk is already the \Junk mailbox
        C: u5 CREATE Important (USE (\Important))
        S: u5 NO [USEATTR] Mailbox not created; special use \Important is not supported
        C: u6 CREATE Everything (USE (\All))
        S: u6 NO [USEATTR] Mailbox not created; special use \All is not supported
        C: u7 CREATE Starred (USE (\Flagged))
        S: u7 NO [USEATTR] Mailbox not created; special use \Flagged is not supported
        C: u8 CREATE Bogus (USE (\Archive))
        S: u8 NO [USEATTR] Mailbox not created; Old Mail is already the \Archive mailbox
        C: u9 LIST "" "*" RETURN (SPECIAL-USE)
        S: * LIST (\HasNoChildren) "." INBOX
        S: * LIST (\HasNoChildren \Drafts) "." Drafts
        S: * LIST (\HasNoChildren \Junk) "." Junk
        S: * LIST (\HasNoChildren \Archive) "." "Old Mail"
        S: * LIST (\HasNoChildren \Sent) "." Sent
        S: * LIST (\HasNoChildren \Trash) "." Trash
        S: u9 OK LIST completed
        C: u10 RENAME "Old Mail" "Older Mail"
        S: u10 OK RENAME completed
        C: u11 LIST (SPECIAL-USE) "" "*"
        S: * LIST (\HasNoChildren \Drafts) "." Drafts
        S: * LIST (\HasNoChildren \Junk) "." Junk
        S: * LIST (\HasNoChildren \Archive) "." "Older Mail"
        S: * LIST (\HasNoChildren \Sent) "." Sent
        S: * LIST (\HasNoChildren \Trash) "." Trash
        S: u11 OK LIST completed
        C: u12 DELETE "Older Mail"
        S: u12 OK DELETE completed
        C: u13 CREATE "Older Mail"
        S: u13 OK [MAILBOXID (ID)] CREATE completed
        C: u14 LIST "" "Older Mail"
        S: * LIST (\HasNoChildren) "." "Older Mail"
        S: u14 OK LIST completed
        C: u15 CREATE Both (USE (\Archive \Archive))
        S: u15 OK [MAILBOXID (ID)] CREATE completed
        C: u16 LIST "" Both
        S: * LIST (\HasNoChildren \Archive) "." Both
        S: u16 OK LIST completed
        C: u17 CREATE Plain (USE ())
        S: u17 OK [MAILBOXID (ID)] CREATE completed
        """#, fixture: fixture)
        for refused in ["Some Other Junk", "Important", "Everything", "Starred", "Bogus"] {
            #expect(!FileManager.default.fileExists(atPath: "\(fixture.root)/Maildir/.\(refused)"), "\(refused) was created")
        }
        let stored = try String(contentsOfFile: "\(fixture.root)/Maildir/postamt-specialuse", encoding: .utf8)
        #expect(stored == "\\Archive\tBoth\n")
    }

    @Test func capabilityIsAdvertised() throws {
        let fixture = try EngineFixture()
        #expect(fixture.send("c CAPABILITY").contains(" CREATE-SPECIAL-USE "))
    }
}

extension CreateSpecialUseTests {
    /// The default folders come back at the next login; the folder CREATE gave the use to keeps
    /// it, and the recreated default is listed without it.
    @Test func aDeletedDefaultFolderStaysDeletedAndTheChosenOneKeepsTheUse() throws {
        let fixture = try EngineFixture()
        #expect(fixture.send("a DELETE Junk").hasPrefix("a OK"))
        #expect(fixture.send("b CREATE Spam (USE (\\Junk))").hasPrefix("b OK"))
        let again = IMAPSession(preauthenticatedUser: "tester", maildirPath: fixture.root + "/Maildir",
                                configuration: IMAPSessionConfiguration())
        let list = String(decoding: again.receive(Array("c LIST (SPECIAL-USE) \"\" \"*\"\r\n".utf8)), as: UTF8.self)
        #expect(list.contains("* LIST (\\HasNoChildren \\Junk) \".\" Spam\r\n"), "\(list)")
        #expect(!list.contains("\" Junk\r\n"), "\(list)") // created at the first login only
        let create = String(decoding: again.receive(Array("d CREATE More (USE (\\Junk))\r\n".utf8)), as: UTF8.self)
        #expect(create == "d NO [USEATTR] Mailbox not created; Spam is already the \\Junk mailbox\r\n")
    }

    @Test func anUnsubscribedDefaultFolderStaysUnsubscribed() throws {
        let fixture = try EngineFixture()
        #expect(fixture.send("a UNSUBSCRIBE Trash").hasPrefix("a OK"))
        let again = IMAPSession(preauthenticatedUser: "tester", maildirPath: fixture.root + "/Maildir",
                                configuration: IMAPSessionConfiguration())
        let lsub = String(decoding: again.receive(Array("b LSUB \"\" \"*\"\r\n".utf8)), as: UTF8.self)
        #expect(lsub.contains(" Sent\r\n"), "\(lsub)")
        #expect(!lsub.contains(" Trash\r\n"), "\(lsub)")
    }
}

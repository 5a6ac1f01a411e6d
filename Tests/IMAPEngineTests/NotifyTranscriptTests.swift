import Foundation
import Testing
@testable import IMAPEngine

/// NOTIFY (RFC 5465): what NOTIFY SET answers, and the unsolicited responses the session sends
/// when the host wakes it (`idleCheck()`) outside IDLE after a delivery.
@Suite struct NotifyTranscriptTests {
    /// A delivery into `folder` ("" for INBOX) as postamt-local makes it: tmp/, then new/.
    static func deliver(_ fixture: EngineFixture, folder: String, name: String, _ text: String) throws {
        let dir = fixture.root + "/Maildir" + (folder.isEmpty ? "" : "/.\(folder)")
        try text.write(toFile: "\(dir)/tmp/\(name)", atomically: false, encoding: .utf8)
        try FileManager.default.moveItem(atPath: "\(dir)/tmp/\(name)", toPath: "\(dir)/new/\(name)")
    }

    @Test func selectedAndPersonal() throws {
        let fixture = try EngineFixture()
        #expect(fixture.send("n0 CREATE Lists").contains("n0 OK"))
        #expect(fixture.send("n1 SELECT INBOX").contains("n1 OK"))
        Transcript.check("""
        C: n2 NOTIFY SET STATUS (selected (MessageNew MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge FlagChange))
        S: * STATUS Archive (MESSAGES 0 UIDNEXT 1 UNSEEN 0)
        S: * STATUS Drafts (MESSAGES 0 UIDNEXT 1 UNSEEN 0)
        S: * STATUS Junk (MESSAGES 0 UIDNEXT 1 UNSEEN 0)
        S: * STATUS Lists (MESSAGES 0 UIDNEXT 1 UNSEEN 0)
        S: * STATUS Sent (MESSAGES 0 UIDNEXT 1 UNSEEN 0)
        S: * STATUS Trash (MESSAGES 0 UIDNEXT 1 UNSEEN 0)
        S: n2 OK NOTIFY completed
        """, fixture: fixture)
        #expect(fixture.session.isNotifying)
        #expect(fixture.session.watchedDirectories.contains(fixture.root + "/Maildir/.Lists/new"))
        // Nothing changed: nothing to say.
        #expect(fixture.session.idleCheck().isEmpty)
        try Self.deliver(fixture, folder: "", name: "1800000000.M1P1.test", "Subject: new\n\nnew\n")
        try Self.deliver(fixture, folder: "Lists", name: "1800000001.M2P1.test", "Subject: list\n\nlist\n")
        let woken = Transcript.normalise(String(decoding: fixture.session.idleCheck(), as: UTF8.self))
        #expect(woken == "* 4 EXISTS\n* 4 RECENT\n* STATUS Lists (MESSAGES 1 UIDNEXT 2 UNSEEN 1)\n")
        // A flag set in another folder by another session: FlagChange → STATUS UNSEEN.
        let other = fixture.anotherSession()
        #expect(other.send("o1 SELECT Lists").contains("o1 OK"))
        #expect(other.send("o2 STORE 1 +FLAGS (\\Seen)").contains("o2 OK"))
        let flagged = Transcript.normalise(String(decoding: fixture.session.idleCheck(), as: UTF8.self))
        #expect(flagged == "* STATUS Lists (UNSEEN 0)\n")
        // A flag change in the selected mailbox: FETCH FLAGS, as IDLE sends it.
        _ = other.send("o3 SELECT INBOX")
        #expect(other.send("o4 STORE 1 +FLAGS (\\Flagged)").contains("o4 OK"))
        let changed = String(decoding: fixture.session.idleCheck(), as: UTF8.self)
        #expect(changed.hasPrefix("* 1 FETCH (") && changed.contains("\\Flagged"), "\(changed)")
        Transcript.check("""
        C: n3 NOTIFY NONE
        S: n3 OK NOTIFY completed
        """, fixture: fixture)
        #expect(!fixture.session.isNotifying)
        try Self.deliver(fixture, folder: "Lists", name: "1800000002.M3P1.test", "Subject: quiet\n\nquiet\n")
        #expect(fixture.session.idleCheck().isEmpty, "no STATUS once NOTIFY NONE")
    }

    @Test func refusals() throws {
        let fixture = try EngineFixture()
        Transcript.check("""
        C: r1 NOTIFY SET (selected (MailboxName))
        S: r1 NO [BADEVENT (MessageNew MessageExpunge FlagChange)] MailboxName is not supported
        C: r2 NOTIFY SET (personal (SubscriptionChange))
        S: r2 NO [BADEVENT (MessageNew MessageExpunge FlagChange)] SubscriptionChange is not supported
        C: r3 NOTIFY SET (selected (MessageNew (UID) MessageExpunge))
        S: r3 NO [BADEVENT (MessageNew MessageExpunge FlagChange)] MessageNew with fetch attributes is not supported
        C: r4 NOTIFY SET (selected (FlagChange))
        S: r4 BAD FlagChange requires MessageNew and MessageExpunge
        C: r5 NOTIFY SET (inboxes (MessageNew))
        S: r5 BAD MessageNew and MessageExpunge must be requested together
        C: r6 NOTIFY SET (subtree Lists (MessageNew MessageExpunge))
        S: r6 BAD Only the selected, inboxes and personal mailbox filters are supported
        C: r7 NOTIFY SET (selected (MessageNew MessageExpunge)) (inboxes (MessageNew MessageExpunge))
        S: r7 OK NOTIFY completed
        """, fixture: fixture)
        #expect(fixture.session.isNotifying)
        // Only INBOX is watched (no STATUS indicator: nothing said at SET).
        #expect(fixture.session.watchedDirectories == [fixture.root + "/Maildir/new", fixture.root + "/Maildir/cur"])
        // INBOX is not selected: a delivery there is a STATUS.
        try Self.deliver(fixture, folder: "", name: "1800000000.M1P1.test", "Subject: new\n\nnew\n")
        let woken = Transcript.normalise(String(decoding: fixture.session.idleCheck(), as: UTF8.self))
        #expect(woken == "* STATUS INBOX (MESSAGES 4 UIDNEXT 5 UNSEEN 4)\n")
    }

    @Test func beforeLogin() throws {
        let fixture = try EngineFixture(preauth: false)
        #expect(fixture.send("a NOTIFY NONE").hasPrefix("a BAD"))
    }
}

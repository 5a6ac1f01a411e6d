import Testing
@testable import MailDelivery

@Suite struct DeliveryFileTests {
    @Test func dotQmailLines() throws {
        let parsed = try DeliveryFile.parseDotQmail("""
        # comment
        ./Maildir/
        ./mbox
        /var/mail/alice
        |/usr/bin/vacation alice
        &bob@example.org
        carol@example.org

        """, home: "/home/alice").get()
        #expect(parsed == [.maildir("/home/alice/./Maildir/"), .mbox("/home/alice/./mbox"), .mbox("/var/mail/alice"),
                           .program("/usr/bin/vacation alice"), .forward("bob@example.org"), .forward("carol@example.org")])
    }

    @Test func dotQmailErrors() {
        if case .success = DeliveryFile.parseDotQmail("|\n", home: "/h") { Issue.record("empty program accepted") }
        if case .success = DeliveryFile.parseDotQmail("&bad address\n", home: "/h") { Issue.record("bad forward accepted") }
        if case .success = DeliveryFile.parseDotQmail("?what\n", home: "/h") { Issue.record("unknown line accepted") }
    }

    @Test func forwardFile() throws {
        let parsed = try DeliveryFile.parseForward("\\alice, bob@example.org\n\"|/usr/bin/procmail -f-\"\n/home/alice/Mail/\n", home: "/home/alice", user: "alice").get()
        #expect(parsed == [.defaultMailbox, .forward("bob@example.org"), .program("/usr/bin/procmail -f-"), .maildir("/home/alice/Mail/")])
        if case .success = DeliveryFile.parseForward(":include:/etc/x\n", home: "/h", user: "u") { Issue.record(":include: in .forward accepted") }
    }

    @Test(arguments: [(Int32(0), DeliveryFile.ProgramResult.success), (99, .successStop), (100, .permanent),
                      (111, .temporary), (64, .permanent), (1, .temporary), (75, .temporary)])
    func qmailExitCodes(code: Int32, result: DeliveryFile.ProgramResult) {
        #expect(DeliveryFile.programResult(exitCode: code) == result)
    }

    @Test func mboxQuoting() {
        let out = MboxDelivery.quoteFromLines(Array("From a@x date\nbody\nFrom here\n>From there\nFromage\n".utf8))
        #expect(String(decoding: out, as: UTF8.self) == "From a@x date\nbody\n>From here\n>>From there\nFromage\n")
    }
}

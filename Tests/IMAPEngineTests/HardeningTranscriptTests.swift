import Foundation
import Testing
@testable import IMAPEngine

/// Before login, invalid commands (answered BAD: bad syntax, unknown, or not allowed yet)
/// end the connection once there are `maxInvalidCommandsBeforeLogin` of them, with Dovecot's
/// words; valid ones do not count, and after login there is no such limit.
struct HardeningTranscriptTests {
    @Test func invalidCommandsBeforeLoginAreCounted() throws {
        let fixture = try EngineFixture(preauth: false) { $0.allowPlaintextAuth = true }
        Transcript.check(#"""
        C: h1 NOOP
        S: h1 OK NOOP completed
        C: h2 FOO
        S: h2 BAD Unknown command FOO
        C: h3 SELECT INBOX
        S: h3 BAD Log in first
        C: h4 CAPABILITY
        S: * CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL- SASL-IR ID ENABLE IDLE AUTH=PLAIN AUTH=LOGIN
        S: h4 OK CAPABILITY completed
        C: h5 LOGIN
        S: h5 BAD Expected a space
        S: * BYE Too many invalid IMAP commands.
        """#, fixture: fixture)
        #expect(fixture.session.isFinished)
    }

    @Test func theLimitIsASettingAndEndsAtLogin() throws {
        let fixture = try EngineFixture(preauth: false) {
            $0.allowPlaintextAuth = true
            $0.maxInvalidCommandsBeforeLogin = 2
        }
        Transcript.check(#"""
        C: h1 FOO
        S: h1 BAD Unknown command FOO
        C: h2 LOGIN tester secret
        S: h2 OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES WITHIN CONDSTORE SORT SORT=DISPLAY STATUS=SIZE STATUS=DELETED MULTIAPPEND UTF8=ACCEPT BINARY APPENDLIMIT=67108864 QRESYNC OBJECTID SAVEDATE REPLACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES PREVIEW NOTIFY] Logged in
        C: h3 FOO
        S: h3 BAD Unknown command FOO
        C: h4 BAR
        S: h4 BAD Unknown command BAR
        C: h5 NOOP
        S: h5 OK NOOP completed
        """#, fixture: fixture)
        #expect(!fixture.session.isFinished)
    }
}

import Testing
@testable import SMTPProtocol

/// The engine contract (issue 15): a password is checked by the host, asked for with an
/// `authenticate` event; the engine reads nothing more until the answer.
@Suite("SMTP engine contract: authentication is a request the host answers")
struct SMTPEngineContractTests {
    func session() -> SMTPSession {
        SMTPSession(configuration: makeConfiguration(.submission) { $0.allowsPlaintextAuthentication = true },
                          connection: SMTPConnectionInfo(peerAddress: "192.0.2.1"), policy: TestPolicy())
    }

    @Test("pipelined commands behind AUTH wait for the answer, then run in order")
    func pipelinedAfterAuth() {
        let session = session()
        _ = session.start()
        let events = session.feed(Array("EHLO c\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<alice@example.org>\r\n".utf8))
        #expect(events.last == .authenticate(SMTPAuthenticationRequest(user: "alice", password: Array("secret".utf8), mechanism: "PLAIN")))
        let sent = events.compactMap { if case .send(let b) = $0 { String(decoding: b, as: UTF8.self) } else { nil } }.joined()
        #expect(!sent.contains("235") && !sent.contains("2.1.0"), "nothing after AUTH is answered before the host: \(sent)")
        #expect(session.feed(Array("RCPT TO:<bob@example.org>\r\n".utf8)).isEmpty)
        let after = session.authenticationAnswered(.success)
        let replies = after.compactMap { if case .send(let b) = $0 { String(decoding: b, as: UTF8.self) } else { nil } }.joined()
        #expect(replies == "235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n")
        #expect(session.facts.authenticatedUser == "alice")
    }

    @Test("a failed or unavailable answer: 535 or 454, the user stays anonymous; a stray answer changes nothing")
    func failedAnswers() {
        let session = session()
        _ = session.start()
        #expect(session.authenticationAnswered(.success).isEmpty)
        _ = session.feed(Array("EHLO c\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\n".utf8))
        let failed = session.authenticationAnswered(.failure)
        #expect(failed.contains(.send(Array("535 5.7.8 Authentication credentials invalid\r\n".utf8))))
        _ = session.feed(Array("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n".utf8))
        #expect(session.authenticationAnswered(.temporaryFailure).contains(.send(Array("454 4.7.0 Temporary authentication failure\r\n".utf8))))
        #expect(session.facts.authenticatedUser == nil)
    }

    @Test("the request's description never shows the password")
    func requestHidesPassword() {
        let request = SMTPAuthenticationRequest(user: "alice", password: Array("hunter2".utf8), mechanism: "LOGIN")
        let shown = "\(SMTPEvent.authenticate(request))"
        #expect(!shown.contains("hunter2") && !shown.contains("104, 117"), "\(shown)")
        #expect(shown.contains("alice"))
    }
}

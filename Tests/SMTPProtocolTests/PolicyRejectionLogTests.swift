import Testing
@testable import SMTPProtocol

/// A policy's refusal is one log line with the client and the whole reply, Postfix-like, so a
/// greylisting, a DNS list or a sending limit shows in the log with its reason.
@Suite("policy refusals in the log")
struct PolicyRejectionLogTests {
    @Test func reasonIsLogged() {
        let session = SMTPSession(configuration: makeConfiguration(), connection: SMTPConnectionInfo(peerAddress: "192.0.2.1"),
                                        policy: TestPolicy())
        _ = session.start()
        _ = session.feed(Array("HELO client.example\r\n".utf8))
        let mail = session.feed(Array("MAIL FROM:<spammer@bad.example>\r\n".utf8))
        #expect(mail.contains(.log("NOQUEUE: reject: MAIL from unknown[192.0.2.1]: 550 5.7.1 Sender rejected; from=<spammer@bad.example> proto=SMTP helo=<client.example>")))
        _ = session.feed(Array("MAIL FROM:<ok@remote.example>\r\n".utf8))
        let rcpt = session.feed(Array("RCPT TO:<blocked@example.org>\r\n".utf8))
        #expect(rcpt.filter { if case .log = $0 { true } else { false } }
                == [.log("NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 550 5.7.2 Mailbox disabled; from=<ok@remote.example> to=<blocked@example.org> proto=SMTP helo=<client.example>")])
    }
}

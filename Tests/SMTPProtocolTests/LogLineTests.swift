import Testing
@testable import SMTPProtocol

/// The engine's log lines in the shapes Postfix's smtpd writes, which pflogsumm and fail2ban
/// read: a received message is "ID: client=…", a policy refusal "NOQUEUE: reject: …", and
/// every session ends with "disconnect from …".
@Suite("SMTP server log lines in Postfix's shapes")
struct LogLineTests {
    @Test func receivedRefusedAndDisconnected() {
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<spammer@bad.example>
            S: 550 5.7.1 Sender rejected
            C: MAIL FROM:<sender@remote.example>
            S: 250 2.1.0 Ok
            C: RCPT TO:<nobody@example.org>
            S: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown
            C: RCPT TO:<someone@elsewhere.example>
            S: 554 5.7.1 <someone@elsewhere.example>: Relay access denied
            C: RCPT TO:<alice@example.org>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            C: Subject: hi
            C: .
            S: 250 2.0.0 Ok: queued as 1A2B3C
            C: QUIT
            S: 221 2.0.0 mx.example.org closing connection
            """#)
        let peer = "client.example[192.0.2.1]"
        #expect(run.logs == [
            "connect from \(peer) role=mx",
            "ehlo client.example from \(peer)",
            "NOQUEUE: reject: MAIL from \(peer): 550 5.7.1 Sender rejected; from=<spammer@bad.example> proto=ESMTP helo=<client.example>",
            "mail from=<sender@remote.example>",
            "NOQUEUE: reject: RCPT from \(peer): 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown; "
                + "from=<sender@remote.example> to=<nobody@example.org> proto=ESMTP helo=<client.example>",
            "NOQUEUE: reject: RCPT from \(peer): 554 5.7.1 <someone@elsewhere.example>: Relay access denied; "
                + "from=<sender@remote.example> to=<someone@elsewhere.example> proto=ESMTP helo=<client.example>",
            "rcpt to=<alice@example.org> accepted",
            "1A2B3C: client=\(peer)",
            "disconnect from \(peer) after QUIT",
        ])
    }

    @Test func filterRefusalIsAnEndOfMessageReject() {
        let run = runTranscript(#"""
            \#(greeting)
            C: HELO client.example
            S: 250 mx.example.org
            C: MAIL FROM:<sender@remote.example>
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.org>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            C: .
            S: 550 5.7.1 spam score 12.5 (#5.7.1)
            """#, queueResults: [.permanentFailure("spam score 12.5 (#5.7.1)", enhancedCode: "5.7.1")])
        #expect(run.logs.contains("NOQUEUE: reject: END-OF-MESSAGE from client.example[192.0.2.1]: 550 5.7.1 spam score 12.5 (#5.7.1); "
                                  + "from=<sender@remote.example> to=<alice@example.org> proto=SMTP helo=<client.example>"))
    }
}

import Testing
@testable import SMTPProtocol

let greeting = "S: 220 mx.example.org ESMTP Postamt"
/// The EHLO reply of an MX with a certificate, before STARTTLS.
let ehloMX = """
    S: 250-mx.example.org
    S: 250-PIPELINING
    S: 250-SIZE 52428800
    S: 250-8BITMIME
    S: 250-SMTPUTF8
    S: 250-ENHANCEDSTATUSCODES
    S: 250-CHUNKING
    S: 250-DSN
    S: 250 STARTTLS
    """
/// The EHLO reply inside TLS with AUTH offered.
let ehloTLSWithAuth = """
    S: 250-mx.example.org
    S: 250-PIPELINING
    S: 250-SIZE 52428800
    S: 250-8BITMIME
    S: 250-SMTPUTF8
    S: 250-ENHANCEDSTATUSCODES
    S: 250-CHUNKING
    S: 250-DSN
    S: 250-REQUIRETLS
    S: 250 AUTH PLAIN LOGIN
    """

@Suite("SMTP server golden transcripts")
struct ServerTranscriptTests {
    @Test("a complete delivery with dot-stuffing", arguments: FeedMode.allCases)
    func delivery(mode: FeedMode) {
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<sender@remote.example> SIZE=100 BODY=8BITMIME
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.org>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            E: begin <sender@remote.example> alice@example.org
            C: Subject: hi
            C:
            C: ..leading dot
            C: .
            E: data Subject: hi\n\n.leading dot\n
            E: end
            S: 250 2.0.0 Ok: queued as 1A2B3C
            C: QUIT
            S: 221 2.0.0 mx.example.org closing connection
            E: close
            """#, mode: mode)
        #expect(run.messages == [Array("Subject: hi\n\n.leading dot\n".utf8)])
        #expect(run.logs.contains("mail from=<sender@remote.example> size=100"))
        #expect(!run.logs.contains { $0.contains("leading dot") || $0.contains("Subject") })
    }

    @Test("pipelined transaction in one feed (RFC 2920)")
    func pipelining() {
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<sender@remote.example>
            C: RCPT TO:<alice@example.org>
            C: RCPT TO:<nobody@example.org>
            C: RCPT TO:<bob@example.org>
            C: DATA
            C: Hello
            C: .
            C: MAIL FROM:<>
            C: RCPT TO:<Postmaster>
            C: DATA
            C: Bounce
            C: .
            C: QUIT
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown
            S: 250 2.1.5 Ok
            S: 354 End data with <CR><LF>.<CR><LF>
            S: 250 2.0.0 Ok: queued as 1A2B3C
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 354 End data with <CR><LF>.<CR><LF>
            S: 250 2.0.0 Ok: queued as 2B
            S: 221 2.0.0 mx.example.org closing connection
            E: begin <sender@remote.example> alice@example.org,bob@example.org
            E: data Hello\n
            E: end
            E: begin <> Postmaster
            E: data Bounce\n
            E: end
            E: close
            """#, queueResults: [.accepted(queueID: "1A2B3C"), .accepted(queueID: "2B")])
        #expect(run.messages.count == 2)
    }

    @Test("HELO session: plain SMTP, no parameters", arguments: FeedMode.allCases)
    func helo(mode: FeedMode) {
        runTranscript(#"""
            \#(greeting)
            C: HELO client.example
            S: 250 mx.example.org
            C: MAIL FROM:<a@remote.example> SIZE=10
            S: 555 5.5.4 Parameters need EHLO
            C: MAIL FROM:<a@remote.example>
            S: 250 2.1.0 Ok
            C: RSET
            S: 250 2.0.0 Ok
            C: HELO
            S: 501 5.5.4 Syntax: HELO hostname
            C: EHLO bad(name)
            S: 501 5.5.2 Invalid EHLO hostname
            C: QUIT
            S: 221 2.0.0 mx.example.org closing connection
            """#, mode: mode)
    }

    @Test("sequence, syntax and unknown-command errors", arguments: FeedMode.allCases)
    func errors(mode: FeedMode) {
        var configuration = makeConfiguration()
        configuration.limits.maximumErrors = 100
        configuration.limits.errorsBeforeDelay = 100
        runTranscript(#"""
            \#(greeting)
            C: MAIL FROM:<a@remote.example>
            S: 503 5.5.1 Bad sequence of commands: Send HELO/EHLO first
            C: FROB
            S: 500 5.5.1 Command unrecognized
            C:
            S: 500 5.5.1 Command unrecognized
            C: EHLO client.example
            \#(ehloMX)
            C: RCPT TO:<alice@example.org>
            S: 503 5.5.1 Bad sequence of commands: Need MAIL before RCPT
            C: DATA
            S: 503 5.5.1 Bad sequence of commands: Need MAIL command
            C: MAIL TO:<a@remote.example>
            S: 501 5.5.4 Syntax: MAIL FROM:<address>
            C: MAIL FROM:a@remote.example
            S: 501 5.1.7 Bad sender address syntax: path must start with <
            C: MAIL FROM:<a@remote.example> FROB=1
            S: 555 5.5.4 Unsupported MAIL parameter FROB
            C: MAIL FROM:<a@remote.example> BODY=BINARYMIME
            S: 555 5.5.4 BODY=BINARYMIME not supported
            C: MAIL FROM:<a@remote.example> BODY=8BITMIME BODY=7BIT
            S: 501 5.5.4 Duplicate MAIL parameter BODY
            C: MAIL FROM:<a@remote.example>SIZE=1
            S: 501 5.5.4 Syntax: space required after the address
            C: mail from: <a@remote.example> ret=hdrs envid=QQ+2B1 smtputf8
            S: 250 2.1.0 Ok
            C: MAIL FROM:<b@remote.example>
            S: 503 5.5.1 Bad sequence of commands: Sender already specified
            C: RCPT TO:<>
            S: 501 5.1.3 Bad recipient address syntax: null path <> not allowed here
            C: RCPT TO:<alice@example.org> NOTIFY=NEVER,SUCCESS
            S: 501 5.5.4 Syntax: NOTIFY=NEVER or NOTIFY=SUCCESS,FAILURE,DELAY
            C: RCPT TO:<alice@example.org> ORCPT=rfc822
            S: 501 5.5.4 Syntax: ORCPT=addr-type;xtext
            C: DATA
            S: 554 5.5.1 No valid recipients
            C: RCPT TO:<alice@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+40example.org
            S: 250 2.1.5 Ok
            C: DATA now
            S: 501 5.5.4 Syntax: DATA
            C: RSET now
            S: 501 5.5.4 Syntax: RSET
            C: RSET
            S: 250 2.0.0 Ok
            C: DATA
            S: 503 5.5.1 Bad sequence of commands: Need MAIL command
            C: QUIT
            S: 221 2.0.0 mx.example.org closing connection
            """#, configuration: configuration, mode: mode)
    }

    @Test("the envelope carries every parameter")
    func envelopeParameters() {
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<@relay.example,@other.example:a@remote.example> RET=FULL ENVID=ID+2B1 SIZE=20 BODY=7BIT
            S: 250 2.1.0 Ok
            C: RCPT TO:<alice@example.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;alice+40example.org
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            C: .
            S: 250 2.0.0 Ok: queued as 1A2B3C
            """#)
        guard case .messageBegin(let envelope)? = run.allEvents.first(where: { if case .messageBegin = $0 { true } else { false } }) else {
            Issue.record("no messageBegin")
            return
        }
        #expect(envelope.sender.text == "a@remote.example")
        #expect(envelope.dsnReturn == .full)
        #expect(envelope.envelopeID == "ID+2B1")
        #expect(envelope.declaredSize == 20)
        #expect(envelope.body == .sevenBit)
        #expect(envelope.recipients == [SMTPRecipient(mailbox: SMTPMailbox(localPart: "alice", domain: "example.org"),
                                                      notify: [.success, .delay], originalRecipient: "rfc822;alice+40example.org")])
        #expect(run.messages == [[]])
    }

    @Test("NOOP, HELP, VRFY and EXPN never reveal users", arguments: FeedMode.allCases)
    func informationCommands(mode: FeedMode) {
        runTranscript(#"""
            \#(greeting)
            C: NOOP
            S: 250 2.0.0 Ok
            C: NOOP anything at all
            S: 250 2.0.0 Ok
            C: HELP
            S: 214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH
            C: VRFY alice
            S: 252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery
            C: VRFY nobody
            S: 252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery
            C: VRFY
            S: 501 5.5.4 Syntax: VRFY address
            C: EXPN staff
            S: 502 5.5.1 EXPN not available
            """#, mode: mode)
        runTranscript(#"""
            \#(greeting)
            C: EXPN staff
            S: 252 2.5.0 Cannot EXPN, but will accept message and attempt delivery
            """#, configuration: makeConfiguration(.mx) { $0.expnReply = .cannotVerify })
    }

    @Test("recipient verdicts: relay, unknown, temporary, custom, postmaster", arguments: FeedMode.allCases)
    func recipients(mode: FeedMode) {
        let policy = TestPolicy()
        runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<a@remote.example>
            S: 250 2.1.0 Ok
            C: RCPT TO:<victim@elsewhere.example>
            S: 554 5.7.1 <victim@elsewhere.example>: Relay access denied
            C: RCPT TO:<victim@example.org.elsewhere.example>
            S: 554 5.7.1 <victim@example.org.elsewhere.example>: Relay access denied
            C: RCPT TO:<nobody@example.org>
            S: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown
            C: RCPT TO:<tempfail@example.org>
            S: 451 4.3.0 Lookup failed, try later
            C: RCPT TO:<blocked@example.org>
            S: 550 5.7.2 Mailbox disabled
            C: RCPT TO:<postmaster>
            S: 250 2.1.5 Ok
            C: RCPT TO:<Alice@EXAMPLE.ORG>
            S: 250 2.1.5 Ok
            C: RCPT TO:<bob@[192.0.2.25]>
            S: 250 2.1.5 Ok
            """#, policy: policy, mode: mode)
        // The engine decided relaying itself: the policy never saw the foreign recipients.
        #expect(!policy.checkedRecipients.contains { $0.contains("elsewhere") })
    }

    @Test("sender verdicts")
    func senders() {
        runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<spammer@bad.example>
            S: 550 5.7.1 Sender rejected
            C: MAIL FROM:<slow@bad.example>
            S: 451 4.3.0 Sender lookup failed
            C: MAIL FROM:<ok@remote.example>
            S: 250 2.1.0 Ok
            """#)
    }

    @Test("a trusted client may relay without AUTH")
    func trustedRelay() {
        runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<cron@example.org>
            S: 250 2.1.0 Ok
            C: RCPT TO:<friend@elsewhere.example>
            S: 250 2.1.5 Ok
            """#, connection: SMTPConnectionInfo(peerAddress: "127.0.0.1", trustedClient: true))
    }

    @Test("queue results map to 250, 451 and 554")
    func queueResults() {
        runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<alice@example.org>
            C: DATA
            C: x
            C: .
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<alice@example.org>
            C: DATA
            C: spam
            C: .
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<alice@example.org>
            C: BDAT 3 LAST
            C| x\r\n
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 354 End data with <CR><LF>.<CR><LF>
            S: 451 4.3.0 Queue full, try later
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 354 End data with <CR><LF>.<CR><LF>
            S: 550 5.7.1 Spam
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 554 5.6.0 Malformed message
            """#,
            queueResults: [.temporaryFailure("Queue full, try later"), .permanentFailure("Spam"),
                           .permanentFailure("Malformed\nmessage", enhancedCode: "5.6.0")])
    }

    @Test("too many errors: growing delay hints, then 421")
    func errorLimit() {
        var configuration = makeConfiguration()
        configuration.limits.maximumErrors = 4
        configuration.limits.errorsBeforeDelay = 2
        configuration.limits.errorDelayStepMilliseconds = 500
        runTranscript(#"""
            \#(greeting)
            C: FOO
            C: FOO
            C: FOO
            C: FOO
            C: NOOP
            S: 500 5.5.1 Command unrecognized
            S: 500 5.5.1 Command unrecognized
            S: 500 5.5.1 Command unrecognized
            S: 500 5.5.1 Command unrecognized
            S: 421 4.7.0 mx.example.org Error: too many errors, closing connection
            E: delay 500
            E: delay 1000
            E: close
            """#, configuration: configuration)
    }

    @Test("too many junk commands without mail: 421")
    func junkLimit() {
        var configuration = makeConfiguration()
        configuration.limits.maximumJunkCommands = 3
        runTranscript(#"""
            \#(greeting)
            C: NOOP
            S: 250 2.0.0 Ok
            C: RSET
            S: 250 2.0.0 Ok
            C: VRFY x
            S: 252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery
            C: NOOP
            S: 421 4.7.0 mx.example.org Error: too many commands without mail, closing connection
            C: NOOP
            """#, configuration: configuration)
    }

    @Test("HTTP requests are refused at once")
    func httpRequest() {
        runTranscript(#"""
            \#(greeting)
            C: GET / HTTP/1.1
            C: Host: mx.example.org
            S: 421 4.7.0 mx.example.org Error: this is an SMTP server, closing connection
            E: close
            """#)
    }

    @Test("timeout and EOF abort a message in progress")
    func timeoutAndEOF() {
        let session = SMTPSession(configuration: makeConfiguration(), connection: SMTPConnectionInfo(peerAddress: "192.0.2.1"),
                                        policy: TestPolicy())
        _ = session.start()
        let events = session.feed(Array("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\npartial".utf8))
        #expect(events.contains(.messageData(Array("partial".utf8))))
        let timeout = session.timedOut()
        #expect(timeout.contains(.messageAbort(.connectionEnded)))
        #expect(timeout.contains(.send(Array("421 4.4.2 mx.example.org Error: timeout exceeded, closing connection\r\n".utf8))))
        #expect(timeout.last == .close)
        #expect(session.feed(Array("QUIT\r\n".utf8)).isEmpty)

        let other = SMTPSession(configuration: makeConfiguration(), connection: SMTPConnectionInfo(peerAddress: "192.0.2.1"),
                                      policy: TestPolicy())
        _ = other.feed(Array("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\npartial".utf8))
        let eof = other.endOfInput()
        #expect(eof.first == .messageAbort(.connectionEnded))
        #expect(eof.last == .close)
        #expect(other.isClosed)
    }

    @Test("address and envelope validation", arguments: FeedMode.allCases)
    func addresses(mode: FeedMode) {
        var configuration = makeConfiguration()
        configuration.limits.maximumErrors = 100
        configuration.limits.errorsBeforeDelay = 100
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<`touch /tmp/pwned`@remote.example>
            S: 501 5.1.7 Bad sender address syntax: address has no domain
            C: MAIL FROM:<`id`@remote.example>
            S: 250 2.1.0 Ok
            C: RCPT TO:<"$(reboot)"@example.org>
            S: 250 2.1.5 Ok
            C: RCPT TO:<$(reboot)@example.org>
            S: 501 5.1.3 Bad recipient address syntax: address has no domain
            C: RCPT TO:<`id`@example.org>
            S: 250 2.1.5 Ok
            C: RCPT TO:<"a b"@example.org>
            S: 250 2.1.5 Ok
            C| RCPT TO:<"a\tb"@example.org>\r\n
            S: 501 5.1.3 Bad recipient address syntax: control character in address
            C| RCPT TO:<a\x01b@example.org>\r\n
            S: 501 5.1.3 Bad recipient address syntax: control character in address
            C| RCPT TO:<ab@exa\x7Fmple.org>\r\n
            S: 501 5.1.3 Bad recipient address syntax: control character in address
            C: RCPT TO:<ünïcødé@example.org>
            S: 553 5.6.7 Non-ASCII recipient address requires SMTPUTF8
            C: RCPT TO:<alice@-bad.example.org>
            S: 501 5.1.3 Bad recipient address syntax: domain label starts with a hyphen
            C: RCPT TO:<alice@example.org> FOO=bar
            S: 555 5.5.4 Unsupported RCPT parameter FOO
            C: RCPT TO:<a..b@example.org>
            S: 501 5.1.3 Bad recipient address syntax: empty atom in local part
            C: RCPT TO:<@example.org>
            S: 501 5.1.3 Bad recipient address syntax: bad source route
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            C: .
            S: 250 2.0.0 Ok: queued as 1A2B3C
            C: MAIL FROM:<ünïcødé@example.org>
            S: 553 5.6.7 Non-ASCII sender address requires SMTPUTF8
            C: MAIL FROM:<ünïcødé@example.org> SMTPUTF8
            S: 250 2.1.0 Ok
            C: RCPT TO:<ünïcødé@example.org>
            S: 250 2.1.5 Ok
            C| RCPT TO:<\xC3\x28@example.org>\r\n
            S: 501 5.1.3 Bad recipient address syntax: invalid UTF-8 in address
            C| RCPT TO:<\xC2\x85x@example.org>\r\n
            S: 501 5.1.3 Bad recipient address syntax: control character in address
            """#, configuration: configuration, mode: mode)
        guard case .messageBegin(let envelope)? = run.allEvents.first(where: { if case .messageBegin = $0 { true } else { false } }) else {
            Issue.record("no message")
            return
        }
        #expect(envelope.sender.text == "`id`@remote.example")
        #expect(envelope.recipients.map(\.mailbox.text) == ["\"$(reboot)\"@example.org", "`id`@example.org", "\"a b\"@example.org"])
        #expect(envelope.recipients.map(\.mailbox.unquotedLocalPart) == ["$(reboot)", "`id`", "a b"])
        for recipient in envelope.recipients {
            #expect(!recipient.mailbox.text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
        }
    }

    @Test("non-ASCII sender with SMTPUTF8 gets UTF8SMTP in Received")
    func utf8Received() {
        let session = SMTPSession(configuration: makeConfiguration(), connection: SMTPConnectionInfo(peerAddress: "2001:db8::1"),
                                        policy: TestPolicy())
        _ = session.start()
        _ = session.feed(Array("EHLO c.example\r\nMAIL FROM:<ünïcødé@example.org> SMTPUTF8\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n".utf8))
        #expect(session.receivedHeader(queueID: "Q1", date: "Sun, 29 Nov 2026 18:00:00 +0000") == """
            Received: from c.example ([IPv6:2001:db8::1])
            \tby mx.example.org (Postamt) with UTF8SMTP id Q1
            \tfor <alice@example.org>; Sun, 29 Nov 2026 18:00:00 +0000

            """)
    }
}

@Suite("The transcript runner itself")
struct TranscriptRunnerTests {
    @Test("a wrong, early or late reply is caught")
    func catchesMismatches() {
        withKnownIssue("wrong reply text") {
            runTranscript("\(greeting)\nC: NOOP\nS: 250 2.0.0 OK")
        }
        withKnownIssue("reply expected before the client spoke") {
            runTranscript("\(greeting)\nS: 250 2.0.0 Ok\nC: NOOP")
        }
        withKnownIssue("missing reply") {
            runTranscript("\(greeting)\nC: NOOP\nC: NOOP\nS: 250 2.0.0 Ok")
        }
        withKnownIssue("wrong event") {
            runTranscript("\(greeting)\nC: QUIT\nS: 221 2.0.0 mx.example.org closing connection\nE: starttls")
        }
    }
}

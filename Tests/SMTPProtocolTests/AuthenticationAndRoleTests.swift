import Testing
@testable import SMTPProtocol

/// Submission's EHLO reply before STARTTLS: no AUTH offered on plaintext.
let ehloSubmissionPlain = """
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

@Suite("AUTH and the three roles")
struct AuthenticationAndRoleTests {
    @Test("submission: AUTH needs TLS, MAIL needs AUTH, then relaying is allowed", arguments: FeedMode.allCases)
    func submission(mode: FeedMode) {
        let policy = TestPolicy()
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloSubmissionPlain)
            C: MAIL FROM:<alice@example.org>
            S: 530 5.7.0 Authentication required
            C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
            S: 538 5.7.11 Encryption required for requested authentication mechanism
            C: STARTTLS
            S: 220 2.0.0 Ready to start TLS
            C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
            S: 503 5.5.1 Bad sequence of commands: Send EHLO first
            C: EHLO client.example
            \#(ehloTLSWithAuth)
            C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
            S: 235 2.7.0 Authentication successful
            C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
            S: 503 5.5.1 Bad sequence of commands: Already authenticated
            C: MAIL FROM:<alice@example.org> AUTH=alice+40example.org
            S: 250 2.1.0 Ok
            C: RCPT TO:<friend@elsewhere.example>
            S: 250 2.1.5 Ok
            C: DATA
            S: 354 End data with <CR><LF>.<CR><LF>
            C: hi
            C: .
            S: 250 2.0.0 Ok: queued as 1A2B3C
            """#, configuration: makeConfiguration(.submission), policy: policy, mode: mode)
        #expect(policy.authenticationAttempts.map(\.0) == ["alice"])
        #expect(policy.authenticationAttempts.map(\.1) == [Array("secret".utf8)])
        #expect(run.logs.contains("auth ok user=alice mechanism=PLAIN"))
        guard case .messageBegin(let envelope)? = run.allEvents.first(where: { if case .messageBegin = $0 { true } else { false } }) else {
            Issue.record("no message")
            return
        }
        #expect(envelope.authenticatedSender == "alice@example.org")
    }

    @Test("AUTH LOGIN, with and without initial response; AUTH PLAIN with an empty challenge", arguments: FeedMode.allCases)
    func loginAndPlainChallenge(mode: FeedMode) {
        for script in [
            """
            C: AUTH LOGIN
            S: 334 VXNlcm5hbWU6
            C: YWxpY2U=
            S: 334 UGFzc3dvcmQ6
            C: c2VjcmV0
            S: 235 2.7.0 Authentication successful
            """,
            """
            C: AUTH login YWxpY2U=
            S: 334 UGFzc3dvcmQ6
            C: c2VjcmV0
            S: 235 2.7.0 Authentication successful
            """,
            """
            C: AUTH PLAIN
            S| 334 \\r\\n
            C: YWxpY2UAYWxpY2UAc2VjcmV0
            S: 235 2.7.0 Authentication successful
            """,
        ] {
            runTranscript(#"""
                \#(greeting)
                C: EHLO client.example
                \#(ehloTLSWithAuth)
                \#(script)
                C: MAIL FROM:<alice@example.org>
                S: 250 2.1.0 Ok
                """#, configuration: makeConfiguration(.smtps), connection: SMTPConnectionInfo(
                    peerAddress: "192.0.2.1", tls: SMTPTLSInfo(version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256")), mode: mode)
        }
    }

    @Test("AUTH errors: cancel, broken base64, authzid, unknown mechanism, empty password, temporary failure",
          arguments: FeedMode.allCases)
    func authErrors(mode: FeedMode) {
        var configuration = makeConfiguration(.smtps)
        configuration.limits.maximumAuthenticationFailures = 10
        configuration.limits.maximumErrors = 100
        configuration.limits.errorsBeforeDelay = 100
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloTLSWithAuth)
            C: AUTH LOGIN
            S: 334 VXNlcm5hbWU6
            C: *
            S: 501 5.0.0 Authentication cancelled
            C: AUTH LOGIN YWxpY2U=
            S: 334 UGFzc3dvcmQ6
            C: *
            S: 501 5.0.0 Authentication cancelled
            C: AUTH PLAIN AGFsaWNlAHNlY3JldA=
            S: 501 5.5.2 Cannot decode response: invalid base64
            C: AUTH PLAIN AGFsaWNl AHNlY3JldA==
            S: 501 5.5.4 Syntax: AUTH mechanism [initial-response]
            C: AUTH PLAIN !!!!
            S: 501 5.5.2 Cannot decode response: invalid base64
            C: AUTH PLAIN AGFsaWNlAHNlY3JldA==AAAA
            S: 501 5.5.2 Cannot decode response: invalid base64
            C: AUTH PLAIN YWxpY2U=
            S: 501 5.5.2 Malformed PLAIN response
            C: AUTH LOGIN
            S: 334 VXNlcm5hbWU6
            C: YWxpY2U
            S: 501 5.5.2 Cannot decode response: invalid base64
            C: AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==
            E: delay 2000
            S: 535 5.7.8 Authentication credentials invalid
            C: AUTH PLAIN AGFsaWNlAA==
            E: delay 4000
            S: 535 5.7.8 Authentication credentials invalid
            C: AUTH CRAM-MD5
            S: 504 5.5.4 Unrecognized authentication type
            C: AUTH
            S: 501 5.5.4 Syntax: AUTH mechanism [initial-response]
            C: AUTH PLAIN AHRlbXB1c2VyAHg=
            S: 454 4.7.0 Temporary authentication failure
            C: MAIL FROM:<alice@example.org>
            S: 530 5.7.0 Authentication required
            C: AUTH PLAIN =
            S: 501 5.5.2 Malformed PLAIN response
            """#, configuration: configuration, connection: SMTPConnectionInfo(peerAddress: "192.0.2.1"), mode: mode)
        for event in run.allEvents {
            if case .log(let text) = event { #expect(!text.contains("AHNlY3JldA")) }
        }
    }

    @Test("three failed AUTHs: 535 with growing delays, then 421", arguments: FeedMode.allCases)
    func authFailureLimit(mode: FeedMode) {
        runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloTLSWithAuth)
            C: AUTH PLAIN AGFsaWNlAHdyb25n
            C: AUTH LOGIN YWxpY2U=
            C: d3Jvbmc=
            C: AUTH PLAIN AGFsaWNlAHdyb25n
            C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
            S: 535 5.7.8 Authentication credentials invalid
            S: 334 UGFzc3dvcmQ6
            S: 535 5.7.8 Authentication credentials invalid
            S: 535 5.7.8 Authentication credentials invalid
            S: 421 4.7.0 mx.example.org Error: too many authentication failures, closing connection
            E: delay 2000
            E: delay 4000
            E: delay 6000
            E: close
            """#, configuration: makeConfiguration(.smtps), mode: mode)
    }

    @Test("a SASL line sent after a cancel is an unknown command and is not logged")
    func misplacedSASLLine() {
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloTLSWithAuth)
            C: AUTH PLAIN
            C: *
            C: AGFsaWNlAHNlY3JldA==
            C: XYZZY
            S| 334 \r\n
            S: 501 5.0.0 Authentication cancelled
            S: 500 5.5.1 Command unrecognized
            S: 500 5.5.1 Command unrecognized
            """#, configuration: makeConfiguration(.smtps))
        #expect(!run.logs.contains { $0.contains("AGFS") || $0.contains("agfs") })
        #expect(run.logs.contains { $0.contains("unknown command XYZZY") })
    }

    @Test("AUTH is not offered on MX; plaintext AUTH only when configured")
    func authAvailability() {
        runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
            S: 502 5.5.1 AUTH not available
            C: MAIL FROM:<a@remote.example>
            S: 250 2.1.0 Ok
            """#)
        runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            S: 250-mx.example.org
            S: 250-PIPELINING
            S: 250-SIZE 52428800
            S: 250-8BITMIME
            S: 250-SMTPUTF8
            S: 250-ENHANCEDSTATUSCODES
            S: 250-CHUNKING
            S: 250-DSN
            S: 250-STARTTLS
            S: 250 AUTH PLAIN LOGIN
            C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
            S: 235 2.7.0 Authentication successful
            """#, configuration: makeConfiguration(.submission) { $0.allowsPlaintextAuthentication = true })
        runTranscript(#"""
            \#(greeting)
            C: HELO client.example
            S: 250 mx.example.org
            C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
            S: 503 5.5.1 Bad sequence of commands: Send EHLO first
            """#, configuration: makeConfiguration(.smtps))
    }

    @Test("smtps: TLS from the start, no STARTTLS, AUTH during a transaction refused")
    func smtps() {
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloTLSWithAuth)
            C: STARTTLS
            S: 503 5.5.1 Bad sequence of commands: TLS already active
            C: MAIL FROM:<a@example.org>
            S: 530 5.7.0 Authentication required
            """#, configuration: makeConfiguration(.smtps),
            connection: SMTPConnectionInfo(peerAddress: "192.0.2.1", tls: SMTPTLSInfo(version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256")))
        #expect(run.logs.first == "connect from unknown[192.0.2.1] role=smtps tls")
        runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloTLSWithAuth)
            C: MAIL FROM:<a@example.org>
            S: 250 2.1.0 Ok
            C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
            S: 503 5.5.1 Bad sequence of commands: AUTH not allowed during mail transaction
            """#, configuration: makeConfiguration(.smtps),
            connection: SMTPConnectionInfo(peerAddress: "127.0.0.1", trustedClient: true))
    }

    @Test("the Received header of an authenticated TLS session")
    func receivedHeader() {
        let policy = TestPolicy()
        let session = SMTPSession(configuration: makeConfiguration(.smtps),
                                        connection: SMTPConnectionInfo(peerAddress: "192.0.2.1", peerReverseName: "mail.client.example",
                                                                       tls: SMTPTLSInfo(version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384")),
                                        policy: policy)
        _ = session.start()
        _ = policy.answering(session.feed(Array("EHLO client.example\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<a@x.example>\r\nRCPT TO:<b@x.example>\r\n".utf8)), session)
        #expect(session.receivedHeader(queueID: "4ABC", date: "Sun, 29 Nov 2026 18:11:21 +0000") == """
            Received: from client.example (mail.client.example [192.0.2.1])
            \t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)
            \t(authenticated sender: alice)
            \tby mx.example.org (Postamt) with ESMTPSA id 4ABC; Sun, 29 Nov 2026 18:11:21 +0000

            """)
    }

    @Test("protocol keywords of RFC 3848 and RFC 6531", arguments: [
        (false, false, false, false, "SMTP"), (true, false, false, false, "ESMTP"), (true, true, false, false, "ESMTPS"),
        (true, false, true, false, "ESMTPA"), (true, true, true, false, "ESMTPSA"), (true, true, true, true, "UTF8SMTPSA"),
        (true, false, false, true, "UTF8SMTP"), (false, true, true, true, "SMTP"),
    ])
    func protocolKeywords(ehlo: Bool, tls: Bool, auth: Bool, utf8: Bool, expected: String) {
        let facts = SMTPSessionFacts(role: .mx, peerAddress: "192.0.2.1", peerReverseName: nil, trustedClient: false,
                                     heloName: "x", usedEHLO: ehlo, tls: tls ? SMTPTLSInfo(version: "TLSv1.2", cipher: "C") : nil,
                                     authenticatedUser: auth ? "u" : nil)
        #expect(facts.protocolKeyword(smtpUTF8: utf8) == expected)
    }

    @Test("hostile values cannot break the Received header")
    func receivedHeaderSanitising() {
        let header = SMTPReceivedHeader(heloName: "evil) (by\r\nX-Injected: 1", peerAddress: "192.0.2.1\n",
                                        peerReverseName: "a(b)", protocolKeyword: "ESMTP", authenticatedUser: "u\r\nX: y",
                                        hostname: "mx.example.org", queueID: "Q\n1", date: "now\r\nX: z").rendered()
        let lines = header.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("\t") })
        #expect(!header.contains("\r"))
        #expect(header.hasPrefix("Received: from evil???by??X-Injected:?1 (a?b? [192.0.2.1?])\n"))
    }
}

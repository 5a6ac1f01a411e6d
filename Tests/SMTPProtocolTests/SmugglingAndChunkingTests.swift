import Testing
@testable import SMTPProtocol

/// A fake end of data followed by a second, smuggled transaction.
struct SmugglingCase: CustomStringConvertible, Sendable {
    let name: String
    /// Escaped bytes that a lenient server might take for the end of data.
    let fakeEnd: String
    let reply: String
    var description: String { name }
}

let smugglingCases: [SmugglingCase] = [
    .init(name: "<LF>.<LF>", fakeEnd: #"\n.\n"#, reply: bareLineReply),
    .init(name: "<CR>.<CR>", fakeEnd: #"\r.\r"#, reply: bareLineReply),
    .init(name: "<LF>.<CRLF>", fakeEnd: #"\n.\r\n"#, reply: bareLineReply),
    .init(name: "<CRLF>.<LF>", fakeEnd: #"\r\n.\n"#, reply: bareLineReply),
    .init(name: "<CR>.<CRLF>", fakeEnd: #"\r.\r\n"#, reply: bareLineReply),
    .init(name: "<CRLF>.<CR>", fakeEnd: #"\r\n.\r"#, reply: bareLineReply),
    .init(name: "<CRLF>.<CR><CRLF>", fakeEnd: #"\r\n.\r\r\n"#, reply: bareLineReply),
    .init(name: "<LF><LF>.<CRLF>", fakeEnd: #"\n\n.\r\n"#, reply: bareLineReply),
    .init(name: "NUL before the dot", fakeEnd: #"\r\n\0.\r\n"#, reply: "550 5.6.0 Message refused: NUL octet in message"),
    .init(name: "NUL after the dot", fakeEnd: #"\r\n.\0\r\n"#, reply: "550 5.6.0 Message refused: NUL octet in message"),
]
let bareLineReply = "550 5.6.0 Message refused: bare CR or LF; lines must end with CRLF (RFC 5321 2.3.8)"

@Suite("SMTP smuggling, BDAT and STARTTLS")
struct SmugglingAndChunkingTests {
    @Test("a fake end of data never ends DATA and never starts a second message",
          arguments: smugglingCases, FeedMode.allCases)
    func smuggling(variant: SmugglingCase, mode: FeedMode) {
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<alice@example.org>
            C: DATA
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 354 End data with <CR><LF>.<CR><LF>
            C| Subject: test\r\n\r\nbody\#(variant.fakeEnd)MAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n.\r\n
            S: \#(variant.reply)
            C: NOOP
            S: 250 2.0.0 Ok
            """#, mode: mode)
        #expect(run.events.filter { $0.hasPrefix("begin") } == ["begin <a@remote.example> alice@example.org"])
        #expect(run.events.contains { $0.hasPrefix("abort content") })
        #expect(!run.events.contains("end"))
        #expect(run.messages.isEmpty)
    }

    @Test("a dot with trailing text is content, not an end")
    func dotWithText() {
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<alice@example.org>
            C: DATA
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 354 End data with <CR><LF>.<CR><LF>
            C| body\r\n. \r\nMAIL FROM:<evil@remote.example>\r\n..\r\n.\r\n
            S: 250 2.0.0 Ok: queued as 1A2B3C
            """#)
        #expect(run.messages == [Array("body\n \nMAIL FROM:<evil@remote.example>\n.\n".utf8)])
    }

    @Test("size and line limits inside DATA: read to the end, then refuse", arguments: FeedMode.allCases)
    func dataLimits(mode: FeedMode) {
        var configuration = makeConfiguration()
        configuration.limits.maximumMessageSize = 40
        configuration.limits.maximumTextLineLength = 20
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            S: 250-mx.example.org
            S: 250-PIPELINING
            S: 250-SIZE 40
            S: 250-8BITMIME
            S: 250-SMTPUTF8
            S: 250-ENHANCEDSTATUSCODES
            S: 250-CHUNKING
            S: 250-DSN
            S: 250 STARTTLS
            C: MAIL FROM:<a@remote.example> SIZE=41
            S: 552 5.3.4 Message size exceeds fixed maximum message size (40)
            C: MAIL FROM:<a@remote.example> SIZE=40
            C: RCPT TO:<alice@example.org>
            C: DATA
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 354 End data with <CR><LF>.<CR><LF>
            C: 0123456789
            C: 0123456789
            C: 0123456789
            C: 0123456789
            C: .
            S: 552 5.3.4 Message size exceeds fixed maximum message size (40)
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<alice@example.org>
            C: DATA
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 354 End data with <CR><LF>.<CR><LF>
            C: 0123456789012345678
            C: .
            S: 550 5.6.0 Message refused: line longer than 20 octets
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<alice@example.org>
            C: DATA
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 354 End data with <CR><LF>.<CR><LF>
            C: 012345678901234567
            C: 0123456789012345
            C: .
            S: 250 2.0.0 Ok: queued as 1A2B3C
            """#, configuration: configuration, mode: mode)
        #expect(run.events.filter { $0.hasPrefix("abort") } == ["abort content(message too big)", "abort content(line too long)"])
        #expect(run.messages == [Array("012345678901234567\n0123456789012345\n".utf8)])
    }

    @Test("BDAT: chunks, CRLF split across chunks, BDAT 0 LAST", arguments: FeedMode.allCases)
    func chunking(mode: FeedMode) {
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<alice@example.org>
            C: BDAT 7
            C| Hello\r\n
            C: BDAT 6
            C| World\r
            C: BDAT 1
            C| \n
            C: BDAT 0 LAST
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 250 2.0.0 7 octets received
            S: 250 2.0.0 6 octets received
            S: 250 2.0.0 1 octets received
            S: 250 2.0.0 Ok: queued as 1A2B3C
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<alice@example.org>
            C: BDAT 0 LAST
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 250 2.0.0 Ok: queued as 1A2B3C
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<alice@example.org>
            C: bdat 9 last
            C| .dot\r\nend
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 250 2.0.0 Ok: queued as 1A2B3C
            """#, mode: mode)
        #expect(run.messages == [Array("Hello\nWorld\n".utf8), [], Array(".dot\nend".utf8)])
        #expect(run.events.filter { $0.hasPrefix("begin") }.count == 3)
    }

    @Test("BDAT refused is still read, so its bytes are never commands", arguments: FeedMode.allCases)
    func chunkRefusals(mode: FeedMode) {
        var configuration = makeConfiguration()
        configuration.limits.maximumMessageSize = 10
        configuration.limits.maximumErrors = 100
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            S: 250-mx.example.org
            S: 250-PIPELINING
            S: 250-SIZE 10
            S: 250-8BITMIME
            S: 250-SMTPUTF8
            S: 250-ENHANCEDSTATUSCODES
            S: 250-CHUNKING
            S: 250-DSN
            S: 250 STARTTLS
            C: BDAT 6
            C: QUIT
            S: 503 5.5.1 Bad sequence of commands: need MAIL command
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<nobody@example.org>
            C: BDAT 6 LAST
            C: QUIT
            S: 250 2.1.0 Ok
            S: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown
            S: 554 5.5.1 No valid recipients
            C: RSET
            S: 250 2.0.0 Ok
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<alice@example.org>
            C: BDAT 8
            C| 12345678
            C: BDAT 8 LAST
            C| 12345678
            C: BDAT 6 LAST
            C: QUIT
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 250 2.0.0 8 octets received
            S: 552 5.3.4 Message size exceeds fixed maximum message size (10)
            S: 503 5.5.1 Bad sequence of commands: need MAIL command
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<alice@example.org>
            C: BDAT 3
            C| abc
            C: DATA
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 250 2.0.0 3 octets received
            S: 503 5.5.1 Bad sequence of commands: DATA not allowed after BDAT
            C: RCPT TO:<bob@example.org>
            S: 503 5.5.1 Bad sequence of commands: RCPT not allowed after BDAT
            C: RSET
            S: 250 2.0.0 Ok
            C: BDAT
            S: 501 5.5.4 Syntax: BDAT size [LAST]
            C: BDAT 5 LATER
            S: 501 5.5.4 Syntax: BDAT size [LAST]
            C: BDAT -1
            S: 501 5.5.4 Syntax: BDAT size [LAST]
            C: NOOP
            S: 250 2.0.0 Ok
            """#, configuration: configuration, mode: mode)
        #expect(run.events.filter { $0.hasPrefix("abort") } == ["abort sizeExceeded", "abort transactionReset"])
        #expect(run.messages.isEmpty)
    }

    @Test("bare CR, bare LF and NUL inside BDAT chunks", arguments: [
        (#"a\nb\r\n"#, bareLineReply), (#"a\rb\r\n"#, bareLineReply), (#"ab\r\n\r"#, bareLineReply),
        (#"a\0b\r\n"#, "550 5.6.0 Message refused: NUL octet in message"),
    ])
    func chunkContent(chunk: String, reply: String) {
        let bytes = unescape(chunk)
        for mode in FeedMode.allCases {
            let run = runTranscript(#"""
                \#(greeting)
                C: EHLO client.example
                \#(ehloMX)
                C: MAIL FROM:<a@remote.example>
                C: RCPT TO:<alice@example.org>
                C: BDAT \#(bytes.count) LAST
                C| \#(chunk)
                S: 250 2.1.0 Ok
                S: 250 2.1.5 Ok
                S: \#(reply)
                C: BDAT 2 LAST
                C| ok
                S: 503 5.5.1 Bad sequence of commands: need MAIL command
                """#, mode: mode)
            #expect(run.messages.isEmpty)
            #expect(run.events.filter { $0.hasPrefix("abort") }.count == 1)
        }
    }

    @Test("a BDAT size too large to count closes the session")
    func chunkSizeOverflow() {
        runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: BDAT 99999999999999999999999
            S: 421 4.7.0 mx.example.org Error: BDAT size out of range, closing connection
            """#)
    }

    @Test("STARTTLS discards pipelined plaintext and resets the session", arguments: FeedMode.allCases)
    func startTLS(mode: FeedMode) {
        let run = runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: STARTTLS
            C: MAIL FROM:<evil@remote.example>
            C: RCPT TO:<alice@example.org>
            C: DATA
            S: 220 2.0.0 Ready to start TLS
            E: starttls
            C: MAIL FROM:<a@remote.example>
            S: 503 5.5.1 Bad sequence of commands: Send HELO/EHLO first
            C: EHLO client.example
            S: 250-mx.example.org
            S: 250-PIPELINING
            S: 250-SIZE 52428800
            S: 250-8BITMIME
            S: 250-SMTPUTF8
            S: 250-ENHANCEDSTATUSCODES
            S: 250-CHUNKING
            S: 250-DSN
            S: 250 REQUIRETLS
            C: STARTTLS
            S: 503 5.5.1 Bad sequence of commands: TLS already active
            C: MAIL FROM:<a@remote.example>
            C: RCPT TO:<alice@example.org>
            C: DATA
            C: hi
            C: .
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 354 End data with <CR><LF>.<CR><LF>
            S: 250 2.0.0 Ok: queued as 1A2B3C
            E: begin <a@remote.example> alice@example.org
            E: data hi\n
            E: end
            """#, mode: mode)
        #expect(run.logs.contains("tls established version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384"))
    }

    @Test("bytes fed between STARTTLS and the handshake are ignored")
    func startTLSDropsLateBytes() {
        let session = SMTPSession(configuration: makeConfiguration(), connection: SMTPConnectionInfo(peerAddress: "192.0.2.1"),
                                        policy: TestPolicy())
        _ = session.start()
        let events = session.feed(Array("EHLO a\r\nSTARTTLS\r\nNOOP\r\n".utf8))
        #expect(events.last == .startTLS)
        #expect(session.feed(Array("NOOP\r\nQUIT\r\n".utf8)).isEmpty)
        #expect(session.bufferedInputCount == 0)
        _ = session.tlsEstablished(SMTPTLSInfo(version: "TLSv1.3", cipher: "X"))
        #expect(session.feed(Array("NOOP\r\n".utf8)) == [.send(Array("250 2.0.0 Ok\r\n".utf8))])
    }

    /// RFC 8689 §4.1: REQUIRETLS only inside TLS (announced there, refused before with 5.7.10).
    @Test("REQUIRETLS needs TLS")
    func requireTLSNeedsTLS() {
        let session = SMTPSession(configuration: makeConfiguration(), connection: SMTPConnectionInfo(peerAddress: "192.0.2.1"),
                                        policy: TestPolicy())
        _ = session.start()
        func reply(_ line: String) -> String {
            session.feed(Array((line + "\r\n").utf8)).compactMap { event -> String? in
                if case .send(let bytes) = event { return String(decoding: bytes, as: UTF8.self) }
                return nil
            }.joined()
        }
        #expect(!reply("EHLO a").contains("REQUIRETLS"))
        #expect(reply("MAIL FROM:<a@remote.example> REQUIRETLS") == "530 5.7.10 REQUIRETLS needs a TLS session\r\n")
        #expect(session.feed(Array("STARTTLS\r\n".utf8)).last == .startTLS)
        _ = session.tlsEstablished(SMTPTLSInfo(version: "TLSv1.3", cipher: "X"))
        let ehlo = reply("EHLO a")
        #expect(ehlo.contains("250-REQUIRETLS\r\n") || ehlo.contains("250 REQUIRETLS\r\n"), "\(ehlo)")
        #expect(reply("MAIL FROM:<a@remote.example> REQUIRETLS=yes").hasPrefix("501"))
        #expect(reply("MAIL FROM:<a@remote.example> REQUIRETLS") == "250 2.1.0 Ok\r\n")
    }

    @Test("STARTTLS refusals")
    func startTLSRefusals() {
        runTranscript(#"""
            \#(greeting)
            C: STARTTLS
            S: 502 5.5.1 STARTTLS not available
            """#, configuration: makeConfiguration(.mx) { $0.startTLSAvailable = false })
        runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: STARTTLS now
            S: 501 5.5.4 Syntax: STARTTLS
            C: MAIL FROM:<a@remote.example>
            S: 250 2.1.0 Ok
            C: STARTTLS
            S: 503 5.5.1 Bad sequence of commands: STARTTLS not allowed during mail transaction
            """#)
    }
}

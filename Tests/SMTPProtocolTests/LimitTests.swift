import Testing
@testable import SMTPProtocol

@Suite("SMTP limits and hostile command lines")
struct LimitTests {
    @Test("a 100 KB command line is refused without being buffered", arguments: FeedMode.allCases)
    func longCommandLine(mode: FeedMode) {
        let long = String(repeating: "x", count: 100 * 1024)
        runTranscript(#"""
            \#(greeting)
            C: NOOP \#(long)
            S: 500 5.5.6 Line too long (limit 2048 octets)
            C: MAIL FROM:<\#(long)@remote.example>
            S: 500 5.5.6 Line too long (limit 2048 octets)
            C: NOOP
            S: 250 2.0.0 Ok
            """#, mode: mode)

        let session = SMTPSession(configuration: makeConfiguration(), connection: SMTPConnectionInfo(peerAddress: "192.0.2.1"),
                                        policy: TestPolicy())
        _ = session.start()
        var largest = 0
        for _ in 0..<100 {
            #expect(session.feed(Array(repeating: UInt8(ascii: "a"), count: 1024)).isEmpty)
            largest = max(largest, session.bufferedInputCount)
        }
        #expect(largest < 2048 + 1024)
        #expect(session.feed(Array("\r\n".utf8)) == [.log("refused: line too long from unknown[192.0.2.1]: 500 5.5.6"),
                                                      .send(Array("500 5.5.6 Line too long (limit 2048 octets)\r\n".utf8))])
    }

    @Test("a line of exactly the limit is accepted, one more octet is not")
    func lineLengthBoundary() {
        var configuration = makeConfiguration()
        configuration.limits.maximumCommandLineLength = 512
        let fits = "NOOP " + String(repeating: "y", count: 512 - 7)
        let tooLong = fits + "y"
        runTranscript(#"""
            \#(greeting)
            C: \#(fits)
            S: 250 2.0.0 Ok
            C: \#(tooLong)
            S: 500 5.5.6 Line too long (limit 512 octets)
            """#, configuration: configuration)
    }

    @Test("bare LF, bare CR and NUL in command lines", arguments: FeedMode.allCases)
    func hostileCommandLines(mode: FeedMode) {
        runTranscript(#"""
            \#(greeting)
            C| NOOP\n
            S: 500 5.5.2 Syntax error: line must end with CRLF, not a bare LF
            C| NO\rOP\r\n
            S: 500 5.5.2 Syntax error: bare CR or NUL in command line
            C| NOOP\0\r\n
            S: 500 5.5.2 Syntax error: bare CR or NUL in command line
            C| EHLO client.example\nMAIL FROM:<a@remote.example>\r\n
            S: 500 5.5.2 Syntax error: line must end with CRLF, not a bare LF
            S: 503 5.5.1 Bad sequence of commands: Send HELO/EHLO first
            C| QUIT\r\r\n
            S: 500 5.5.2 Syntax error: bare CR or NUL in command line
            C: NOOP
            S: 250 2.0.0 Ok
            """#, mode: mode)
    }

    @Test("10,000 RCPTs: 100 accepted, the rest 452 without closing")
    func manyRecipients() {
        var script = "\(greeting)\nC: EHLO client.example\n\(ehloMX)\nC: MAIL FROM:<a@remote.example>\n"
        for number in 0..<10_000 { script += "C: RCPT TO:<alice+\(number)@example.org>\n" }
        script += "C: DATA\nC: x\nC: .\nS: 250 2.1.0 Ok\n"
        script += String(repeating: "S: 250 2.1.5 Ok\n", count: 100)
        script += String(repeating: "S: 452 4.5.3 Too many recipients\n", count: 9_900)
        script += "S: 354 End data with <CR><LF>.<CR><LF>\nS: 250 2.0.0 Ok: queued as 1A2B3C\n"
        let policy = TestPolicy()
        final class Everyone: SMTPPolicy {
            func isLocalDomain(_ domain: String) -> Bool { true }
            func checkRecipient(_ recipient: SMTPRecipient, session: SMTPSessionFacts) -> SMTPRecipientVerdict { .accept }
        }
        _ = policy
        let session = SMTPSession(configuration: makeConfiguration(), connection: SMTPConnectionInfo(peerAddress: "192.0.2.1"),
                                        policy: Everyone())
        var bytes: [UInt8] = []
        for line in script.split(separator: "\n") where line.hasPrefix("C: ") { bytes += Array(line.dropFirst(3).utf8) + [13, 10] }
        var server: [UInt8] = []
        var recipientCount = 0
        var events = session.start() + session.feed(bytes)
        var logCount = 0
        var index = 0
        while index < events.count {
            switch events[index] {
            case .send(let reply): server += reply
            case .messageBegin(let envelope): recipientCount = envelope.recipients.count
            case .messageEnd: events += session.messageQueued(.accepted(queueID: "1A2B3C"))
            case .log: logCount += 1
            case .close: Issue.record("closed")
            default: break
            }
            index += 1
        }
        #expect(logCount < 120)
        let expected = script.split(separator: "\n").filter { $0.hasPrefix("S: ") }.map { $0.dropFirst(3) + "\r\n" }.joined()
        #expect(String(decoding: server, as: UTF8.self) == expected)
        #expect(recipientCount == 100)
    }

    @Test("SIZE values, including ones that overflow 64 bits", arguments: [
        ("SIZE=52428800", "250 2.1.0 Ok"),
        ("SIZE=0", "250 2.1.0 Ok"),
        ("SIZE=52428801", "552 5.3.4 Message size exceeds fixed maximum message size (52428800)"),
        ("SIZE=99999999999999", "552 5.3.4 Message size exceeds fixed maximum message size (52428800)"),
        ("SIZE=18446744073709551616", "552 5.3.4 Message size exceeds fixed maximum message size (52428800)"),
        ("SIZE=999999999999999999999999999999999999", "552 5.3.4 Message size exceeds fixed maximum message size (52428800)"),
        ("SIZE=", "501 5.5.4 Syntax error in parameter value"),
        ("SIZE", "501 5.5.4 Syntax: SIZE=number"),
        ("SIZE=-1", "501 5.5.4 Syntax: SIZE=number"),
        ("SIZE=1e9", "501 5.5.4 Syntax: SIZE=number"),
        ("ENVID=" + String(repeating: "A", count: 101), "501 5.5.4 Syntax: ENVID=xtext (at most 100 characters)"),
        ("ENVID=a+2", "501 5.5.4 Syntax: ENVID=xtext (at most 100 characters)"),
        ("SMTPUTF8=yes", "501 5.5.4 SMTPUTF8 takes no value"),
        ("RET=ALL", "501 5.5.4 Syntax: RET=FULL or RET=HDRS"),
        ("AUTH=<>", "250 2.1.0 Ok"),
        ("-X=1", "501 5.5.4 Syntax error in parameters"),
    ])
    func sizeParameter(parameter: String, reply: String) {
        runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<a@remote.example> \#(parameter)
            S: \#(reply)
            """#)
    }

    @Test("a path longer than the limit is refused")
    func longPath() {
        let local = String(repeating: "a", count: 250)
        runTranscript(#"""
            \#(greeting)
            C: EHLO client.example
            \#(ehloMX)
            C: MAIL FROM:<\#(local)@remote.example>
            S: 501 5.1.7 Bad sender address syntax: path too long
            """#)
    }

    @Test("input piling up while the host queues a message is bounded")
    func pendingInputBound() {
        var configuration = makeConfiguration()
        configuration.limits.maximumPendingInput = 4096
        let session = SMTPSession(configuration: configuration, connection: SMTPConnectionInfo(peerAddress: "192.0.2.1"),
                                        policy: TestPolicy())
        _ = session.start()
        let events = session.feed(Array("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n".utf8))
        #expect(events.last == .messageEnd)
        #expect(session.feed(Array(repeating: UInt8(ascii: "a"), count: 1000)).isEmpty)
        let overflow = session.feed(Array(repeating: UInt8(ascii: "a"), count: 4000))
        #expect(overflow.last == .close)
        #expect(session.isClosed)
        #expect(session.messageQueued(.accepted(queueID: "Q")).isEmpty)
    }

    @Test("the pipelined NOOP waits for the queue result")
    func pipelinedAfterData() {
        let session = SMTPSession(configuration: makeConfiguration(), connection: SMTPConnectionInfo(peerAddress: "192.0.2.1"),
                                        policy: TestPolicy())
        _ = session.start()
        _ = session.feed(Array("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n".utf8))
        let after = session.messageQueued(.accepted(queueID: "Q7"))
        let sent = after.compactMap { if case .send(let bytes) = $0 { String(decoding: bytes, as: UTF8.self) } else { nil } }.joined()
        #expect(sent == "250 2.0.0 Ok: queued as Q7\r\n250 2.0.0 Ok\r\n")
    }
}

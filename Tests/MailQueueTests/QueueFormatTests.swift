import Testing
import MailCore
import MailSystem
@testable import MailQueue
@testable import MailQueueClient

@Suite struct QueueFormatTests {
    @Test func envelopeFileRoundTrip() throws {
        let env = Envelope(sender: .null, recipients: [try EnvelopeAddress("a@x"), try EnvelopeAddress("b c@y")])
        let record = QueueEnvelope(id: "ABC123", arrival: 1700000000, size: 42, envelope: env, uid: 1000)
        #expect(try QueueEnvelope.decode(record.encoded()) == record)
    }

    @Test func truncatedEnvelopeFileIsNeverAMessage() throws {
        let env = Envelope(sender: try EnvelopeAddress("s@x"), recipients: [try EnvelopeAddress("a@x")])
        let full = QueueEnvelope(id: "ABC", arrival: 1, size: 2, envelope: env).encoded()
        // Every proper prefix is refused.
        for cut in 0..<full.count {
            #expect(throws: QueueEnvelope.Invalid.self) { try QueueEnvelope.decode(Array(full[0..<cut])) }
        }
    }

    @Test func stateRoundTripWithEveryDestination() throws {
        let s = MessageState(id: "ID1", arrival: 5, size: 9, sender: "", held: true, recipients: [
            RecipientState(status: .pending, attempts: 2, nextAttempt: 99, original: "a@x",
                           destination: .user(name: "a", extension: "tag", address: "a+tag@x"), reason: "tab\there\nnewline"),
            RecipientState(status: .delivered, original: "t@x", destination: .aliasCommand(command: "/bin/x -y", alias: "t")),
            RecipientState(status: .failed, original: "t@x", destination: .aliasFile(path: "/var/f", alias: "t")),
            RecipientState(status: .reported, original: "r@far", destination: .remote(address: "r@far")),
            RecipientState(status: .failed, original: "nobody@x", destination: nil, reason: "no such user (#5.1.1)"),
        ])
        let decoded = try MessageState.decode(s.encoded())
        #expect(decoded.recipients.count == 5)
        #expect(decoded.recipients[0].reason == "tab here newline")
        #expect(decoded.held)
        #expect(decoded.recipients[1...] == s.recipients[1...])
        for cut in stride(from: 0, to: s.encoded().count, by: 7) {
            #expect(throws: MessageState.Invalid.self) { try MessageState.decode(Array(s.encoded()[0..<cut])) }
        }
    }

    @Test func idsAreValidAndDistinct() {
        let a = QueueLayout.newID()
        #expect(QueueLayout.isValidID(a))
        #expect(!QueueLayout.isValidID("../etc"))
        #expect(!QueueLayout.isValidID(""))
    }

    @Test(arguments: [
        ("no such user (#5.1.1)", "5.1.1"),
        ("disk full (#4.2.2)", "4.2.2"),
        ("550 5.7.1 relay denied", "5.7.1"),
        ("exit 100", "5.0.0"),
        ("version 1.2.3.4", "5.0.0"),
    ])
    func statusCodes(reason: String, code: String) { #expect(Bounce.statusCode(in: reason) == code) }

    @Test func bounceIsAnRFC3464Report() {
        let bytes = Bounce.message(queueID: "Q1", hostname: "mx.example", to: "s@x", arrival: 0,
                                   failed: [.init(original: "team@mx.example", final: "bob@mx.example", reason: "no such user (#5.1.1)")],
                                   originalHeaders: Array("Subject: hi\nFrom: s@x\n".utf8), now: 100)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("Content-Type: multipart/report; report-type=delivery-status;"))
        #expect(text.contains("Content-Type: message/delivery-status"))
        #expect(text.contains("Reporting-MTA: dns; mx.example"))
        #expect(text.contains("Final-Recipient: rfc822; bob@mx.example\nOriginal-Recipient: rfc822; team@mx.example\nAction: failed\nStatus: 5.1.1"))
        #expect(text.contains("Content-Type: text/rfc822-headers\n\nSubject: hi\nFrom: s@x\n"))
        #expect(text.hasSuffix("--Q1.100/mx.example--\n"))
        #expect(text.contains("Auto-Submitted: auto-replied"))
    }

    /// The one report writer (DeliveryReport) keeps the delay notice byte for byte.
    @Test func delayNoticeSkeleton() {
        let bytes = DelayNotice.message(queueID: "Q2", hostname: "mx.example", to: "s@x", arrival: 0,
                                        delayed: [.init(recipient: "bob@y", reason: "450 5.2.1 mailbox busy")],
                                        originalHeaders: Array("Subject: hi\n".utf8), now: 100, retryUntil: 200)
        let d0 = MailSystem.Clock.rfc5322Date(0), d100 = MailSystem.Clock.rfc5322Date(100), d200 = MailSystem.Clock.rfc5322Date(200)
        let expected = """
        From: MAILER-DAEMON@mx.example (Mail Delivery System)
        To: s@x
        Subject: Delayed Mail (still being retried)
        Date: \(d100)
        Message-ID: <Q2.100.delay@mx.example>
        Auto-Submitted: auto-replied
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status;
        \tboundary="Q2.100/mx.example"

        This is a MIME-encapsulated message.

        --Q2.100/mx.example
        Content-Description: Notification
        Content-Type: text/plain; charset=utf-8

        This is the mail system at host mx.example.

        Your message could not be delivered to some recipients yet. It stays
        in the queue and is retried until \(d200).
        You do not need to send it again.

        <bob@y>: 450 5.2.1 mailbox busy

        --Q2.100/mx.example
        Content-Description: Delivery report
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.example
        X-Postamt-Queue-ID: Q2
        Arrival-Date: \(d0)

        Final-Recipient: rfc822; bob@y
        Action: delayed
        Status: 4.2.1
        Diagnostic-Code: X-Postamt; 450 5.2.1 mailbox busy
        Will-Retry-Until: \(d200)

        --Q2.100/mx.example
        Content-Description: Message Headers
        Content-Type: text/rfc822-headers

        Subject: hi

        --Q2.100/mx.example--

        """
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
    }

    @Test func backoffHeap() {
        var h = MinHeap()
        for t in [5, 1, 9, 3, 7] as [Int64] { h.push(t, "m\(t)") }
        var order: [Int64] = []
        while let x = h.pop() { order.append(x.time) }
        #expect(order == [1, 3, 5, 7, 9])
    }

    /// The typed channels that replaced the log-line scrapes (postamt-queue(8) QUEUE ID,
    /// postamt-local(8) RESULT LINE).
    @Test func reportChannelsAreParsed() {
        #expect(MailStatus(resultLine: Array("K 2.0.0 delivered to maildir /x/\n".utf8))?.line == "delivered to maildir /x/")
        #expect(MailStatus(resultLine: Array("postamt/local[42]: ABC12: delivered\n".utf8)) == nil)
        #expect(QueueClient.queueID(reported: Array("6B0C6DA3\n".utf8)) == "6B0C6DA3")
        #expect(QueueClient.queueID(reported: Array("6B0C6DA3".utf8)) == nil)
        #expect(QueueClient.queueID(reported: Array("../x\n".utf8)) == nil)
    }

    @Test func json() {
        #expect(MailQueueClient.json("a\"b\\c\n\u{1}") == "\"a\\\"b\\\\c\\n\\u0001\"")
    }
}

@Suite struct SendmailTests {
    @Test func cronStyleArguments() throws {
        let o = try SendmailOptions.parse(["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "alice"])
        #expect(o.fullName == "CronDaemon" && o.ignoreDots && o.recipients == ["alice"] && o.mode == .deliver)
    }

    @Test func mailutilsAndMutt() throws {
        let o = try SendmailOptions.parse(["-oi", "-f", "me@x", "-t", "--", "a@x,b@y", "c@z"])
        #expect(o.ignoreDots && o.extractRecipients && o.sender == "me@x")
        #expect(o.recipients == ["a@x", "b@y", "c@z"])
        let q = try SendmailOptions.parse([], invokedAs: "mailq")
        #expect(q.mode == .listQueue)
        #expect(try SendmailOptions.parse(["-bp"]).mode == .listQueue)
        #expect(try SendmailOptions.parse(["-q"]).mode == .flushQueue)
        #expect(try SendmailOptions.parse(["-fme@x", "-rother@y", "u"]).sender == "other@y")
    }

    @Test func flagClustersAndAngleBrackets() throws {
        let o = try SendmailOptions.parse(["-ti", "-f", "<me@x>", "<a@y>"])
        #expect(o.extractRecipients && o.ignoreDots)
        #expect(o.sender == "me@x" && o.recipients == ["a@y"])
        #expect(throws: SendmailOptions.UsageError.self) { try SendmailOptions.parse(["-bv", "a"]) }
    }

    @Test func valueFlagInACluster() throws {
        let o = try SendmailOptions.parse(["-tf", "me@x", "-oi", "-Fname"])
        #expect(o.extractRecipients && o.sender == "me@x" && o.ignoreDots && o.fullName == "name" && o.recipients.isEmpty)
    }

    @Test func oversizedHeaderIsRefused() throws {
        let o = try SendmailOptions.parse(["-t", "-i"])
        let input = Array(("To: a@x\n" + String(repeating: "X-Pad: y\n", count: 100) + "Bcc: secret@x\n\nbody\n").utf8)
        #expect(throws: HeaderTooLarge.self) {
            _ = try SendmailMessage.prepare(input: input, options: o, hostname: "h", senderAddress: "s@h", fullName: nil,
                                            queueHint: "1", headerLimit: 200)
        }
    }

    @Test func resentFieldsWin() throws {
        let (text, rcpts) = try prepare("To: old@x\nResent-To: new@x\nResent-Bcc: hidden@x\n\nb\n", ["-t", "-i"])
        #expect(rcpts == ["new@x", "hidden@x"])
        #expect(!text.contains("hidden"))
    }

    /// -O RequireTLS (RFC 8689) in sendmail's long-option form; other -O options are ignored with a warning.
    @Test(arguments: [(["-O", "RequireTLS", "a@x"], true), (["-ORequireTLS=yes", "a@x"], true), (["-O", "requiretls=No", "a@x"], false),
                      (["-ti", "-O", "RequireTLS=true", "a@x"], true), (["a@x"], false)])
    func requireTLSOption(args: [String], expected: Bool) throws {
        let o = try SendmailOptions.parse(args)
        #expect(o.requireTLS == expected && o.recipients == ["a@x"] && o.warnings.isEmpty)
    }

    @Test func otherLongOptionsAreIgnoredAndBadValuesRefused() throws {
        let o = try SendmailOptions.parse(["-O", "DeliveryMode=b", "a@x"])
        #expect(!o.requireTLS && o.warnings == ["ignoring option -O DeliveryMode=b"])
        #expect(throws: SendmailOptions.UsageError.self) { try SendmailOptions.parse(["-O", "RequireTLS=maybe", "a@x"]) }
        #expect(throws: SendmailOptions.UsageError.self) { try SendmailOptions.parse(["-O"]) }
    }

    @Test func usageErrors() {
        #expect(throws: SendmailOptions.UsageError.self) { try SendmailOptions.parse(["-f"]) }
        #expect(throws: SendmailOptions.UsageError.self) { try SendmailOptions.parse(["-Z"]) }
        #expect(throws: SendmailOptions.UsageError.self) { try SendmailOptions.parse(["-bz"]) }
    }

    func prepare(_ input: String, _ args: [String]) throws -> (String, [String]) {
        let o = try SendmailOptions.parse(args)
        let m = try SendmailMessage.prepare(input: Array(input.utf8), options: o, hostname: "h.example",
                                        senderAddress: "me@h.example", fullName: o.fullName, queueHint: "1", now: 0)
        return (String(decoding: m.bytes, as: UTF8.self), m.headerRecipients)
    }

    @Test func addsMissingHeadersAndKeepsTheBody() throws {
        let (text, _) = try prepare("hi\n.\nafter\n", ["-FCron Daemon", "u"])
        #expect(text.hasPrefix("From: Cron Daemon <me@h.example>\nDate: "))
        #expect(text.contains("\nMessage-ID: <0.1."))
        // Without -i a lone dot ends the input.
        #expect(text.hasSuffix("\n\nhi\n"))
        let (kept, _) = try prepare("Subject: x\n\n.\nafter\n", ["-i", "u"])
        #expect(kept.hasSuffix("\n\n.\nafter\n"))
    }

    @Test func extractsRecipientsAndRemovesBcc() throws {
        let (text, rcpts) = try prepare("From: a@x\nTo: Bob <b@x>\nCc: c@x, d@x\nBcc: secret@x\nSubject: s\n\nbody\n", ["-t", "-i"])
        #expect(rcpts == ["b@x", "c@x", "d@x", "secret@x"])
        #expect(!text.contains("Bcc") && !text.contains("secret"))
        #expect(text.contains("From: a@x\nTo: Bob <b@x>\nCc: c@x, d@x\nSubject: s\n"))
        #expect(text.hasSuffix("\n\nbody\n"))
    }

    @Test func eightBitAndCRLFUntouched() throws {
        let body = "Subject: ü\r\n\r\nGrüße\r\nline\n"
        let (text, _) = try prepare(body, ["-i", "u"])
        #expect(text.hasSuffix("Grüße\r\nline\n"))
    }
}

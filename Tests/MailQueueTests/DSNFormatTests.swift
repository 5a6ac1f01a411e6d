import Testing
import MailCore
@testable import MailQueue
@testable import MailQueueClient

@Suite struct DSNFormatTests {
    func env() throws -> Envelope {
        Envelope(sender: try EnvelopeAddress("s@x"), recipients: [try EnvelopeAddress("a@x"), try EnvelopeAddress("b@y")])
    }

    @Test func envelopeWithoutDSNLinesIsUnchanged() throws {
        let record = QueueEnvelope(id: "ABC", arrival: 1, size: 2, envelope: try env(), uid: 0)
        let text = String(decoding: record.encoded(), as: UTF8.self)
        #expect(text == "POSTAMT-ENVELOPE 1\nid ABC\narrival 1\nsize 2\nuid 0\nsender s@x\nrcpt a@x\nrcpt b@y\nend\n")
        #expect(try QueueEnvelope.decode(record.encoded()) == record)
    }

    @Test func envelopeWithDSNLinesRoundTrips() throws {
        let dsn = DSNParameters(ret: "FULL", envid: "QQ+2B1", recipients: [
            RecipientDSN(), RecipientDSN(notify: "SUCCESS,DELAY", orcpt: "rfc822;b+40y")])
        let record = QueueEnvelope(id: "ABC", arrival: 1, size: 2, envelope: try env(), dsn: dsn)
        let text = String(decoding: record.encoded(), as: UTF8.self)
        #expect(text.contains("sender s@x\nret FULL\nenvid QQ+2B1\nrcpt a@x\nrcpt b@y\nnotify SUCCESS,DELAY\norcpt rfc822;b+40y\nend\n"))
        #expect(try QueueEnvelope.decode(record.encoded()) == record)
        let full = record.encoded()
        for cut in 0..<full.count {
            #expect(throws: QueueEnvelope.Invalid.self) { try QueueEnvelope.decode(Array(full[0..<cut])) }
        }
    }

    /// REQUIRETLS (RFC 8689): a word of POSTAMT_DSN, a line of the envelope, a field of the state.
    @Test func requireTLSTravels() throws {
        let p = try DSNParameters.parse(transaction: "REQUIRETLS RET=HDRS", recipientLines: nil, count: 2)
        #expect(p.requireTLS && p.ret == "HDRS" && !p.isEmpty)
        #expect(try DSNParameters.parse(transaction: "requiretls", recipientLines: nil, count: 2).requireTLS)
        #expect(throws: DSNParameters.Invalid.self) { try DSNParameters.parse(transaction: "REQUIRETLS REQUIRETLS", recipientLines: nil, count: 2) }
        #expect(throws: DSNParameters.Invalid.self) { try DSNParameters.parse(transaction: "REQUIRETLS=1", recipientLines: nil, count: 2) }
        let record = QueueEnvelope(id: "ABC", arrival: 1, size: 2, envelope: try env(), dsn: DSNParameters(requireTLS: true))
        #expect(String(decoding: record.encoded(), as: UTF8.self).contains("sender s@x\nrequiretls yes\nrcpt a@x\n"))
        #expect(try QueueEnvelope.decode(record.encoded()) == record)
        var state = MessageState(id: "ID1", arrival: 5, size: 9, sender: "s@x", recipients: [RecipientState(original: "a@x", destination: .remote(address: "a@x"))])
        state.requireTLS = true
        #expect(try MessageState.decode(state.encoded()).requireTLS)
        state.requireTLS = false
        #expect(!String(decoding: state.encoded(), as: UTF8.self).contains("requiretls"))
    }

    @Test func envelopeDecoderStaysStrict() {
        let head = "POSTAMT-ENVELOPE 1\nid A\narrival 1\nsize 2\nsender s@x\n"
        for bad in ["notify NEVER\nrcpt a@x\n",            // before any recipient
                    "rcpt a@x\nnotify NEVER\nnotify NEVER\n", // twice
                    "rcpt a@x\nnotify SOMETIMES\n",
                    "rcpt a@x\norcpt nosemicolon\n",
                    "rcpt a@x\nret FULL\n",                  // after the recipients
                    "ret ALL\nrcpt a@x\n",
                    "envid a b\nrcpt a@x\n",
                    "requiretls no\nrcpt a@x\n",
                    "rcpt a@x\nrequiretls yes\n",           // after the recipients
                    "rcpt a@x\nfrobnicate 1\n"] {
            #expect(throws: QueueEnvelope.Invalid.self) { try QueueEnvelope.decode(Array((head + bad + "end\n").utf8)) }
        }
    }

    @Test func sideChannelParsing() throws {
        let p = try DSNParameters.parse(transaction: "RET=HDRS ENVID=QQ+2B1",
                                        recipientLines: "NOTIFY=failure,success ORCPT=rfc822;alice+40example.org\n-", count: 2)
        #expect(p.ret == "HDRS" && p.envid == "QQ+2B1")
        #expect(p.recipients == [RecipientDSN(notify: "SUCCESS,FAILURE", orcpt: "rfc822;alice+40example.org"), RecipientDSN()])
        #expect(try DSNParameters.parse(transaction: "RET=FULL", recipientLines: "-\n-", count: 2).recipients.isEmpty)
        let bad: [(String, String?)] = [
            ("RET=ALL", nil), ("RET=FULL RET=HDRS", nil), ("ENVID=" + String(repeating: "a", count: 101), nil),
            ("ENVID=a+2", nil), ("ENVID=a+2b", nil), ("ENVID=a=b", nil), ("X=1", nil),
            ("", "NOTIFY=NEVER,SUCCESS\n-"), ("", "NOTIFY=\n-"), ("", "NOTIFY=DELAY,DELAY\n-"),
            ("", "ORCPT=rfc822\n-"), ("", "ORCPT=;a\n-"), ("", "ORCPT=rfc822;" + String(repeating: "a", count: 500) + "\n-"),
            ("", "-"), ("", "-\n-\n-"), ("", "FOO=1\n-"),
        ]
        for (t, r) in bad {
            #expect(throws: DSNParameters.Invalid.self) { try DSNParameters.parse(transaction: t, recipientLines: r, count: 2) }
        }
        #expect(DSNParameters.decodeXtext("rfc822+3Bx+40y") == "rfc822;x@y")
        #expect(DSNParameters.decodeXtext("a+0Ab") == nil)
    }

    @Test func stateWithoutDSNFieldsLoadsAsBefore() throws {
        // A state file written before DSN support.
        let old = "POSTAMT-STATE 1\nid\tID1\narrival\t5\nsize\t9\nsender\ts@x\nheld\t0\nrcpt\tpending\t0\t0\ta@x\tremote\ta@x\t\t\t\nend\n"
        let s = try MessageState.decode(Array(old.utf8))
        #expect(s.ret == nil && s.envid == nil)
        #expect(s.recipients[0].notify == nil && s.recipients[0].orcpt == nil)
        #expect(s.recipients[0].wants("FAILURE") && s.recipients[0].wants("DELAY") && !s.recipients[0].wants("SUCCESS"))
        #expect(String(decoding: s.encoded(), as: UTF8.self) == old)
    }

    @Test func stateWithDSNFieldsRoundTrips() throws {
        var s = MessageState(id: "ID1", arrival: 5, size: 9, sender: "s@x", recipients: [
            RecipientState(status: .delivered, original: "a@x", destination: .remote(address: "a@x"), notify: "SUCCESS", orcpt: "rfc822;a+40x"),
            RecipientState(status: .failed, original: "b@x", destination: nil, notify: "NEVER"),
            RecipientState(original: "c@x", destination: .remote(address: "c@x")),
        ])
        s.ret = "FULL"
        s.envid = "abc"
        let decoded = try MessageState.decode(s.encoded())
        #expect(decoded == s)
        #expect(decoded.recipients[0].needsSuccessNotice && !decoded.isComplete)
        #expect(!decoded.recipients[1].wants("FAILURE"))
        s.recipients[0].successReported = true
        #expect(try MessageState.decode(s.encoded()).recipients[0].isFinal)
        for cut in stride(from: 0, to: s.encoded().count, by: 5) {
            #expect(throws: MessageState.Invalid.self) { try MessageState.decode(Array(s.encoded()[0..<cut])) }
        }
    }

    @Test func reportsCarryTheDSNFields() {
        let failed = [Bounce.Failed(original: "o@x", final: "f@x", reason: "gone (#5.1.1)", orcpt: "rfc822;orig+40x")]
        let full = Array("Subject: s\n\nbody\n".utf8)
        let text = String(decoding: Bounce.message(queueID: "Q", hostname: "h", to: "s@x", arrival: 1, failed: failed,
                                                   originalHeaders: Array("Subject: s\n".utf8), envelopeID: "abc",
                                                   returnedMessage: full), as: UTF8.self)
        #expect(text.contains("Original-Envelope-Id: abc\nReporting-MTA: dns; h\n"))
        #expect(text.contains("Final-Recipient: rfc822; f@x\nOriginal-Recipient: rfc822;orig@x\nAction: failed\nStatus: 5.1.1\n"))
        #expect(text.contains("Content-Type: message/rfc822\n\nSubject: s\n\nbody\n"))
        let success = String(decoding: Bounce.message(queueID: "Q", hostname: "h", to: "s@x", arrival: 1, failed: failed,
                                                      originalHeaders: Array("Subject: s\n".utf8), success: true), as: UTF8.self)
        #expect(success.contains("Action: delivered\nStatus: 2.0.0\n"))
        #expect(success.contains("Content-Type: text/rfc822-headers\n\nSubject: s\n"))
    }

    /// postamt-remote's "(DSN passed on)" counts only right after "accepted the message", never
    /// inside the server's reply text that follows.
    @Test(arguments: [
        ("mx.example.org[192.0.2.7] accepted the message (DSN passed on). mx.example.org[192.0.2.7] said: 250 ok", true),
        ("mx.example.org[192.0.2.7] accepted the message. mx.example.org[192.0.2.7] said: 250 ok", false),
        ("mx.example.org[192.0.2.7] accepted the message. said: 250 x accepted the message (DSN passed on). ", false),
        ("", false),
    ])
    func dsnPassedOnNote(text: String, passed: Bool) {
        #expect(DSNParameters.reportsPassedOn(text) == passed)
    }
}

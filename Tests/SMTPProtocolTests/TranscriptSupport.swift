import Testing
@testable import SMTPProtocol

/// The policy used by the transcripts: local domain example.org with users alice, bob and
/// postmaster; AUTH accepts alice/secret; "tempuser" gets a temporary failure.
final class TestPolicy: SMTPPolicy {
    var checkedRecipients: [String] = []
    var authenticationAttempts: [(String, [UInt8])] = []

    func isLocalDomain(_ domain: String) -> Bool { domain == "example.org" || domain == "[192.0.2.25]" }

    func checkSender(_ sender: SMTPReversePath, session: SMTPSessionFacts) -> SMTPSenderVerdict {
        switch sender.text {
        case "spammer@bad.example": return .reject(SMTPReply(550, "5.7.1", "Sender rejected"))
        case "slow@bad.example": return .temporaryFailure("Sender lookup failed")
        default: return .accept
        }
    }

    func checkRecipient(_ recipient: SMTPRecipient, session: SMTPSessionFacts) -> SMTPRecipientVerdict {
        checkedRecipients.append(recipient.mailbox.text)
        if recipient.mailbox.isBarePostmaster { return .accept }
        guard recipient.mailbox.lowercasedDomain == "example.org" else { return .accept }  // relay allowed by the engine
        switch recipient.mailbox.unquotedLocalPart.lowercased() {
        case "alice", "bob", "postmaster", "`id`", "$(reboot)", "a b", "ünïcødé": return .accept
        case "tempfail": return .temporaryFailure("Lookup failed, try later")
        case "blocked": return .reject(SMTPReply(550, "5.7.2", "Mailbox disabled"))
        default: return .unknownUser
        }
    }

    /// The host's password check, answering an `authenticate` event.
    func authenticate(_ request: SMTPAuthenticationRequest, session: SMTPSessionFacts) -> SMTPAuthResult {
        authenticationAttempts.append((request.user, request.password))
        if request.user == "tempuser" { return .temporaryFailure }
        return request.user == "alice" && request.password == Array("secret".utf8) ? .success : .failure
    }

    /// Events as a host sees them, `authenticate` answered on the spot.
    func answering(_ events: [SMTPEvent], _ session: SMTPSession) -> [SMTPEvent] {
        var result: [SMTPEvent] = []
        for event in events {
            guard case .authenticate(let request) = event else { result.append(event); continue }
            result += answering(session.authenticationAnswered(authenticate(request, session: session.facts)), session)
        }
        return result
    }
}

func makeConfiguration(_ role: SMTPServerRole = .mx, _ adjust: (inout SMTPSessionConfiguration) -> Void = { _ in }) -> SMTPSessionConfiguration {
    var configuration = SMTPSessionConfiguration(role: role, hostname: "mx.example.org")
    configuration.startTLSAvailable = true
    adjust(&configuration)
    return configuration
}

/// How a transcript feeds the client's bytes.
enum FeedMode: CaseIterable, CustomStringConvertible {
    /// Each block of consecutive client lines in one feed (pipelining).
    case blocks
    /// One byte per feed.
    case byteByByte
    var description: String { self == .blocks ? "blocks" : "byte-by-byte" }
}

/// The outcome of running a transcript.
struct TranscriptRun {
    var server: String = ""
    var events: [String] = []
    var allEvents: [SMTPEvent] = []
    var messages: [[UInt8]] = []
    var logs: [String] = []
}

/// Runs a readable script against a fresh session and checks every server line.
///
/// Script lines:
/// - `C: text` — the client sends `text` CRLF (literal text, no escapes).
/// - `C| text` — the client sends raw bytes with escapes `\r \n \0 \t \\ \xHH` and no added CRLF.
/// - `S| text` — the server must send these escaped bytes (for trailing spaces: `S| 334 \r\n`).
/// - `S: text` — the server must send `text` CRLF. Server lines are checked after each block of
///   client lines, so a reply that came too early or too late fails the test.
/// - `E: event` — a host event (`begin <from> <to,to>`, `data <escaped>`, `end`, `abort <reason>`,
///   `starttls`, `close`, `delay <ms>`); checked only if the script has E lines.
/// - `#` comments and blank lines are ignored.
///
/// The runner answers `messageEnd` with `queueResults` (in order, then `accepted 1A2B3C`) and
/// `startTLS` with an established TLSv1.3 session once the current block of client lines is
/// over (the rest of the block is plaintext a real host discards; in block mode it reaches the
/// engine, which must drop it itself).
@discardableResult
func runTranscript(_ script: String, configuration: SMTPSessionConfiguration = makeConfiguration(),
                   connection: SMTPConnectionInfo = SMTPConnectionInfo(peerAddress: "192.0.2.1", peerReverseName: "client.example"),
                   policy: TestPolicy = TestPolicy(), mode: FeedMode = .blocks,
                   queueResults: [SMTPQueueResult] = [],
                   sourceLocation: SourceLocation = #_sourceLocation) -> TranscriptRun {
    enum Step { case client([UInt8]), server(String), event(String) }
    var steps: [Step] = []
    for line in script.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("C: ") { steps.append(.client(Array(line.dropFirst(3).utf8) + [13, 10])) }
        else if line == "C:" { steps.append(.client([13, 10])) }
        else if line.hasPrefix("C| ") { steps.append(.client(unescape(String(line.dropFirst(3))))) }
        else if line.hasPrefix("S: ") { steps.append(.server(String(line.dropFirst(3)) + "\r\n")) }
        else if line.hasPrefix("S| ") { steps.append(.server(String(decoding: unescape(String(line.dropFirst(3))), as: UTF8.self))) }
        else if line.hasPrefix("E: ") { steps.append(.event(String(line.dropFirst(3)))) }
        else if line.trimmingPrefix(while: { $0 == " " }).isEmpty || line.hasPrefix("#") { continue }
        else { Issue.record("bad transcript line: \(line)", sourceLocation: sourceLocation) }
    }
    let checksEvents = steps.contains { if case .event = $0 { return true } else { return false } }
    let session = SMTPSession(configuration: configuration, connection: connection, policy: policy)
    var run = TranscriptRun()
    var pendingQueueResults = queueResults
    var currentMessage: [UInt8]?
    var tlsPending = false

    func handle(_ events: [SMTPEvent], into output: inout String, _ eventTexts: inout [String]) {
        var queue = events
        while !queue.isEmpty {
            let event = queue.removeFirst()
            run.allEvents.append(event)
            switch event {
            case .send(let bytes):
                #expect(bytes.suffix(2) == [13, 10], "reply must end in CRLF", sourceLocation: sourceLocation)
                output += String(decoding: bytes, as: UTF8.self)
            case .log(let text): run.logs.append(text)
            case .delay(let ms): eventTexts.append("delay \(ms)")
            case .messageBegin(let envelope):
                currentMessage = []
                eventTexts.append("begin \(envelope.sender) \(envelope.recipients.map(\.mailbox.text).joined(separator: ","))")
            case .messageData(let bytes):
                currentMessage?.append(contentsOf: bytes)
                if let last = eventTexts.last, last.hasPrefix("data ") {
                    eventTexts[eventTexts.count - 1] = last + escape(bytes)
                } else {
                    eventTexts.append("data " + escape(bytes))
                }
            case .messageEnd:
                eventTexts.append("end")
                run.messages.append(currentMessage ?? [])
                currentMessage = nil
                let result = pendingQueueResults.isEmpty ? .accepted(queueID: "1A2B3C") : pendingQueueResults.removeFirst()
                queue = session.messageQueued(result) + queue
            case .messageAbort(let reason):
                currentMessage = nil
                eventTexts.append("abort \(reason)")
            case .authenticate(let request):
                // The host's answer, at once, as smtpd gives it.
                queue = session.authenticationAnswered(policy.authenticate(request, session: session.facts)) + queue
            case .startTLS:
                // Like a real host: whatever else was read in plaintext is discarded, and the
                // handshake completes before the next block of client lines.
                eventTexts.append("starttls")
                tlsPending = true
            case .close:
                eventTexts.append("close")
            }
        }
    }

    var output = ""
    var eventTexts: [String] = []
    handle(session.start(), into: &output, &eventTexts)
    var expectedOutput = ""
    var expectedEvents: [String] = []
    var index = 0
    func check() {
        #expect(output == expectedOutput, sourceLocation: sourceLocation)
        if checksEvents { #expect(eventTexts == expectedEvents, sourceLocation: sourceLocation) }
        run.server += output
        run.events += eventTexts
        output = ""; eventTexts = []; expectedOutput = ""; expectedEvents = []
    }
    while index < steps.count {
        switch steps[index] {
        case .server(let text): expectedOutput += text; index += 1
        case .event(let text): expectedEvents.append(text); index += 1
        case .client:
            check()
            var block: [UInt8] = []
            while index < steps.count, case .client(let bytes) = steps[index] {
                block += bytes
                index += 1
            }
            switch mode {
            case .blocks: handle(session.feed(block), into: &output, &eventTexts)
            case .byteByByte: for byte in block where !tlsPending { handle(session.feed([byte]), into: &output, &eventTexts) }
            }
            if tlsPending {
                tlsPending = false
                handle(session.tlsEstablished(SMTPTLSInfo(version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384")), into: &output, &eventTexts)
            }
        }
    }
    check()
    for text in run.logs {
        #expect(!text.contains("secret") && !text.contains("c2VjcmV0"), "password in log", sourceLocation: sourceLocation)
    }
    return run
}

func unescape(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var bytes = Array(text.utf8)[...]
    while let byte = bytes.popFirst() {
        guard byte == UInt8(ascii: "\\"), let next = bytes.popFirst() else { out.append(byte); continue }
        switch next {
        case UInt8(ascii: "r"): out.append(13)
        case UInt8(ascii: "n"): out.append(10)
        case UInt8(ascii: "0"): out.append(0)
        case UInt8(ascii: "t"): out.append(9)
        case UInt8(ascii: "x"):
            let hex = String(decoding: bytes.prefix(2), as: UTF8.self)
            bytes = bytes.dropFirst(2)
            out.append(UInt8(hex, radix: 16)!)
        default: out.append(next)
        }
    }
    return out
}

func escape(_ bytes: [UInt8]) -> String {
    var out = ""
    for byte in bytes {
        switch byte {
        case 13: out += "\\r"
        case 10: out += "\\n"
        case 0: out += "\\0"
        case 92: out += "\\\\"
        default: out.unicodeScalars.append(Unicode.Scalar(byte))
        }
    }
    return out
}

import Testing
@testable import POP3Protocol

/// Failure while reading a message.
struct DiskError: Error {}

/// An in-memory maildrop: messages stored with LF line ends, sizes in CRLF octets.
final class MemoryMaildrop: POP3Maildrop {
    var messages: [[UInt8]]
    var deletedAtQuit: [Int]?
    var failDeletion = false
    var failReading: Set<Int> = []
    var readPieceSize = 7

    init(_ messages: [String]) { self.messages = messages.map { Array($0.utf8) } }

    var messageCount: Int { messages.count }
    func messageSize(_ number: Int) -> Int { messages[number - 1].count + messages[number - 1].filter { $0 == 10 }.count }
    func uniqueID(_ number: Int) -> String { "uid-\(number)" }
    func openMessage(_ number: Int) throws -> any POP3MessageSource {
        if failReading.contains(number) { throw DiskError() }
        return MemorySource(messages[number - 1], pieceSize: readPieceSize, failAfter: nil)
    }
    func deleteMessages(_ numbers: [Int]) -> Bool {
        deletedAtQuit = numbers
        return !failDeletion
    }
}

final class MemorySource: POP3MessageSource {
    var remaining: ArraySlice<UInt8>
    let pieceSize: Int
    var failAfter: Int?
    init(_ bytes: [UInt8], pieceSize: Int, failAfter: Int?) {
        remaining = bytes[...]
        self.pieceSize = pieceSize
        self.failAfter = failAfter
    }
    func read(maximumLength: Int) throws -> [UInt8]? {
        if let left = failAfter {
            if left <= 0 { throw DiskError() }
            failAfter = left - 1
        }
        guard !remaining.isEmpty else { return nil }
        let piece = remaining.prefix(min(pieceSize, maximumLength))
        remaining = remaining.dropFirst(piece.count)
        return Array(piece)
    }
}

final class POP3TestPolicy: POP3Policy {
    let maildrop: MemoryMaildrop
    var opening: String = "ok"
    var attempts: [(String, [UInt8])] = []
    init(maildrop: MemoryMaildrop) { self.maildrop = maildrop }
    /// The host's password check, answering an `authenticate` event.
    func authenticate(user: String, password: [UInt8]) -> POP3AuthResult {
        attempts.append((user, password))
        if user == "tempuser" { return .temporaryFailure }
        return (user == "alice" || user == "busy") && password == Array("secret word".utf8) ? .success : .failure
    }

    func answering(_ events: [POP3Event], _ session: POP3Session) -> [POP3Event] {
        pop3Answering(events, session) { self.authenticate(user: $0.user, password: $0.password) }
    }

    func openMaildrop(user: String) -> POP3MaildropOpening {
        user == "busy" ? .inUse : .opened(maildrop)
    }
}

/// Events as a host sees them: each `authenticate` answered on the spot by `check`.
func pop3Answering(_ events: [POP3Event], _ session: POP3Session,
                   _ check: (POP3AuthenticationRequest) -> POP3AuthResult) -> [POP3Event] {
    var result: [POP3Event] = []
    for event in events {
        guard case .authenticate(let request) = event else { result.append(event); continue }
        result += pop3Answering(session.authenticationAnswered(check(request)), session, check)
    }
    return result
}

let sampleMessages = [
    "From: bob@example.org\nSubject: one\n\nHello\n.dot line\n..two dots\nlast\n",
    "Subject: two\n\nbody\n",
    "Subject: three\n\nno final newline",
]

func makePOP3Configuration(_ adjust: (inout POP3SessionConfiguration) -> Void = { _ in }) -> POP3SessionConfiguration {
    var configuration = POP3SessionConfiguration(hostname: "pop.example.org")
    configuration.startTLSAvailable = true
    adjust(&configuration)
    return configuration
}

enum POP3FeedMode: CaseIterable, CustomStringConvertible {
    case blocks, byteByByte
    var description: String { self == .blocks ? "blocks" : "byte-by-byte" }
}

struct POP3Run {
    var server = ""
    var events: [POP3Event] = []
    var logs: [String] { events.compactMap { if case .log(let text) = $0 { text } else { nil } } }
}

/// Same script format as the SMTP transcripts: `C:` client line (CRLF added), `C|` raw escaped
/// bytes, `S:` exact server line. Server lines are checked after each block of client lines.
/// `outputPending` is answered with `continueOutput()` at once; `startTLS` with
/// `tlsEstablished()` once the current block is over (its remaining plaintext is discarded).
/// With `checksServerLines` false the caller checks `run.server` itself.
@discardableResult
func runPOP3(_ script: String, configuration: POP3SessionConfiguration = makePOP3Configuration(),
             policy: POP3TestPolicy = POP3TestPolicy(maildrop: MemoryMaildrop(sampleMessages)), mode: POP3FeedMode = .blocks,
             checksServerLines: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) -> POP3Run {
    enum Step { case client([UInt8]), server(String) }
    var steps: [Step] = []
    for line in script.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("C: ") { steps.append(.client(Array(line.dropFirst(3).utf8) + [13, 10])) }
        else if line.hasPrefix("C| ") { steps.append(.client(pop3Unescape(String(line.dropFirst(3))))) }
        else if line.hasPrefix("S: ") { steps.append(.server(String(line.dropFirst(3)) + "\r\n")) }
        else if line == "S:" { steps.append(.server("\r\n")) }
        else if line.hasPrefix("S| ") { steps.append(.server(String(decoding: pop3Unescape(String(line.dropFirst(3))), as: UTF8.self))) }
        else if line.allSatisfy({ $0 == " " }) || line.hasPrefix("#") { continue }
        else { Issue.record("bad transcript line: \(line)", sourceLocation: sourceLocation) }
    }
    let session = POP3Session(configuration: configuration, policy: policy)
    var run = POP3Run()
    var output = ""
    var expected = ""
    var tlsPending = false
    func handle(_ events: [POP3Event]) {
        var queue = events
        while !queue.isEmpty {
            let event = queue.removeFirst()
            run.events.append(event)
            switch event {
            case .send(let bytes):
                output += String(decoding: bytes, as: UTF8.self)
            case .outputPending: queue = session.continueOutput() + queue
            case .authenticate(let request):
                queue = session.authenticationAnswered(policy.authenticate(user: request.user, password: request.password)) + queue
            case .startTLS: tlsPending = true
            default: break
            }
        }
    }
    handle(session.start())
    var index = 0
    func check() {
        if checksServerLines { #expect(output == expected, sourceLocation: sourceLocation) }
        run.server += output
        output = ""
        expected = ""
    }
    while index < steps.count {
        switch steps[index] {
        case .server(let text): expected += text; index += 1
        case .client:
            check()
            var block: [UInt8] = []
            while index < steps.count, case .client(let bytes) = steps[index] { block += bytes; index += 1 }
            switch mode {
            case .blocks: handle(session.feed(block))
            case .byteByByte: for byte in block where !tlsPending { handle(session.feed([byte])) }
            }
            if tlsPending {
                tlsPending = false
                handle(session.tlsEstablished())
            }
        }
    }
    check()
    for text in run.logs { #expect(!text.contains("secret"), sourceLocation: sourceLocation) }
    return run
}

func pop3Unescape(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var bytes = Array(text.utf8)[...]
    while let byte = bytes.popFirst() {
        guard byte == UInt8(ascii: "\\"), let next = bytes.popFirst() else { out.append(byte); continue }
        switch next {
        case UInt8(ascii: "r"): out.append(13)
        case UInt8(ascii: "n"): out.append(10)
        case UInt8(ascii: "0"): out.append(0)
        default: out.append(next)
        }
    }
    return out
}

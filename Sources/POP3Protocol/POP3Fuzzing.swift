import MailCodec
/// Entry point for fuzzers: arbitrary bytes in, must never trap.
public enum POP3Fuzzing {
    private final class Messages: POP3Maildrop {
        let bodies: [[UInt8]] = [Array("Subject: a\n\nline\n.dot\n".utf8), Array("X: y\r\n\r\n".utf8), Array("no newline".utf8)]
        var messageCount: Int { bodies.count }
        func messageSize(_ number: Int) -> Int { bodies[number - 1].count }
        func uniqueID(_ number: Int) -> String { "uid\(number)" }
        func openMessage(_ number: Int) throws -> any POP3MessageSource { Source(bodies[number - 1]) }
        func deleteMessages(_ numbers: [Int]) -> Bool { true }
    }

    private final class Source: POP3MessageSource {
        var remaining: ArraySlice<UInt8>
        init(_ bytes: [UInt8]) { remaining = bytes[...] }
        func read(maximumLength: Int) throws -> [UInt8]? {
            guard !remaining.isEmpty else { return nil }
            let piece = remaining.prefix(min(maximumLength, 3))
            remaining = remaining.dropFirst(piece.count)
            return Array(piece)
        }
    }

    private final class Policy: POP3Policy {
        /// The host's answer to an `authenticate` event.
        static func authenticate(_ request: AuthenticationRequest) -> POP3AuthResult {
            request.user == "user" && request.password == Array("pass".utf8) ? .success : .failure
        }
        func openMaildrop(user: String) -> POP3MaildropOpening { .opened(Messages()) }
    }

    /// Feeds `bytes` in pieces whose sizes come from the bytes, answering every host callback.
    @discardableResult
    public static func runServer(_ bytes: [UInt8]) -> Int {
        var configuration = POP3SessionConfiguration(hostname: "pop.example.org")
        configuration.startTLSAvailable = true
        configuration.allowsPlaintextAuthentication = true
        configuration.limits.outputChunkSize = 16
        let session = POP3Session(configuration: configuration, policy: Policy())
        var count = session.start().count
        var index = 0
        while index < bytes.count && !session.isClosed {
            let end = min(bytes.count, index + Int(bytes[index] % 13) + 1)
            var events = session.feed(bytes[index..<end])
            index = end
            var rounds = 0
            while rounds < 10_000, let event = events.last, event == .outputPending || event == .startTLS || event.isAuthenticate {
                rounds += 1
                count += events.count
                switch event {
                case .outputPending: events = session.continueOutput()
                case .authenticate(let request): events = session.authenticationAnswered(Policy.authenticate(request))
                default: events = session.tlsEstablished()
                }
            }
            count += events.count
        }
        return count + session.endOfInput().count
    }
}

/// Entry points for fuzzers: arbitrary bytes in, must never trap. They drive a real session
/// (submission role with plaintext AUTH allowed, so every state is reachable) and answer every
/// host callback, so the whole engine is exercised.
public enum SMTPFuzzing {
    private final class PermissivePolicy: SMTPPolicy {
        func isLocalDomain(_ domain: String) -> Bool { domain.hasSuffix("example.org") }
        func checkRecipient(_ recipient: SMTPRecipient, session: SMTPSessionFacts) -> SMTPRecipientVerdict {
            recipient.mailbox.localPart.hasPrefix("x") ? .unknownUser : .accept
        }
        /// The host's answer to an `authenticate` event.
        static func authenticate(_ request: SMTPAuthenticationRequest) -> SMTPAuthResult {
            request.user == "user" && request.password == Array("pass".utf8) ? .success : .failure
        }
    }

    /// Feeds `bytes` to a server session in pieces whose sizes come from the bytes themselves;
    /// returns the number of events (so the optimizer keeps the work).
    @discardableResult
    public static func runServer(_ bytes: [UInt8], role: SMTPServerRole = .submission) -> Int {
        var configuration = SMTPSessionConfiguration(role: role, hostname: "mx.example.org")
        configuration.startTLSAvailable = true
        configuration.allowsPlaintextAuthentication = true
        configuration.limits.maximumMessageSize = 4096
        configuration.limits.maximumCommandLineLength = 512
        let session = SMTPSession(configuration: configuration, connection: SMTPConnectionInfo(peerAddress: "192.0.2.1"),
                                        policy: PermissivePolicy())
        var count = session.start().count
        var index = 0
        while index < bytes.count && !session.isClosed {
            let length = Int(bytes[index] % 17) + 1
            let end = min(bytes.count, index + length)
            var events = session.feed(bytes[index..<end])
            index = end
            var rounds = 0
            while rounds < 1000, let event = events.first(where: { $0 == .messageEnd || $0 == .startTLS || $0.isAuthenticate }) {
                rounds += 1
                switch event {
                case .messageEnd: events = session.messageQueued(.accepted(queueID: "Q\(index)"))
                case .authenticate(let request):
                    events = session.authenticationAnswered(PermissivePolicy.authenticate(request))
                default: events = session.tlsEstablished(SMTPTLSInfo(version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256"))
                }
                count += events.count
            }
            count += events.count
        }
        count += session.endOfInput().count
        return count
    }

    /// Feeds `bytes` to the reply parser and the DATA encoder.
    @discardableResult
    public static func runClient(_ bytes: [UInt8]) -> Int {
        var parser = SMTPReplyParser()
        var count = 0
        for reply in (try? parser.feed(bytes)) ?? [] {
            count += reply.lines.count
            if let capabilities = SMTPCapabilities(ehloReply: reply) { count += capabilities.keywords.count }
        }
        var encoder = SMTPDataEncoder()
        count += encoder.encode(bytes).count + encoder.finish().count
        return count
    }
}

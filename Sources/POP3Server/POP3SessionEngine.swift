import MailCodec
import MailLogin
import POP3Protocol

/// `POP3Session` in the shape `SessionHost` drives. The engine's `authenticate` requests
/// are answered here, by `authenticator` (postamt-auth through POP3LoginPolicy).
public final class POP3SessionEngine: SessionEngine {
    public let session: POP3Session
    /// `--preauth`: the session starts logged in as this user (no USER/PASS from the client).
    let preauthenticatedUser: String?
    let authenticator: (AuthenticationRequest) -> POP3AuthResult

    public init(session: POP3Session, preauthenticatedUser: String? = nil,
                authenticator: @escaping (AuthenticationRequest) -> POP3AuthResult) {
        self.session = session
        self.preauthenticatedUser = preauthenticatedUser
        self.authenticator = authenticator
    }

    public var isAuthenticated: Bool { session.authenticatedUser != nil }

    public func start() -> [SessionAction] {
        var actions = self.actions(session.start())
        if let user = preauthenticatedUser {
            // POP3 has no PREAUTH greeting: log in behind the greeting, hiding the replies
            // (fetchmail's "preauth ssh" expects TRANSACTION state right after +OK).
            let events = session.feed(Array("USER \(user)\r\nPASS -\r\n".utf8))
            actions += self.actions(events).filter { if case .send = $0 { return false }; return true }
            if !isAuthenticated {
                actions = actions.filter { if case .send = $0 { return false }; return true }
                actions += [.send(Array("-ERR [SYS/TEMP] Cannot open mailbox, try later\r\n".utf8)), .close]
            }
        }
        return actions
    }

    public func feed(_ bytes: [UInt8]) -> [SessionAction] { actions(session.feed(bytes)) }
    public func continueOutput() -> [SessionAction] { actions(session.continueOutput()) }
    public func tlsEstablished() -> [SessionAction] { actions(session.tlsEstablished()) }
    public func endOfInput() -> [SessionAction] { actions(session.endOfInput()) }
    public func timedOut() -> [SessionAction] { actions(session.timedOut()) }

    func actions(_ events: [POP3Event]) -> [SessionAction] {
        var actions: [SessionAction] = []
        for event in events {
            switch event {
            case .send(let bytes): actions.append(.send(bytes))
            case .log(let text): actions.append(.log(text))
            case .delay(let milliseconds): actions.append(.delay(milliseconds: milliseconds))
            case .outputPending: actions.append(.continueOutput)
            case .startTLS: actions.append(.startTLS)
            case .close: actions.append(.close)
            case .authenticate(let request):
                // Answered in order: what the engine says next follows what it said before.
                actions += self.actions(session.authenticationAnswered(authenticator(request)))
            }
        }
        return actions
    }
}

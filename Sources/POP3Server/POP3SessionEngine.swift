import MailLogin
import POP3Protocol

/// `POP3ServerSession` in the shape `SessionHost` drives.
public final class POP3SessionEngine: SessionEngine {
    public let session: POP3ServerSession
    /// `--preauth`: the session starts logged in as this user (no USER/PASS from the client).
    let preauthenticatedUser: String?

    public init(session: POP3ServerSession, preauthenticatedUser: String? = nil) {
        self.session = session
        self.preauthenticatedUser = preauthenticatedUser
    }

    public var isAuthenticated: Bool { session.authenticatedUser != nil }

    public func start() -> [SessionAction] {
        var actions = Self.map(session.start())
        if let user = preauthenticatedUser {
            // POP3 has no PREAUTH greeting: log in behind the greeting, hiding the replies
            // (fetchmail's "preauth ssh" expects TRANSACTION state right after +OK).
            let events = session.feed(Array("USER \(user)\r\nPASS -\r\n".utf8))
            actions += Self.map(events).filter { if case .send = $0 { return false }; return true }
            if !isAuthenticated {
                actions = actions.filter { if case .send = $0 { return false }; return true }
                actions += [.send(Array("-ERR [SYS/TEMP] Cannot open mailbox, try later\r\n".utf8)), .close]
            }
        }
        return actions
    }

    public func feed(_ bytes: [UInt8]) -> [SessionAction] { Self.map(session.feed(bytes)) }
    public func continueOutput() -> [SessionAction] { Self.map(session.continueOutput()) }
    public func tlsEstablished() -> [SessionAction] { Self.map(session.tlsEstablished()) }
    public func endOfInput() -> [SessionAction] { Self.map(session.endOfInput()) }
    public func timedOut() -> [SessionAction] { Self.map(session.timedOut()) }

    static func map(_ events: [POP3ServerEvent]) -> [SessionAction] {
        events.map { event in
            switch event {
            case .send(let bytes): .send(bytes)
            case .log(let text): .log(text)
            case .delay(let milliseconds): .delay(milliseconds: milliseconds)
            case .outputPending: .continueOutput
            case .startTLS: .startTLS
            case .close: .close
            }
        }
    }
}

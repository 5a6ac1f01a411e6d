import MailAuth

/// The answer to a password check.
public enum PasswordVerdict: Sendable, Equatable {
    /// Right; the canonical user name as PAM (or the passwd file) has it: log in as this one.
    case accepted(user: String)
    /// Wrong password or unknown user: one answer for both, so a client learns nothing.
    case rejected
    /// The check could not be made (postamt-auth down, PAM broken): a temporary error.
    case unavailable(reason: String)
}

/// Asks postamt-auth(8) over its Unix socket. Login servers link no PAM and read no
/// /etc/shadow; the delay after a wrong password is postamt-auth's (auth_failure_delay).
public struct PasswordChecker: Sendable {
    public let client: AuthClient
    /// The caller's protocol: "pop3", "imap" (PAM service postamt-%s).
    public let service: String

    public init(settings: LoginSettings, service: String) {
        client = AuthClient(socketPath: settings.authSocket, timeout: settings.authTimeoutSeconds)
        self.service = service
    }

    public func check(user: String, password: [UInt8], peer: String) -> PasswordVerdict {
        switch client.authenticate(service: service, user: Array(user.utf8), password: password, peer: peer) {
        case .success(let canonical): return .accepted(user: canonical)
        case .failure: return .rejected
        case .temporary(let reason): return .unavailable(reason: reason)
        }
    }
}

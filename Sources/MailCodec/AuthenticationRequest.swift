/// The engine contract's one request to its host: credentials to check (from SMTP AUTH, POP3
/// USER/PASS or AUTH, IMAP LOGIN or AUTHENTICATE). An engine emits it and reads no further
/// command until the host answers, so the host may check the password where it likes (in
/// process today; in a separate login process later). `user` is valid UTF-8 without control
/// characters; `password` is the raw octets (never empty, never containing NUL). Its
/// description never shows the password, so logging an event cannot leak it.
public struct AuthenticationRequest: Sendable, Equatable, CustomStringConvertible {
    public let user: String
    public let password: [UInt8]
    /// The word the client used: PLAIN, LOGIN, USER (POP3 USER/PASS), or LOGIN for IMAP LOGIN.
    public let mechanism: String

    public init(user: String, password: [UInt8], mechanism: String) {
        self.user = user
        self.password = password
        self.mechanism = mechanism
    }

    public var description: String { "authenticate user=\(user) mechanism=\(mechanism)" }
}

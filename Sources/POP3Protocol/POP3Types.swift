import MailCodec

/// Every limit the POP3 server engine enforces, with documented defaults.
public struct POP3Limits: Sendable, Equatable {
    /// Longest command or SASL response line in octets including CRLF. RFC 2449 §4 limits
    /// commands to 255 octets, but SASL PLAIN responses with long passwords exceed that; 1024
    /// is ample. A longer line is dropped up to its LF and answered `-ERR Line too long`.
    public var maximumCommandLineLength: Int = 1024
    /// Commands allowed before successful authentication; the next closes the session.
    public var maximumCommandsBeforeAuthentication: Int = 20
    /// Failed logins allowed; the failure that reaches it closes the session.
    public var maximumAuthenticationFailures: Int = 3
    /// Delay hint per failed login so far, in milliseconds.
    public var authenticationFailureDelayMilliseconds: Int = 2000
    /// Protocol errors (unknown command, bad syntax, bad line) allowed; the one that reaches it
    /// closes the session.
    public var maximumErrors: Int = 10
    /// Upper bound of every delay hint, in milliseconds.
    public var maximumDelayMilliseconds: Int = 15_000
    /// Bytes of message text encoded per output step of RETR/TOP (see
    /// ``POP3Event/outputPending``).
    public var outputChunkSize: Int = 64 * 1024
    /// Input held while a RETR/TOP response is being produced; beyond it the session closes.
    public var maximumPendingInput: Int = 64 * 1024
    /// Longest user name accepted, in octets.
    public var maximumUserNameLength: Int = 255

    public init() {}
}

/// Settings of one POP3 session.
public struct POP3SessionConfiguration: Sendable {
    /// Our host name, for log lines and the greeting.
    public var hostname: String
    public var limits = POP3Limits()
    /// The host has a certificate: STLS is offered until TLS is active (RFC 2595).
    public var startTLSAvailable = false
    /// Allow USER/PASS and AUTH without TLS (tests, loopback). Default false: RFC 2595 §2.
    public var allowsPlaintextAuthentication = false
    /// The session starts inside TLS (port 995).
    public var implicitTLS = false

    public init(hostname: String) { self.hostname = hostname }
}

/// The result of checking a user name and password.
public enum POP3AuthResult: Sendable, Equatable {
    case success
    /// `-ERR [AUTH]`, counts towards the failure limit.
    case failure
    /// `-ERR [SYS/TEMP]` (RFC 3206): the authentication service is unavailable.
    case temporaryFailure
}

/// The result of opening (and locking) the maildrop after login.
public enum POP3MaildropOpening {
    case opened(any POP3Maildrop)
    /// Another session holds the maildrop: `-ERR [IN-USE]` (RFC 2449 §8.1.2).
    case inUse
    /// `-ERR [SYS/TEMP]`.
    case temporaryFailure
}

/// Credentials to check (MailCodec's engine contract type).
public typealias POP3AuthenticationRequest = AuthenticationRequest

/// Decisions and data only the host has. Calls are synchronous. Passwords are not checked
/// here: the engine asks for that with ``POP3Event/authenticate(_:)``.
public protocol POP3Policy: AnyObject {
    /// Opens and locks the user's maildrop (the host drops privileges to the user before).
    func openMaildrop(user: String) -> POP3MaildropOpening
}

/// A locked maildrop as the host sees it; message numbers are 1-based and stable for the session.
public protocol POP3Maildrop: AnyObject {
    /// Number of messages when the maildrop was opened.
    var messageCount: Int { get }
    /// The exact size in octets as sent, with CRLF line ends, before dot-stuffing (RFC 1939 §5 LIST).
    func messageSize(_ number: Int) -> Int
    /// The unique id (RFC 1939 §7 UIDL): 1–70 characters 0x21–0x7E, stable across sessions.
    /// Anything else is sanitised by the engine.
    func uniqueID(_ number: Int) -> String
    /// Opens the message for reading. Throwing answers `-ERR [SYS/TEMP]`.
    func openMessage(_ number: Int) throws -> any POP3MessageSource
    /// Removes the messages marked deleted, at QUIT (UPDATE state, RFC 1939 §6). Returns false if
    /// any could not be removed.
    func deleteMessages(_ numbers: [Int]) -> Bool
}

/// The bytes of one message, read in pieces: LF (or CRLF) line ends as stored; the engine adds
/// CRLF and dot-stuffing.
public protocol POP3MessageSource: AnyObject {
    /// Up to `maximumLength` more bytes; nil (or empty) at the end. Throwing mid-message closes
    /// the connection, because a started multi-line response cannot be turned into an error.
    func read(maximumLength: Int) throws -> [UInt8]?
}

/// One thing the host must do, in order.
public enum POP3Event: Sendable, Equatable {
    /// Bytes to write to the client.
    case send([UInt8])
    /// A log line for stderr; never contains passwords, SASL data or message bytes.
    case log(String)
    /// Tarpit hint: sleep before handling the next event.
    case delay(milliseconds: Int)
    /// A RETR/TOP response is being produced: after writing, call
    /// ``POP3Session/continueOutput()`` for the next part (keeps memory bounded).
    case outputPending
    /// `+OK` to STLS was sent: discard unread plaintext, handshake, then call
    /// ``POP3Session/tlsEstablished()``.
    case startTLS
    /// USER/PASS or AUTH gave credentials (password never empty, never containing NUL, CR or
    /// LF): check them, then call ``POP3Session/authenticationAnswered(_:)``. The engine
    /// reads no further command until then.
    case authenticate(AuthenticationRequest)
    /// Close the connection after writing what was sent.
    case close
}

extension POP3Event {
    /// True for ``authenticate(_:)``, the one event a host must answer before reading on.
    public var isAuthenticate: Bool {
        if case .authenticate = self { return true }
        return false
    }
}

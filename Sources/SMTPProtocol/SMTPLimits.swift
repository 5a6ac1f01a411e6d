/// Every limit the SMTP server engine enforces, with documented defaults.
///
/// All values are configurable; the defaults suit a public MX and a submission service alike.
/// No limit depends on a clock: time limits (idle, whole session) belong to the host, which calls
/// ``SMTPSession/timedOut()``.
public struct SMTPLimits: Sendable, Equatable {
    /// Longest command line accepted, in octets including the CRLF. RFC 5321 §4.5.3.1.4 sets 512
    /// as the minimum a server must accept; ESMTP parameters (SIZE, BODY, ENVID, ORCPT, AUTH=…)
    /// and SASL initial responses make longer lines legitimate, so the default is 2048.
    /// A longer line is consumed up to its LF without being buffered and answered
    /// `500 5.5.6 Line too long`. The same limit applies to SASL response lines.
    public var maximumCommandLineLength: Int = 2048

    /// Longest text line inside DATA or BDAT, in octets including the CRLF. RFC 5321 §4.5.3.1.6
    /// says 1000, but real mail (generated HTML, long base64 lines) exceeds it, and since the
    /// engine streams lines it never buffers one; 10,000 is a compromise that still rejects
    /// nonsense. An overlong line fails the message with `550 5.6.0` after end of data.
    public var maximumTextLineLength: Int = 10_000

    /// Largest message accepted, in octets as sent on the wire with CRLF line ends (RFC 1870).
    /// Announced as `SIZE n` in the EHLO response. Default 50 MiB.
    public var maximumMessageSize: UInt64 = 50 * 1024 * 1024

    /// Most recipients per message; the next RCPT gets `452 4.5.3 Too many recipients`
    /// (RFC 5321 §4.5.3.1.8 asks servers to accept at least 100).
    public var maximumRecipients: Int = 100

    /// Most "junk" commands (HELO, EHLO, NOOP, RSET, VRFY, EXPN, HELP) since the session started
    /// or the last accepted message; the next one is answered `421 4.7.0` and the session closes.
    public var maximumJunkCommands: Int = 20

    /// Most errors (syntax, unknown command, bad sequence, rejected sender or recipient) since
    /// the session started or the last accepted message. The reply to the error that reaches
    /// the limit is followed by `421 4.7.0` and the session closes.
    public var maximumErrors: Int = 10

    /// Errors answered without a delay hint; after that each error reply is preceded by a
    /// ``SMTPEvent/delay(milliseconds:)`` event that grows with the error count.
    public var errorsBeforeDelay: Int = 3

    /// Delay hint per error beyond ``errorsBeforeDelay``, in milliseconds.
    public var errorDelayStepMilliseconds: Int = 1000

    /// Failed authentications allowed; the failure that reaches the limit is followed by
    /// `421 4.7.0` and the session closes. Each failure gets `535 5.7.8` after a delay hint.
    public var maximumAuthenticationFailures: Int = 3

    /// Delay hint per authentication failure so far, in milliseconds (1st: 1×, 2nd: 2×, …).
    public var authenticationFailureDelayMilliseconds: Int = 2000

    /// Upper bound of every delay hint, in milliseconds.
    public var maximumDelayMilliseconds: Int = 15_000

    /// Longest path in MAIL/RCPT including the angle brackets (RFC 5321 §4.5.3.1.3 says 256).
    public var maximumPathLength: Int = 256

    /// Bytes the engine keeps while it waits for the host (``SMTPSession/messageQueued(_:)``)
    /// and the host keeps feeding anyway; beyond it the session closes with 421. A host that reads
    /// only after answering never comes near it.
    public var maximumPendingInput: Int = 1024 * 1024

    /// The defaults described on each property.
    public init() {}
}

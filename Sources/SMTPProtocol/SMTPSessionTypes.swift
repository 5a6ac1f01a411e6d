import MailCodec

/// Which service a session provides; it decides defaults for authentication and TLS.
public enum SMTPServerRole: String, Sendable, Equatable {
    /// Port 25: accepts mail for local domains from anyone, relays only for trusted or
    /// authenticated clients. AUTH is not offered by default.
    case mx
    /// Port 587 (RFC 6409): AUTH required before MAIL (unless the client is trusted), AUTH only
    /// after STARTTLS unless configured otherwise.
    case submission
    /// Port 465 (RFC 8314 implicit TLS): like submission, but the session starts inside TLS.
    case smtps
}

/// What EXPN answers (RFC 5321 §3.5.2 lets a server refuse; we never expand lists).
public enum SMTPExpnReply: Sendable, Equatable {
    /// `502 5.5.1 EXPN not available`.
    case notImplemented
    /// `252 2.5.0 Cannot EXPN, ...` — same shape as VRFY.
    case cannotVerify
}

/// Settings of one server session; built by the host from postamt.conf.
public struct SMTPSessionConfiguration: Sendable {
    /// The role of the listening socket.
    public var role: SMTPServerRole
    /// Our host name in the greeting, EHLO reply, 421 replies and Received headers.
    public var hostname: String
    /// Text after the host name in the 220 greeting.
    public var greetingText: String = "ESMTP Postamt"
    /// All limits.
    public var limits = SMTPLimits()
    /// True when the host has a certificate and can run a TLS handshake: STARTTLS is offered
    /// while TLS is not yet active.
    public var startTLSAvailable: Bool = false
    /// Offer AUTH PLAIN LOGIN at all. Default: true for submission and smtps, false for mx.
    public var offersAuthentication: Bool
    /// Allow AUTH without TLS (only for tests or a loopback-only listener). Default false.
    public var allowsPlaintextAuthentication: Bool = false
    /// MAIL needs AUTH first (`530 5.7.0`), unless the client is trusted. Default: true for
    /// submission and smtps, false for mx.
    public var requiresAuthentication: Bool
    /// What EXPN answers.
    public var expnReply: SMTPExpnReply = .notImplemented

    /// Defaults for `role`.
    public init(role: SMTPServerRole, hostname: String) {
        self.role = role
        self.hostname = hostname
        self.offersAuthentication = role != .mx
        self.requiresAuthentication = role != .mx
    }
}

/// The negotiated TLS parameters, as the host's TLS layer reports them.
public struct SMTPTLSInfo: Sendable, Equatable {
    /// E.g. `TLSv1.3`.
    public var version: String
    /// E.g. `TLS_AES_256_GCM_SHA384`.
    public var cipher: String
    public init(version: String, cipher: String) {
        self.version = version
        self.cipher = cipher
    }
}

/// What the host knows about the peer before the first byte.
public struct SMTPConnectionInfo: Sendable, Equatable {
    /// The peer's IP address as text (`192.0.2.1`, `2001:db8::1`).
    public var peerAddress: String
    /// The peer's verified reverse DNS name, if the host looked it up.
    public var peerReverseName: String?
    /// Set by the host from the peer address (e.g. loopback, a configured network): may relay
    /// and submit without AUTH.
    public var trustedClient: Bool
    /// For ``SMTPServerRole/smtps``: the TLS parameters of the handshake the host already made.
    public var tls: SMTPTLSInfo?

    public init(peerAddress: String, peerReverseName: String? = nil, trustedClient: Bool = false, tls: SMTPTLSInfo? = nil) {
        self.peerAddress = peerAddress
        self.peerReverseName = peerReverseName
        self.trustedClient = trustedClient
        self.tls = tls
    }
}

/// What the engine knows about the session, for policy decisions and the Received header.
public struct SMTPSessionFacts: Sendable, Equatable {
    public var role: SMTPServerRole
    public var peerAddress: String
    public var peerReverseName: String?
    public var trustedClient: Bool
    /// The validated HELO/EHLO argument, nil before HELO/EHLO (and again after STARTTLS).
    public var heloName: String?
    /// True when the client greeted with EHLO rather than HELO.
    public var usedEHLO: Bool
    /// The TLS parameters once TLS is active.
    public var tls: SMTPTLSInfo?
    /// The SASL user name after successful AUTH.
    public var authenticatedUser: String?

    /// The `with` keyword of the Received header: RFC 3848 (SMTP, ESMTP, ESMTPA, ESMTPS,
    /// ESMTPSA) and RFC 6531 §3.7.3 (UTF8SMTP, UTF8SMTPA, UTF8SMTPS, UTF8SMTPSA).
    public func protocolKeyword(smtpUTF8: Bool) -> String {
        guard usedEHLO else { return "SMTP" }
        let suffix = (tls != nil ? "S" : "") + (authenticatedUser != nil ? "A" : "")
        return (smtpUTF8 ? "UTF8SMTP" : "ESMTP") + suffix
    }
}

/// MAIL BODY= (RFC 6152). BINARYMIME (RFC 3030) is not offered: the queue stores LF line ends.
public enum SMTPBodyType: String, Sendable, Equatable {
    case sevenBit = "7BIT"
    case eightBitMIME = "8BITMIME"
}

/// RET= of RFC 3461 §4.3.
public enum SMTPDSNReturn: String, Sendable, Equatable {
    case full = "FULL"
    case headers = "HDRS"
}

/// NOTIFY= of RFC 3461 §4.1: `NEVER`, or any of SUCCESS, FAILURE, DELAY.
public struct SMTPDSNNotify: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let never = SMTPDSNNotify(rawValue: 1)
    public static let success = SMTPDSNNotify(rawValue: 2)
    public static let failure = SMTPDSNNotify(rawValue: 4)
    public static let delay = SMTPDSNNotify(rawValue: 8)
}

/// One accepted recipient with its DSN parameters.
public struct SMTPRecipient: Sendable, Equatable {
    public var mailbox: SMTPMailbox
    /// NOTIFY=, nil when not given.
    public var notify: SMTPDSNNotify?
    /// ORCPT= as sent (`rfc822;user+40example.org`: addr-type ";" xtext), validated.
    public var originalRecipient: String?
    public init(mailbox: SMTPMailbox, notify: SMTPDSNNotify? = nil, originalRecipient: String? = nil) {
        self.mailbox = mailbox
        self.notify = notify
        self.originalRecipient = originalRecipient
    }
}

/// The envelope of one message as MAIL and RCPT built it.
public struct SMTPEnvelope: Sendable, Equatable {
    public var sender: SMTPReversePath
    /// Accepted recipients in the order given (duplicates kept; the queue may merge them).
    public var recipients: [SMTPRecipient] = []
    /// SIZE= from MAIL (RFC 1870), nil when not given.
    public var declaredSize: UInt64?
    /// BODY= from MAIL, nil when not given (which means 7BIT, but much 8-bit mail omits it).
    public var body: SMTPBodyType?
    /// SMTPUTF8 was given on MAIL (RFC 6531).
    public var smtpUTF8 = false
    /// RET= (RFC 3461).
    public var dsnReturn: SMTPDSNReturn?
    /// ENVID= as sent (xtext, validated, at most 100 characters).
    public var envelopeID: String?
    /// REQUIRETLS was given on MAIL (RFC 8689 §4.1); accepted only in a TLS session.
    public var requireTLS = false
    /// The decoded AUTH= mailbox of RFC 4954 §5, kept only when the session is authenticated
    /// and the value is not `<>`; otherwise nil.
    public var authenticatedSender: String?

    public init(sender: SMTPReversePath) { self.sender = sender }
}

/// Why a message the host had started receiving must be discarded.
public enum SMTPMessageAbortReason: Sendable, Equatable {
    /// The content broke a rule (bare CR/LF, NUL, line or size limit).
    case content(SMTPContentViolation)
    /// A BDAT chunk would exceed the size limit (RFC 3030).
    case sizeExceeded
    /// RSET, HELO/EHLO or a closing 421 ended the transaction.
    case transactionReset
    /// The peer closed the connection or the host timed out.
    case connectionEnded
}

/// One thing the host must do, in order. The host handles events strictly in sequence: write
/// `send` bytes, sleep on `delay`, pass message events to the queue, start TLS, close.
public enum SMTPEvent: Sendable, Equatable {
    /// Bytes to write to the client (one or more complete replies, CRLF line ends).
    case send([UInt8])
    /// A log line for stderr; never contains passwords, SASL data or message bytes.
    case log(String)
    /// Tarpit hint: sleep this long before handling the next event (after errors or failed AUTH).
    case delay(milliseconds: Int)
    /// A message starts (after `354`, or with the first BDAT chunk): open the queue.
    case messageBegin(SMTPEnvelope)
    /// More message content: dot-unstuffed, LF line ends.
    case messageData([UInt8])
    /// The content is complete: commit it to the queue, then call
    /// ``SMTPSession/messageQueued(_:)``. The engine reads no further command until then.
    case messageEnd
    /// Discard everything received for the current message; nothing may be queued.
    case messageAbort(SMTPMessageAbortReason)
    /// AUTH's credentials are complete: check them, then call
    /// ``SMTPSession/authenticationAnswered(_:)``. The engine reads no further command
    /// until then.
    case authenticate(SMTPAuthenticationRequest)
    /// The `220` reply to STARTTLS has been queued in a preceding `send`: write it, discard any
    /// unread plaintext, run the server handshake, then call ``SMTPSession/tlsEstablished(_:)``.
    case startTLS
    /// Close the connection after writing what was sent.
    case close
}

/// The policy's answer for MAIL FROM.
public enum SMTPSenderVerdict: Sendable, Equatable {
    case accept
    /// `451 4.3.0 <text>`.
    case temporaryFailure(String)
    /// Any 4xx/5xx reply; a reply with another code is sent as `550 5.7.1`.
    case reject(SMTPReply)
}

/// The policy's answer for RCPT TO.
public enum SMTPRecipientVerdict: Sendable, Equatable {
    case accept
    /// `550 5.1.1 <address>: Recipient address rejected: User unknown`.
    case unknownUser
    /// `554 5.7.1 <address>: Relay access denied`.
    case relayDenied
    /// `451 4.3.0 <text>`, e.g. a lookup failed.
    case temporaryFailure(String)
    /// Any 4xx/5xx reply; a reply with another code is sent as `550 5.7.1`.
    case reject(SMTPReply)
}

/// Credentials to check, from AUTH PLAIN or LOGIN (MailCodec's engine contract type).
public typealias SMTPAuthenticationRequest = AuthenticationRequest

/// The result of checking a user name and password.
public enum SMTPAuthResult: Sendable, Equatable {
    case success
    /// Wrong user or password: `535 5.7.8`, counts towards the failure limit.
    case failure
    /// The authentication service is unavailable: `454 4.7.0`.
    case temporaryFailure
}

/// What the queue said about a message after ``SMTPEvent/messageEnd``.
public enum SMTPQueueResult: Sendable, Equatable {
    /// Durably queued: `250 2.0.0 Ok: queued as <id>`.
    case accepted(queueID: String)
    /// `451 <code> <text>` (default enhanced code 4.3.0).
    case temporaryFailure(String, enhancedCode: String = "4.3.0")
    /// `554 <code> <text>` (default enhanced code 5.7.1, e.g. a filter refused it).
    case permanentFailure(String, enhancedCode: String = "5.7.1")
}

/// Decisions only the host can make. Called synchronously from inside
/// ``SMTPSession/feed(_:)``; the host may block (a lookup). Passwords are not checked
/// here: the engine asks for that with ``SMTPEvent/authenticate(_:)``.
public protocol SMTPPolicy: AnyObject {
    /// True when mail for `domain` (ASCII-lowercased; may be an address literal) is delivered
    /// here. RCPT to other domains is relay: only trusted or authenticated clients may, and the
    /// engine enforces that before asking ``checkRecipient(_:session:)``.
    func isLocalDomain(_ domain: String) -> Bool
    /// Decides MAIL FROM after syntax checks; default accepts.
    func checkSender(_ sender: SMTPReversePath, session: SMTPSessionFacts) -> SMTPSenderVerdict
    /// Decides RCPT TO for a local recipient, or a relay recipient of an allowed client.
    func checkRecipient(_ recipient: SMTPRecipient, session: SMTPSessionFacts) -> SMTPRecipientVerdict
}

extension SMTPPolicy {
    public func checkSender(_ sender: SMTPReversePath, session: SMTPSessionFacts) -> SMTPSenderVerdict { .accept }
}

extension SMTPEvent {
    /// True for ``authenticate(_:)``, the one event a host must answer before reading on.
    public var isAuthenticate: Bool {
        if case .authenticate = self { return true }
        return false
    }
}

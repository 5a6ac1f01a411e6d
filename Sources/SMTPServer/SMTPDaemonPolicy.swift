import MailAuth
import MailCore
import SMTPProtocol

/// postamt-smtpd's answers to the engine's questions: which domains are ours (local and
/// virtual), whether a recipient exists (through the one AddressResolver, as delivery will
/// resolve it — so an unknown address gets 550 5.1.1 at RCPT, never a bounce later), whether an
/// authenticated user owns the sender address, and passwords (asked of postamt-auth over its
/// Unix socket; smtpd links no PAM).
public final class SMTPDaemonPolicy: SMTPPolicy {
    let resolver: AddressResolver
    /// A table could not be read: recipients and senders get a temporary failure rather than
    /// a wrong 550.
    let tablesUnavailable: Bool
    /// sender_login_check: an authenticated user may use only addresses they own.
    let checksSenderOwnership: Bool
    let authClient: AuthClient?
    let log: Log?

    public init(resolver: AddressResolver, tablesUnavailable: Bool = false, checksSenderOwnership: Bool = true,
                authClient: AuthClient?, log: Log? = nil) {
        self.log = log
        self.resolver = resolver
        self.tablesUnavailable = tablesUnavailable
        self.checksSenderOwnership = checksSenderOwnership
        self.authClient = authClient
    }

    public func isLocalDomain(_ domain: String) -> Bool { resolver.isOurDomain(domain) }

    public func checkSender(_ sender: SMTPReversePath, session: SMTPSessionFacts) -> SMTPSenderVerdict {
        if case .mailbox(let mailbox) = sender, SMTPDaemonPolicy.isUnsafe(mailbox) {
            return .reject(SMTPReply(553, "5.1.7", "Sender address contains characters this server does not accept"))
        }
        guard checksSenderOwnership, let user = session.authenticatedUser else { return .accept }
        // Postfix's reject_sender_login_mismatch: an authenticated client sends as its user.
        guard case .mailbox(let mailbox) = sender else {
            log?.info("MAIL FROM:<> refused: an authenticated client (\(user)) may not use the null sender")
            return .reject(SMTPReply(553, "5.7.1", "<>: Sender address rejected: the null sender is for bounces, not for an authenticated client"))
        }
        if tablesUnavailable { return .temporaryFailure("Sender lookup failed, try again later") }
        let ownership = resolver.ownership(of: mailbox.canonicalText, by: user)
        guard ownership.owned else {
            log?.info("MAIL FROM:<\(mailbox.text)> refused: not owned by user \(user) (\(ownership.reason))")
            return .reject(SMTPReply(553, "5.7.1", "<\(mailbox.text)>: Sender address rejected: not owned by user \(user)"))
        }
        return .accept
    }

    /// The From: header's addresses of a message from an authenticated user: the first one the
    /// user does not own, with the reply text; nil when every one is theirs (or none is given).
    public func checkHeaderSenders(_ addresses: [String], user: String) -> String? {
        guard checksSenderOwnership else { return nil }
        for address in addresses {
            let ownership = resolver.ownership(of: address, by: user)
            if !ownership.owned {
                log?.info("From: <\(address)> refused: not owned by user \(user) (\(ownership.reason))")
                return "<\(address)>: From: header address rejected: not owned by user \(user)"
            }
        }
        return nil
    }

    public func checkRecipient(_ recipient: SMTPRecipient, session: SMTPSessionFacts) -> SMTPRecipientVerdict {
        let mailbox = recipient.mailbox
        if mailbox.isBarePostmaster { return .accept }
        if SMTPDaemonPolicy.isUnsafe(mailbox) {
            return .reject(SMTPReply(553, "5.1.3", "Recipient address contains characters this server does not accept"))
        }
        // Relay recipients reach us only for clients the engine lets relay.
        guard resolver.isOurDomain(mailbox.lowercasedDomain) else { return .accept }
        let local = mailbox.unquotedLocalPart
        // RFC 5321 §4.5.1: postmaster must always be accepted.
        if local.lowercased() == "postmaster" { return .accept }
        if tablesUnavailable { return .temporaryFailure("Recipient lookup failed, try again later") }
        let destinations = resolver.resolve("\(local)@\(mailbox.lowercasedDomain)")
        let known = destinations.contains { if case .unknown = $0 { return false } else { return true } }
        return known ? .accept : .unknownUser
    }

    public func authenticate(user: String, password: [UInt8], session: SMTPSessionFacts) -> SMTPAuthResult {
        guard let authClient else {
            log?.warning("AUTH: no postamt-auth configured")
            return .temporaryFailure
        }
        switch authClient.authenticate(service: "smtp", user: Array(user.utf8), password: password, peer: session.peerAddress) {
        case .success: return .success
        case .failure: return .failure
        case .temporary(let reason):
            // The reason names the socket or the server's complaint, never the password.
            log?.warning("AUTH: postamt-auth unavailable: \(reason)")
            return .temporaryFailure
        }
    }

    /// A quoted local part (RFC 5321 §4.1.2, `"john doe"@example.org`) is valid and accepted
    /// when its content is safe: a space is, quoting escapes (`\"`, `\\`) and the characters
    /// below are not. Anything else is checked whole.
    static func isUnsafe(_ mailbox: SMTPMailbox) -> Bool {
        guard mailbox.localPart.hasPrefix("\"") else { return containsShellCharacters(mailbox.text) }
        if mailbox.localPart.dropFirst().dropLast().contains("\\") { return true }
        return containsShellCharacters(mailbox.unquotedLocalPart.replacingAll(" ", with: "_"))
            || containsShellCharacters(mailbox.domain)
    }

    /// Characters a shell or a careless script would act on. RFC 5321 allows some of them in
    /// a local part, but no real mailbox needs them, and refusing them at the door means they
    /// never reach a queue record, a log parser or a delivery program.
    static func containsShellCharacters(_ text: String) -> Bool {
        text.utf8.contains { byte in
            switch byte {
            case UInt8(ascii: "`"), UInt8(ascii: "$"), UInt8(ascii: "|"), UInt8(ascii: ";"), UInt8(ascii: "&"),
                 UInt8(ascii: "\\"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "("), UInt8(ascii: ")"),
                 UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "\""), UInt8(ascii: " "):
                return true
            default:
                return byte < 0x20 || byte == 0x7F
            }
        }
    }
}

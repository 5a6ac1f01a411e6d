import MailAuth
import MailCore
import SMTPProtocol

/// postamt-smtpd's answers to the engine's questions: which domains are ours, whether a local
/// recipient exists (aliases, then users with address extensions, as delivery will resolve
/// them — so an unknown user gets 550 5.1.1 at RCPT, never a bounce later), and passwords
/// (asked of postamt-auth over its Unix socket; smtpd links no PAM).
public final class SMTPDaemonPolicy: SMTPServerPolicy {
    let localDomains: Set<String>
    let resolver: LocalRecipientResolver
    /// The alias table could not be read: recipients get a temporary failure rather than a
    /// wrong 550.
    let aliasesUnavailable: Bool
    let authClient: AuthClient?
    let log: Log?

    public init(localDomains: Set<String>, resolver: LocalRecipientResolver, aliasesUnavailable: Bool = false,
                authClient: AuthClient?, log: Log? = nil) {
        self.log = log
        self.localDomains = localDomains
        self.resolver = resolver
        self.aliasesUnavailable = aliasesUnavailable
        self.authClient = authClient
    }

    public func isLocalDomain(_ domain: String) -> Bool { localDomains.contains(domain) }

    public func checkSender(_ sender: SMTPReversePath, session: SMTPSessionFacts) -> SMTPSenderVerdict {
        if SMTPDaemonPolicy.containsShellCharacters(sender.text) {
            return .reject(SMTPReply(553, "5.1.7", "Sender address contains characters this server does not accept"))
        }
        return .accept
    }

    public func checkRecipient(_ recipient: SMTPRecipient, session: SMTPSessionFacts) -> SMTPRecipientVerdict {
        let mailbox = recipient.mailbox
        if mailbox.isBarePostmaster { return .accept }
        if SMTPDaemonPolicy.containsShellCharacters(mailbox.text) {
            return .reject(SMTPReply(553, "5.1.3", "Recipient address contains characters this server does not accept"))
        }
        // Relay recipients reach us only for clients the engine lets relay.
        guard localDomains.contains(mailbox.lowercasedDomain) else { return .accept }
        let local = mailbox.unquotedLocalPart
        // RFC 5321 §4.5.1: postmaster must always be accepted.
        if local.lowercased() == "postmaster" { return .accept }
        if aliasesUnavailable { return .temporaryFailure("Recipient lookup failed, try again later") }
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

#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailNet
import MailSystem
import SMTPProtocol

/// postamt-smtpd's policy with the screening on top: it asks the address policy first (so an
/// unknown user is told so whatever else), then refuses what the connection screen found
/// (DNS lists), what greylisting defers and what passes a sending limit. The screen's state
/// (the greylist, the sending counts) lives in state_directory/smtpd, shared by every smtpd
/// process; when it cannot be read the mail goes through and the log says why — greylisting
/// and rate limits are defences, and no honest message is held up for their sake.
public final class ScreeningPolicy: SMTPPolicy {
    let inner: any SMTPPolicy
    let settings: ScreeningSettings
    let connectScreen: ConnectScreen
    let greylist: Greylist?
    let limits: SendingLimits
    let log: Log
    /// The wall clock in Unix seconds (the state is shared between processes).
    var now: () -> Int64 = { Int64(time(nil)) }

    /// The current transaction: its sender, and the recipients accepted so far (towards the
    /// recipient rate, before the message is counted).
    private var sender = ""
    private var recipientsThisMessage = 0

    public init(wrapping inner: any SMTPPolicy, settings: ScreeningSettings, peer: IPAddress?, trusted: Bool, log: Log) {
        self.inner = inner
        self.settings = settings
        self.log = log
        connectScreen = ConnectScreen(settings: settings, peer: peer, trusted: trusted, log: log)
        greylist = settings.greylist.map { Greylist(path: settings.greylistPath, settings: $0) }
        limits = SendingLimits(directory: settings.ratesDirectory, messagesPerHour: settings.messagesPerHour,
                               recipientsPerHour: settings.recipientsPerHour)
    }

    /// As root, before the privilege drop: makes state_directory/smtpd (and the directories it
    /// holds) for the mail_owner, when a feature needs it and it is missing. Under systemd
    /// tmpfiles.d makes it; this is for postamt-listen, inetd and tests.
    public static func prepareStateDirectory(_ settings: ScreeningSettings, owner: SystemUser) {
        guard settings.needsStateDirectory else { return }
        // state_directory as tmpfiles.d makes it (0750), then smtpd's own (0700), all the mail_owner's.
        let stateDirectory = FileIO.directoryName(settings.stateDirectory)
        do {
            try FileIO.makeDirectories(FileIO.directoryName(stateDirectory), mode: 0o755)
            for (directory, mode) in [(stateDirectory, 0o750), (settings.stateDirectory, 0o700), (settings.ratesDirectory, 0o700)]
            where !FileIO.isDirectory(directory) {
                guard mkdir(directory, mode_t(mode)) == 0 || errno == EEXIST else { throw SystemError("mkdir \(directory)") }
                guard chown(directory, owner.uid, owner.gid) == 0 else { throw SystemError("chown \(directory)") }
            }
        } catch {
            SMTPDaemon.log.warning("\(error); greylisting and sending limits are not applied")
        }
    }

    /// The connection screen (pregreet, DNS lists), before the engine's greeting.
    func screenConnection(stream: any ByteStream, greeting: String) -> ConnectScreen.Outcome {
        connectScreen.run(stream: stream, greeting: greeting)
    }

    /// The queue accepted a message with `recipients` recipients: counts it against the user.
    func messageAccepted(recipients: Int, session: SMTPSessionFacts) {
        guard let user = session.authenticatedUser, limits.isActive else { return }
        do { try limits.record(user: user, recipients: recipients, now: now()) } catch {
            log.warning("sending count of \(user) not kept: \(error)")
        }
    }

    public func isLocalDomain(_ domain: String) -> Bool { inner.isLocalDomain(domain) }

    public func checkSender(_ sender: SMTPReversePath, session: SMTPSessionFacts) -> SMTPSenderVerdict {
        self.sender = sender.text
        recipientsThisMessage = 0
        let verdict = inner.checkSender(sender, session: session)
        guard verdict == .accept, let user = session.authenticatedUser, limits.messagesPerHour > 0,
              let usage = usage(of: user), usage.messages >= limits.messagesPerHour else { return verdict }
        return .reject(SMTPReply(452, "4.7.1", "Error: too much mail from \(user): \(limits.messagesPerHour) messages per hour, try again later"))
    }

    public func checkRecipient(_ recipient: SMTPRecipient, session: SMTPSessionFacts) -> SMTPRecipientVerdict {
        let unscreened = session.trustedClient || session.authenticatedUser != nil
        if !unscreened, let list = connectScreen.listedBy.first {
            return .reject(SMTPReply(554, "5.7.1", "Service unavailable; client [\(session.peerAddress)] blocked using \(list)"))
        }
        let verdict = inner.checkRecipient(recipient, session: session)
        guard verdict == .accept else { return verdict }
        if let user = session.authenticatedUser, limits.recipientsPerHour > 0, let usage = usage(of: user),
           usage.recipients + recipientsThisMessage >= limits.recipientsPerHour {
            return .reject(SMTPReply(452, "4.7.1", "Error: too many recipients from \(user): \(limits.recipientsPerHour) per hour, try again later"))
        }
        if !unscreened, let greylist, let client = connectScreen.peer {
            do {
                let answer = try greylist.check(client: client, sender: sender, recipient: recipient.mailbox.text, now: now())
                switch answer {
                case .deferred:
                    return .reject(SMTPReply(450, "4.7.1", "<\(recipient.mailbox.text)>: Recipient address rejected: Greylisted, try again later"))
                case .passedRetry:
                    log.info("greylist: passed after retry from unknown[\(client)] from=<\(sender)> to=<\(recipient.mailbox.text)>")
                case .known, .clientAllowed:
                    break
                }
            } catch {
                log.warning("greylist unavailable, not applied: \(error)")
            }
        }
        recipientsThisMessage += 1
        return .accept
    }

    private func usage(of user: String) -> SendingLimits.Usage? {
        do { return try limits.usage(of: user, now: now()) } catch {
            log.warning("sending count of \(user) unreadable, not applied: \(error)")
            return nil
        }
    }
}

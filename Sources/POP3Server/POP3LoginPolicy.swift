import MailLogin
import Maildir
import POP3Protocol

/// The engine's host decisions: passwords go to postamt-auth(8); after the right one the
/// process becomes the user for good, and only then opens `~/Maildir` and takes the snapshot.
public final class POP3LoginPolicy: POP3Policy {
    let settings: LoginSettings
    let checker: PasswordChecker
    let peer: String
    let log: (String) -> Void
    /// `--preauth USER`: no password is asked of this user (tests, a pipe over ssh).
    let preauthenticatedUser: String?
    /// Canonical names postamt-auth answered, by the name the client typed.
    private var canonicalNames: [String: String] = [:]
    /// Once the process became a user, it is that user until it exits.
    public private(set) var currentUser: String?
    /// How UIDL strings are made (pop3_uidl_format).
    public var uidlFormat = POP3UIDLFormat.baseName

    public init(settings: LoginSettings, peer: String, preauthenticatedUser: String? = nil,
                log: @escaping (String) -> Void) {
        self.settings = settings
        self.checker = PasswordChecker(settings: settings, service: "pop3")
        self.peer = peer
        self.preauthenticatedUser = preauthenticatedUser
        self.log = log
    }

    public func authenticate(user: String, password: [UInt8]) -> POP3AuthResult {
        if let preauthenticatedUser { return user == preauthenticatedUser ? .success : .failure }
        switch checker.check(user: user, password: password, peer: peer) {
        case .accepted(let canonical):
            canonicalNames[user] = canonical
            return .success
        case .rejected:
            return .failure
        case .unavailable(let reason):
            log("postamt-auth: \(reason)")
            return .temporaryFailure
        }
    }

    public func openMaildrop(user: String) -> POP3MaildropOpening {
        let name = canonicalNames[user] ?? user
        if let currentUser, currentUser != name {
            log("already running as \(currentUser), cannot log in \(name)")
            return .temporaryFailure
        }
        let home: String
        do {
            home = try UserSwitch.become(name).home
            currentUser = name
        } catch {
            log("login \(name): \(error)")
            return .temporaryFailure
        }
        guard let path = settings.maildirPath(home: home) else {
            log("home_mailbox \(settings.homeMailbox) is not a Maildir (no trailing /)")
            return .temporaryFailure
        }
        let drop = POP3Maildir(inbox: Maildir(path: path))
        drop.uidlFormat = uidlFormat
        do {
            try drop.takeSnapshot()
        } catch {
            log("cannot open \(path): \(error)")
            return .temporaryFailure
        }
        return .opened(MaildirMaildrop(drop: drop, log: log))
    }
}

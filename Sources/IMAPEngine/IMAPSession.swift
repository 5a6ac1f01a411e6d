import IMAPProtocol
import MailCodec
import Maildir
import MailMessage

/// Credentials to check (MailCodec's engine contract type).
public typealias IMAPAuthenticationRequest = AuthenticationRequest

/// What the host's password check answered (`IMAPSession.authenticationAnswered(_:)`).
public enum IMAPLoginOutcome: Sendable, Equatable {
    /// The user may log in; the host has already become that user (privileges dropped) and
    /// names the Maildir to serve.
    case success(user: String, maildirPath: String)
    /// Wrong user name or password.
    case failure
    /// The check could not be made (postamt-auth unreachable…).
    case unavailable
}

/// Settings of one IMAP session.
public struct IMAPSessionConfiguration: Sendable {
    public var hostname: String = "localhost"
    public var limits = IMAPLimits()
    public var mimeLimits = MIMELimits()
    /// STARTTLS can be offered (the host has a certificate).
    public var startTLSAvailable = false
    /// The connection is protected (implicit TLS, or after STARTTLS).
    public var tlsActive = false
    /// LOGIN and AUTHENTICATE without TLS (loopback, tests).
    public var allowPlaintextAuth = false
    /// Failed logins before the connection is closed.
    public var maxAuthFailures = 3
    /// Commands allowed before login (anything: CAPABILITY, NOOP, bad syntax…).
    public var maxCommandsBeforeLogin = 50
    /// Invalid commands (answered BAD) before login after which the connection is closed.
    public var maxInvalidCommandsBeforeLogin = 3
    /// Expunged UIDs each folder's uid list remembers for QRESYNC (`UIDList.expungeHistoryLimit`).
    public var expungeHistoryLimit = UIDList.defaultExpungeHistoryLimit
    /// The host can deflate the connection (COMPRESS=DEFLATE, RFC 4978): IMAPSession+Compress.swift.
    public var compressionAvailable = false
    /// Largest message served or appended, octets.
    public var maxMessageSize = 64 << 20
    /// The logged-in user's Maildir++ quota (RFC 9208 QUOTA); nil: no quotas at all.
    public var quotaLimit: (@Sendable (_ user: String) -> QuotaLimit)?

    public init() {}
}

/// The IMAP4rev1 session engine (RFC 3501 with the extensions listed in `capabilities`): bytes
/// from the client in, response bytes out. It never touches a socket: the host reads, calls
/// `receive(_:)`, writes what it returns, and acts on `wantsStartTLS`, `authenticationRequest`
/// (answering with `authenticationAnswered(_:)`), `isFinished` and `isIdling` (waking the
/// session with `idleCheck()` when the watched directories change).
/// The mailbox layer is Maildir (`MaildirMailbox`), which the session uses directly.
public final class IMAPSession {
    public enum State: Sendable, Equatable { case notAuthenticated, authenticated, selected, logout }

    public internal(set) var state: State
    public internal(set) var configuration: IMAPSessionConfiguration
    /// Set after the tagged OK of STARTTLS: the host starts TLS, then calls `tlsStarted()`.
    public internal(set) var wantsStartTLS = false
    /// The user, once known.
    public internal(set) var user: String?
    /// Credentials from LOGIN or AUTHENTICATE that the host is to check (through postamt-auth,
    /// becoming the user on success) and answer with `authenticationAnswered(_:)`. Until then
    /// the session reads no further command (the engine contract of SMTP and POP3 too).
    public internal(set) var authenticationRequest: IMAPAuthenticationRequest?
    /// The tag of the LOGIN or AUTHENTICATE that `authenticationRequest` answers.
    var authenticationTag: String?
    /// One line per event for the host's log (never a password or a message body).
    public var log: ((String) -> Void)?
    /// Where long responses (FETCH of many messages) go while they are produced, so a session
    /// holds at most about `flushThreshold` octets of output; false stops the session (the
    /// connection failed). Without a sink everything is returned by `receive(_:)`.
    public var outputSink: (([UInt8]) -> Bool)?
    public var flushThreshold = 256 * 1024

    var reader: IMAPCommandReader
    let parser: IMAPCommandParser
    var out = IMAPResponseEncoder()
    var store: IMAPMailStore?
    var selected: IMAPSelectedMailbox?
    var authFailures = 0
    var commandsBeforeLogin = 0
    var invalidCommandsBeforeLogin = 0
    var condStoreEnabled = false
    /// After ENABLE QRESYNC (RFC 7162 §3.2.3): VANISHED instead of EXPUNGE, QRESYNC SELECT.
    var qresyncEnabled = false
    var utf8Enabled = false
    /// After ENABLE IMAP4rev2 (RFC 9051): ESEARCH for SEARCH, no \Recent, UTF-8 names.
    var rev2Enabled = false
    var idleTag: String?
    /// NOTIFY SET in force (IMAPSession+Notify.swift).
    var notify: IMAPNotifyState?
    var pendingAuthentication: (tag: String, mechanism: String, user: [UInt8]?)?
    /// Set after the tagged OK of COMPRESS: the host turns deflate on in both directions and calls
    /// `compressionStarted()`. `compressionActive` stays true from then on.
    public internal(set) var wantsCompression = false
    public internal(set) var compressionActive = false
    /// A FETCH, STORE or SEARCH (not UID) runs: EXPUNGE must wait (RFC 3501 §7.4.1).
    var expungeAllowed = true

    /// A session before login.
    public init(configuration: IMAPSessionConfiguration = IMAPSessionConfiguration()) {
        self.configuration = configuration
        self.state = .notAuthenticated
        self.reader = IMAPCommandReader(limits: configuration.limits)
        self.parser = IMAPCommandParser(limits: configuration.limits)
    }

    /// A session already authenticated as `user` (`--preauth`: ssh tunnels, tests).
    public convenience init(preauthenticatedUser user: String, maildirPath: String,
                            configuration: IMAPSessionConfiguration = IMAPSessionConfiguration()) {
        self.init(configuration: configuration)
        login(user: user, maildirPath: maildirPath)
    }

    func login(user: String, maildirPath: String) {
        self.user = user
        var store = IMAPMailStore(maildirPath: maildirPath)
        store.expungeHistoryLimit = configuration.expungeHistoryLimit
        store.prepare()
        self.store = store
        state = .authenticated
        // LITERAL+ after login (RFC 7888 §3): non-synchronising literals as large as the
        // synchronising ones; before login only LITERAL- (4096 octets).
        reader.limits.maxNonSynchronizingLiteralSize = max(configuration.limits.maxLiteralSize,
                                                           configuration.limits.maxAppendLiteralSize)
    }

    public var isFinished: Bool { state == .logout }
    public var isIdling: Bool { idleTag != nil }

    /// The directories whose changes should wake an idling session (`idleCheck()`).
    public var watchedDirectories: [String] {
        guard let selected else { return notifyDirectories }
        return ["\(selected.mailbox.path)/new", "\(selected.mailbox.path)/cur"] + notifyDirectories
    }

    /// The selected folder's directory: its being moved or deleted (RENAME or DELETE in another
    /// session) should wake an idling session too, which then ends (`idleCheck()`).
    public var selectedMailboxPath: String? { selected?.mailbox.path }

    /// The greeting: `* OK [CAPABILITY …]` or `* PREAUTH`.
    public func greeting() -> [UInt8] {
        if state == .authenticated {
            out.untagged(.preauth, code: .capability(capabilities), "\(configuration.hostname) Postamt IMAP ready, logged in as \(user ?? "")")
        } else {
            out.untagged(.ok, code: .capability(capabilities), "\(configuration.hostname) Postamt IMAP ready")
        }
        return out.takeBytes()
    }

    /// The capabilities for the current state: each one is advertised because it works.
    public var capabilities: [String] {
        var list = ["IMAP4rev1", "IMAP4rev2", state == .notAuthenticated ? "LITERAL-" : "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE"]
        if state == .notAuthenticated {
            if configuration.startTLSAvailable && !configuration.tlsActive { list.append("STARTTLS") }
            if configuration.tlsActive || configuration.allowPlaintextAuth {
                list += ["AUTH=PLAIN", "AUTH=LOGIN"]
            } else {
                list.append("LOGINDISABLED")
            }
        } else {
            list += ["NAMESPACE", "UIDPLUS", "MOVE", "UNSELECT", "CHILDREN", "SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED",
                     "LIST-STATUS", "ESEARCH", "SEARCHRES", "WITHIN", "CONDSTORE", "SORT", "SORT=DISPLAY",
                     "STATUS=SIZE", "STATUS=DELETED", "MULTIAPPEND", "UTF8=ACCEPT", "BINARY"]
            list += quotaCapabilities
            list.append("QRESYNC")
            list.append("OBJECTID")
            list.append("SAVEDATE")
            list.append("REPLACE")
            list += ["THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES"]  // RFC 5256, IMAPSession+Thread.swift
            if configuration.compressionAvailable && !compressionActive { list.append("COMPRESS=DEFLATE") }  // RFC 4978
            list.append("PREVIEW")  // RFC 8970, IMAPPreview.swift
            list.append("NOTIFY")  // RFC 5465, IMAPSession+Notify.swift
        }
        return list
    }

    /// Feeds client bytes; returns the responses to send. Stops reading at STARTTLS (the
    /// host then starts TLS and calls `tlsStarted()`, which drops the rest) and at LOGOUT.
    public func receive(_ bytes: [UInt8]) -> [UInt8] {
        reader.feed(bytes)
        while !wantsStartTLS && !wantsCompression && authenticationRequest == nil && state != .logout,
              let event = reader.nextEvent() {
            handle(event)
        }
        return out.takeBytes()
    }

    /// TLS is up: plaintext pipelined behind STARTTLS is dropped (RFC 3501 §6.2.1).
    public func tlsStarted() {
        reader.discardBufferedInput()
        wantsStartTLS = false
        configuration.tlsActive = true
    }

    /// Called while idling when a watched directory changed: the untagged updates.
    public func idleCheck() -> [UInt8] {
        if selectedMailboxIsGone {
            endForVanishedMailbox()
        } else if selected != nil && (isIdling || notifiesSelected) {
            synchronize()
        }
        reportOtherMailboxes()
        return out.takeBytes()
    }

    /// The autologout (RFC 9051 §5.4).
    public func timeout() -> [UInt8] {
        out.untagged(.bye, "Autologout; idle for too long")
        state = .logout
        return out.takeBytes()
    }

    // MARK: - Events

    func handle(_ event: IMAPReaderEvent) {
        switch event {
        case .command(let frame):
            if state == .notAuthenticated {
                commandsBeforeLogin += 1
                if commandsBeforeLogin > configuration.maxCommandsBeforeLogin {
                    out.untagged(.bye, "Too many commands before login")
                    state = .logout
                    return
                }
            }
            if selectedMailboxIsGone { return endForVanishedMailbox() }
            do {
                let command = try parser.parse(frame)
                execute(command)
            } catch {
                out.reject(error)
                noteInvalidCommand()
            }
        case .continuationRequired:
            out.continuation()
        case .rejected(let tag, let rejection):
            out.reject(tag: tag, rejection)
            noteInvalidCommand()
        case .authenticationResponse(let line):
            continueAuthentication(line)
        case .idleDone:
            if let tag = idleTag {
                idleTag = nil
                if selectedMailboxIsGone { return endForVanishedMailbox() }
                if selected != nil { synchronize() }
                out.tagged(tag, .ok, "IDLE terminated")
            }
        case .idleUnexpectedLine:
            out.untagged(.bad, "Expected DONE")
        }
    }

    func execute(_ command: IMAPCommand) {
        let tag = command.tag
        switch command.kind {
        case .capability:
            out.capability(capabilities)
            ok(tag, "CAPABILITY completed")
        case .noop, .check:
            if selected != nil { synchronize() }
            ok(tag, command.kind == .check ? "CHECK completed" : "NOOP completed")
        case .logout:
            out.untagged(.bye, "Logging out")
            if let selected { try? selected.mailbox.saveCache() }
            out.tagged(tag, .ok, "LOGOUT completed")
            state = .logout
        case .id:
            out.id([IMAPIDField(name: Array("name".utf8), value: Array("Postamt".utf8))])
            ok(tag, "ID completed")
        case .startTLS:
            guard state == .notAuthenticated else { return bad(tag, "Already logged in") }
            guard configuration.startTLSAvailable && !configuration.tlsActive else { return bad(tag, "TLS is not available") }
            out.tagged(tag, .ok, "Begin TLS negotiation now")
            wantsStartTLS = true
        case .login(let userBytes, let password):
            guard state == .notAuthenticated else { return bad(tag, "Already logged in") }
            guard configuration.tlsActive || configuration.allowPlaintextAuth else {
                return out.tagged(tag, .no, code: .privacyRequired, "LOGIN needs TLS (STARTTLS)")
            }
            finishLogin(tag: tag, user: userBytes, password: password, mechanism: "LOGIN")
        case .authenticate(let mechanism, let initial):
            authenticate(tag: tag, mechanism: mechanism, initialResponse: initial)
        case .enable(let names):
            guard state != .notAuthenticated else { return bad(tag, "Log in first") }
            var enabled: [String] = []
            for name in names {
                if name == "CONDSTORE" && !condStoreEnabled { condStoreEnabled = true; enabled.append(name) }
                // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE (ENABLED names only what was asked).
                if name == "QRESYNC" && !qresyncEnabled { qresyncEnabled = true; condStoreEnabled = true; enabled.append(name) }
                if name == "IMAP4REV2" && !rev2Enabled {
                    rev2Enabled = true
                    selected?.recent = []
                    utf8Enabled = true  // RFC 9051 §5.1: mailbox names are UTF-8
                    out.utf8Enabled = true
                    enabled.append("IMAP4rev2")
                }
                // RFC 6855 §3: mailbox names and quoted strings in UTF-8 from now on.
                if name == "UTF8=ACCEPT" && !utf8Enabled {
                    utf8Enabled = true
                    out.utf8Enabled = true
                    enabled.append(name)
                }
            }
            out.enabled(enabled)
            ok(tag, "ENABLE completed")
        default:
            guard state != .notAuthenticated, let store else {
                return bad(tag, "Log in first")
            }
            executeAuthenticated(command, store: store)
        }
    }

    /// Hands the output produced so far to `outputSink` once it is large.
    func flushIfLarge() {
        guard let outputSink, out.bytes.count >= flushThreshold else { return }
        if !outputSink(out.takeBytes()) { state = .logout }
    }

    // MARK: - Replies

    func ok(_ tag: String, code: IMAPResponseCode? = nil, _ text: String) { out.tagged(tag, .ok, code: code, text) }
    func no(_ tag: String, code: IMAPResponseCode? = nil, _ text: String) { out.tagged(tag, .no, code: code, text) }
    func bad(_ tag: String, _ text: String) {
        out.tagged(tag, .bad, text)
        noteInvalidCommand()
    }

    /// Before login, a client that keeps sending invalid commands is not a mail client: after
    /// `maxInvalidCommandsBeforeLogin` of them it is sent away, with Dovecot's words.
    func noteInvalidCommand() {
        guard state == .notAuthenticated else { return }
        invalidCommandsBeforeLogin += 1
        if invalidCommandsBeforeLogin >= configuration.maxInvalidCommandsBeforeLogin {
            out.untagged(.bye, "Too many invalid IMAP commands.")
            state = .logout
        }
    }

    func fail(_ tag: String, _ error: Error) {
        if let e = error as? IMAPMailStoreError { return no(tag, code: e.code, e.text) }
        if let e = error as? MaildirError {
            switch e {
            case .folderExists: return no(tag, code: .alreadyExists, "Mailbox exists")
            case .folderMissing: return no(tag, code: .nonexistent, "No such mailbox")
            case .invalidFolderName: return no(tag, code: .cannot, "Invalid mailbox name")
            case .invalidKeyword: return bad(tag, "Invalid keyword")
            case .tooManyKeywords: return no(tag, code: .limit, "Too many keywords in this mailbox")
            case .tooLarge: return no(tag, code: .tooBig, "Too large")
            default: break
            }
        }
        log?("error: \(error)")
        no(tag, code: .serverBug, "Internal error; the mailbox is unchanged or partly changed")
    }
}

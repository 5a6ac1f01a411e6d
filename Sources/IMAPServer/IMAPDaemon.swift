#if canImport(Glibc)
import Glibc
#endif
import IMAPEngine
import MailCore
import MailLogin
import MailNet
import MailSystem

/// postamt-imapd(8): one IMAP connection on fd 0/1, run to its end.
///
///     postamt-imapd [--root DIR] [--tls | --preauth USER]
///
/// The login plumbing is MailLogin's (the calling sequence in MailLogin.swift): the certificate
/// read as root, `ClientConnection`, `SessionHost` with the login and idle timeouts,
/// `PasswordChecker` (postamt-auth) and `UserSwitch.become`. `IMAPSessionEngine` fits
/// `IMAPSession` to `SessionEngine`; IDLE waits on inotify through `wakeDescriptor`.
public enum IMAPDaemon {
    /// Exit statuses (postamt-imapd(8)).
    public enum Exit: Int32 {
        case ok = 0
        case usage = 64
        case noUser = 67
        case software = 70
        case osError = 71
        case config = 78
    }

    static let log = Log(program: "postamt-imapd")

    public static func main(_ arguments: [String]) -> Int32 {
        Signals.resetForProgramStart()
        ignoreBrokenPipeSignal()
        guard let options = DaemonArguments(arguments, accepting: [.tls, .preauth, .root]) else { return usage() }
        let preauthUser = options.preauth, implicitTLS = options.implicitTLS
        if implicitTLS && preauthUser != nil { return usage() }
        let config: Configuration
        do { config = try options.configuration() } catch {
            log.error("configuration: \(error)")
            return Exit.config.rawValue
        }
        let settings = LoginSettings(config, certificateSetting: "imap_tls_certificate", keySetting: "imap_tls_key")
        let timeouts = SessionTimeouts(idle: .seconds(max(60, config.duration("imap_idle_timeout"))),
                                       login: .seconds(max(1, config.duration("imap_login_timeout"))))
        var sessionConfiguration = IMAPSessionConfiguration()
        sessionConfiguration.hostname = settings.hostname
        sessionConfiguration.maxAuthFailures = max(1, config.count("imap_max_auth_failures"))
        sessionConfiguration.maxCommandsBeforeLogin = max(1, config.count("imap_max_commands_before_login"))
        sessionConfiguration.maxInvalidCommandsBeforeLogin = max(1, config.count("imap_max_invalid_commands"))
        sessionConfiguration.expungeHistoryLimit = config.count("imap_expunge_history")
        sessionConfiguration.limits.maxLineLength = Int(max(1024, config.size("imap_max_line_length")))
        sessionConfiguration.maxMessageSize = Int(max(1024, config.size("imap_max_message_size")))
        sessionConfiguration.limits.maxAppendLiteralSize = sessionConfiguration.maxMessageSize
        // MULTIAPPEND: all messages of one command together (held in memory until parsed).
        sessionConfiguration.limits.maxAppendCommandSize = sessionConfiguration.maxMessageSize * 2
        sessionConfiguration.allowPlaintextAuth = ["yes", "true"].contains(config.string("imap_plaintext_auth"))
        sessionConfiguration.quotaLimit = IMAPDaemon.quotaLimit(config)
        sessionConfiguration.compressionAvailable = config.bool("imap_compress")
        let compressionLevel = Int32(max(1, min(9, config.count("imap_compress_level"))))
        guard let pollMode = IMAPIdlePoll.Mode(rawValue: config.string("imap_idle_poll")) else {
            log.error("configuration: imap_idle_poll is '\(config.string("imap_idle_poll"))', not auto, yes, no or only")
            return Exit.config.rawValue
        }
        let idlePoll = IMAPIdlePoll(mode: pollMode, interval: .seconds(max(1, config.duration("imap_idle_poll_interval"))))

        // Pre-authenticated (an ssh tunnel, tests): no TLS, no password; become the user first.
        if let preauthUser {
            guard SystemUser.named(preauthUser) != nil else {
                log.error("no such user: \(preauthUser)")
                return Exit.noUser.rawValue
            }
            let user: SystemUser
            do { user = try UserSwitch.become(preauthUser) } catch {
                log.error("\(error)")
                return Exit.osError.rawValue
            }
            guard let path = settings.maildirPath(home: user.home) else {
                log.error("home_mailbox \(settings.homeMailbox) is not a Maildir (no trailing /)")
                return Exit.config.rawValue
            }
            let session = IMAPSession(preauthenticatedUser: user.name, maildirPath: path, configuration: sessionConfiguration)
            return serve(session, tlsContext: nil, implicitTLS: false, timeouts: timeouts, compressionLevel: compressionLevel, idlePoll: idlePoll)
        }

        // The files are checked now; the context is built (and OpenSSL loaded) when a client
        // says STARTTLS or connects to the implicit-TLS port, still as root before login.
        var tlsContext: TLSServerContext?
        if settings.tlsConfigured {
            do {
                tlsContext = try TLSServerContext(certificateChainPath: settings.certificatePath, privateKeyPath: settings.keyPath,
                                                  loadNow: false)
            } catch {
                log.error("TLS: \(error)")
                return Exit.config.rawValue
            }
        } else if implicitTLS {
            log.error("--tls needs imap_tls_certificate and imap_tls_key (or tls_certificate and tls_key)")
            return Exit.config.rawValue
        }
        sessionConfiguration.startTLSAvailable = tlsContext != nil
        let session = IMAPSession(configuration: sessionConfiguration)
        let checker = PasswordChecker(settings: settings, service: "imap")
        let peer = ClientConnection.peerFromEnvironment()
        let authenticator: (IMAPAuthenticationRequest) -> IMAPLoginOutcome = { request in
            switch checker.check(user: request.user, password: request.password, peer: peer) {
            case .accepted(let canonical):
                let user: SystemUser
                do { user = try UserSwitch.become(canonical) } catch {
                    log.error("\(peer) login \(canonical): \(error)")
                    return .unavailable
                }
                guard let path = settings.maildirPath(home: user.home) else {
                    log.error("home_mailbox \(settings.homeMailbox) is not a Maildir (no trailing /)")
                    return .unavailable
                }
                return .success(user: user.name, maildirPath: path)
            case .rejected:
                return .failure
            case .unavailable(let reason):
                log.warning("postamt-auth: \(reason)")
                return .unavailable
            }
        }
        return serve(session, tlsContext: tlsContext, implicitTLS: implicitTLS, timeouts: timeouts, compressionLevel: compressionLevel,
                     idlePoll: idlePoll, authenticator: authenticator)
    }

    /// Runs the session on fd 0/1 under `SessionHost` until LOGOUT, end of input or a timeout.
    static func serve(_ session: IMAPSession, tlsContext: TLSServerContext?, implicitTLS: Bool,
                      timeouts: SessionTimeouts, compressionLevel: Int32 = 6,
                      idlePoll: IMAPIdlePoll = IMAPIdlePoll(),
                      authenticator: ((IMAPAuthenticationRequest) -> IMAPLoginOutcome)? = nil) -> Int32 {
        let connection: ClientConnection
        do { connection = try ClientConnection(timeout: timeouts.idle) } catch {
            log.error("fd 0/1: \(error)")
            return Exit.osError.rawValue
        }
        let peer = connection.peer
        let logLine: (String) -> Void = { log.info("\(peer): \($0)") }
        session.log = logLine
        if implicitTLS, let tlsContext {
            do { try connection.startTLS(tlsContext, handshakeTimeout: timeouts.handshake) } catch {
                logLine("TLS handshake failed: \(error)")
                return Exit.ok.rawValue
            }
            session.tlsStarted()
        }
        let host = SessionHost(connection: connection, tlsContext: tlsContext, timeouts: timeouts, log: logLine)
        let engine = IMAPSessionEngine(session, compressionLevel: compressionLevel, idlePoll: idlePoll)
        engine.log = logLine
        engine.authenticator = authenticator
        // Long responses leave through the sink while they are produced: deflated like the rest.
        session.outputSink = { [unowned engine] in host.send(engine.wire($0)) }
        _ = host.run(engine)
        return Exit.ok.rawValue
    }

    static func usage() -> Int32 {
        log.error("usage: postamt-imapd [--root DIR] [--tls | --preauth USER]")
        return Exit.usage.rawValue
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailAuth
import MailCore
import MailNet
import MailQueueClient
import MailSystem
import SMTPProtocol

/// postamt-smtpd(8): one SMTP session on fd 0/1 (socket activation with Accept=yes, inetd,
/// tcpserver or postamt-listen). It runs the SMTP engine, does the I/O, TLS and timing the
/// engine leaves to its host, and hands each message to the queue program, answering 250 only
/// once that program exited 0.
public enum SMTPDaemon {
    /// Exit statuses (postamt-smtpd(8)).
    public enum Exit: Int32 {
        /// The session ended (QUIT, a 421 from a limit, the client went away).
        case sessionEnded = 0
        /// Bad arguments.
        case usage = 64
        /// The configuration, the certificate or the mail_owner is unusable: the client got 421.
        case temporary = 75
    }

    static let log = Log(program: "postamt-smtpd")

    /// The program: `postamt-smtpd [mx|submission|smtps]`, or `postamt-smtpd --serve [ROLE]`
    /// (SMTPDaemon+Serve.swift).
    /// postamt-spamcheck's queue mode as postamt-smtpd's main registers it (SMTPServer itself
    /// does not link the spam filter): called in a forked child with the program's path.
    nonisolated(unsafe) static var spamQueueMain: ((String) -> Never)? = nil

    /// What postamt-spamcheck's queue mode does with a message before the queue gets it, as
    /// postamt-smtpd's main registers it (SpamCheckProgram.screen): run by smtpd itself when it
    /// writes the queue file (MessagePipeline's spam-screened direct queue end).
    public enum SpamScreenResult {
        /// The message as the queue is to get it (the filter's header fields on top).
        case pass([UInt8])
        /// Refused for good: the line for the reply, "… (#5.7.1)".
        case refuse(String)
    }
    /// Runs with smtpd's own configuration (read once, at the program's or the server's start).
    public typealias SpamScreen = (_ configuration: Configuration, _ message: [UInt8], _ clientIP: String?,
                                   _ envelope: Envelope) -> SpamScreenResult
    nonisolated(unsafe) static var spamScreen: SpamScreen? = nil
    /// What `--serve` does once, before it forks any session, when the screen is in the path
    /// (its checks for many sessions: a kept checker, a warm-up), as main registers it.
    nonisolated(unsafe) static var spamServing: ((Configuration) -> Void)? = nil

    public static func main(arguments: [String], spamQueue: ((String) -> Never)? = nil, spamScreen screen: SpamScreen? = nil,
                            spamServing serving: ((Configuration) -> Void)? = nil) -> Never {
        spamQueueMain = spamQueue
        spamScreen = screen
        spamServing = serving
        Signals.resetForProgramStart()
        ignoreBrokenPipeSignal()
        if arguments.first == "--serve" {
            guard arguments.count <= 2 else { usage() }
            guard let role = arguments.count == 2 ? SMTPServerRole(rawValue: arguments[1]) : .mx else { usage() }
            serve(role: role)
        }
        let role: SMTPServerRole
        switch arguments.count {
        case 0: role = .mx
        case 1:
            guard let parsed = SMTPServerRole(rawValue: arguments[0]) else { usage() }
            role = parsed
        default: usage()
        }
        let setup = setUp(role: role)
        runSession(setup, policy: makePolicy(setup.configuration))
    }

    /// What one process reads before its first session: for a per-connection process all of
    /// it happens per connection, for `--serve` once.
    struct Setup {
        let role: SMTPServerRole
        let configuration: Configuration
        let settings: SMTPDaemonSettings
        let tlsContext: TLSServerContext?
        let screening: ScreeningSettings
    }

    /// Configuration, the TLS key (read while we may still be root), the screening state
    /// directory, then the privilege drop to mail_owner.
    static func setUp(role: SMTPServerRole) -> Setup {
        let configuration: Configuration
        do {
            configuration = try Configuration.load()
        } catch {
            refuse("configuration error: \(error.description.split(separator: "\n").first ?? "")", hostname: Configuration.systemHostname())
        }
        // --serve's sessions look their recipients up in one process tree (passwd_cache_time).
        if serving { PasswdCache.shared.keep(forSeconds: configuration.duration("passwd_cache_time")) }
        let queueOverride = getenv("POSTAMT_QUEUE").map { String(cString: $0) }
        let settings = SMTPDaemonSettings(configuration: configuration, role: role, queueOverride: queueOverride)
        for entry in settings.trustedNetworks.invalid {
            log.warning("smtpd_trusted_networks: '\(entry)' is not a network; ignored")
        }

        // The key is read now, while we may still be root (postamt-smtpd(8), DESIGN.md); the TLS
        // context is built from it (and OpenSSL loaded) at the first STARTTLS, or at once for
        // the smtps role, which needs it before the greeting.
        var tlsContext: TLSServerContext? = nil
        if settings.engine.startTLSAvailable {
            do {
                guard let chain = try FileIO.readFile(settings.certificateFile, limit: 1 << 20) else {
                    throw SystemError("open \(settings.certificateFile)", errno: ENOENT)
                }
                guard let key = try FileIO.readFile(settings.keyFile, limit: 1 << 20) else {
                    throw SystemError("open \(settings.keyFile)", errno: ENOENT)
                }
                let context = TLSServerContext(certificateChainPEM: chain, privateKeyPEM: key,
                                               certificateChainPath: settings.certificateFile, privateKeyPath: settings.keyFile)
                // --serve builds the context once, for every session it forks.
                if role == .smtps || serving { _ = try context.load() }
                tlsContext = context
            } catch {
                log.error("TLS disabled: \(error)")
                if role == .smtps { refuse("no usable certificate for implicit TLS", hostname: settings.hostname) }
            }
        } else if role == .smtps {
            refuse("smtpd_tls_cert_file and smtpd_tls_key_file (or tls_certificate and tls_key) are needed for the smtps role", hostname: settings.hostname)
        }

        let screening = ScreeningSettings(configuration: configuration, role: role)
        if let problem = screening.problems.first { refuse("configuration error: \(problem)", hostname: settings.hostname) }
        let mailOwner = configuration.string("mail_owner")
        if Privileges.isRoot {
            guard let owner = SystemUser.named(mailOwner) else { refuse("mail_owner \(mailOwner) does not exist", hostname: settings.hostname) }
            ScreeningPolicy.prepareStateDirectory(screening, owner: owner)
            do { try Privileges.dropToDaemonAccount(owner) } catch { refuse("\(error)", hostname: settings.hostname) }
        }
        return Setup(role: role, configuration: configuration, settings: settings, tlsContext: tlsContext, screening: screening)
    }

    /// One session on fd 0/1, then exit.
    static func runSession(_ setup: Setup, policy: SMTPDaemonPolicy) -> Never {
        serveSession(setup, policy: policy)
        exit(Exit.sessionEnded.rawValue)
    }

    /// One session on fd 0/1 (a reused --serve child runs several, one after another: nothing
    /// of a session outlives it but what `setup` and `policy` hold, which do not change).
    static func serveSession(_ setup: Setup, policy: SMTPDaemonPolicy) {
        var engineConfiguration = setup.settings.engine
        if setup.tlsContext == nil { engineConfiguration.startTLSAvailable = false }
        let peer = peerAddress()
        let trusted = peer.map { setup.settings.trustedNetworks.contains($0) } ?? false
        let screeningPolicy = ScreeningPolicy(wrapping: policy, settings: setup.screening, peer: peer, trusted: trusted, log: log)

        let session = SMTPDaemonSession(settings: setup.settings, engineConfiguration: engineConfiguration,
                                        tlsContext: setup.tlsContext, peer: peer, trusted: trusted, policy: screeningPolicy, log: log)
        session.run()
    }

    static func makePolicy(_ configuration: Configuration) -> SMTPDaemonPolicy {
        let book = AddressBook(configuration: configuration)
        for table in book.unavailable {
            log.error("cannot read \(table); recipients and senders get 451 until it is readable")
        }
        if book.virtualNotCompiled {
            log.warning("\(configuration.string("virtual_alias_file")) is newer than its .cdb: read as text (run postamt check to compile it)")
        }
        let auth = AuthConfiguration(configuration)
        return SMTPDaemonPolicy(resolver: book.resolver, tablesUnavailable: !book.unavailable.isEmpty,
                                checksSenderOwnership: configuration.bool("sender_login_check"),
                                authClient: AuthClient(socketPath: auth.socketPath, timeout: auth.clientTimeout), log: log)
    }

    /// The client's address: getpeername on fd 0, else $TCPREMOTEIP (tcpserver, postamt-listen).
    static func peerAddress() -> IPAddress? {
        if let peer = SocketAddress.peer(ofSocket: 0) { return peer.address.unmapped }
        if let value = getenv("TCPREMOTEIP"), let address = IPAddress(String(cString: value)) { return address.unmapped }
        return nil
    }

    static func usage() -> Never {
        log.error("usage: postamt-smtpd [mx|submission|smtps] | postamt-smtpd --serve [mx|submission|smtps]")
        exit(Exit.usage.rawValue)
    }

    /// Tells the client (plaintext, the only thing we can speak yet) and the log, then exits 75.
    /// With --serve there is no client yet: the log only.
    static func refuse(_ reason: String, hostname: String) -> Never {
        log.error(reason)
        if serving { exit(Exit.temporary.rawValue) }
        _ = try? FileIO.writeAll(1, "421 4.3.0 \(hostname) Service temporarily unavailable\r\n")
        exit(Exit.temporary.rawValue)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import IMAPProtocol
import IMAPServer
import MailAuth
import MailCore
import MailNet
import MailSystem

/// postamt-imapd(8): one IMAP connection on fd 0/1, run to its end.
///
/// The connection loop around `IMAPSession`: reads with poll(2), writes the session's
/// responses, starts TLS (implicit or STARTTLS), and while the client idles waits on inotify
/// for the selected folder's new/ and cur/ (RFC 2177: IDLE without polling).
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
        var args = Array(arguments.dropFirst())
        var preauthUser: String?
        var implicitTLS = false
        var rootArgument: String?
        while let a = args.first {
            args.removeFirst()
            switch a {
            case "--preauth":
                guard let u = args.first else { return usage() }
                preauthUser = u
                args.removeFirst()
            case "--tls": implicitTLS = true
            case "--root":
                guard let r = args.first else { return usage() }
                rootArgument = r
                args.removeFirst()
            default: return usage()
            }
        }
        let config: Configuration
        do { config = try Configuration.load(root: Configuration.installationRoot(argument: rootArgument)) } catch {
            log.error("configuration: \(error)")
            return Exit.config.rawValue
        }
        var sessionConfiguration = IMAPSessionConfiguration()
        sessionConfiguration.hostname = config.hostname
        sessionConfiguration.maxAuthFailures = max(1, config.count("imap_max_auth_failures"))
        sessionConfiguration.maxCommandsBeforeLogin = max(1, config.count("imap_max_commands_before_login"))
        sessionConfiguration.limits.maxLineLength = Int(max(1024, config.size("imap_max_line_length")))
        sessionConfiguration.maxMessageSize = Int(max(1024, config.size("imap_max_message_size")))
        sessionConfiguration.limits.maxAppendLiteralSize = sessionConfiguration.maxMessageSize
        // MULTIAPPEND: all messages of one command together (held in memory until parsed).
        sessionConfiguration.limits.maxAppendCommandSize = sessionConfiguration.maxMessageSize * 2
        sessionConfiguration.allowPlaintextAuth = config.string("imap_plaintext_auth") == "yes" || config.string("imap_plaintext_auth") == "true"
        let peer = String(cString: getenv("TCPREMOTEIP") ?? getenv("REMOTE_ADDR") ?? strdup("-"))

        let stream: PlainStream
        do { stream = try PlainStream(readFD: 0, writeFD: 1, timeout: .seconds(60)) } catch {
            log.error("fd 0/1: \(error)")
            return Exit.osError.rawValue
        }

        let session: IMAPSession
        if let preauthUser {
            // Pre-authenticated: as the user already (an ssh tunnel, tests), or root dropping to them.
            guard let user = SystemUser.named(preauthUser) else {
                log.error("no such user: \(preauthUser)")
                return Exit.noUser.rawValue
            }
            if Privileges.isRoot || geteuid() != user.uid {
                do { try Privileges.drop(to: user) } catch {
                    log.error("cannot become \(user.name): \(error)")
                    return Exit.osError.rawValue
                }
            }
            session = IMAPSession(preauthenticatedUser: user.name, maildirPath: maildirPath(user, config),
                                  configuration: sessionConfiguration)
        } else {
            var tlsContext: TLSServerContext?
            let certificate = config.string("imap_tls_certificate"), key = config.string("imap_tls_key")
            if !certificate.isEmpty && !key.isEmpty {
                do { tlsContext = try TLSServerContext(certificateChainPath: certificate, privateKeyPath: key) } catch {
                    log.error("TLS: \(error)")
                    return Exit.config.rawValue
                }
            } else if implicitTLS {
                log.error("--tls needs imap_tls_certificate and imap_tls_key")
                return Exit.config.rawValue
            }
            sessionConfiguration.startTLSAvailable = tlsContext != nil
            session = IMAPSession(configuration: sessionConfiguration)
            session.authenticator = makeAuthenticator(config: config, peer: peer)
            var connection = Connection(plain: stream, tls: tlsContext, session: session, config: config)
            if implicitTLS {
                do { try connection.startTLS() } catch {
                    log.info("TLS handshake failed from \(peer): \(error)")
                    return Exit.ok.rawValue
                }
                session.tlsStarted()
            }
            return connection.run()
        }
        var connection = Connection(plain: stream, tls: nil, session: session, config: config)
        return connection.run()
    }

    static func usage() -> Int32 {
        log.error("usage: postamt-imapd [--root DIR] [--tls | --preauth USER]")
        return Exit.usage.rawValue
    }

    static func maildirPath(_ user: SystemUser, _ config: Configuration) -> String {
        var mailbox = config.string("home_mailbox")
        while mailbox.hasSuffix("/") { mailbox.removeLast() }
        return mailbox.hasPrefix("/") ? mailbox : "\(user.home)/\(mailbox)"
    }

    // XXX Minimal login for imapd until the shared MailLogin library (being built for pop3d)
    // is merged: ask postamt-auth, then drop to the user for good. Replace with MailLogin.
    static func makeAuthenticator(config: Configuration, peer: String) -> (String, [UInt8]) -> IMAPLoginOutcome {
        return { name, password in
            let client = AuthClient(socketPath: config.string("auth_socket"), timeout: max(1, config.duration("auth_timeout")))
            switch client.authenticate(service: "imap", user: Array(name.utf8), password: password, peer: peer) {
            case .success(let canonical):
                guard let user = SystemUser.named(canonical) else { return .failure }
                if user.uid == 0 { return .failure } // never serve root's mail
                if geteuid() != user.uid {
                    do { try Privileges.drop(to: user) } catch {
                        log.error("cannot become \(user.name): \(error)")
                        return .unavailable
                    }
                }
                return .success(user: user.name, maildirPath: maildirPath(user, config))
            case .failure:
                return .failure
            case .temporary(let reason):
                log.warning("postamt-auth: \(reason)")
                return .unavailable
            }
        }
    }
}

/// One connection: the byte stream (plain, then maybe TLS) and the session.
struct Connection {
    let plain: PlainStream
    let tlsContext: TLSServerContext?
    var stream: ByteStream
    var tls: TLSConnection?
    let session: IMAPSession
    let loginTimeout: Int64
    let idleTimeout: Int64
    static let log = Log(program: "postamt-imapd")

    init(plain: PlainStream, tls: TLSServerContext?, session: IMAPSession, config: Configuration) {
        self.plain = plain
        self.tlsContext = tls
        self.stream = plain
        self.session = session
        self.loginTimeout = max(1, config.duration("imap_login_timeout"))
        self.idleTimeout = max(60, config.duration("imap_idle_timeout"))
        let peer = String(cString: getenv("TCPREMOTEIP") ?? strdup("-"))
        session.log = { Connection.log.info("\(peer): \($0)") }
    }

    mutating func startTLS() throws {
        guard let tlsContext else { return }
        let connection = try TLSConnection(server: tlsContext, over: plain)
        try connection.handshake()
        tls = connection
        stream = connection
        session.outputSink = { bytes in (try? connection.write(bytes)) != nil }
    }

    /// Serves until LOGOUT, end of input, an error or the timeout.
    mutating func run() -> Int32 {
        let output = stream
        session.outputSink = { bytes in (try? output.write(bytes)) != nil }
        do {
            try stream.write(session.greeting())
            var watcher: DirectoryWatcher?
            // The whole pre-login dialogue has one deadline: a client trickling bytes cannot
            // stretch it.
            let loginDeadline = Clock.monotonicNanoseconds() / 1_000_000_000 + loginTimeout
            while !session.isFinished {
                let timeout = session.state == .notAuthenticated
                    ? max(0, loginDeadline - Clock.monotonicNanoseconds() / 1_000_000_000) : idleTimeout
                if session.isIdling && watcher == nil { watcher = DirectoryWatcher(session.watchedDirectories) }
                if !session.isIdling { watcher = nil }
                switch wait(seconds: timeout, watcher: watcher) {
                case .timeout:
                    try? stream.write(session.timeout())
                    return IMAPDaemon.Exit.ok.rawValue
                case .changed:
                    watcher?.drain()
                    let bytes = session.idleCheck()
                    if !bytes.isEmpty { try stream.write(bytes) }
                    continue
                case .readable:
                    break
                }
                var buffer: [UInt8] = []
                let count = try stream.read(appendingTo: &buffer, max: 65536)
                if count == 0 { return IMAPDaemon.Exit.ok.rawValue }
                let response = session.receive(buffer)
                if !response.isEmpty { try stream.write(response) }
                if session.wantsStartTLS {
                    try startTLS()
                    session.tlsStarted()
                }
            }
            try? stream.shutdown()
            return IMAPDaemon.Exit.ok.rawValue
        } catch {
            Connection.log.info("connection ended: \(error)")
            return IMAPDaemon.Exit.ok.rawValue
        }
    }

    enum Wake { case readable, changed, timeout }

    func wait(seconds: Int64, watcher: DirectoryWatcher?) -> Wake {
        // Bytes already decrypted inside OpenSSL do not show on the socket: read them first.
        if let tls, tls.hasBufferedData { return .readable }
        var fds = [pollfd(fd: plain.readFD, events: Int16(POLLIN), revents: 0)]
        if let watcher { fds.append(pollfd(fd: watcher.fd, events: Int16(POLLIN), revents: 0)) }
        let deadline = Clock.monotonicNanoseconds() + seconds * 1_000_000_000
        while true {
            let remaining = (deadline - Clock.monotonicNanoseconds()) / 1_000_000
            if remaining <= 0 { return .timeout }
            let rc = poll(&fds, nfds_t(fds.count), Int32(min(remaining, 60_000)))
            if rc < 0 && errno == EINTR { continue }
            if rc < 0 { return .readable } // let the read report the problem
            if rc == 0 { continue }
            if fds[0].revents != 0 { return .readable }
            if fds.count > 1 && fds[1].revents != 0 { return .changed }
        }
    }
}

/// inotify on a few directories (the selected folder's new/ and cur/).
final class DirectoryWatcher {
    let fd: Int32

    init?(_ directories: [String]) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        self.fd = fd
        let mask = UInt32(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)
        for directory in directories { _ = inotify_add_watch(fd, directory, mask) }
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    deinit { close(fd) }
}

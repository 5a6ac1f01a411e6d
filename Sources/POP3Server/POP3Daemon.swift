#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailLogin
import MailNet
import MailSystem
import POP3Protocol

/// postamt-pop3d(8): one POP3 session on fd 0/1, then exit.
///
///     postamt-pop3d [--tls] [--preauth USER] [--root DIR]
public enum POP3Daemon {
    /// Exit statuses (postamt-pop3d(8)).
    public enum Exit: Int32 {
        /// The session ended: QUIT, the client left, a timeout or a limit.
        case ok = 0
        /// The connection broke or the TLS handshake failed.
        case connection = 1
        case usage = 64
        /// postamt.conf or the certificate is unusable.
        case configuration = 78
    }

    public static func main(_ arguments: [String]) -> Int32 {
        let log = Log(program: "postamt-pop3d")
        ignoreBrokenPipeSignal()
        guard let options = DaemonArguments(arguments, accepting: [.tls, .preauth, .root]) else { return usage(log) }
        let implicitTLS = options.implicitTLS, preauth = options.preauth

        let configuration: Configuration
        do {
            configuration = try options.configuration()
        } catch {
            log.error("configuration: \(error)")
            refuse(implicitTLS: implicitTLS)
            return Exit.configuration.rawValue
        }
        let settings = POP3Settings(configuration)

        // The files are checked now; the context is built (and OpenSSL loaded) at STLS or on the
        // implicit-TLS port, still as root before login (postamt-pop3d(8)).
        var tlsContext: TLSServerContext?
        if settings.login.tlsConfigured {
            do {
                tlsContext = try TLSServerContext(certificateChainPath: settings.login.certificatePath,
                                                  privateKeyPath: settings.login.keyPath, loadNow: false)
            } catch {
                log.error("TLS: \(error)")
                refuse(implicitTLS: implicitTLS)
                return Exit.configuration.rawValue
            }
        } else if implicitTLS {
            log.error("--tls needs tls_certificate and tls_key in postamt.conf")
            return Exit.configuration.rawValue
        }

        let connection: ClientConnection
        do {
            connection = try ClientConnection(timeout: settings.timeouts.idle)
        } catch {
            log.error("connection: \(error)")
            return Exit.connection.rawValue
        }
        let peer = connection.peer
        func logLine(_ text: String) { log.info("\(peer) \(text)") }

        if implicitTLS, let tlsContext {
            do {
                try connection.startTLS(tlsContext, handshakeTimeout: settings.timeouts.handshake)
            } catch {
                logLine("TLS handshake failed: \(error)")
                return Exit.connection.rawValue
            }
        }

        var engineConfiguration = POP3SessionConfiguration(hostname: settings.login.hostname)
        engineConfiguration.limits = settings.limits
        engineConfiguration.implicitTLS = implicitTLS
        engineConfiguration.startTLSAvailable = tlsContext != nil
        engineConfiguration.allowsPlaintextAuthentication = settings.plaintextAuthentication || preauth != nil
        let policy = POP3LoginPolicy(settings: settings.login, peer: peer, preauthenticatedUser: preauth, log: logLine)
        policy.uidlFormat = settings.uidlFormat
        let session = POP3Session(configuration: engineConfiguration, policy: policy)
        let engine = POP3SessionEngine(session: session, preauthenticatedUser: preauth) {
            policy.authenticate(user: $0.user, password: $0.password)
        }
        let host = SessionHost(connection: connection, tlsContext: tlsContext, timeouts: settings.timeouts, log: logLine)
        if connection.isTLS { logLine("tls \(connection.tlsDescription)") }
        switch host.run(engine) {
        case .closed, .peerClosed, .timedOut: return Exit.ok.rawValue
        case .failed: return Exit.connection.rawValue
        }
    }

    static func usage(_ log: Log) -> Int32 {
        log.error("usage: postamt-pop3d [--tls] [--preauth user] [--root dir]")
        return Exit.usage.rawValue
    }

    /// Tells a plaintext client why it cannot be served (a TLS client would not understand).
    static func refuse(implicitTLS: Bool) {
        guard !implicitTLS else { return }
        _ = try? FileIO.writeAll(1, "-ERR [SYS/TEMP] Service unavailable, try later\r\n")
    }
}

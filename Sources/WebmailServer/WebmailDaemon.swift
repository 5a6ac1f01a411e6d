#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailLogin
import MailNet
import MailSystem
import WebmailProtocol

/// postamt-webmail(8): HTTPS on fd 0/1 for one connection, then exit.
///
///     postamt-webmail [--root DIR]
///     postamt-webmail --serve [--root DIR]
///     postamt-webmail --redirect [--root DIR]
///     postamt-webmail --write-templates DIR
///
/// TLS only (implicit, as on 443): the certificate is loaded as root, the handshake made, then
/// requests are answered in order (HTTP/1.1 keep-alive, no pipelining ahead of the answer).
public enum WebmailDaemon {
    public enum Exit: Int32, Error {
        /// The connection ended: the client closed it, a timeout, or a request was refused.
        case ok = 0
        /// The connection broke or the TLS handshake failed.
        case connection = 1
        case usage = 64
        /// --write-templates could not write the files.
        case cannotCreate = 73
        /// postamt.conf or the certificate is unusable.
        case configuration = 78
    }

    public static func main(_ arguments: [String]) -> Int32 {
        let log = Log(program: "postamt-webmail")
        // A clean signal state whoever started us (SIGPIPE ignored: a write to a closed
        // connection is an error, not the end).
        Signals.resetForProgramStart()
        if arguments.count == 3 && arguments[1] == "--write-templates" {
            do { try WebmailTemplates.writeBuiltIn(to: arguments[2]) } catch {
                log.error("cannot write the templates into \(arguments[2]): \(error)")
                return Exit.cannotCreate.rawValue
            }
            return Exit.ok.rawValue
        }
        var rest = arguments
        let serving = rest.count > 1 && rest[1] == "--serve"
        let redirecting = rest.count > 1 && rest[1] == "--redirect"
        if serving || redirecting { rest.remove(at: 1) }
        guard let options = DaemonArguments(rest, accepting: [.root]) else { return usage(log) }
        if serving { return serve(options, log: log) }
        if redirecting { return redirect(options, log: log).rawValue }
        let setup: Setup
        switch Setup.make(options, log: log) {
        case .success(let made): setup = made
        case .failure(let exit): return exit.rawValue
        }
        return connection(setup, log: log).rawValue
    }

    /// What every connection needs before its first byte: the configuration, the settings and
    /// the TLS context (the key read while still root). A per-connection process makes it
    /// once per connection; `--serve` once, and again when one of its files changes.
    struct Setup {
        let configuration: Configuration
        let settings: WebmailSettings
        let context: TLSServerContext
        /// postamt.conf, the certificate and the key as they were when this was made.
        let stamp: [Int]

        static func make(_ options: DaemonArguments, log: Log) -> Result<Setup, Exit> {
            let configuration: Configuration
            do {
                configuration = try options.configuration()
            } catch {
                log.error("configuration: \(error)")
                return .failure(.configuration)
            }
            let queueOverride = getenv("POSTAMT_QUEUE").map { String(cString: $0) }
            let settings = WebmailSettings(configuration, queueOverride: queueOverride)
            guard settings.login.tlsConfigured else {
                log.error("postamt-webmail speaks TLS only: set webmail_tls_certificate/webmail_tls_key (or tls_certificate/tls_key)")
                return .failure(.configuration)
            }
            let stamp = FileIO.stamp(Setup.files(configuration, settings))
            do {
                let context = try TLSServerContext(certificateChainPath: settings.login.certificatePath, privateKeyPath: settings.login.keyPath)
                return .success(Setup(configuration: configuration, settings: settings, context: context, stamp: stamp))
            } catch {
                log.error("TLS: \(error)")
                return .failure(.configuration)
            }
        }

        /// The files a setup is made from: a change of any means a new setup.
        static func files(_ configuration: Configuration, _ settings: WebmailSettings) -> [String] {
            [configuration.file, settings.login.certificatePath, settings.login.keyPath]
        }
    }

    /// One connection on fd 0/1: the TLS handshake, then requests until the end.
    static func connection(_ setup: Setup, log: Log) -> Exit {
        let settings = setup.settings
        let connection: ClientConnection
        do {
            connection = try ClientConnection(timeout: settings.readTimeout)
        } catch {
            log.error("connection: \(error)")
            return .connection
        }
        let peer = connection.peer
        func logLine(_ text: String) { log.info("\(peer) \(text)") }
        do {
            try connection.startTLS(setup.context, handshakeTimeout: settings.handshakeTimeout)
        } catch {
            logLine("TLS handshake failed: \(error)")
            return .connection
        }
        let app = WebmailApp(settings: settings, configuration: setup.configuration, peer: peer, log: logLine)
        return serve(connection.stream, app: app, settings: settings, log: logLine)
    }

    /// `postamt-webmail --serve`: one long-lived process on a listening socket (systemd's
    /// Accept=no, fd 3, or one on fd 0) that makes the setup once — the configuration, the TLS
    /// context — and forks, without exec, a child per connection that runs the very code of a
    /// per-connection postamt-webmail (root until the login, then the user, irrevocably) and
    /// exits. A change of postamt.conf, the certificate or the key is taken up at the next
    /// connection; a setup that then fails keeps the previous one (and says so).
    static func serve(_ options: DaemonArguments, log: Log) -> Int32 {
        guard let listener = ListeningSocket.inherited() else {
            log.error("--serve needs a listening socket: systemd's Accept=no (LISTEN_FDS) or one on fd 0")
            return Exit.usage.rawValue
        }
        var setup: Setup
        switch Setup.make(options, log: log) {
        case .success(let made): setup = made
        case .failure(let exit): return exit.rawValue
        }
        func limits() -> (total: Int, perClient: Int) {
            (max(1, setup.configuration.count("listen_connection_limit")), max(1, setup.configuration.count("listen_client_limit")))
        }
        log.info("serving on fd \(listener), at most \(limits().total) connections, \(limits().perClient) per client")
        ForkingServer.run(listener: listener, limits: limits,
                          // TLS first: there is no plaintext answer to give; the client may try again.
                          refuse: { _, ip, reason in log.warning("refused [\(ip)]: \(reason)") },
                          beforeFork: {
                              guard FileIO.stamp(Setup.files(setup.configuration, setup.settings)) != setup.stamp else { return }
                              switch Setup.make(options, log: log) {
                              case .success(let made):
                                  setup = made
                                  log.info("configuration or certificate changed: taken up")
                              case .failure:
                                  log.error("configuration or certificate changed but unusable: the previous one stays")
                              }
                          },
                          log: { log.error($0) },
                          child: { ip in
                              // The client's address as postamt-listen gives it (log lines,
                              // PAM_RHOST, the login throttle).
                              setenv("TCPREMOTEIP", "\(ip)", 1)
                              exit(connection(setup, log: log).rawValue)
                          })
    }

    /// `postamt-webmail --redirect`: the plain-HTTP port (80). One request on fd 0/1, answered
    /// with a permanent redirect to the same place over HTTPS (HTTPSRedirect) and the end of the
    /// connection; nothing else is served in plaintext, nothing is logged in, no TLS key is read.
    /// Started as root (postamt-listen), it first becomes default_privs.
    static func redirect(_ options: DaemonArguments, log: Log) -> Exit {
        let configuration: Configuration
        do {
            configuration = try options.configuration()
        } catch {
            log.error("configuration: \(error)")
            return .configuration
        }
        if getuid() == 0 || geteuid() == 0 {
            let name = configuration.string("default_privs")
            guard let user = SystemUser.named(name), user.uid != 0 else {
                log.error("--redirect runs as default_privs, and '\(name)' is not a non-root user")
                return .configuration
            }
            do { try Privileges.drop(to: user) } catch {
                log.error("cannot become \(name): \(error)")
                return .configuration
            }
        }
        let settings = WebmailSettings(configuration, queueOverride: nil)
        let stream: PlainStream
        do {
            stream = try PlainStream(readFD: 0, writeFD: 1, timeout: settings.readTimeout)
        } catch {
            log.error("connection: \(error)")
            return .connection
        }
        ConnectionOptions.sendAtOnce(1)
        let peer = ClientConnection.peerFromEnvironment()
        var parser = HTTPRequestParser(limits: settings.limits)
        while true {
            let response: HTTPResponse
            var head = false
            do {
                guard let request = try parser.next() else {
                    guard let bytes = try stream.read(max: 16 * 1024), !bytes.isEmpty else { return .ok }
                    parser.feed(bytes)
                    continue
                }
                response = HTTPSRedirect.response(to: request, fallbackHost: configuration.hostname,
                                                  httpsPort: max(1, configuration.count("webmail_https_port")))
                head = request.method == "HEAD"
                log.info("\(peer) \(request.method) \(request.path) \(response.status) to https")
            } catch let error as HTTPError {
                response = HTTPResponse.error(error)
                log.info("\(peer) refused: \(error)")
            } catch {
                // The read timed out or failed: nothing to answer.
                return .ok
            }
            try? stream.write(response.serialized(keepAlive: false, head: head, secure: false))
            try? stream.shutdown()
            return .ok
        }
    }

    /// Reads requests and writes answers until the client or a limit ends the connection.
    static func serve(_ stream: any ByteStream, app: WebmailApp, settings: WebmailSettings, log: (String) -> Void) -> Exit {
        var parser = HTTPRequestParser(limits: settings.limits)
        var requestStarted: Int64?
        while true {
            // Answer every complete request already received.
            while true {
                let request: HTTPRequest?
                do {
                    request = try parser.next()
                } catch {
                    log("refused: \(error)")
                    try? stream.write(HTTPResponse.error(error).serialized(keepAlive: false))
                    try? stream.shutdown()
                    return .ok
                }
                guard let request else { break }
                requestStarted = parser.pendingCount > 0 ? Clock.monotonicNanoseconds() : nil
                let answer = app.answer(request)
                let keepAlive = request.keepAlive && !answer.close
                log("\(request.method) \(request.path) \(answer.response.status)")
                do {
                    stream.timeout = settings.readTimeout
                    try stream.write(answer.response.serialized(keepAlive: keepAlive, head: request.method == "HEAD"))
                } catch {
                    log("write: \(error)")
                    return .connection
                }
                if !keepAlive {
                    try? stream.shutdown()
                    return .ok
                }
            }
            // Between requests the keep-alive timeout; within one, what is left of the read timeout.
            let timeout: Duration
            if let started = requestStarted {
                let left = nanoseconds(settings.readTimeout) - (Clock.monotonicNanoseconds() - started)
                guard left > 0 else {
                    try? stream.write(HTTPResponse.error(HTTPError(408, "the request took too long")).serialized(keepAlive: false))
                    try? stream.shutdown()
                    return .ok
                }
                timeout = .nanoseconds(left)
            } else {
                timeout = settings.keepAliveTimeout
            }
            stream.timeout = timeout
            do {
                guard let bytes = try stream.read(max: 16 * 1024) else { return .ok }
                if requestStarted == nil && !bytes.isEmpty { requestStarted = Clock.monotonicNanoseconds() }
                parser.feed(bytes)
            } catch let error as NetError where error.isTimeout {
                if requestStarted != nil {
                    try? stream.write(HTTPResponse.error(HTTPError(408, "the request took too long")).serialized(keepAlive: false))
                }
                try? stream.shutdown()
                return .ok
            } catch {
                log("read: \(error)")
                return .connection
            }
        }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return min(seconds, 1 << 32) * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    static func usage(_ log: Log) -> Int32 {
        log.error("usage: postamt-webmail [--serve | --redirect] [--root dir] | --write-templates dir")
        return Exit.usage.rawValue
    }
}

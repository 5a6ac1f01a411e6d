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
///     postamt-webmail --write-templates DIR
///
/// TLS only (implicit, as on 443): the certificate is loaded as root, the handshake made, then
/// requests are answered in order (HTTP/1.1 keep-alive, no pipelining ahead of the answer).
public enum WebmailDaemon {
    public enum Exit: Int32 {
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
        ignoreBrokenPipeSignal()
        if arguments.count == 3 && arguments[1] == "--write-templates" {
            do { try WebmailTemplates.writeBuiltIn(to: arguments[2]) } catch {
                log.error("cannot write the templates into \(arguments[2]): \(error)")
                return Exit.cannotCreate.rawValue
            }
            return Exit.ok.rawValue
        }
        guard let options = DaemonArguments(arguments, accepting: [.root]) else { return usage(log) }
        let configuration: Configuration
        do {
            configuration = try options.configuration()
        } catch {
            log.error("configuration: \(error)")
            return Exit.configuration.rawValue
        }
        let queueOverride = getenv("POSTAMT_QUEUE").map { String(cString: $0) }
        let settings = WebmailSettings(configuration, queueOverride: queueOverride)
        guard settings.login.tlsConfigured else {
            log.error("postamt-webmail speaks TLS only: set webmail_tls_certificate/webmail_tls_key (or tls_certificate/tls_key)")
            return Exit.configuration.rawValue
        }
        let context: TLSServerContext
        do {
            context = try TLSServerContext(certificateChainPath: settings.login.certificatePath, privateKeyPath: settings.login.keyPath)
        } catch {
            log.error("TLS: \(error)")
            return Exit.configuration.rawValue
        }
        let connection: ClientConnection
        do {
            connection = try ClientConnection(timeout: settings.readTimeout)
        } catch {
            log.error("connection: \(error)")
            return Exit.connection.rawValue
        }
        let peer = connection.peer
        func logLine(_ text: String) { log.info("\(peer) \(text)") }
        do {
            try connection.startTLS(context, handshakeTimeout: settings.handshakeTimeout)
        } catch {
            logLine("TLS handshake failed: \(error)")
            return Exit.connection.rawValue
        }
        let app = WebmailApp(settings: settings, configuration: configuration, peer: peer, log: logLine)
        return serve(connection.stream, app: app, settings: settings, log: logLine).rawValue
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
        log.error("usage: postamt-webmail [--root dir] | --write-templates dir")
        return Exit.usage.rawValue
    }
}

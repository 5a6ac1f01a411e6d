#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailLogin
import MailNet
import MailSystem
import ManageSieveProtocol
import Sieve

/// The login side: passwords go to postamt-auth(8) (service "sieve"); after the right one the
/// process becomes the user for good, and only then opens the scripts.
final class ManageSieveLoginPolicy: ManageSievePolicy {
    let configuration: Configuration
    let checker: PasswordChecker
    let peer: String
    let log: (String) -> Void
    let preauthenticatedUser: String?
    private var canonicalNames: [String: String] = [:]
    private(set) var currentUser: String?

    init(configuration: Configuration, settings: LoginSettings, peer: String, preauthenticatedUser: String?, log: @escaping (String) -> Void) {
        self.configuration = configuration
        self.checker = PasswordChecker(settings: settings, service: "sieve")
        self.peer = peer
        self.preauthenticatedUser = preauthenticatedUser
        self.log = log
    }

    func authenticate(user: String, password: [UInt8]) -> ManageSieveAuthResult {
        if let preauthenticatedUser { return user == preauthenticatedUser ? .success : .failure }
        switch checker.check(user: user, password: password, peer: peer) {
        case .accepted(let canonical): canonicalNames[user] = canonical; return .success
        case .rejected: return .failure
        case .unavailable(let reason): log("postamt-auth: \(reason)"); return .temporaryFailure
        }
    }

    func openStore(user: String) -> ManageSieveStore? {
        let name = canonicalNames[user] ?? user
        // UNAUTHENTICATE then a login as someone else: the process is the first user for good.
        if let currentUser, currentUser != name { log("already running as \(currentUser), cannot log in \(name)"); return nil }
        let home: String
        do { home = try UserSwitch.become(name).home; currentUser = name } catch {
            log("login \(name): \(error)")
            return nil
        }
        func expand(_ p: String) -> String { p == "~" ? home : p.hasPrefix("~/") ? home + p.dropFirst(1) : p }
        return ManageSieveDiskStore(directory: expand(configuration.string("sieve_directory")),
                                    activeLink: expand(configuration.string("sieve_script")),
                                    maximumSize: Int(configuration.size("sieve_max_script_size")),
                                    maximumScripts: max(1, configuration.count("managesieve_max_scripts")))
    }
}

/// `ManageSieveSession` in the shape `SessionHost` drives; `authenticator` answers its
/// `authenticate` requests.
final class ManageSieveEngine: SessionEngine {
    let session: ManageSieveSession
    let preauthenticatedUser: String?
    let authenticator: (ManageSieveAuthenticationRequest) -> ManageSieveAuthResult
    init(session: ManageSieveSession, preauthenticatedUser: String?,
         authenticator: @escaping (ManageSieveAuthenticationRequest) -> ManageSieveAuthResult) {
        self.session = session
        self.preauthenticatedUser = preauthenticatedUser
        self.authenticator = authenticator
    }
    var isAuthenticated: Bool { session.authenticatedUser != nil }
    func start() -> [SessionAction] {
        guard let user = preauthenticatedUser else { return map(session.start()) }
        let login = session.preauthenticate(user)
        return session.authenticatedUser == nil ? map(login) : map(session.start()) + map(login)
    }
    func feed(_ bytes: [UInt8]) -> [SessionAction] { map(session.feed(bytes)) }
    func continueOutput() -> [SessionAction] { [] }
    func tlsEstablished() -> [SessionAction] { map(session.tlsEstablished()) }
    func endOfInput() -> [SessionAction] { map(session.endOfInput()) }
    func timedOut() -> [SessionAction] { map(session.timedOut()) }

    func map(_ events: [ManageSieveEvent]) -> [SessionAction] {
        var actions: [SessionAction] = []
        for event in events {
            switch event {
            case .send(let bytes): actions.append(.send(bytes))
            case .log(let text): actions.append(.log(text))
            case .delay(let milliseconds): actions.append(.delay(milliseconds: milliseconds))
            case .startTLS: actions.append(.startTLS)
            case .close: actions.append(.close)
            case .authenticate(let request):
                // The engine contract: the host checks the password (postamt-auth) and answers.
                actions += map(session.authenticationAnswered(authenticator(request)))
            }
        }
        return actions
    }
}

/// postamt-managesieved(8): one ManageSieve session on fd 0/1, then exit.
///
///     postamt-managesieved [--preauth USER] [--root DIR]
public enum ManageSieveDaemon {
    public static func main(_ arguments: [String]) -> Int32 {
        let log = Log(program: "postamt-managesieved")
        ignoreBrokenPipeSignal()
        guard let options = DaemonArguments(arguments, accepting: [.preauth, .root]) else { return usage(log) }
        let preauth = options.preauth
        let configuration: Configuration
        do {
            configuration = try options.configuration()
        } catch {
            log.error("configuration: \(error)")
            _ = try? FileIO.writeAll(1, "BYE (TRYLATER) \"Service unavailable, try later.\"\r\n")
            return 78
        }
        let login = LoginSettings(configuration)
        var tlsContext: TLSServerContext?
        if login.tlsConfigured {
            do {
                tlsContext = try TLSServerContext(certificateChainPath: login.certificatePath, privateKeyPath: login.keyPath, loadNow: false)
            } catch {
                log.error("TLS: \(error)")
                _ = try? FileIO.writeAll(1, "BYE (TRYLATER) \"Service unavailable, try later.\"\r\n")
                return 78
            }
        }
        let timeouts = SessionTimeouts(idle: .seconds(max(1, configuration.duration("managesieve_idle_timeout"))),
                                       login: .seconds(max(1, configuration.duration("managesieve_login_timeout"))),
                                       handshake: .seconds(max(1, configuration.duration("managesieve_handshake_timeout"))))
        let connection: ClientConnection
        do { connection = try ClientConnection(timeout: timeouts.idle) } catch {
            log.error("connection: \(error)")
            return 1
        }
        let peer = connection.peer
        func logLine(_ text: String) { log.info("\(peer) \(text)") }

        var engineConfiguration = ManageSieveConfiguration()
        engineConfiguration.startTLSAvailable = tlsContext != nil
        engineConfiguration.allowsPlaintextAuthentication = configuration.bool("managesieve_plaintext_auth") || preauth != nil
        engineConfiguration.limits.maximumLineLength = max(256, configuration.count("managesieve_line_limit"))
        engineConfiguration.limits.maximumLiteral = Int(configuration.size("sieve_max_script_size"))
        engineConfiguration.limits.maximumCommandsBeforeAuthentication = max(1, configuration.count("managesieve_commands_before_auth"))
        engineConfiguration.limits.maximumAuthenticationFailures = max(1, configuration.count("managesieve_auth_failures"))
        engineConfiguration.limits.authenticationFailureDelayMilliseconds = Int(configuration.duration("managesieve_auth_failure_delay")) * 1000
        engineConfiguration.parseLimits = SieveParseLimits(maxNesting: configuration.count("sieve_max_nesting"), maxSize: Int(configuration.size("sieve_max_script_size")))
        engineConfiguration.maxRedirects = configuration.count("sieve_max_redirects")
        let policy = ManageSieveLoginPolicy(configuration: configuration, settings: login, peer: peer, preauthenticatedUser: preauth, log: logLine)
        let session = ManageSieveSession(configuration: engineConfiguration, policy: policy)
        let host = SessionHost(connection: connection, tlsContext: tlsContext, timeouts: timeouts, log: logLine)
        let engine = ManageSieveEngine(session: session, preauthenticatedUser: preauth) {
            policy.authenticate(user: $0.user, password: $0.password)
        }
        switch host.run(engine) {
        case .closed, .peerClosed, .timedOut: return 0
        case .failed: return 1
        }
    }

    static func usage(_ log: Log) -> Int32 {
        log.error("usage: postamt-managesieved [--preauth user] [--root dir]")
        return 64
    }
}

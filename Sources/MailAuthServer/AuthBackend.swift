#if canImport(Glibc)
import Glibc
#endif
import MailAuth
import MailCore
import MailSystem

/// Where passwords are checked: PAM (the default) or a passwd file of virtual users.
public enum AuthBackend: Equatable, Sendable {
    /// PAM, with this service template (`pam_service`, `%s` = the caller's protocol).
    case pam(serviceTemplate: String)
    case passwdFile(path: String)

    public init(_ configuration: AuthConfiguration) {
        self = configuration.passwdFile.isEmpty ? .pam(serviceTemplate: configuration.pamService) : .passwdFile(path: configuration.passwdFile)
    }

    /// The arguments after `postamt-auth worker` that select this backend.
    var workerArguments: [String] {
        switch self {
        case .pam: return ["pam"]
        case .passwdFile(let path): return ["passwd-file", path]
        }
    }

    /// The service name the backend sees for a caller's protocol (what a worker is sent).
    func backendService(for service: String) -> String {
        switch self {
        case .pam(let template): return template.replacingAll("%s", with: service)
        case .passwdFile: return service
        }
    }

    /// Runs the check in this process. `service` is the backend service name.
    func check(service: String, user: [UInt8], password: [UInt8], peer: [UInt8]) -> AuthResponse {
        switch self {
        case .pam: return PAMAuthenticator.authenticate(service: service, user: user, password: password, peer: peer)
        case .passwdFile(let path): return PasswdFileAuthenticator.authenticate(file: path, user: user, password: password)
        }
    }
}

/// `postamt-auth worker pam | passwd-file PATH`: the process that runs one check for the server.
/// It reads one AUTH line on fd 0 (its service already mapped to the backend's) and writes one
/// answer line on fd 1. Internal to postamt-auth; not an interface.
public enum AuthWorker {
    public static func run(arguments: [String], log: Log) -> Int32 {
        let backend: AuthBackend
        switch arguments.first {
        case "pam" where arguments.count == 1: backend = .pam(serviceTemplate: "%s")
        case "passwd-file" where arguments.count == 2: backend = .passwdFile(path: arguments[1])
        default:
            log.error("usage: postamt-auth worker pam | passwd-file PATH")
            return 2
        }
        let limits = AuthProtocolLimits()
        let response: AuthResponse
        do {
            var input = try FileIO.readAll(0, limit: limits.maxLineLength)
            if input.last == UInt8(ascii: "\n") { input.removeLast() }
            guard case .authenticate(var credentials) = try AuthProtocol.parseRequest(input[...], limits: limits) else {
                log.error("worker: not an AUTH request")
                return 2
            }
            for i in input.indices { input[i] = 0 }
            response = backend.check(service: credentials.service, user: credentials.user,
                                     password: credentials.password, peer: credentials.peer)
            for i in credentials.password.indices { credentials.password[i] = 0 }
        } catch {
            log.error("worker: \(error)")
            return 2
        }
        do {
            try FileIO.writeAll(1, AuthProtocol.encode(response))
        } catch {
            return 111
        }
        return 0
    }
}

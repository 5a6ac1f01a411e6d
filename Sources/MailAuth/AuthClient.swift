#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// How smtpd, imapd and pop3d check a password: one request to `postamt-auth serve` over its Unix
/// socket (postamt-auth(8)). The client holds no secret beyond the call and links no PAM.
///
///     let client = AuthClient(socketPath: AuthConfiguration(config).socketPath)
///     switch client.authenticate(service: "imap", user: user, password: password, peer: "192.0.2.1") { … }
public struct AuthClient: Sendable {
    public let socketPath: String
    /// Seconds to wait for the answer; it must exceed the server's failure delay.
    public let timeout: Int64
    public let limits: AuthProtocolLimits

    public init(socketPath: String, timeout: Int64 = 15, limits: AuthProtocolLimits = AuthProtocolLimits()) {
        self.socketPath = socketPath
        self.timeout = timeout
        self.limits = limits
    }

    /// Checks `password` for `user` of `service` (imap, pop3, smtp); `peer` is the client's
    /// address, for PAM's PAM_RHOST and the log. Every local problem is a temporary result.
    public func authenticate(service: String, user: [UInt8], password: [UInt8], peer: String) -> AuthResult {
        guard AuthProtocol.isValidService(service) else { return .temporary(reason: "bad service name") }
        // Over-long fields cannot be right; answered here as the server would.
        guard !user.isEmpty, user.count <= limits.maxUserLength, password.count <= limits.maxPasswordLength else { return .failure }
        let request = AuthRequest.authenticate(AuthCredentials(service: service, user: user, password: password,
                                                              peer: Array(peer.utf8.prefix(limits.maxPeerLength))))
        switch exchange(request) {
        case .success(.ok(let canonical)): return .success(user: String(decoding: canonical, as: UTF8.self))
        case .success(.fail): return .failure
        case .success(.temporary(let reason)): return .temporary(reason: reason)
        case .success(.error(let reason)): return .temporary(reason: "postamt-auth refused the request: \(reason)")
        case .success(.stats): return .temporary(reason: "unexpected answer from postamt-auth")
        case .failure(let error): return .temporary(reason: error.description)
        }
    }

    public func authenticate(service: String, user: String, password: String, peer: String) -> AuthResult {
        authenticate(service: service, user: Array(user.utf8), password: Array(password.utf8), peer: peer)
    }

    /// The server's counters (for `postamt` and tests).
    public func statistics() throws(AuthProtocolError) -> [AuthStatistic] {
        switch exchange(.stats) {
        case .success(.stats(let values)): return values
        case .success(let other): throw AuthProtocolError("unexpected answer \(other)")
        case .failure(let error): throw error
        }
    }

    /// One request, one answer, on a fresh connection.
    public func exchange(_ request: AuthRequest) -> Result<AuthResponse, AuthProtocolError> {
        let deadline = Clock.monotonicNanoseconds() + timeout * 1_000_000_000
        do {
            let fd = try UnixSocket.connect(to: socketPath)
            var writeError: (any Error)? = nil
            do {
                try FileIO.writeAll(fd.raw, AuthProtocol.encode(request))
            } catch {
                writeError = error   // the server may have answered (ERR) and closed: read that first
            }
            let line: [UInt8]
            do {
                line = try UnixSocket.readLine(fd.raw, limit: limits.maxLineLength, deadline: deadline)
            } catch {
                throw writeError ?? error
            }
            return Result { () throws(AuthProtocolError) in try AuthProtocol.parseResponse(line[...], limits: limits) }
        } catch let error as AuthProtocolError {
            return .failure(error)
        } catch {
            return .failure(AuthProtocolError("postamt-auth at \(socketPath): \(error)"))
        }
    }
}

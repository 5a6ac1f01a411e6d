import IMAPProtocol
import MailCodec
import MailMessage

extension IMAPSession {
    /// AUTHENTICATE PLAIN (RFC 4616) and LOGIN, with SASL-IR (RFC 4959).
    func authenticate(tag: String, mechanism: String, initialResponse: [UInt8]?) {
        guard state == .notAuthenticated else { return bad(tag, "Already logged in") }
        guard configuration.tlsActive || configuration.allowPlaintextAuth else {
            return no(tag, code: .privacyRequired, "Authentication needs TLS (STARTTLS)")
        }
        guard mechanism == "PLAIN" || mechanism == "LOGIN" else {
            return no(tag, code: .cannot, "Unsupported mechanism")
        }
        pendingAuthentication = (tag, mechanism, nil)
        reader.mode = .authenticationResponse
        if let initialResponse {
            continueAuthentication(initialResponse)
        } else if mechanism == "LOGIN" {
            out.continuation(base64Challenge: Array(SASLExchange.userChallenge.utf8))
        } else {
            out.continuation(base64Challenge: [])
        }
    }

    func continueAuthentication(_ line: [UInt8]) {
        guard let pending = pendingAuthentication else { reader.mode = .command; return }
        // The shared exchange (MailCodec), resumed from what pendingAuthentication keeps.
        var exchange = SASLExchange(mechanism: pending.mechanism, decoding: .lenient, user: pending.user)
        switch exchange?.respond(line[...]) ?? .failed(.malformed) {
        case .user(let name):
            pendingAuthentication = (pending.tag, pending.mechanism, name)
            out.continuation(base64Challenge: Array(SASLExchange.passwordChallenge.utf8))
        case .credentials(let authorization, let user, let password):
            pendingAuthentication = nil
            reader.mode = .command
            if !authorization.isEmpty && authorization != user {
                return no(pending.tag, code: .authorizationFailed, "Proxy authorization is not supported")
            }
            finishLogin(tag: pending.tag, user: user, password: password, mechanism: pending.mechanism)
        case .failed(let failure):
            pendingAuthentication = nil
            reader.mode = .command
            switch failure {
            // RFC 9051 §6.2.2: the client's "*" is answered BAD, but it is no invalid command.
            case .cancelled: out.tagged(pending.tag, .bad, "Authentication cancelled")
            case .invalidBase64: bad(pending.tag, "Invalid base64")
            case .malformed: bad(pending.tag, "Malformed PLAIN response")
            }
        case .challenge:
            break // only `start` challenges; the engine sent the first one itself
        }
    }

    func finishLogin(tag: String, user userBytes: [UInt8], password: [UInt8], mechanism: String) {
        guard let userName = String(validating: userBytes, as: UTF8.self), !userName.isEmpty, userName.utf8.count <= 256,
              !userName.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            // One line per failed login, like the others (the host puts the client first).
            log?("login failed: user=(invalid)")
            return loginFailed(tag)
        }
        // An empty password is never checked (some PAM stacks accept it: nullok); NUL cannot
        // be in one.
        guard !password.isEmpty, !password.contains(0) else {
            log?("login failed: user=\(userName)")
            return loginFailed(tag)
        }
        // The engine contract: the host checks the password and answers.
        authenticationTag = tag
        authenticationRequest = IMAPAuthenticationRequest(user: userName, password: password, mechanism: mechanism)
    }

    /// The host's answer to `authenticationRequest`: the tagged reply, then whatever the client
    /// pipelined behind the command.
    public func authenticationAnswered(_ outcome: IMAPLoginOutcome) -> [UInt8] {
        guard let request = authenticationRequest, let tag = authenticationTag else { return out.takeBytes() }
        authenticationRequest = nil
        authenticationTag = nil
        let userName = request.user
        switch outcome {
        case .success(let name, let maildirPath):
            login(user: name, maildirPath: maildirPath)
            log?("login: user=\(name)")
            ok(tag, code: .capability(capabilities), "Logged in")
        case .failure:
            log?("login failed: user=\(userName)")
            loginFailed(tag)
        case .unavailable:
            no(tag, code: .unavailable, "Authentication is temporarily unavailable")
        }
        return receive([])
    }

    func loginFailed(_ tag: String) {
        authFailures += 1
        no(tag, code: .authenticationFailed, "Authentication failed")
        if authFailures >= configuration.maxAuthFailures {
            out.untagged(.bye, "Too many authentication failures")
            state = .logout
        }
    }
}

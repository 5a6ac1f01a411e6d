import IMAPProtocol
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
            out.continuation(base64Challenge: Array(Base64Decoder.encode(Array("Username:".utf8)).utf8))
        } else {
            out.continuation(base64Challenge: [])
        }
    }

    func continueAuthentication(_ line: [UInt8]) {
        guard let pending = pendingAuthentication else { reader.mode = .command; return }
        if line == [UInt8(ascii: "*")] {
            pendingAuthentication = nil
            reader.mode = .command
            // RFC 9051 §6.2.2: the client's "*" is answered BAD, but it is no invalid command.
            return out.tagged(pending.tag, .bad, "Authentication cancelled")
        }
        let decoded: [UInt8]
        if line == [UInt8(ascii: "=")] { decoded = [] } else {
            guard line.allSatisfy({ IMAPSession.isBase64($0) }) else {
                pendingAuthentication = nil
                reader.mode = .command
                return bad(pending.tag, "Invalid base64")
            }
            decoded = Base64Decoder.decode(line)
        }
        switch pending.mechanism {
        case "LOGIN":
            if pending.user == nil {
                pendingAuthentication = (pending.tag, pending.mechanism, decoded)
                out.continuation(base64Challenge: Array(Base64Decoder.encode(Array("Password:".utf8)).utf8))
                return
            }
            pendingAuthentication = nil
            reader.mode = .command
            finishLogin(tag: pending.tag, user: pending.user!, password: decoded)
        default:
            pendingAuthentication = nil
            reader.mode = .command
            // authzid NUL authcid NUL passwd
            let fields = decoded.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { return bad(pending.tag, "Malformed PLAIN response") }
            if !fields[0].isEmpty && Array(fields[0]) != Array(fields[1]) {
                return no(pending.tag, code: .authorizationFailed, "Proxy authorization is not supported")
            }
            finishLogin(tag: pending.tag, user: Array(fields[1]), password: Array(fields[2]))
        }
    }

    static func isBase64(_ byte: UInt8) -> Bool {
        (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57)
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=")
    }

    func finishLogin(tag: String, user userBytes: [UInt8], password: [UInt8]) {
        guard let userName = String(validating: userBytes, as: UTF8.self), !userName.isEmpty, userName.utf8.count <= 256,
              !userName.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            // One line per failed login, like the others (the host puts the client first).
            log?("login failed: user=(invalid)")
            return loginFailed(tag)
        }
        switch authenticator?(userName, password) ?? .unavailable {
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

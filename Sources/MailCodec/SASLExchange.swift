/// The server side of one SASL exchange, PLAIN (RFC 4616) or LOGIN
/// (draft-murchison-sasl-login), shared by the SMTP (RFC 4954), POP3 (RFC 5034) and IMAP
/// (RFC 3501 §6.2.2, SASL-IR RFC 4959) engines. It decodes the client's lines and says what
/// comes next; each engine frames the challenges (`334`, `+`, IMAP continuation) and words
/// the failures in its own protocol, and the host checks the password.
///
/// SCRAM-SHA-256 (RFC 7677) is deliberately not here: to verify a SCRAM proof the server needs
/// the salted password (StoredKey/ServerKey, RFC 5802 §3) or the plaintext, and Postamt checks
/// passwords only through PAM, which answers "is this plaintext password right?" and never
/// hands out a hash or a salt. With PAM as the backend SCRAM cannot be offered.
public struct SASLExchange: Sendable {
    public enum Mechanism: String, Sendable, CaseIterable {
        case plain = "PLAIN"
        case login = "LOGIN"
    }

    public enum Failure: Equatable, Sendable {
        /// The client sent "*" (RFC 4954 §4, RFC 5034 §4, RFC 3501 §6.2.2).
        case cancelled
        case invalidBase64
        /// PLAIN not of the form authzid NUL authcid NUL passwd.
        case malformed
    }

    public enum Step: Equatable, Sendable {
        /// Send this challenge, already base64 ("" for an empty one), and wait for a line.
        case challenge(String)
        /// LOGIN: the user name arrived. The engine may refuse it now; to go on it sends
        /// `SASLExchange.passwordChallenge` and feeds the next line to `respond`.
        case user([UInt8])
        /// The exchange is complete: check these. `authorization` is empty when not given.
        case credentials(authorization: [UInt8], user: [UInt8], password: [UInt8])
        case failed(Failure)
    }

    /// How strictly responses are decoded: canonical base64 (RFC 4648 §3.5; SMTP and POP3),
    /// or the base64 alphabet with lenient padding (the IMAP engine's long-standing reading).
    public enum Decoding: Sendable { case strict, lenient }

    /// "Username:" and "Password:", the LOGIN mechanism's customary prompts.
    public static let userChallenge = Base64.encode(Array("Username:".utf8))
    public static let passwordChallenge = Base64.encode(Array("Password:".utf8))

    public let mechanism: Mechanism
    let decoding: Decoding
    private var user: [UInt8]? = nil

    static func isBase64Character(_ byte: UInt8) -> Bool {
        (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57)
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=")
    }

    /// nil for a mechanism that is not offered.
    public init?(mechanism name: String, decoding: Decoding = .strict) {
        guard let m = Mechanism(rawValue: name) else { return nil }
        mechanism = m
        self.decoding = decoding
    }

    /// Resumes an exchange whose state the engine kept itself: LOGIN after `user` arrived.
    public init?(mechanism name: String, decoding: Decoding = .strict, user: [UInt8]?) {
        self.init(mechanism: name, decoding: decoding)
        if mechanism == .login { self.user = user }
    }

    /// The first step: the initial response's outcome (RFC 4954 §4, RFC 4959), or the first
    /// challenge.
    public mutating func start(initialResponse: ArraySlice<UInt8>?) -> Step {
        if let initialResponse { return respond(initialResponse) }
        return .challenge(mechanism == .login ? Self.userChallenge : "")
    }

    /// One line from the client, without its line end.
    public mutating func respond(_ line: ArraySlice<UInt8>) -> Step {
        if line.elementsEqual("*".utf8) { return .failed(.cancelled) }
        // "=" is an empty response (RFC 4954 §4, RFC 5034 §4, RFC 4959 §3).
        let decoded: [UInt8]
        if line.elementsEqual("=".utf8) {
            decoded = []
        } else {
            switch decoding {
            case .strict:
                guard let d = Base64.decode(line) else { return .failed(.invalidBase64) }
                decoded = d
            case .lenient:
                guard line.allSatisfy(Self.isBase64Character), let d = Base64.decodeLenient(line) else { return .failed(.invalidBase64) }
                decoded = d
            }
        }
        switch mechanism {
        case .plain:
            // RFC 4616 §2: [authzid] NUL authcid NUL passwd, none of them holding NUL.
            let parts = decoded.split(separator: 0, omittingEmptySubsequences: false)
            guard parts.count == 3 else { return .failed(.malformed) }
            return .credentials(authorization: Array(parts[0]), user: Array(parts[1]), password: Array(parts[2]))
        case .login:
            guard let user else {
                self.user = decoded
                return .user(decoded)
            }
            return .credentials(authorization: [], user: user, password: decoded)
        }
    }
}

import MailCodec
/// The line protocol between Postamt's servers (smtpd, imapd, pop3d) and `postamt-auth serve`,
/// documented in postamt-auth(8). One request per line, one answer per request:
///
///     AUTH <service> <base64 user> <base64 password> <base64 peer>\n
///         → OK <base64 canonical user>\n | FAIL\n | TEMP <reason>\n
///     STATS\n
///         → STATS <name>=<number> …\n
///     anything malformed
///         → ERR <reason>\n, and the server closes the connection
///
/// Fields are separated by one space. Everything that comes from a user is base64 (RFC 4648 §4,
/// strict), so no byte of a name or password can break the framing; an empty field is `-`.
/// `<service>` is the caller's protocol name (`imap`, `pop3`, `smtp`): 1–32 of `a-z 0-9 - _`.

/// Limits of the protocol; every one is checked before memory is spent on it.
public struct AuthProtocolLimits: Sendable, Equatable {
    /// The longest request line, LF included. 2048 bytes hold the largest fields below in base64.
    public var maxLineLength = 2048
    /// The longest user name, decoded (RFC 4616 §2 allows 255 octets for PLAIN's authcid).
    public var maxUserLength = 255
    /// The longest password, decoded (RFC 4616: 255 octets; 512 as checkpassword reads at most 512).
    public var maxPasswordLength = 512
    /// The longest peer description (an IPv6 address with a scope fits easily).
    public var maxPeerLength = 128
    /// The longest service name.
    public var maxServiceLength = 32

    public init() {}
}

/// What a client asks.
public enum AuthRequest: Equatable, Sendable {
    /// Check a password for a user of a service.
    case authenticate(AuthCredentials)
    /// Report the server's counters (requests, cache hits, backend calls, workers).
    case stats
}

/// One password check. The password is bytes so that it can be wiped after use.
public struct AuthCredentials: Equatable, Sendable {
    public var service: String
    public var user: [UInt8]
    public var password: [UInt8]
    public var peer: [UInt8]

    public init(service: String, user: [UInt8], password: [UInt8], peer: [UInt8]) {
        self.service = service; self.user = user; self.password = password; self.peer = peer
    }

    /// The user for a log line: printable ASCII kept, anything else escaped, at most 64 bytes.
    public var userForLog: String { AuthProtocol.printable(user, limit: 64) }
    public var peerForLog: String { peer.isEmpty ? "-" : AuthProtocol.printable(peer, limit: 64) }
}

/// One counter in a STATS answer.
public struct AuthStatistic: Equatable, Sendable {
    public let name: String
    public let value: Int
    public init(_ name: String, _ value: Int) { self.name = name; self.value = value }
}

/// What the server answers.
public enum AuthResponse: Equatable, Sendable {
    /// The password is right; the user's canonical name (as PAM or the passwd file has it).
    case ok(user: [UInt8])
    /// Wrong password or unknown user: the two are deliberately indistinguishable.
    case fail
    /// The check could not be made (PAM unavailable, a worker failed, overload): try later.
    case temporary(reason: String)
    /// The request was malformed; the server closes the connection after this line.
    case error(reason: String)
    case stats([AuthStatistic])
}

/// A malformed line, with a reason fit for an ERR answer.
public struct AuthProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The result a server gets from `AuthClient`.
public enum AuthResult: Equatable, Sendable {
    case success(user: String)
    case failure
    case temporary(reason: String)
}

public enum AuthProtocol {
    static let space = UInt8(ascii: " ")
    static let newline = UInt8(ascii: "\n")
    static let emptyField = UInt8(ascii: "-")

    // MARK: Requests

    /// Parses one request line (without its LF).
    public static func parseRequest(_ line: ArraySlice<UInt8>, limits: AuthProtocolLimits = AuthProtocolLimits()) throws(AuthProtocolError) -> AuthRequest {
        guard line.count < limits.maxLineLength else { throw AuthProtocolError("line too long") }
        guard !line.isEmpty else { throw AuthProtocolError("empty line") }
        let fields = line.split(separator: space, maxSplits: 5, omittingEmptySubsequences: false)
        let verb = fields[0]
        switch String(decoding: verb, as: UTF8.self) {
        case "AUTH":
            guard fields.count == 5 else { throw AuthProtocolError("AUTH takes 4 fields") }
            let service = try parseService(fields[1], limits: limits)
            let user = try decodeField(fields[2], name: "user", limit: limits.maxUserLength)
            let password = try decodeField(fields[3], name: "password", limit: limits.maxPasswordLength)
            let peer = try decodeField(fields[4], name: "peer", limit: limits.maxPeerLength)
            guard !user.isEmpty else { throw AuthProtocolError("empty user") }
            return .authenticate(AuthCredentials(service: service, user: user, password: password, peer: peer))
        case "STATS":
            guard fields.count == 1 else { throw AuthProtocolError("STATS takes no fields") }
            return .stats
        default:
            throw AuthProtocolError("unknown command")
        }
    }

    /// The request as a line, LF included.
    public static func encode(_ request: AuthRequest) -> [UInt8] {
        switch request {
        case .stats:
            return Array("STATS\n".utf8)
        case .authenticate(let c):
            return Array("AUTH \(c.service) \(encodeField(c.user)) \(encodeField(c.password)) \(encodeField(c.peer))\n".utf8)
        }
    }

    static func parseService(_ field: ArraySlice<UInt8>, limits: AuthProtocolLimits) throws(AuthProtocolError) -> String {
        guard !field.isEmpty, field.count <= limits.maxServiceLength,
              field.allSatisfy({ isServiceByte($0) }) else { throw AuthProtocolError("bad service name") }
        return String(decoding: field, as: UTF8.self)
    }

    /// True for the bytes a service name may contain.
    public static func isValidService(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= AuthProtocolLimits().maxServiceLength && name.utf8.allSatisfy(isServiceByte)
    }

    static func isServiceByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
            || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
    }

    static func decodeField(_ field: ArraySlice<UInt8>, name: String, limit: Int) throws(AuthProtocolError) -> [UInt8] {
        if field.count == 1 && field.first == emptyField { return [] }
        // Checked before decoding: base64 is 4/3 of the data.
        guard !field.isEmpty, field.count <= (limit + 2) / 3 * 4 else { throw AuthProtocolError("bad \(name) field") }
        guard let bytes = Base64.decode(field), bytes.count <= limit else { throw AuthProtocolError("bad base64 in \(name)") }
        return bytes
    }

    static func encodeField(_ bytes: [UInt8]) -> String { bytes.isEmpty ? "-" : Base64.encode(bytes) }

    // MARK: Responses

    /// The answer as a line, LF included. Reasons are reduced to printable ASCII.
    public static func encode(_ response: AuthResponse) -> [UInt8] {
        switch response {
        case .ok(let user): return Array("OK \(encodeField(user))\n".utf8)
        case .fail: return Array("FAIL\n".utf8)
        case .temporary(let reason): return Array("TEMP \(printable(Array(reason.utf8), limit: 200))\n".utf8)
        case .error(let reason): return Array("ERR \(printable(Array(reason.utf8), limit: 200))\n".utf8)
        case .stats(let values):
            return Array((["STATS"] + values.map { "\($0.name)=\($0.value)" }).joined(separator: " ").utf8) + [newline]
        }
    }

    /// Parses one answer line (without its LF); the client side.
    public static func parseResponse(_ line: ArraySlice<UInt8>, limits: AuthProtocolLimits = AuthProtocolLimits()) throws(AuthProtocolError) -> AuthResponse {
        guard line.count < limits.maxLineLength else { throw AuthProtocolError("answer too long") }
        let verbEnd = line.firstIndex(of: space) ?? line.endIndex
        let verb = String(decoding: line[..<verbEnd], as: UTF8.self)
        let rest = verbEnd < line.endIndex ? line[(verbEnd + 1)...] : []
        switch verb {
        case "OK":
            let user = try decodeField(rest, name: "user", limit: limits.maxUserLength)
            guard !user.isEmpty else { throw AuthProtocolError("empty user") }
            return .ok(user: user)
        case "FAIL":
            guard rest.isEmpty && verbEnd == line.endIndex else { throw AuthProtocolError("FAIL takes no fields") }
            return .fail
        case "TEMP": return .temporary(reason: printable(Array(rest), limit: 200))
        case "ERR": return .error(reason: printable(Array(rest), limit: 200))
        case "STATS":
            var values: [AuthStatistic] = []
            for pair in rest.split(separator: space) {
                guard let eq = pair.firstIndex(of: UInt8(ascii: "=")),
                      let value = Int(String(decoding: pair[(eq + 1)...], as: UTF8.self)) else {
                    throw AuthProtocolError("bad STATS field")
                }
                values.append(AuthStatistic(String(decoding: pair[..<eq], as: UTF8.self), value))
            }
            return .stats(values)
        default:
            throw AuthProtocolError("unknown answer")
        }
    }

    /// Printable ASCII kept, other bytes as `\xNN`, cut at `limit` bytes of input.
    public static func printable(_ bytes: [UInt8], limit: Int) -> String {
        var text = ""
        for b in bytes.prefix(limit) {
            if b >= 0x20 && b < 0x7F { text.unicodeScalars.append(Unicode.Scalar(b)) } else { text += "\\x" + String(b, radix: 16) }
        }
        if bytes.count > limit { text += "..." }
        return text
    }

    /// Fuzzing entry point: splits arbitrary bytes into lines through the reader and parses each
    /// as a request and as a response. Must never trap; returns how many lines parsed as requests.
    @discardableResult
    public static func fuzz(_ bytes: [UInt8], limits: AuthProtocolLimits = AuthProtocolLimits()) -> Int {
        var reader = AuthLineReader(maxLineLength: limits.maxLineLength)
        reader.append(bytes)
        var parsed = 0
        while true {
            guard case .line(let line) = reader.next() else { break }
            if (try? parseRequest(line[...], limits: limits)) != nil { parsed += 1 }
            _ = try? parseResponse(line[...], limits: limits)
        }
        return parsed
    }
}

/// Splits a byte stream into LF-terminated lines, refusing a line longer than its limit.
public struct AuthLineReader: Sendable {
    public enum Event: Equatable, Sendable {
        /// A complete line, without its LF.
        case line([UInt8])
        /// More bytes are needed.
        case needMore
        /// The current line exceeds the limit; the stream cannot be trusted any more.
        case tooLong
    }

    public let maxLineLength: Int
    private var buffer: [UInt8] = []
    private var failed = false

    public init(maxLineLength: Int) { self.maxLineLength = maxLineLength }

    /// True when bytes of an unfinished line are waiting.
    public var hasPartialLine: Bool { !buffer.isEmpty }

    public mutating func append<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        guard !failed else { return }
        buffer.append(contentsOf: bytes)
        // A partial line that already exceeds the limit is dropped at once, so memory stays
        // bounded by the limit plus what the caller appends in one call (the server appends
        // one read of at most maxLineLength bytes, and only when no whole line is waiting).
        if buffer.count > maxLineLength, !buffer.prefix(maxLineLength).contains(AuthProtocol.newline) {
            failed = true
            buffer = []
        }
    }

    public mutating func next() -> Event {
        if failed { return .tooLong }
        if let lf = buffer.firstIndex(of: AuthProtocol.newline), lf < maxLineLength {
            let line = Array(buffer[..<lf])
            buffer.removeSubrange(...lf)
            return .line(line)
        }
        if buffer.count >= maxLineLength {
            failed = true
            buffer = []
            return .tooLong
        }
        return .needMore
    }
}

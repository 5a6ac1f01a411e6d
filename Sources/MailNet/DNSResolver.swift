import COpenSSL
import CResolv
import Glibc

/// The outcome of a lookup, in the classes mail delivery decides on.
public enum DNSResult<Record: Sendable>: Sendable {
    /// At least one record of the asked type (after following CNAMEs).
    case found([Record])
    /// The name exists but has no record of this type (NOERROR/NODATA, RFC 2308 §2.2). For MX,
    /// RFC 5321 §5.1 then says: use the name's A/AAAA records as an implicit MX.
    case noData
    /// NXDOMAIN: the name does not exist. Permanent.
    case nonexistentDomain
    /// SERVFAIL, REFUSED, timeout, unreachable server, malformed answer: try again later.
    case temporaryFailure(String)
    /// The name cannot be a domain name (empty label, label over 63 bytes, over 255 bytes). Permanent.
    case invalidName(String)

    /// The records, or an empty array for every other outcome.
    public var records: [Record] {
        if case .found(let records) = self { return records }
        return []
    }

    /// True when the lookup should be retried later.
    public var isTemporaryFailure: Bool {
        if case .temporaryFailure = self { return true }
        return false
    }

    func map<Other: Sendable>(_ transform: ([Record]) -> [Other]) -> DNSResult<Other> {
        switch self {
        case .found(let records):
            let mapped = transform(records)
            return mapped.isEmpty ? .noData : .found(mapped)
        case .noData: return .noData
        case .nonexistentDomain: return .nonexistentDomain
        case .temporaryFailure(let reason): return .temporaryFailure(reason)
        case .invalidName(let reason): return .invalidName(reason)
        }
    }
}

/// An MX record.
public struct MXRecord: Sendable, Hashable {
    public var preference: UInt16
    public var exchange: DNSName

    public init(preference: UInt16, exchange: DNSName) {
        self.preference = preference
        self.exchange = exchange
    }
}

extension Array where Element == MXRecord {
    /// RFC 7505 §3: a single MX with preference 0 and exchange "." says the domain accepts no mail.
    public var isNullMX: Bool {
        count == 1 && self[0].preference == 0 && self[0].exchange.isRoot
    }
}

/// A TXT record: its character-strings, concatenated for SPF/DKIM/DMARC (RFC 7208 §3.3).
public struct TXTRecord: Sendable, Hashable {
    public var strings: [[UInt8]]

    public init(strings: [[UInt8]]) { self.strings = strings }

    /// All strings joined without separators.
    public var bytes: [UInt8] { strings.flatMap { $0 } }

    /// `bytes` as text, invalid UTF-8 replaced.
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// A TLSA record (RFC 6698 §2.1).
public struct TLSARecord: Sendable, Hashable, CustomStringConvertible {
    public var usage: UInt8
    public var selector: UInt8
    public var matchingType: UInt8
    public var data: [UInt8]

    public init(usage: UInt8, selector: UInt8, matchingType: UInt8, data: [UInt8]) {
        self.usage = usage; self.selector = selector; self.matchingType = matchingType; self.data = data
    }

    /// RFC 7672 §3.1: SMTP uses DANE-TA(2) and DANE-EE(3), with selectors Cert(0)/SPKI(1) and
    /// matching types Full(0)/SHA2-256(1)/SHA2-512(2); digests must have their length.
    public var isUsableForSMTP: Bool {
        guard usage == 2 || usage == 3, selector <= 1 else { return false }
        switch matchingType {
        case 0: return !data.isEmpty
        case 1: return data.count == 32
        case 2: return data.count == 64
        default: return false
        }
    }

    public var description: String { "\(usage) \(selector) \(matchingType)" }

    /// Whether this record matches a certificate (DER) or its public key (SPKI, DER).
    public func matches(certificate: [UInt8], publicKey: [UInt8]) -> Bool {
        let subject = selector == 0 ? certificate : selector == 1 ? publicKey : []
        guard !subject.isEmpty else { return false }
        switch matchingType {
        case 0: return subject == data
        case 1: return TLSARecord.digest(subject, sha512: false) == data
        case 2: return TLSARecord.digest(subject, sha512: true) == data
        default: return false
        }
    }

    /// SHA-256 or SHA-512 of `bytes`, as TLSA matching types 1 and 2 use them.
    public static func digest(_ bytes: [UInt8], sha512: Bool) -> [UInt8] {
        try? OpenSSLLibrary.load()
        var out = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        guard EVP_Digest(bytes, bytes.count, &out, &length, sha512 ? EVP_sha512() : EVP_sha256(), nil) == 1 else { return [] }
        return Array(out.prefix(Int(length)))
    }

    /// Lower-case hex of the data, as in zone files.
    public var hexData: String { data.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
}

/// A stub resolver over glibc's libresolv (res_ninit/res_nsend) with our own query builder and
/// strict answer parser. Uses /etc/resolv.conf unless given one name server (with an optional
/// port, which is how tests point it at a local dnsmasq). Searches no domain lists: mail looks up
/// fully qualified names only. Not thread-safe: one resolver per thread.
public final class DNSResolver {
    private let state: UnsafeMutablePointer<__res_state>
    /// Most CNAMEs followed for one lookup, counting re-queries of the chain's target.
    public static let maxCNAMEHops = 8

    /// - Parameters:
    ///   - nameserver: "127.0.0.1", "127.0.0.1:5353", "[::1]:5353"; nil for /etc/resolv.conf.
    ///   - timeout: wait per try (libresolv counts whole seconds; rounded up, at least 1 s).
    ///   - attempts: tries per server.
    public init(nameserver: String? = nil, timeout: Duration = .seconds(5), attempts: Int = 2) throws {
        guard let state = postamt_res_new() else {
            throw NetError(.system(errno: ENOMEM), operation: "res_ninit", detail: "cannot allocate resolver state")
        }
        self.state = state
        let (seconds, attoseconds) = timeout.components
        let wholeSeconds = max(1, min(Int64(Int32.max), seconds + (attoseconds > 0 ? 1 : 0)))
        postamt_res_set_timing(state, Int32(wholeSeconds), Int32(max(1, min(attempts, 10))))
        if let nameserver {
            guard let address = SocketAddress(parsing: nameserver, defaultPort: 53),
                  postamt_res_set_nameserver(state, address.address.description, Int32(address.port)) == 0
            else {
                throw NetError(.invalidArgument, operation: "DNS resolver", detail: "bad name server address \(nameserver)")
            }
        }
    }

    deinit { postamt_res_free(state) }

    /// Set AD in queries (for DANE, with a trusted validating resolver on this host).
    public var requestsAuthenticData = false {
        didSet { postamt_res_set_trust_ad(state, requestsAuthenticData ? 1 : 0) }
    }
    /// Whether every response of the last lookup (CNAME chain included) carried AD. Only
    /// meaningful with `requestsAuthenticData` and a resolver we trust to validate (RFC 7672 §2.1).
    public private(set) var lastAnswerAuthenticated = false

    /// TLSA records (RFC 6698); check `lastAnswerAuthenticated` before trusting them.
    public func tlsa(_ name: String) -> DNSResult<TLSARecord> {
        lookup(name, type: .tlsa).map { records in
            records.compactMap { record -> TLSARecord? in
                guard case .other(let bytes) = record.data else { return nil }
                // A malformed record is kept as an unusable one (RFC 7672 §2.2: TLS still required).
                guard bytes.count >= 3 else { return TLSARecord(usage: 255, selector: 255, matchingType: 255, data: []) }
                return TLSARecord(usage: bytes[0], selector: bytes[1], matchingType: bytes[2], data: Array(bytes[3...]))
            }
        }
    }

    /// MX records sorted by preference (equal preferences keep the server's order; RFC 5321 §5.1
    /// wants them randomised, which is the caller's choice). Check `records.isNullMX`.
    public func mx(_ domain: String) -> DNSResult<MXRecord> {
        lookup(domain, type: .mx).map { records in
            records.compactMap { record -> MXRecord? in
                if case .mx(let preference, let exchange) = record.data {
                    return MXRecord(preference: preference, exchange: exchange)
                }
                return nil
            }.enumerated().sorted { ($0.element.preference, $0.offset) < ($1.element.preference, $1.offset) }.map(\.element)
        }
    }

    /// IPv4 addresses.
    public func a(_ name: String) -> DNSResult<IPAddress> {
        lookup(name, type: .a).map { records in
            records.compactMap { if case .a(let address) = $0.data { address } else { nil } }
        }
    }

    /// IPv6 addresses.
    public func aaaa(_ name: String) -> DNSResult<IPAddress> {
        lookup(name, type: .aaaa).map { records in
            records.compactMap { if case .aaaa(let address) = $0.data { address } else { nil } }
        }
    }

    /// TXT records, each with its character-strings.
    public func txt(_ name: String) -> DNSResult<TXTRecord> {
        lookup(name, type: .txt).map { records in
            records.compactMap { if case .txt(let strings) = $0.data { TXTRecord(strings: strings) } else { nil } }
        }
    }

    /// Names of an address (in-addr.arpa / ip6.arpa).
    public func ptr(_ address: IPAddress) -> DNSResult<DNSName> {
        lookup(address.reverseLookupName, type: .ptr).map { records in
            records.compactMap { if case .ptr(let name) = $0.data { name } else { nil } }
        }
    }

    /// Records of any type for `name`, CNAMEs followed (except when asking for CNAME itself).
    public func lookup(_ name: String, type: DNSRecordType) -> DNSResult<DNSResourceRecord> {
        guard let parsed = DNSName(name), !parsed.isRoot || name == "." else {
            return .invalidName("not a domain name: \(name)")
        }
        return lookup(parsed, type: type)
    }

    /// As `lookup(_:type:)` for a parsed name.
    public func lookup(_ name: DNSName, type: DNSRecordType) -> DNSResult<DNSResourceRecord> {
        var queryName = name
        var hops = 0
        lastAnswerAuthenticated = true
        while true {
            let message: DNSMessage
            switch send(queryName, type: type) {
            case .failure(let reason):
                lastAnswerAuthenticated = false
                return .temporaryFailure(reason)
            case .success(let response): message = response
            }
            if !message.isAuthenticData { lastAnswerAuthenticated = false }
            // The RCODE describes the last name of a CNAME chain (RFC 6604 §2.1).
            switch message.responseCode {
            case .noError: break
            case .nonexistentDomain: return .nonexistentDomain
            default: return .temporaryFailure("name server answered \(message.responseCode) for \(queryName)/\(type)")
            }
            var owner = queryName
            while true {
                let matching = message.answers.filter { $0.name == owner && $0.type == type }
                if !matching.isEmpty { return .found(matching) }
                guard type != .cname,
                      let alias = message.answers.first(where: { $0.name == owner && $0.type == .cname }),
                      case .cname(let target) = alias.data
                else { break }
                hops += 1
                if hops > DNSResolver.maxCNAMEHops {
                    return .temporaryFailure("CNAME chain from \(name) longer than \(DNSResolver.maxCNAMEHops)")
                }
                owner = target
            }
            if owner == queryName { return .noData }
            // The answer ended at an alias target without its records (a server that does not
            // chase CNAMEs, RFC 1034 §3.6.2): ask for the target itself.
            queryName = owner
        }
    }

    private enum SendResult {
        case success(DNSMessage)
        case failure(String)
    }

    private func send(_ name: DNSName, type: DNSRecordType) -> SendResult {
        let id = UInt16.random(in: 0...UInt16.max)
        let query = DNSMessage.query(id: id, name: name, type: type, authenticData: requestsAuthenticData)
        var answer = [UInt8](repeating: 0, count: 65535)
        errno = 0
        let length = postamt_res_send(state, query, Int32(query.count), &answer, Int32(answer.count))
        if length < 0 {
            let code = errno
            let why = code == ETIMEDOUT || code == 0
                ? "no answer from the name server (timeout)"
                : code == ECONNREFUSED
                    ? "name server refused, failed (SERVFAIL/REFUSED) or is unreachable"
                    : String(cString: strerror(code))
            return .failure("\(name)/\(type): \(why)")
        }
        let message: DNSMessage
        do {
            message = try DNSMessage(parsing: Array(answer[0..<Int(length)]))
        } catch {
            return .failure("\(name)/\(type): \(error)")
        }
        guard message.isResponse, message.id == id, message.questions.count == 1,
              message.questions[0].name == name, message.questions[0].type == type
        else {
            return .failure("\(name)/\(type): answer does not match the question")
        }
        if message.isTruncated { return .failure("\(name)/\(type): truncated answer") }
        return .success(message)
    }
}

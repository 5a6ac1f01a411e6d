import MailCore
import MailNet
import MailSystem

/// SMTP MTA Strict Transport Security (RFC 8461): a domain announces in DNS
/// (`_mta-sts.DOMAIN` TXT) that it has a policy, and serves the policy over HTTPS
/// (`https://mta-sts.DOMAIN/.well-known/mta-sts.txt`). In mode enforce, mail goes only to MX
/// hosts the policy names, only over TLS with a certificate valid for that name.
public enum MTASTSMode: String, Sendable {
    case enforce, testing, none
}

/// The `_mta-sts` TXT record (RFC 8461 §3.1): "v=STSv1; id=...".
public struct MTASTSRecord: Sendable, Equatable {
    public var id: String

    /// Parses one TXT record; nil when it is not an MTA-STS record or is malformed.
    public init?(_ text: String) {
        let fields = text.split(separator: ";").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
        guard fields.first == "v=STSv1" else { return nil }
        var id: String?
        for field in fields.dropFirst() {
            let kv = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { return nil }
            if kv[0] == "id" && id == nil { id = kv[1] }
        }
        // sts-id = 1*32( ALPHA / DIGIT )
        guard let id, (1...32).contains(id.utf8.count), id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) })
        else { return nil }
        self.id = id
    }

    /// RFC 8461 §3.1: records that do not begin with "v=STSv1;" are discarded; more than one
    /// remaining record means no policy.
    public static func select(_ records: [TXTRecord]) -> MTASTSRecord? {
        let candidates = records.map(\.text).filter { $0.hasPrefix("v=STSv1") }
        guard candidates.count == 1 else { return nil }
        return MTASTSRecord(candidates[0])
    }
}

/// A parsed policy file (RFC 8461 §3.2).
public struct MTASTSPolicy: Sendable, Equatable {
    public var mode: MTASTSMode
    public var mx: [String]
    /// Seconds the policy may be cached (at most 31557600, one year).
    public var maxAge: Int64
    /// The non-empty lines of the policy file as fetched, line ends removed: what a TLS report
    /// shows as its "policy-string" (RFC 8460 §4.4), and what the cache keeps.
    public var lines: [String]

    public init(mode: MTASTSMode, mx: [String], maxAge: Int64) {
        self.mode = mode; self.mx = mx; self.maxAge = maxAge
        lines = ["version: STSv1", "mode: \(mode.rawValue)"] + mx.map { "mx: \($0)" } + ["max_age: \(maxAge)"]
    }

    /// Parses the policy text; throws a sentence saying what is wrong.
    public init(parsing text: String) throws(MTASTSError) {
        var version: String?, mode: MTASTSMode?, maxAge: Int64?, mx: [String] = []
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = String(raw).trimmingSuffix("\r")
            if line.isEmpty { continue }
            guard let colon = line.firstIndex(of: ":") else { throw MTASTSError("policy line without a colon: \(line.prefix(80))") }
            let key = String(line[..<colon]).trimmingSpaces()
            let value = String(line[line.index(after: colon)...]).trimmingSpaces()
            switch key {
            case "version": if version == nil { version = value }
            case "mode":
                guard let m = MTASTSMode(rawValue: value) else { throw MTASTSError("unknown mode '\(value)'") }
                if mode == nil { mode = m }
            case "max_age":
                // max-age-value = 1*10(DIGIT), at most 31557600.
                guard value.utf8.count <= 10, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int64(value), n <= 31_557_600 else {
                    throw MTASTSError("max_age '\(value)' is not 0-31557600")
                }
                if maxAge == nil { maxAge = n }
            case "mx":
                guard !value.isEmpty, !value.contains(" ") else { throw MTASTSError("bad mx pattern '\(value)'") }
                mx.append(value.lowercased().trimmingSuffix("."))
            default: break  // RFC 8461 §3.2: unknown fields are ignored.
            }
        }
        guard version == "STSv1" else { throw MTASTSError("version is not STSv1") }
        guard let mode else { throw MTASTSError("no mode") }
        guard let maxAge else { throw MTASTSError("no max_age") }
        guard mode == .none || !mx.isEmpty else { throw MTASTSError("no mx pattern") }
        self.init(mode: mode, mx: mx, maxAge: maxAge)
        lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map { String($0).trimmingSuffix("\r") }.filter { !$0.isEmpty }
    }

    /// RFC 8461 §4.1: an MX host matches a pattern literally, or "*.example.com" matches one
    /// leftmost label before example.com.
    public func allows(mxHost: String) -> Bool {
        let host = mxHost.lowercased().trimmingSuffix(".")
        return mx.contains { pattern in
            if pattern.hasPrefix("*.") {
                let suffix = pattern.dropFirst(1)  // ".example.com"
                guard host.hasSuffix(suffix) else { return false }
                let label = host.dropLast(suffix.count)
                return !label.isEmpty && !label.contains(".")
            }
            return host == pattern
        }
    }

    /// The policy as text, as served.
    public var text: String {
        "version: STSv1\r\nmode: \(mode.rawValue)\r\n" + mx.map { "mx: \($0)\r\n" }.joined() + "max_age: \(maxAge)\r\n"
    }
}

public struct MTASTSError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The RFC 8460 §4.3.2.2 result type of a failed fetch: sts-policy-fetch-error (no
    /// answer, an HTTP error), sts-webpki-invalid (the server's certificate does not verify for
    /// mta-sts.DOMAIN) or sts-policy-invalid (the answer is not a valid policy).
    public let resultType: String
    public init(_ description: String, resultType: String = "sts-policy-invalid") {
        self.description = description; self.resultType = resultType
    }
}

/// What the policy lookup of a destination found (RFC 8461 §5.1).
public enum MTASTSLookupResult: Sendable {
    /// A policy in force (mode enforce or testing), and where it came from, for the log.
    case policy(MTASTSPolicy, String)
    /// No policy: no TXT record, mode none, or MTA-STS not applicable.
    case none
    /// The TXT record announces a policy, but none could be fetched and none is cached: the
    /// mail goes as without a policy, and the failure is a TLS-RPT result of its own.
    case fetchFailed(MTASTSError)

    /// The policy in force, if any.
    public var policy: MTASTSPolicy? { if case .policy(let p, _) = self { p } else { nil } }
}

/// A policy in the cache: the record id it was fetched for, when, and until when it holds.
public struct MTASTSCachedPolicy: Sendable, Equatable {
    public var id: String
    public var fetched: Int64
    public var expires: Int64
    public var policy: MTASTSPolicy
}

/// The policy cache: one file per domain in mta_sts_cache_directory, so policies survive
/// restarts. RFC 8461 §5: a cached, unexpired policy holds even when DNS no longer shows the
/// record, which is what stops an attacker who strips the TXT record.
public struct MTASTSCache {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    func path(_ domain: String) -> String { "\(directory)/\(domain.lowercased())" }

    public func load(_ domain: String) -> MTASTSCachedPolicy? {
        guard let bytes = (try? FileIO.readFile(path(domain), limit: 1 << 20)) ?? nil else { return nil }
        guard let blank = bytes.indices.dropLast().first(where: { bytes[$0] == 10 && bytes[$0 + 1] == 10 }) else { return nil }
        let head = String(decoding: bytes[..<blank], as: UTF8.self)
        let body = String(decoding: bytes[(blank + 2)...], as: UTF8.self)
        var fields: [String: String] = [:]
        for line in head.split(separator: "\n") {
            let kv = line.split(separator: " ", maxSplits: 1).map(String.init)
            if kv.count == 2 { fields[kv[0]] = kv[1] }
        }
        guard let id = fields["id"], let fetched = fields["fetched"].flatMap({ Int64($0) }),
              let expires = fields["expires"].flatMap({ Int64($0) }),
              let policy = try? MTASTSPolicy(parsing: body)
        else { return nil }
        return MTASTSCachedPolicy(id: id, fetched: fetched, expires: expires, policy: policy)
    }

    public func store(_ domain: String, _ entry: MTASTSCachedPolicy) throws {
        try FileIO.makeDirectories(directory, mode: 0o750)
        // The policy's lines as fetched (they parse again), so a TLS report of a cached policy
        // shows the file the domain published.
        let text = "id \(entry.id)\nfetched \(entry.fetched)\nexpires \(entry.expires)\n\n" + entry.policy.lines.map { $0 + "\r\n" }.joined()
        try FileIO.writeAtomically(path(domain), Array(text.utf8), mode: 0o640)
    }

    public func remove(_ domain: String) { try? FileIO.unlinkIfPresent(path(domain)) }

    /// Every cached domain, for `postamt`.
    public func domains() -> [String] { ((try? FileIO.listDirectory(directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted() }
}

/// Finds the MTA-STS policy of a destination (RFC 8461 §5.1): the TXT record, then the cache
/// or a fetch over HTTPS. A policy that cannot be found or fetched means "no policy" unless an
/// unexpired one is cached; MTA-STS never makes a delivery fail for lack of a policy.
public struct MTASTSLookup {
    public let resolver: DNSResolver
    public let cache: MTASTSCache?
    public let client: HTTPSClient
    /// A cached policy closer than this to its expiry is fetched again (RFC 8461 §5.1, "refresh").
    public let refreshBefore: Int64
    public let log: Log
    public let queueID: String?

    public init(resolver: DNSResolver, configuration: Configuration, log: Log, queueID: String?) {
        self.resolver = resolver
        self.log = log
        self.queueID = queueID
        let dir = configuration.string("mta_sts_cache_directory")
        cache = dir.isEmpty ? nil : MTASTSCache(directory: dir)
        let ca = configuration.string("remote_tls_ca_file")
        client = HTTPSClient(anchors: ca.isEmpty ? .systemDefault : .caFile(ca),
                             port: UInt16(clamping: configuration.count("mta_sts_https_port")),
                             timeout: .seconds(max(1, configuration.duration("mta_sts_fetch_timeout"))),
                             bodyLimit: Int(clamping: max(1, configuration.size("mta_sts_max_policy_size"))))
        refreshBefore = configuration.duration("mta_sts_refresh_before")
    }

    /// The policy in force for `domain`, with where it came from, for the log; or none; or why
    /// an announced policy could not be fetched.
    public func policy(for domain: String, now: Int64 = Clock.seconds()) -> MTASTSLookupResult {
        let d = domain.lowercased()
        let cached = cache?.load(d).flatMap { $0.expires > now ? $0 : nil }
        let record: MTASTSRecord?
        switch resolver.txt("_mta-sts.\(d)") {
        case .found(let records): record = MTASTSRecord.select(records)
        case .temporaryFailure(let why):
            log.info("MTA-STS: TXT lookup of _mta-sts.\(d) failed (\(why))", id: queueID)
            record = nil
        default: record = nil
        }
        if let cached, record == nil || (record!.id == cached.id && cached.expires - now > refreshBefore) {
            return cached.policy.mode == .none ? .none : .policy(cached.policy, "cached, id \(cached.id)")
        }
        guard let record else { return .none }
        switch fetch(d) {
        case .success(let policy):
            let entry = MTASTSCachedPolicy(id: record.id, fetched: now, expires: now + policy.maxAge, policy: policy)
            if let cache {
                do { try cache.store(d, entry) } catch {
                    log.warning("MTA-STS: cannot cache the policy of \(d) in \(cache.directory): \(error)", id: queueID)
                }
            }
            log.info("MTA-STS: fetched the policy of \(d) (id \(record.id), mode \(policy.mode.rawValue), max_age \(policy.maxAge))", id: queueID)
            return policy.mode == .none ? .none : .policy(policy, "fetched, id \(record.id)")
        case .failure(let error):
            // RFC 8461 §5.1: keep using an unexpired cached policy when a refresh fails.
            if let cached {
                log.warning("MTA-STS: cannot fetch the policy of \(d) (\(error)); using the cached one (id \(cached.id))", id: queueID)
                return cached.policy.mode == .none ? .none : .policy(cached.policy, "cached, id \(cached.id)")
            }
            log.warning("MTA-STS: \(d) announces a policy but it cannot be fetched (\(error)); delivering without one (\(error.resultType))", id: queueID)
            return .fetchFailed(error)
        }
    }

    /// Fetches and parses the policy of `domain` over HTTPS, without the cache.
    public func fetch(_ domain: String) -> Result<MTASTSPolicy, MTASTSError> {
        let host = "mta-sts.\(domain)"
        var addresses: [IPAddress] = []
        for result in [resolver.aaaa(host), resolver.a(host)] { addresses += result.records }
        let response: HTTPSResponse
        do {
            response = try client.get(host: host, path: "/.well-known/mta-sts.txt", addresses: addresses)
        } catch {
            // RFC 8460 §4.3.2.2: a certificate that does not verify is sts-webpki-invalid;
            // no address, no connection, a timeout or a broken answer sts-policy-fetch-error.
            return .failure(MTASTSError(error.description, resultType: error.certificateRejected ? "sts-webpki-invalid" : "sts-policy-fetch-error"))
        }
        // RFC 8461 §3.3: only 200, no redirects; media type text/plain.
        guard response.status == 200 else {
            return .failure(MTASTSError("https://\(host)/.well-known/mta-sts.txt answered HTTP \(response.status)", resultType: "sts-policy-fetch-error"))
        }
        let type = (response.header("content-type") ?? "").lowercased()
        guard type.split(separator: ";").first.map({ String($0).trimmingSpaces() }) == "text/plain" else {
            return .failure(MTASTSError("the policy is served as '\(type)', not text/plain"))
        }
        do {
            return .success(try MTASTSPolicy(parsing: String(decoding: response.body, as: UTF8.self)))
        } catch {
            return .failure(MTASTSError("the policy of \(domain) is invalid: \(error)"))
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}

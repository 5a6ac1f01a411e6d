import MailCore
import MailNet
import MailSystem
#if canImport(Glibc)
import Glibc
#endif

/// SMTP TLS Reporting (RFC 8460): what postamt-remote saw of each destination's TLS, one line
/// per session in a file per UTC day (tlsrpt_directory/YYYY-MM-DD), the policies those sessions
/// applied once per policy and day (tlsrpt_directory/YYYY-MM-DD.policies/ID), and the daily
/// JSON report built from them.
public struct TLSSessionResult: Sendable, Equatable {
    /// RFC 8460 §4.4: "sts", "tlsa" or "no-policy-found".
    public var policyType: String
    /// RFC 8460 §3: the recipient domain for MTA-STS and no-policy-found, the TLSA base domain
    /// (the MX host) for DANE.
    public var policyDomain: String
    public var mxHost: String
    public var receivingIP: String
    /// "success", or a result type of RFC 8460 §4.3 (starttls-not-supported,
    /// certificate-host-mismatch, certificate-expired, certificate-not-trusted,
    /// validation-failure, tlsa-invalid, dnssec-invalid, dane-required, sts-policy-fetch-error,
    /// sts-policy-invalid, sts-webpki-invalid).
    public var result: String
    /// Our own address in the session (RFC 8460 §4.3 sending-mta-ip); empty when no connection
    /// was made (the host was ruled out before) or for lines written before it was recorded.
    public var sendingIP: String
    /// The ID of the applied policy's text in the day's policy store (TLSReportPolicy.id); empty
    /// when there is none (no-policy-found, a policy that could not be fetched, older lines).
    public var policyID: String

    public init(policyType: String, policyDomain: String, mxHost: String, receivingIP: String, result: String,
                sendingIP: String = "", policyID: String = "") {
        self.policyType = policyType; self.policyDomain = policyDomain; self.mxHost = mxHost
        self.receivingIP = receivingIP; self.result = result; self.sendingIP = sendingIP; self.policyID = policyID
    }

    /// Five to seven tab-separated fields: sendingIP (6th) and policyID (7th) are left out when
    /// empty from the end, so older lines (five or six fields) still read.
    var line: String {
        var fields = [policyType, policyDomain, mxHost, receivingIP, result, sendingIP, policyID]
        while fields.count > 5, fields.last!.isEmpty { fields.removeLast() }
        return fields.joined(separator: "\t") + "\n"
    }

    init?(line: Substring) {
        let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard (5...7).contains(f.count), !f[1].isEmpty, !f[4].isEmpty else { return nil }
        self.init(policyType: f[0], policyDomain: f[1], mxHost: f[2], receivingIP: f[3], result: f[4],
                  sendingIP: f.count >= 6 ? f[5] : "", policyID: f.count == 7 ? f[6] : "")
        guard TLSReportPolicy.isID(policyID) || policyID.isEmpty else { return nil }
    }

    /// The RFC 8460 result type for a certificate that did not verify, from OpenSSL's reason.
    public static func certificateFailure(_ reason: String) -> String {
        if reason.contains("hostname mismatch") { return "certificate-host-mismatch" }
        if reason.contains("expired") { return "certificate-expired" }
        return "certificate-not-trusted"
    }
}

/// The policy a session applied, as RFC 8460 §4.4 reports it: its type, its policy domain and
/// its text ("policy-string": the lines of an MTA-STS policy file, or the TLSA records in
/// presentation format, RFC 6698 §2.2).
public struct TLSReportPolicy: Sendable, Equatable {
    public var type: String
    public var domain: String
    public var strings: [String]

    public init(type: String, domain: String, strings: [String] = []) {
        self.type = type; self.domain = domain.lowercased(); self.strings = strings
    }

    /// The destination had no policy (or none that could be fetched).
    public static func none(_ domain: String) -> TLSReportPolicy { TLSReportPolicy(type: "no-policy-found", domain: domain) }

    /// An MTA-STS policy: the lines of its file, line ends removed.
    public static func sts(_ domain: String, _ policy: MTASTSPolicy) -> TLSReportPolicy {
        TLSReportPolicy(type: "sts", domain: domain, strings: policy.lines)
    }

    /// DANE: the TLSA base domain (the MX host, RFC 7672 §2.2.3) and its TLSA records as
    /// "usage selector matching-type hex", sorted so that the same RRset has one ID.
    public static func tlsa(_ host: String, _ records: [TLSARecord]) -> TLSReportPolicy {
        TLSReportPolicy(type: "tlsa", domain: host, strings: records.map(TLSReportPolicy.presentation).sorted())
    }

    static func presentation(_ record: TLSARecord) -> String {
        record.data.isEmpty ? "\(record.usage) \(record.selector) \(record.matchingType)"
            : "\(record.usage) \(record.selector) \(record.matchingType) \(record.hexData)"
    }

    /// The key of the text in the day's policy store: 32 hex digits of SHA-256 over the type
    /// and the strings; empty when there is no text.
    public var id: String {
        guard !strings.isEmpty else { return "" }
        let digest = TLSARecord.digest(Array(([type] + strings).joined(separator: "\n").utf8), sha512: false)
        return digest.prefix(16).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    static func isID(_ text: String) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// "mx-host" (RFC 8460 §4.4): for an MTA-STS policy, its mx patterns.
    public var mxPatterns: [String] {
        guard type == "sts" else { return [] }
        return strings.compactMap { line in
            guard let colon = line.firstIndex(of: ":"), line[..<colon].trimmingSpaces() == "mx" else { return nil }
            let value = String(line[line.index(after: colon)...]).trimmingSpaces()
            return value.isEmpty ? nil : value
        }
    }
}

public struct TLSReportStore {
    public let directory: String
    /// Policy IDs this process already knows to be stored, per day: one stat per policy and run.
    private var stored: Set<String> = []

    public init(directory: String) { self.directory = directory }

    /// Where the policies of a day are kept: one file per policy, named by its ID.
    func policyDirectory(_ day: String) -> String { "\(directory)/\(day).policies" }

    /// "YYYY-MM-DD" of a UTC day.
    public static func day(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        func pad(_ n: Int32, _ width: Int) -> String { let s = String(n); return String(repeating: "0", count: max(0, width - s.count)) + s }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))"
    }

    /// Appends one session result (one write with O_APPEND: lines of concurrent runs do not mix).
    /// With `policy` text, the line carries the policy's ID, and the text is stored once per
    /// day under that ID (written atomically; concurrent runs write the same bytes).
    public mutating func record(_ result: TLSSessionResult, policy: TLSReportPolicy? = nil, at seconds: Int64 = Clock.seconds()) throws {
        try FileIO.makeDirectories(directory, mode: 0o750)
        let day = TLSReportStore.day(seconds)
        var result = result
        if let policy, !policy.strings.isEmpty {
            let id = policy.id
            let key = "\(day)/\(id)"
            if !stored.contains(key) {
                let path = "\(policyDirectory(day))/\(id)"
                if FileIO.status(path) == nil {
                    try FileIO.makeDirectories(policyDirectory(day), mode: 0o750)
                    try FileIO.writeAtomically(path, Array(policy.strings.map { $0 + "\n" }.joined().utf8), mode: 0o640)
                }
                stored.insert(key)
            }
            result.policyID = id
        }
        let fd = try FileIO.open("\(directory)/\(day)", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode: 0o640)
        try FileIO.writeAll(fd.raw, result.line)
    }

    /// Removes what belongs to days before `day` ("YYYY-MM-DD"): the day's results, its .sent
    /// record and its .policies directory. Names that are not a day's are left alone. Returns
    /// how many days went.
    @discardableResult
    public func prune(before day: String) throws -> Int {
        var days: Set<String> = []
        for name in try FileIO.listDirectory(directory) {
            let base = name.hasSuffix(".sent") ? String(name.dropLast(5)) : name.hasSuffix(".policies") ? String(name.dropLast(9)) : name
            // YYYY-MM-DD compares as text in date order.
            guard TLSReportStore.isDay(base), base < day else { continue }
            let path = "\(directory)/\(name)"
            if name.hasSuffix(".policies") {
                for entry in (try? FileIO.listDirectory(path)) ?? [] { unlink("\(path)/\(entry)") }
                rmdir(path)
            } else {
                unlink(path)
            }
            days.insert(base)
        }
        return days.count
    }

    static func isDay(_ text: String) -> Bool {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == 0x2D, b[7] == 0x2D else { return false }
        return b.enumerated().allSatisfy { $0.offset == 4 || $0.offset == 7 || ($0.element >= 0x30 && $0.element <= 0x39) }
    }

    /// The texts of the policies `ids` of one day, by ID; missing or unreadable ones are left out.
    public func policies(day: String, ids: Set<String>) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for id in ids where TLSReportPolicy.isID(id) {
            guard let bytes = (try? FileIO.readFile("\(policyDirectory(day))/\(id)", limit: 1 << 20)) ?? nil else { continue }
            out[id] = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        return out
    }

    /// The results of one day; unreadable lines are skipped.
    public func results(day: String) -> [TLSSessionResult] {
        guard let bytes = (try? FileIO.readFile("\(directory)/\(day)")) ?? nil else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { TLSSessionResult(line: $0) }
    }

    /// Per policy domain and type: successes, and failures by result type.
    public static func counts(_ results: [TLSSessionResult]) -> [(domain: String, type: String, success: Int, failures: [String: Int])] {
        var table: [String: (String, String, Int, [String: Int])] = [:]
        for r in results {
            let key = r.policyDomain + "\t" + r.policyType
            var entry = table[key] ?? (r.policyDomain, r.policyType, 0, [:])
            if r.result == "success" { entry.2 += 1 } else { entry.3[r.result, default: 0] += 1 }
            table[key] = entry
        }
        return table.keys.sorted().map { let e = table[$0]!; return (e.0, e.1, e.2, e.3) }
    }
}

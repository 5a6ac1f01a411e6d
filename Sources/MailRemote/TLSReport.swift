import MailCore
import MailSystem
#if canImport(Glibc)
import Glibc
#endif

/// SMTP TLS Reporting (RFC 8460): what postamt-remote saw of each destination's TLS, one line
/// per session in a file per UTC day (tlsrpt_directory/YYYY-MM-DD), and the daily JSON report
/// built from it.
public struct TLSSessionResult: Sendable, Equatable {
    /// RFC 8460 §4.4: "sts", "tlsa" or "no-policy-found".
    public var policyType: String
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

    public init(policyType: String, policyDomain: String, mxHost: String, receivingIP: String, result: String, sendingIP: String = "") {
        self.policyType = policyType; self.policyDomain = policyDomain; self.mxHost = mxHost
        self.receivingIP = receivingIP; self.result = result; self.sendingIP = sendingIP
    }

    /// Six tab-separated fields; the sixth (sendingIP) is left out when empty, as older lines have five.
    var line: String {
        ([policyType, policyDomain, mxHost, receivingIP, result] + (sendingIP.isEmpty ? [] : [sendingIP])).joined(separator: "\t") + "\n"
    }

    init?(line: Substring) {
        let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard f.count == 5 || f.count == 6, !f[1].isEmpty, !f[4].isEmpty else { return nil }
        self.init(policyType: f[0], policyDomain: f[1], mxHost: f[2], receivingIP: f[3], result: f[4], sendingIP: f.count == 6 ? f[5] : "")
    }

    /// The RFC 8460 result type for a certificate that did not verify, from OpenSSL's reason.
    public static func certificateFailure(_ reason: String) -> String {
        if reason.contains("hostname mismatch") { return "certificate-host-mismatch" }
        if reason.contains("expired") { return "certificate-expired" }
        return "certificate-not-trusted"
    }
}

public struct TLSReportStore {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// "YYYY-MM-DD" of a UTC day.
    public static func day(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        func pad(_ n: Int32, _ width: Int) -> String { let s = String(n); return String(repeating: "0", count: max(0, width - s.count)) + s }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))"
    }

    /// Appends one session result (one write with O_APPEND: lines of concurrent runs do not mix).
    public func record(_ result: TLSSessionResult, at seconds: Int64 = Clock.seconds()) throws {
        try FileIO.makeDirectories(directory, mode: 0o750)
        let fd = try FileIO.open("\(directory)/\(TLSReportStore.day(seconds))", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode: 0o640)
        try FileIO.writeAll(fd.raw, result.line)
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

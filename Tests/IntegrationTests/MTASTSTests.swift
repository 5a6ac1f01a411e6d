import Foundation
import Glibc
import Testing

/// MTA-STS (RFC 8461) in postamt-remote: policies served over real HTTPS (TestHTTPSServer, with
/// a certificate from a test CA) on 127.0.0.20, announced by TXT records in dnsmasq, and
/// enforced against the scripted SMTP servers of RemoteTestBed.
final class MTASTSBed {
    static let policyAddress = "127.0.0.20"
    static let domains = ["sts-enforce.test", "sts-wrongmx.test", "sts-testing.test", "sts-plain.test", "sts-cache.test"]
    /// Announces a policy whose server (the same one) has no certificate for mta-sts.sts-wrongname.test.
    static let wrongNameDomain = "sts-wrongname.test"
    /// Announces a policy at an address where nothing listens.
    static let unreachableDomain = "sts-unreachable.test"

    let bed: RemoteTestBed
    let https: TestHTTPSServer
    let caBundle: String

    var cacheDirectory: String { "\(bed.system.root)/var/lib/postamt/mta-sts" }

    init() throws {
        // A test CA and a certificate from it for every mta-sts.DOMAIN.
        https = try TestHTTPSServer(address: MTASTSBed.policyAddress, names: MTASTSBed.domains.map { "mta-sts.\($0)" })
        var records: [String] = []
        for d in MTASTSBed.domains {
            records.append("--txt-record=_mta-sts.\(d),v=STSv1; id=1")
            records.append("--host-record=mta-sts.\(d),\(MTASTSBed.policyAddress)")
            records.append("--mx-host=\(d),\(d == "sts-plain.test" ? "mx.plain.test" : "mx.ok.test"),10")
        }
        for (d, address) in [(MTASTSBed.wrongNameDomain, MTASTSBed.policyAddress), (MTASTSBed.unreachableDomain, "127.0.0.24")] {
            records += ["--txt-record=_mta-sts.\(d),v=STSv1; id=1", "--host-record=mta-sts.\(d),\(address)", "--mx-host=\(d),mx.ok.test,10"]
        }
        bed = try RemoteTestBed(config: "mta_sts_https_port = \(https.port)\nmta_sts_fetch_timeout = 3s", records: records)
        // Both the SMTP server's certificate (for mx.ok.test) and the test CA are trusted.
        caBundle = "\(https.work)/bundle.pem"
        let bundle = try String(contentsOfFile: https.caFile, encoding: .utf8) + String(contentsOfFile: bed.certificate, encoding: .utf8)
        try bundle.write(toFile: caBundle, atomically: true, encoding: .utf8)
        chmod(caBundle, 0o644)
        let confPath = "\(bed.system.root)/etc/postamt/postamt.conf"
        try (String(contentsOfFile: confPath, encoding: .utf8) + "\nremote_tls_ca_file = \(caBundle)\n")
            .write(toFile: confPath, atomically: true, encoding: .utf8)
        // The state directory as tmpfiles.d makes it: the mail owner's.
        try FileManager.default.createDirectory(atPath: "\(bed.system.root)/var/lib/postamt", withIntermediateDirectories: true)
        let owner = getpwnam("postamt")!.pointee
        chown("\(bed.system.root)/var/lib/postamt", owner.pw_uid, owner.pw_gid)
    }

    func serve(_ domain: String, _ policy: String?) throws {
        let path = "\(https.root)/mta-sts.\(domain)"
        if let policy { try policy.write(toFile: path, atomically: true, encoding: .utf8) } else { try? FileManager.default.removeItem(atPath: path) }
    }

    func send(to domain: String) throws -> (reports: [String], log: String) {
        let r = try bed.remote([domain, "a@mail.test.example", "u@\(domain)"], message: "From: a@mail.test.example\nSubject: sts\n\nbody\n")
        return (RemoteTestBed.reports(r), r.stderr)
    }
}

@Suite(.serialized, .enabled(if: RemoteTestBed.canRun, "needs root (users, setpriv) and dnsmasq (apt-get install dnsmasq-base)"))
struct MTASTSTests {
    static func policy(_ mode: String, _ mx: [String], maxAge: Int = 604800) -> String {
        "version: STSv1\r\nmode: \(mode)\r\n" + mx.map { "mx: \($0)\r\n" }.joined() + "max_age: \(maxAge)\r\n"
    }

    @Test func enforceWithMatchingMXDeliversOverVerifiedTLS() throws {
        let sts = try MTASTSBed()
        try sts.serve("sts-enforce.test", MTASTSTests.policy("enforce", ["mx.ok.test"]))
        let (reports, log) = try sts.send(to: "sts-enforce.test")
        #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
        #expect(log.contains("tls=verified"), "\(log)")
        #expect(log.contains("mta-sts=enforce"), "\(log)")
        #expect(sts.bed.received().first?.record["tls"] as? Bool == true)
        // The policy is cached for the next run.
        #expect(FileManager.default.fileExists(atPath: "\(sts.cacheDirectory)/sts-enforce.test"))
    }

    @Test func enforceWithWrongMXDefers() throws {
        let sts = try MTASTSBed()
        try sts.serve("sts-wrongmx.test", MTASTSTests.policy("enforce", ["mx.elsewhere.test", "*.other.test"]))
        let (reports, log) = try sts.send(to: "sts-wrongmx.test")
        #expect(reports.count == 1)
        #expect(reports.last?.hasPrefix("Z") == true, "\(reports) \(log)")
        #expect(reports.last?.contains("MTA-STS") == true && reports.last?.contains("#4.7.5") == true, "\(reports)")
        #expect(sts.bed.received().isEmpty)
    }

    @Test func enforceWithoutSTARTTLSDefers() throws {
        let sts = try MTASTSBed()
        try sts.serve("sts-plain.test", MTASTSTests.policy("enforce", ["mx.plain.test"]))
        let (reports, log) = try sts.send(to: "sts-plain.test")
        #expect(reports.last?.hasPrefix("Z") == true, "\(reports) \(log)")
        #expect(reports.last?.contains("STARTTLS") == true, "\(reports)")
        #expect(sts.bed.received().isEmpty)
    }

    @Test func testingModeDeliversAndLogs() throws {
        let sts = try MTASTSBed()
        try sts.serve("sts-testing.test", MTASTSTests.policy("testing", ["mx.elsewhere.test"]))
        let (reports, log) = try sts.send(to: "sts-testing.test")
        #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
        #expect(log.contains("MTA-STS (testing): mx.ok.test is not an MX host the policy of sts-testing.test allows"), "\(log)")
        #expect(sts.bed.received().count == 1)
    }

    @Test func invalidOrMissingPolicyMeansNoPolicy() throws {
        let sts = try MTASTSBed()
        try sts.serve("sts-plain.test", "version: STSv1\r\nmode: enforce\r\nmax_age: 86400\r\n")  // no mx
        let (reports, log) = try sts.send(to: "sts-plain.test")
        #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
        #expect(log.contains("cannot be fetched"), "\(log)")
    }

    /// The cache holds the policy when the server no longer serves it (the attacker who blocks
    /// the HTTPS fetch gains nothing), and an expired entry is not used.
    @Test func cacheSurvivesFetchFailuresUntilItExpires() throws {
        let sts = try MTASTSBed()
        try sts.serve("sts-cache.test", MTASTSTests.policy("enforce", ["mx.elsewhere.test"]))
        #expect(try sts.send(to: "sts-cache.test").reports.last?.hasPrefix("Z") == true)
        try sts.serve("sts-cache.test", nil)
        let (again, log) = try sts.send(to: "sts-cache.test")
        #expect(again.last?.hasPrefix("Z") == true, "\(again) \(log)")
        #expect(log.contains("cached"), "\(log)")
        #expect(sts.bed.received().isEmpty)
        // Expire the entry: with nothing to fetch, the domain has no policy and mail flows.
        let path = "\(sts.cacheDirectory)/sts-cache.test"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let expired = text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("expires ") ? "expires 1" : String($0) }.joined(separator: "\n")
        try expired.write(toFile: path, atomically: true, encoding: .utf8)
        let (after, log2) = try sts.send(to: "sts-cache.test")
        #expect(after.last?.hasPrefix("K") == true, "\(after) \(log2)")
        #expect(sts.bed.received().count == 1)
    }

    /// RFC 8461 §5.1: a cached policy is used until it comes within mta_sts_refresh_before of
    /// its expiry; then it is fetched again, and the new one replaces it.
    @Test func cachedPolicyIsRefreshedBeforeItExpires() throws {
        let sts = try MTASTSBed()
        try sts.serve("sts-cache.test", MTASTSTests.policy("enforce", ["mx.elsewhere.test"], maxAge: 3 * 86400))
        #expect(try sts.send(to: "sts-cache.test").reports.last?.hasPrefix("Z") == true)
        // The server now allows mx.ok.test; three days from expiry, the default (1d) keeps the cache.
        try sts.serve("sts-cache.test", MTASTSTests.policy("enforce", ["mx.ok.test"], maxAge: 3 * 86400))
        let (cached, log) = try sts.send(to: "sts-cache.test")
        #expect(cached.last?.hasPrefix("Z") == true, "\(cached) \(log)")
        #expect(log.contains("cached, id 1"), "\(log)")
        // Within the refresh window the policy is fetched again and the new one delivers.
        let confPath = "\(sts.bed.system.root)/etc/postamt/postamt.conf"
        try (String(contentsOfFile: confPath, encoding: .utf8) + "mta_sts_refresh_before = 4d\n").write(toFile: confPath, atomically: true, encoding: .utf8)
        let (refreshed, log2) = try sts.send(to: "sts-cache.test")
        #expect(refreshed.last?.hasPrefix("K") == true, "\(refreshed) \(log2)")
        #expect(log2.contains("MTA-STS: fetched the policy of sts-cache.test"), "\(log2)")
        let entry = try String(contentsOfFile: "\(sts.cacheDirectory)/sts-cache.test", encoding: .utf8)
        #expect(entry.contains("mx.ok.test"), "\(entry)")
    }

    /// RFC 8461 §3.3's limits: a policy larger than mta_sts_max_policy_size or a server slower
    /// than mta_sts_fetch_timeout (3s here) gives no policy, and the mail goes as without one.
    @Test func oversizedOrSlowPolicyIsNoPolicy() throws {
        let sts = try MTASTSBed()
        let big = MTASTSTests.policy("enforce", ["mx.elsewhere.test"]) + String(repeating: "mx: padding.example\r\n", count: 4000)
        try sts.serve("sts-wrongmx.test", big)
        let (reports, log) = try sts.send(to: "sts-wrongmx.test")
        #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
        #expect(log.contains("cannot be fetched") && log.contains("exceeds 65536 bytes"), "\(log)")
        try sts.serve("sts-wrongmx.test", MTASTSTests.policy("enforce", ["mx.elsewhere.test"]))
        try "6".write(toFile: "\(sts.https.root)/slow", atomically: true, encoding: .utf8)
        let (slow, log2) = try sts.send(to: "sts-wrongmx.test")
        #expect(slow.last?.hasPrefix("K") == true, "\(slow) \(log2)")
        #expect(log2.contains("cannot be fetched") && log2.contains("timed out"), "\(log2)")
        #expect(sts.bed.received().count == 2)
    }

    /// The policy server's certificate must verify: one from a CA we do not trust gives no policy.
    @Test func untrustedPolicyServerGivesNoPolicy() throws {
        let sts = try MTASTSBed()
        try sts.serve("sts-wrongmx.test", MTASTSTests.policy("enforce", ["mx.elsewhere.test"]))
        let confPath = "\(sts.bed.system.root)/etc/postamt/postamt.conf"
        try (String(contentsOfFile: confPath, encoding: .utf8) + "remote_tls_ca_file = \(sts.bed.certificate)\n")
            .write(toFile: confPath, atomically: true, encoding: .utf8)
        let (reports, log) = try sts.send(to: "sts-wrongmx.test")
        #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
        #expect(log.contains("cannot be fetched") && log.contains("TLS"), "\(log)")
    }

    /// postamt doctor fetches the policy like postamt-remote and checks it against the MX records.
    @Test(arguments: [("sts-enforce.test", ["mx.ok.test"], "ok"), ("sts-wrongmx.test", ["*.elsewhere.test"], "error")])
    func doctorChecksThePolicyAgainstTheMX(domain: String, mx: [String], level: String) throws {
        let sts = try MTASTSBed()
        try sts.serve(domain, MTASTSTests.policy("enforce", mx))
        let confPath = "\(sts.bed.system.root)/etc/postamt/postamt.conf"
        try (String(contentsOfFile: confPath, encoding: .utf8) + "myhostname = mx.ok.test\n").write(toFile: confPath, atomically: true, encoding: .utf8)
        let r = try run("\(sts.bed.system.root)/bin/postamt", ["doctor", "--json", domain], environment: sts.bed.system.environment)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let findings = (json?["findings"] as? [[String: String]]) ?? []
        let finding = findings.first { $0["check"] == "mta-sts" }
        #expect(finding?["level"] == level, "\(findings)")
        if level == "error" { #expect(finding?["text"]?.contains("does not allow the MX host mx.ok.test") == true, "\(findings)") }
    }

    @Test func disabledBySetting() throws {
        let sts = try MTASTSBed()
        try sts.serve("sts-wrongmx.test", MTASTSTests.policy("enforce", ["mx.elsewhere.test"]))
        let confPath = "\(sts.bed.system.root)/etc/postamt/postamt.conf"
        try (String(contentsOfFile: confPath, encoding: .utf8) + "mta_sts = no\n").write(toFile: confPath, atomically: true, encoding: .utf8)
        let (reports, log) = try sts.send(to: "sts-wrongmx.test")
        #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
        #expect(!log.contains("MTA-STS"))
    }
}

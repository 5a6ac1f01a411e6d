import Foundation
import Glibc
import Testing

/// TLS reporting (RFC 8460): the report of a day's synthetic results validated against a JSON
/// schema written from RFC 8460 §4.4, and real sessions of postamt-remote counted by
/// `postamt tlsrpt show`.
@Suite(.serialized, .enabled(if: RemoteTestBed.canRun, "needs root (users, setpriv) and dnsmasq (apt-get install dnsmasq-base)"))
struct TLSRPTTests {
    static let hasJSONSchema = (try? run("/usr/bin/python3", ["-c", "import jsonschema"]))?.status == 0

    /// RFC 8460 §4.4 as a JSON schema (the RFC gives the fields and an example, not a schema).
    static let schema = #"""
    {"type": "object", "additionalProperties": false,
     "required": ["organization-name", "date-range", "contact-info", "report-id", "policies"],
     "properties": {
      "organization-name": {"type": "string", "minLength": 1},
      "date-range": {"type": "object", "additionalProperties": false, "required": ["start-datetime", "end-datetime"],
        "properties": {"start-datetime": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$"},
                       "end-datetime": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$"}}},
      "contact-info": {"type": "string"},
      "report-id": {"type": "string", "minLength": 1},
      "policies": {"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["policy", "summary"],
        "properties": {
          "policy": {"type": "object", "additionalProperties": false, "required": ["policy-type", "policy-domain"],
            "properties": {"policy-type": {"enum": ["tlsa", "sts", "no-policy-found"]},
                           "policy-string": {"type": "array", "items": {"type": "string"}},
                           "policy-domain": {"type": "string"},
                           "mx-host": {"type": "array", "items": {"type": "string"}}}},
          "summary": {"type": "object", "additionalProperties": false,
            "required": ["total-successful-session-count", "total-failure-session-count"],
            "properties": {"total-successful-session-count": {"type": "integer", "minimum": 0},
                           "total-failure-session-count": {"type": "integer", "minimum": 0}}},
          "failure-details": {"type": "array", "items": {"type": "object", "additionalProperties": false,
            "required": ["result-type", "failed-session-count"],
            "properties": {"result-type": {"enum": ["starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
                             "certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid", "dane-required",
                             "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid"]},
                           "sending-mta-ip": {"type": "string"}, "receiving-mx-hostname": {"type": "string"},
                           "receiving-mx-helo": {"type": "string"}, "receiving-ip": {"type": "string"},
                           "failed-session-count": {"type": "integer", "minimum": 1},
                           "additional-information": {"type": "string"}, "failure-reason-code": {"type": "string"}}}}}}}}}
    """#

    @Test(.enabled(if: TLSRPTTests.hasJSONSchema, "needs python3-jsonschema"))
    func reportOfADayMatchesTheSchema() throws {
        // sending-mta-ip comes from each recorded session, never from doctor_host_addresses.
        let system = try Installation(config: "doctor_host_addresses = 192.0.2.99")
        let dir = "\(system.root)/var/lib/postamt/tlsrpt"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let lines = [
            "sts\texample.org\tmx1.example.org\t198.51.100.1\tsuccess",
            "sts\texample.org\tmx1.example.org\t198.51.100.1\tsuccess",
            "sts\texample.org\tmx2.example.org\t198.51.100.2\tcertificate-expired\t192.0.2.25",
            "sts\texample.org\tmx2.example.org\t198.51.100.2\tcertificate-expired\t192.0.2.25",
            "sts\texample.org\tevil.example.net\t203.0.113.9\tvalidation-failure",
            "no-policy-found\texample.org\tmx1.example.org\t198.51.100.1\tstarttls-not-supported",
            "tlsa\tother.example\tmx.other.example\t2001:db8::1\tsuccess",
            "garbage line",
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: "\(dir)/2026-01-02", atomically: true, encoding: .utf8)
        let r = try system.postamt(["tlsrpt", "report", "--day", "2026-01-02", "example.org"])
        #expect(r.status == 0, "\(r.stderr)")
        try TLSRPTTests.schema.write(toFile: "\(system.root)/schema.json", atomically: true, encoding: .utf8)
        try r.stdout.write(toFile: "\(system.root)/report.json", atomically: true, encoding: .utf8)
        let check = try run("/usr/bin/python3", ["-c", """
            import json, sys, jsonschema
            jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))
            print("valid")
            """, "\(system.root)/schema.json", "\(system.root)/report.json"])
        #expect(check.stdout.contains("valid"), "\(check.stderr)\n\(r.stdout)")
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let policies = (report?["policies"] as? [[String: Any]]) ?? []
        #expect(policies.count == 2)
        let sts = policies.first { ($0["policy"] as? [String: Any])?["policy-type"] as? String == "sts" }
        let summary = sts?["summary"] as? [String: Int]
        #expect(summary?["total-successful-session-count"] == 2)
        #expect(summary?["total-failure-session-count"] == 3)
        let details = (sts?["failure-details"] as? [[String: Any]]) ?? []
        #expect(details.contains { $0["result-type"] as? String == "certificate-expired" && $0["failed-session-count"] as? Int == 2
                                   && $0["sending-mta-ip"] as? String == "192.0.2.25" })
        // A line without the sixth field (written before it existed) has no sending-mta-ip.
        #expect(details.contains { $0["result-type"] as? String == "validation-failure" && $0["sending-mta-ip"] == nil })
        #expect(!r.stdout.contains("192.0.2.99"))
        #expect((report?["date-range"] as? [String: String])?["start-datetime"] == "2026-01-02T00:00:00Z")
        // The schema is not a rubber stamp: a wrong result type fails it.
        try r.stdout.replacingOccurrences(of: "certificate-expired", with: "certificate-tired")
            .write(toFile: "\(system.root)/bad.json", atomically: true, encoding: .utf8)
        let bad = try run("/usr/bin/python3", ["-c", """
            import json, sys, jsonschema
            jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))
            """, "\(system.root)/schema.json", "\(system.root)/bad.json"])
        #expect(bad.status != 0)
        let badDay = try system.postamt(["tlsrpt", "show", "--day", "yesterday"])
        #expect(badDay.status != 0 && badDay.stderr.contains("YYYY-MM-DD"))
    }

    /// postamt-remote records each MX session; `postamt tlsrpt show` counts today's.
    @Test func sessionsAreRecordedAndShown() throws {
        let sts = try MTASTSBed()
        try sts.serve("sts-wrongmx.test", MTASTSTests.policy("enforce", ["mx.elsewhere.test"]))
        try sts.serve("sts-enforce.test", MTASTSTests.policy("enforce", ["mx.ok.test"]))
        _ = try sts.send(to: "sts-wrongmx.test")
        _ = try sts.send(to: "sts-enforce.test")
        _ = try sts.bed.remote(["plain.test", "a@mail.test.example", "u@plain.test"], message: "Subject: x\n\ny\n")
        let r = try sts.bed.system.postamt(["tlsrpt", "show"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("sts-enforce.test\tsts\tsuccess 1"), "\(r.stdout)")
        #expect(r.stdout.contains("sts-wrongmx.test\tsts\tsuccess 0\tfailures: validation-failure 1"), "\(r.stdout)")
        #expect(r.stdout.contains("plain.test\tno-policy-found\tsuccess 0\tfailures: starttls-not-supported 1"), "\(r.stdout)")
        // RFC 8460 §4.3: sending-mta-ip is the local address of that session (postamt-remote
        // connects from 127.0.0.1 to the loopback MX hosts), not a configured one.
        let today = TLSRPTSendTests.day(0)
        let plain = try sts.bed.system.postamt(["tlsrpt", "report", "--day", today, "plain.test"])
        let plainDetails = TLSRPTTests.failureDetails(plain.stdout)
        #expect(plainDetails.count == 1 && plainDetails.first?["sending-mta-ip"] as? String == "127.0.0.1", "\(plain.stdout)")
        #expect(plainDetails.first?["receiving-ip"] as? String == "127.0.0.8", "\(plain.stdout)")
        // An MX host the MTA-STS policy ruled out was never connected to: no sending-mta-ip.
        let wrong = try sts.bed.system.postamt(["tlsrpt", "report", "--day", today, "sts-wrongmx.test"])
        let wrongDetails = TLSRPTTests.failureDetails(wrong.stdout)
        #expect(wrongDetails.count == 1 && wrongDetails.first?["sending-mta-ip"] == nil, "\(wrong.stdout)")
    }

    /// RFC 8460 §4.4: the report names the MTA-STS policy it applied by its text
    /// ("policy-string", the lines of the policy file) and its mx patterns ("mx-host").
    /// postamt-remote stores the text once per policy and day; each session line carries its ID.
    /// The second session takes the policy from the cache, which keeps the same lines.
    @Test(.enabled(if: TLSRPTTests.hasJSONSchema, "needs python3-jsonschema"))
    func reportCarriesThePolicyText() throws {
        let sts = try MTASTSBed()
        let served = ["version: STSv1", "mode: enforce", "mx: mx.ok.test", "mx: *.spare.test", "max_age: 604800"]
        try sts.serve("sts-enforce.test", served.joined(separator: "\r\n") + "\r\n")
        for _ in 0..<2 {
            let (reports, log) = try sts.send(to: "sts-enforce.test")
            #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
        }
        let today = TLSRPTSendTests.day(0)
        let dir = "\(sts.bed.system.root)/var/lib/postamt/tlsrpt"
        let lines = try String(contentsOfFile: "\(dir)/\(today)", encoding: .utf8).split(separator: "\n").filter { $0.contains("sts-enforce.test") }
        let ids = Set(lines.map { String($0.split(separator: "\t", omittingEmptySubsequences: false).last ?? "") })
        #expect(lines.count == 2 && ids.count == 1 && ids.first?.count == 32, "\(lines)")
        let stored = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(today).policies")
        #expect(stored == Array(ids), "\(stored)")
        let r = try sts.bed.system.postamt(["tlsrpt", "report", "--day", today, "sts-enforce.test"])
        #expect(r.status == 0, "\(r.stderr)")
        let check = try TLSRPTTests.validate(r.stdout, in: sts.bed.system.root)
        #expect(check.stdout.contains("valid"), "\(check.stderr)\n\(r.stdout)")
        let entries = TLSRPTTests.policies(r.stdout)
        #expect(entries.count == 1, "\(r.stdout)")
        let policy = entries.first?["policy"] as? [String: Any]
        #expect(policy?["policy-type"] as? String == "sts")
        #expect(policy?["policy-string"] as? [String] == served, "\(r.stdout)")
        #expect(policy?["policy-domain"] as? String == "sts-enforce.test")
        #expect(policy?["mx-host"] as? [String] == ["mx.ok.test", "*.spare.test"], "\(r.stdout)")
        #expect((entries.first?["summary"] as? [String: Int])?["total-successful-session-count"] == 2)
    }

    /// RFC 8460 §4.3.2.2: an announced MTA-STS policy that cannot be had is reported as a
    /// failure of the domain's sts policy: a server certificate not valid for mta-sts.DOMAIN is
    /// sts-webpki-invalid, an answer that is no valid policy sts-policy-invalid, a server that
    /// cannot be reached sts-policy-fetch-error. The mail still goes, as without a policy (RFC
    /// 8461 §5: none was cached), and those sessions count as no-policy-found.
    @Test(.enabled(if: TLSRPTTests.hasJSONSchema, "needs python3-jsonschema"))
    func policyFetchFailuresAreReported() throws {
        let sts = try MTASTSBed()
        // Each policy would defer the mail, were it applied.
        try sts.serve(MTASTSBed.wrongNameDomain, MTASTSTests.policy("enforce", ["mx.elsewhere.test"]))
        try sts.serve("sts-wrongmx.test", "version: STSv1\r\nmode: strict\r\nmx: mx.elsewhere.test\r\nmax_age: 86400\r\n")
        let cases = [(MTASTSBed.wrongNameDomain, "sts-webpki-invalid", 2, "hostname mismatch"),
                     ("sts-wrongmx.test", "sts-policy-invalid", 1, "unknown mode"),
                     (MTASTSBed.unreachableDomain, "sts-policy-fetch-error", 1, "cannot connect")]
        for (domain, type, times, why) in cases {
            for _ in 0..<times {
                let (reports, log) = try sts.send(to: domain)
                #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
                #expect(log.contains("cannot be fetched") && log.contains(why) && log.contains("(\(type))"), "\(log)")
            }
        }
        #expect(sts.bed.received().count == 4)
        let today = TLSRPTSendTests.day(0)
        let show = try sts.bed.system.postamt(["tlsrpt", "show"])
        for (domain, type, times, _) in cases {
            #expect(show.stdout.contains("\(domain)\tsts\tsuccess 0\tfailures: \(type) \(times)"), "\(show.stdout)")
            #expect(show.stdout.contains("\(domain)\tno-policy-found\tsuccess \(times)"), "\(show.stdout)")
            let r = try sts.bed.system.postamt(["tlsrpt", "report", "--day", today, domain])
            #expect(r.status == 0, "\(r.stderr)")
            let check = try TLSRPTTests.validate(r.stdout, in: sts.bed.system.root)
            #expect(check.stdout.contains("valid"), "\(check.stderr)\n\(r.stdout)")
            let entry = TLSRPTTests.policies(r.stdout).first { ($0["policy"] as? [String: Any])?["policy-type"] as? String == "sts" }
            #expect((entry?["policy"] as? [String: Any])?["policy-domain"] as? String == domain)
            #expect((entry?["summary"] as? [String: Int])?["total-failure-session-count"] == times, "\(r.stdout)")
            let details = (entry?["failure-details"] as? [[String: Any]]) ?? []
            #expect(details.count == 1 && details.first?["result-type"] as? String == type
                    && details.first?["failed-session-count"] as? Int == times, "\(r.stdout)")
            // No MX host was involved in the failure.
            #expect(details.first?["receiving-mx-hostname"] == nil && details.first?["receiving-ip"] == nil, "\(r.stdout)")
        }
    }

    /// Validates a report against the schema; prints "valid".
    static func validate(_ json: String, in root: String) throws -> RunResult {
        try TLSRPTTests.schema.write(toFile: "\(root)/schema.json", atomically: true, encoding: .utf8)
        try json.write(toFile: "\(root)/report.json", atomically: true, encoding: .utf8)
        return try run("/usr/bin/python3", ["-c", """
            import json, sys, jsonschema
            jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))
            print("valid")
            """, "\(root)/schema.json", "\(root)/report.json"])
    }

    static func policies(_ json: String) -> [[String: Any]] {
        let report = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        return (report?["policies"] as? [[String: Any]]) ?? []
    }

    static func failureDetails(_ json: String) -> [[String: Any]] {
        let report = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let policies = (report?["policies"] as? [[String: Any]]) ?? []
        return policies.flatMap { ($0["failure-details"] as? [[String: Any]]) ?? [] }
    }
}

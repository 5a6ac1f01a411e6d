import Glibc
import Testing
@testable import MailRemote
import MailNet

/// The TLS-RPT records postamt-remote writes (RFC 8460): session lines of five to seven fields,
/// and the policy texts stored once per policy and day under their ID.
struct TLSReportTests {
    @Test func sessionLinesReadBackAndOlderLinesStillRead() {
        let full = TLSSessionResult(policyType: "sts", policyDomain: "example.org", mxHost: "mx.example.org", receivingIP: "192.0.2.1",
                                    result: "success", sendingIP: "192.0.2.9", policyID: String(repeating: "ab", count: 16))
        #expect(TLSSessionResult(line: Substring(full.line.dropLast())) == full)
        // No sending address but a policy: the empty sixth field stays, so the seventh is the ID.
        var noIP = full
        noIP.sendingIP = ""
        #expect(noIP.line.split(separator: "\t", omittingEmptySubsequences: false).count == 7)
        #expect(TLSSessionResult(line: Substring(noIP.line.dropLast())) == noIP)
        // A failed policy fetch: no MX host, no ID.
        let fetch = TLSSessionResult(policyType: "sts", policyDomain: "example.org", mxHost: "", receivingIP: "", result: "sts-policy-fetch-error")
        #expect(fetch.line == "sts\texample.org\t\t\tsts-policy-fetch-error\n")
        #expect(TLSSessionResult(line: Substring(fetch.line.dropLast())) == fetch)
        #expect(TLSSessionResult(line: "tlsa\tmx.example.org\tmx.example.org\t192.0.2.1\tsuccess")?.sendingIP == "")
        #expect(TLSSessionResult(line: "sts\texample.org\tmx\t192.0.2.1\tsuccess\t\t../../etc/passwd") == nil)
    }

    @Test func policyIDsAndMXPatterns() {
        let sts = TLSReportPolicy.sts("Example.ORG", MTASTSPolicy(mode: .enforce, mx: ["mx.example.org", "*.example.net"], maxAge: 86400))
        #expect(sts.domain == "example.org")
        #expect(sts.strings == ["version: STSv1", "mode: enforce", "mx: mx.example.org", "mx: *.example.net", "max_age: 86400"])
        #expect(sts.mxPatterns == ["mx.example.org", "*.example.net"])
        #expect(TLSReportPolicy.isID(sts.id))
        #expect(TLSReportPolicy.none("example.org").id == "")
        let a = TLSARecord(usage: 3, selector: 1, matchingType: 1, data: Array(repeating: 0xAB, count: 32))
        let b = TLSARecord(usage: 2, selector: 0, matchingType: 1, data: Array(repeating: 0x01, count: 32))
        let tlsa = TLSReportPolicy.tlsa("MX.example.org", [a, b])
        #expect(tlsa.strings == ["2 0 1 " + String(repeating: "01", count: 32), "3 1 1 " + String(repeating: "ab", count: 32)])
        // The same RRset in another order is the same policy; the type is part of the ID.
        #expect(TLSReportPolicy.tlsa("mx.example.org", [b, a]).id == tlsa.id)
        #expect(TLSReportPolicy(type: "sts", domain: "x", strings: tlsa.strings).id != tlsa.id)
        #expect(tlsa.mxPatterns.isEmpty)
    }

    @Test func policyTextIsStoredOncePerDay() throws {
        var template = Array("/tmp/tlsrpt-XXXXXX".utf8CString)
        let dir = String(cString: mkdtemp(&template)!)
        defer { _ = system("rm -rf '\(dir)'") }
        var store = TLSReportStore(directory: dir)
        let policy = TLSReportPolicy.sts("example.org", MTASTSPolicy(mode: .testing, mx: ["mx.example.org"], maxAge: 600))
        let day: Int64 = 1_767_312_000  // 2026-01-02
        let r = TLSSessionResult(policyType: "sts", policyDomain: "example.org", mxHost: "mx.example.org", receivingIP: "192.0.2.1", result: "success")
        try store.record(r, policy: policy, at: day)
        try store.record(r, policy: policy, at: day + 60)
        // Another process (a fresh store) records under the same ID.
        var other = TLSReportStore(directory: dir)
        try other.record(r, policy: policy, at: day + 120)
        let results = store.results(day: "2026-01-02")
        #expect(results.count == 3 && results.allSatisfy { $0.policyID == policy.id })
        #expect(store.policies(day: "2026-01-02", ids: [policy.id, "00000000000000000000000000000000"]) == [policy.id: policy.strings])
        #expect(store.policies(day: "2026-01-03", ids: [policy.id]).isEmpty)
    }

    @Test func pruneRemovesOnlyOlderDays() throws {
        var template = Array("/tmp/tlsrpt-prune-XXXXXX".utf8CString)
        let dir = String(cString: mkdtemp(&template)!)
        defer { _ = system("rm -rf '\(dir)'") }
        var store = TLSReportStore(directory: dir)
        let result = TLSSessionResult(policyType: "sts", policyDomain: "example.org", mxHost: "mx.example.org", receivingIP: "192.0.2.1", result: "success")
        let policy = TLSReportPolicy.sts("example.org", MTASTSPolicy(mode: .enforce, mx: ["mx.example.org"], maxAge: 86400))
        let old: Int64 = 1_700_000_000, new = old + 40 * 86400
        try store.record(result, policy: policy, at: old)
        try store.record(result, policy: policy, at: new)
        let oldDay = TLSReportStore.day(old), newDay = TLSReportStore.day(new)
        let sent = open("\(dir)/\(oldDay).sent", O_WRONLY | O_CREAT, 0o640); close(sent)
        let other = open("\(dir)/notes", O_WRONLY | O_CREAT, 0o640); close(other)
        #expect(try store.prune(before: newDay) == 1)
        func exists(_ name: String) -> Bool { access("\(dir)/\(name)", F_OK) == 0 }
        #expect(!exists(oldDay) && !exists("\(oldDay).sent") && !exists("\(oldDay).policies"))
        #expect(exists(newDay) && exists("\(newDay).policies") && exists("notes"))
        #expect(store.results(day: newDay).count == 1)
        #expect(try store.prune(before: newDay) == 0)
    }
}

// postamt tlsrpt: the TLS results postamt-remote recorded (RFC 8460).
import ArgumentParser
import MailCore
import MailQueue
import MailRemote
import MailSystem

struct TLSRPT: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tlsrpt",
        abstract: "Show the TLS results of outgoing sessions and build TLS reports (RFC 8460).",
        subcommands: [Show.self, Report.self, Send.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one day's counts per destination, policy type and result.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The UTC day, YYYY-MM-DD (default: today).") var day: String?

        func run() throws {
            let c = try global.configuration()
            let d = try TLSRPT.checkedDay(day)
            let store = TLSReportStore(directory: c.string("tlsrpt_directory"))
            let counts = TLSReportStore.counts(store.results(day: d))
            print("TLS results of \(d) (UTC)")
            if counts.isEmpty { print("no sessions recorded") }
            for entry in counts {
                let failures = entry.failures.keys.sorted().map { "\($0) \(entry.failures[$0]!)" }.joined(separator: ", ")
                print("\(entry.domain)\t\(entry.type)\tsuccess \(entry.success)" + (failures.isEmpty ? "" : "\tfailures: \(failures)"))
            }
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the RFC 8460 JSON report of one day for DOMAIN.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The UTC day, YYYY-MM-DD (default: yesterday).") var day: String?
        @Argument(help: "The policy domain the report is about.") var domain: String

        func run() throws {
            let c = try global.configuration()
            let d = try TLSRPT.checkedDay(day ?? TLSReportStore.day(Clock.seconds() - 86400))
            let store = TLSReportStore(directory: c.string("tlsrpt_directory"))
            let results = store.results(day: d)
            print(TLSRPT.report(results, domain: domain, day: d, organization: c.hostname, contact: "postmaster@\(c.hostname)",
                                policies: store.policies(day: d, ids: Set(results.map(\.policyID)))))
        }
    }

    static func checkedDay(_ day: String?) throws -> String {
        guard let day else { return TLSReportStore.day(Clock.seconds()) }
        let parts = day.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isNumber) }) else { throw fail("--day must be YYYY-MM-DD, not \(day)") }
        return day
    }

    /// The RFC 8460 §4.4 JSON report of `day` for one policy domain: one entry per policy
    /// applied (type and text: `policies` holds the texts by ID, as TLSReportStore keeps them),
    /// with "policy-string" where the text is known and, for MTA-STS, its mx patterns as
    /// "mx-host". sending-mta-ip is the local address postamt-remote's session used (§4.3:
    /// "the IP address of the Sending MTA that attempted the STARTTLS connection"); left out
    /// where no connection was made (an MX host an MTA-STS policy ruled out, a failed TLSA
    /// lookup, a policy that could not be fetched) or the record predates it.
    static func report(_ results: [TLSSessionResult], domain: String, day: String, organization: String,
                       contact: String, policies: [String: [String]] = [:]) -> String {
        let mine = results.filter { $0.policyDomain == domain.lowercased() }
        var byPolicy: [String: [TLSSessionResult]] = [:]
        for r in mine { byPolicy[r.policyType + "\t" + r.policyID, default: []].append(r) }
        let policyJSON = byPolicy.keys.sorted().map { key -> String in
            let rs = byPolicy[key]!
            let type = rs[0].policyType
            let success = rs.filter { $0.result == "success" }.count
            var details: [String: Int] = [:]
            var order: [String] = []
            for r in rs where r.result != "success" {
                let key = [r.result, r.mxHost, r.receivingIP, r.sendingIP].joined(separator: "\t")
                if details[key] == nil { order.append(key) }
                details[key, default: 0] += 1
            }
            let failureJSON = order.map { key -> String in
                let f = key.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                var fields = ["\"result-type\":\(json(f[0]))"]
                if !f[3].isEmpty { fields.append("\"sending-mta-ip\":\(json(f[3]))") }
                if !f[1].isEmpty { fields.append("\"receiving-mx-hostname\":\(json(f[1]))") }
                if !f[2].isEmpty { fields.append("\"receiving-ip\":\(json(f[2]))") }
                fields.append("\"failed-session-count\":\(details[key]!)")
                return "{" + fields.joined(separator: ",") + "}"
            }
            let text = TLSReportPolicy(type: type, domain: domain, strings: policies[rs[0].policyID] ?? [])
            var policy = ["\"policy-type\":\(json(type))"]
            if !text.strings.isEmpty { policy.append("\"policy-string\":[\(text.strings.map { json($0) }.joined(separator: ","))]") }
            policy.append("\"policy-domain\":\(json(domain.lowercased()))")
            let mx = text.mxPatterns
            if !mx.isEmpty { policy.append("\"mx-host\":[\(mx.map { json($0) }.joined(separator: ","))]") }
            return "{\"policy\":{\(policy.joined(separator: ","))},"
                + "\"summary\":{\"total-successful-session-count\":\(success),\"total-failure-session-count\":\(rs.count - success)}"
                + (failureJSON.isEmpty ? "" : ",\"failure-details\":[\(failureJSON.joined(separator: ","))]") + "}"
        }
        return "{\"organization-name\":\(json(organization)),"
            + "\"date-range\":{\"start-datetime\":\"\(day)T00:00:00Z\",\"end-datetime\":\"\(day)T23:59:59Z\"},"
            + "\"contact-info\":\(json(contact)),"
            + "\"report-id\":\(json("\(day)_\(domain.lowercased())@\(organization)")),"
            + "\"policies\":[\(policyJSON.joined(separator: ","))]}"
    }
}

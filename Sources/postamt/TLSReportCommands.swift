// postamt tlsrpt: the TLS results postamt-remote recorded (RFC 8460).
import ArgumentParser
import MailCore
import MailRemote
import MailSystem

struct TLSRPT: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tlsrpt",
        abstract: "Show the TLS results of outgoing sessions and build TLS reports (RFC 8460).",
        subcommands: [Show.self, Report.self])

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
            let sending = c.list("doctor_host_addresses").first
            print(TLSReportStore.report(store.results(day: d), domain: domain, day: d, organization: c.hostname,
                                        contact: "postmaster@\(c.hostname)", sendingIP: sending))
        }
    }

    static func checkedDay(_ day: String?) throws -> String {
        guard let day else { return TLSReportStore.day(Clock.seconds()) }
        let parts = day.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isNumber) }) else { throw fail("--day must be YYYY-MM-DD, not \(day)") }
        return day
    }
}

import Foundation
import Testing
import MailCore
@testable import SpamCheck

struct SpamWarmUpTests {
    /// postamt-smtpd --serve's warm-up runs the checks on its sample, never the network ones
    /// (whatever the configuration asks), and leaves nothing behind: no database is made.
    @Test func theWarmUpScoresItsSampleWithoutTheNetworkAndKeepsNothing() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = Configuration(root: "")
        configuration.set("spam_database_directory", directory)
        configuration.set("spam_dns_server", "127.0.0.1:9")
        configuration.set("spam_dnsbl_zones", "zen.dnsbl.example")
        configuration.set("spam_spf", "yes")
        configuration.set("spam_dkim", "yes")
        configuration.set("spam_dmarc", "yes")
        let report = try #require(SpamCheckProgram.warmUp(configuration))
        #expect(!report.unscanned)
        #expect(report.authResults.isEmpty, "\(report.authResults)")
        #expect(!report.hits.contains { $0.name.hasPrefix("RCVD_IN_") || $0.name.hasPrefix("SPF_") || $0.name.hasPrefix("DKIM_") })
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    /// A configuration the filter refuses: no warm-up, no crash.
    @Test func aBadConfigurationMeansNoWarmUp() {
        var configuration = Configuration(root: "")
        configuration.set("spam_tag_score", "lots")
        #expect(SpamCheckProgram.warmUp(configuration) == nil)
    }
}

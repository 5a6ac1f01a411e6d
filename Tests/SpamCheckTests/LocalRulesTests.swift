import Foundation
import Testing
@testable import SpamCheck

struct LocalRulesTests {
    static let text = """
        # comment
        header LOCAL_SUBJ_WATCHES Subject /replica +watch(es)?/i 2.5
        header LOCAL_MAILER X-Mailer /^BulkPro/ 1.0

        body LOCAL_WIRE /wire transfer.*urgent/i 3
        body LOCAL_OURS /postamt/ -1.5
        """

    @Test func headerAndBodyRulesMatch() throws {
        let rules = try LocalRules(text: Self.text)
        #expect(rules.rules.count == 4)
        let hits = rules.matches(headers: [("Subject", "Cheap REPLICA  Watches"), ("X-Mailer", "bulkpro 2")],
                                 body: ["Please make the WIRE TRANSFER today, it is urgent."])
        #expect(hits.map(\.name) == ["LOCAL_SUBJ_WATCHES", "LOCAL_WIRE"])
        #expect(hits.map(\.score) == [2.5, 3])
        let none = rules.matches(headers: [("Subject", "lunch")], body: ["see you"])
        #expect(none.isEmpty)
        #expect(rules.matches(headers: [], body: ["about postamt"]).map(\.name) == ["LOCAL_OURS"])
    }

    @Test(arguments: [
        ("score LOCAL_X /a/ 1", "is not header or body"),
        ("body local_x /a/ 1", "a rule name is"),
        ("body LOCAL_X a 1", "between slashes"),
        ("body LOCAL_X /a/ lots", "the score is a number"),
        ("body LOCAL_X /a/ 1000", "the score is a number"),
        ("body LOCAL_X /a/ 1 extra", "text after the score"),
        ("body LOCAL_X /(/ 1", "bad regular expression"),
        ("body LOCAL_X /a/ 1\nbody LOCAL_X /b/ 2", "defined twice"),
    ])
    func errorsNameTheLine(line: String, message: String) {
        #expect {
            _ = try LocalRules(text: "# first\n" + line, file: "rules")
        } throws: { error in
            guard let failure = error as? LocalRules.Failure else { return false }
            return failure.description.contains(message) && failure.description.hasPrefix("rules:")
        }
    }

    @Test func hitsAppearInTheReportWithTheirScore() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.text.write(toFile: "\(directory)/spam-rules", atomically: true, encoding: .utf8)
        var options = SpamCheckOptions()
        options.databaseDirectory = directory + "/db"
        options.rulesFile = "\(directory)/spam-rules"
        let checker = SpamChecker(options: options, dns: OfflineDNS())
        let report = checker.check(SpamCheckInput(message: Array(
            "Message-ID: <1@x>\nDate: now\nSubject: replica watches\n\nA wire transfer, urgent!\n".utf8)))
        #expect(report.hits.contains(SpamRuleHit(name: "LOCAL_SUBJ_WATCHES", weight: 2.5)))
        #expect(report.hits.contains(SpamRuleHit(name: "LOCAL_WIRE", weight: 3)))
        #expect(report.score == 5.5)
        let header = String(decoding: report.headerFields(authservID: "mx"), as: UTF8.self)
        #expect(header.contains("LOCAL_SUBJ_WATCHES(2.5)"))

        // A broken file: no local rules, a note, the message still scored.
        try "body BROKEN /(/ 1\n".write(toFile: "\(directory)/spam-rules", atomically: true, encoding: .utf8)
        let broken = checker.check(SpamCheckInput(message: Array("Message-ID: <2@x>\nDate: now\nSubject: x\n\ny\n".utf8)))
        #expect(!broken.hits.contains { $0.name.hasPrefix("LOCAL") })
        #expect(broken.notes.contains { $0.contains("local rules skipped") })
    }
}

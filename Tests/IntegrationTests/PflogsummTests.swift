import Foundation
import Glibc
import Testing

/// A small day of mail through the real programs, its log read by Debian's pflogsumm as
/// Postfix's: the Grand Totals must count what the test did.
/// Debian's pflogsumm (package pflogsumm).
private let pflogsummPath = "/usr/sbin/pflogsumm"

@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"),
       .enabled(if: FileManager.default.isExecutableFile(atPath: pflogsummPath),
                "needs pflogsumm (apt-get install pflogsumm; scripts/setup installs it)"))
struct PflogsummTests {
    @Test func grandTotalsCountTheDay() throws {
        let receiver = try TestUser(), sender = try TestUser()
        // receiver+hard refuses for good (qmail's exit 100), receiver+soft asks to try later (111).
        try receiver.writeFile(".postamt-hard", "|exit 100\n")
        try receiver.writeFile(".postamt-soft", "|exit 111\n")
        let site = try SMTPSite()
        let system = site.system
        try site.start("mx")
        let smtpAccepted = 3, sendmailDelivered = 2, refusedAtRCPT = 2

        // Over SMTP (Python's smtplib): messages accepted for the receiver, and RCPTs refused
        // for users that do not exist (after a syntax error, which pflogsumm must not count).
        let script = """
            import os, smtplib
            port = int(os.environ["PORT_MX"])
            for i in range(\(smtpAccepted)):
                with smtplib.SMTP("127.0.0.1", port) as s:
                    s.ehlo("client.example")
                    s.sendmail("someone@remote.example", ["\(receiver.name)@\(system.hostname)"], f"Subject: smtp {i}\\r\\n\\r\\nhello\\r\\n")
            for i in range(\(refusedAtRCPT)):
                with smtplib.SMTP("127.0.0.1", port) as s:
                    s.ehlo("client.example")
                    s.mail("someone@remote.example")
                    # A syntax error is the client's mistake, not a refused message: not counted.
                    code, text = s.docmd("RCPT", "TO:<broken")
                    if code != 501: raise SystemExit(f"a broken RCPT answered {code} {text}")
                    code, text = s.rcpt(f"nosuch{i}-\(receiver.name)@\(system.hostname)")
                    if code != 550: raise SystemExit(f"RCPT of an unknown user answered {code} {text}")
            """
        let client = try site.python(script)
        #expect(client.status == 0, "\(client.stdout)\(client.stderr)")

        // With sendmail: delivered ones, one that bounces (its notice goes back to the sender,
        // a local user, and is delivered too), one that is deferred.
        for i in 0..<sendmailDelivered {
            let r = try system.sendmail(["-i", receiver.name], "Subject: sendmail \(i)\n\nhello\n")
            #expect(r.status == 0, "\(r.stderr)")
        }
        let hard = try system.sendmail(["-i", "-f", sender.name, "\(receiver.name)+hard"], "Subject: hard\n\nx\n")
        #expect(hard.status == 0, "\(hard.stderr)")
        let soft = try system.sendmail(["-i", "\(receiver.name)+soft"], "Subject: soft\n\nx\n")
        #expect(soft.status == 0, "\(soft.stderr)")

        // Every message but the deferred one has left the queue (the runner logs "removed" after
        // a message's last status line), and the deferred one was tried once.
        let leaving = smtpAccepted + sendmailDelivered + 1 + 1   // … + the bounced message + its notice
        try waitFor("\(leaving) messages removed and a deferral") {
            system.log().components(separatedBy: ": removed\n").count - 1 == leaving && system.log().contains("status=deferred")
        }
        #expect(receiver.messages().count == smtpAccepted + sendmailDelivered)
        #expect(sender.messages().count == 1)
        system.stopRunner()

        // What `journalctl -o short` prints: a timestamp, the host, journald's own identifier
        // (the program's name and pid), then our line. The README's pipeline drops journald's
        // identifier, so that our "postamt/smtpd[pid]:" tag takes its place, and runs pflogsumm.
        let lines = (site.log() + system.log()).split(separator: "\n").map { line in
            "Dec 06 10:00:00 mail \(line.prefix { $0 != ":" }.replacingOccurrences(of: "/", with: "-")): \(line)"
        }
        let day = "\(system.root)/journal.txt"
        try (lines.joined(separator: "\n") + "\n").write(toFile: day, atomically: true, encoding: .utf8)
        let report = try run("/bin/sh", ["-c", "sed -E \(Self.dropJournalIdentifier) \"$1\" | \(pflogsummPath) --syslog-name=postamt --smtpd-stats",
                                         "sh", day])
        #expect(report.status == 0, "\(report.stderr)")
        let totals = Self.grandTotals(report.stdout)
        let context = "\(report.stdout)\n--- log ---\n\(lines.joined(separator: "\n"))"
        #expect(totals["received"] == smtpAccepted + sendmailDelivered + 2, "\(context)")
        #expect(totals["delivered"] == smtpAccepted + sendmailDelivered + 1, "\(context)")
        #expect(totals["deferred"] == 1, "\(context)")
        #expect(totals["bounced"] == 1, "\(context)")
        #expect(totals["rejected"] == refusedAtRCPT, "\(context)")
        // --smtpd-stats pairs smtpd's "connect from" and "disconnect from" lines by pid.
        #expect(totals["connections"] == smtpAccepted + refusedAtRCPT, "\(context)")
    }

    /// The README's sed program, quoted for sh.
    static let dropJournalIdentifier = #"'s/^([A-Z][a-z]{2} +[0-9]+ [0-9:]{8} [^ ]+) [^ ]+: (postamt\/)/\1 \2/'"#

    /// "      7   received" … and, with --smtpd-stats, "  5  connections" from pflogsumm's
    /// "Grand Totals" section, which ends where the per-hour or per-domain summaries start.
    static func grandTotals(_ report: String) -> [String: Int] {
        var totals: [String: Int] = [:]
        guard let start = report.range(of: "Grand Totals") else { return totals }
        for line in report[start.upperBound...].split(separator: "\n") {
            if line.contains("Summary") { break }
            let words = line.split(separator: " ")
            guard words.count >= 2, let count = Int(words[0]) else { continue }
            let name = String(words[1])
            if totals[name] == nil { totals[name] = count }
        }
        return totals
    }
}

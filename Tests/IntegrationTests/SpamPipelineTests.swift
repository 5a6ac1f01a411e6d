import Foundation
import Glibc
import Testing
import TestSupport

/// Issue 7's wiring: postamt-smtpd hands messages to postamt-spamcheck (POSTAMT_QUEUE), which
/// refuses high scores at DATA (550 5.7.1, nothing queued) and tags the rest, and postamt-local
/// files tagged mail into .Junk.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct SpamPipelineTests {
    func site(_ extra: String) throws -> (SMTPSite, UInt16) {
        let site = try SMTPSite(config: offlineSpamSettings + "\nspam_block_senders = @spammer.test\n" + extra, auth: false)
        try site.system.installSpamcheck()
        let link = "\(site.system.root)/bin/postamt-spamcheck-queue"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "postamt-spamcheck")
        let port = try site.start("mx", environment: ["POSTAMT_QUEUE": link])
        return (site, port)
    }

    func send(_ port: UInt16, from: String, to: String, body: String) throws -> RunResult {
        try run("/usr/bin/python3", ["-c", """
            import smtplib, sys
            s = smtplib.SMTP("127.0.0.1", \(port))
            s.ehlo("client.test")
            try:
                s.sendmail("\(from)", ["\(to)"], "From: \(from)\\r\\nTo: \(to)\\r\\nSubject: offer\\r\\n\\r\\n\(body)\\r\\n")
                print("accepted")
            except smtplib.SMTPDataError as e:
                print("refused", e.smtp_code, e.smtp_error.decode())
            s.quit()
            """])
    }

    @Test func highScoringMessageIsRefusedAtData() throws {
        let user = try TestUser()
        let (site, port) = try site("")
        let r = try send(port, from: "x@spammer.test", to: "\(user.name)@\(site.system.hostname)", body: "money")
        #expect(r.stdout.hasPrefix("refused 550 5.7.1"), "\(r.stdout) \(r.stderr) \(site.log())")
        #expect(site.system.queueIsEmpty && site.nothingInFlight)
        #expect(user.messages().isEmpty)
    }

    /// smtpd, which has the queue's privileges (as the mail_owner), runs the installed
    /// postamt-spamcheck-queue's check itself and writes the tagged message into the queue; with
    /// smtpd_exec_queue = yes both programs are started. Wrappers at the installed paths leave a
    /// mark only when they are started. Run by smtpd, the filter's verdict and the queue's
    /// "queued" line are in smtpd's log under smtpd's own pid.
    @Test(arguments: [false, true]) func queueModeRunsOrStartsTheQueue(execute: Bool) throws {
        let user = try TestUser()
        let marks = makeTemporaryDirectory(prefix: "postamt-spam-queue-mark")
        defer { try? FileManager.default.removeItem(atPath: marks) }
        chmod(marks, 0o777)
        let (site, port) = try site("smtpd_exec_queue = \(execute ? "yes" : "no")\n")
        let bin = "\(site.system.root)/bin"
        try wrapProgram("postamt-queue", in: bin, touching: "\(marks)/started")
        // Queue mode comes from the name the program is started by, so this wrapper asks for it.
        try "#!/bin/sh\ntouch \(marks)/spamcheck-started\nexec \(bin)/postamt-spamcheck --queue \"$@\"\n"
            .write(toFile: "\(bin)/postamt-spamcheck-queue.new", atomically: true, encoding: .utf8)
        chmod("\(bin)/postamt-spamcheck-queue.new", 0o755)
        #expect(rename("\(bin)/postamt-spamcheck-queue.new", "\(bin)/postamt-spamcheck-queue") == 0)
        let r = try send(port, from: "friend@example.org", to: "\(user.name)@\(site.system.hostname)", body: "see you at lunch")
        #expect(r.stdout.hasPrefix("accepted"), "\(r.stdout) \(r.stderr) \(site.log())")
        try waitFor("delivery") { user.messages().count == 1 }
        #expect(user.messages()[0].contains("X-Spam-Status: No"))
        #expect(FileManager.default.fileExists(atPath: "\(marks)/spamcheck-started") == execute)
        #expect(FileManager.default.fileExists(atPath: "\(marks)/started") == execute)
        let log = site.log()
        let verdict = log.split(separator: "\n").first { $0.contains("postamt/spamcheck[") && $0.contains(": ham score=") }
        if execute {
            #expect(verdict == nil, "\(log)")
        } else {
            let pid = verdict.flatMap { $0.split(separator: "[").dropFirst().first?.split(separator: "]").first }.map(String.init) ?? "?"
            #expect(log.contains("postamt/smtpd[\(pid)]") && log.contains("postamt/queue[\(pid)]"), "\(log)")
        }
        // Refused at DATA the same way when the filter runs in smtpd's child.
        let refused = try send(port, from: "x@spammer.test", to: "\(user.name)@\(site.system.hostname)", body: "money")
        #expect(refused.stdout.hasPrefix("refused 550 5.7.1"), "\(refused.stdout) \(refused.stderr) \(site.log())")
    }

    /// The check crashes inside smtpd's screening (in its forked child): the message passes
    /// unscanned into the queue, as it does through postamt-spamcheck-queue.
    @Test func aCrashingCheckUnderSmtpdPassesTheMessageUnscanned() throws {
        let user = try TestUser()
        let site = try SMTPSite(config: offlineSpamSettings, auth: false)
        try site.system.installSpamcheck()
        let link = "\(site.system.root)/bin/postamt-spamcheck-queue"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "postamt-spamcheck")
        let port = try site.start("mx", environment: ["POSTAMT_QUEUE": link, "POSTAMT_SPAMCHECK_FAULT": "crash"])
        let r = try send(port, from: "friend@example.org", to: "\(user.name)@\(site.system.hostname)", body: "see you at lunch")
        #expect(r.stdout.hasPrefix("accepted"), "\(r.stdout) \(r.stderr) \(site.log())")
        try waitFor("delivery") { user.messages().count == 1 }
        #expect(user.messages()[0].contains("X-Spam-Status: No, score=0.0, tests=UNSCANNED(0.0)"), "\(user.messages()[0])")
        #expect(site.log().contains("message passed unscanned"))
    }

    @Test func taggedMessageLandsInJunk() throws {
        let user = try TestUser()
        let (site, port) = try site("spam_reject_score = 0\n")
        let r = try send(port, from: "x@spammer.test", to: "\(user.name)@\(site.system.hostname)", body: "money")
        #expect(r.stdout.hasPrefix("accepted"), "\(r.stdout) \(r.stderr)")
        let junk = "\(user.home)/Maildir/.Junk/new"
        try waitFor("filed into .Junk") { ((try? FileManager.default.contentsOfDirectory(atPath: junk)) ?? []).count == 1 }
        let name = try FileManager.default.contentsOfDirectory(atPath: junk)[0]
        let text = try String(contentsOfFile: "\(junk)/\(name)", encoding: .utf8)
        #expect(text.contains("X-Spam-Status: Yes"))
        #expect(text.contains("Received: from client.test"))
        #expect(user.messages().isEmpty)
    }
}

import Foundation
import Glibc
import Testing

/// DSN parameters (RFC 3461) end to end: a real client through postamt-smtpd, postamt-queue
/// storing them, the runner honouring NOTIFY, RET, ENVID and ORCPT in its notices.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct DSNTests {
    func site(_ user: TestUser) throws -> (SMTPSite, UInt16) {
        let site = try SMTPSite(config: """
            myhostname = mx.example.org
            local_domains = example.org
            smtpd_trusted_networks = 127.0.0.0/8
            """, aliases: "alice: \(user.name)\nbob: \(user.name)\npostmaster: \(user.name)\nnouser: |@ROOT@/bin/refuse\n",
            runner: false)
        let refuse = "\(site.system.root)/bin/refuse"
        try "#!/bin/sh\necho 'no such mailbox here (#5.1.1)'\nexit 100\n".write(toFile: refuse, atomically: true, encoding: .utf8)
        chmod(refuse, 0o755)
        let aliases = "\(site.system.root)/etc/aliases"
        let text = try String(contentsOfFile: aliases, encoding: .utf8).replacingOccurrences(of: "@ROOT@", with: site.system.root)
        try text.write(toFile: aliases, atomically: true, encoding: .utf8)
        try site.system.startRunner()
        return (site, try site.start("submission"))
    }

    func send(_ site: SMTPSite, subject: String, to: String, mailOptions: [String], rcptOptions: [String]) throws {
        let r = try site.python("""
            import os, smtplib
            s = smtplib.SMTP('127.0.0.1', int(os.environ['PORT_SUBMISSION']))
            s.ehlo('client.example')
            s.sendmail('alice@example.org', ['\(to)'], 'Subject: \(subject)\\r\\n\\r\\nthe body of \(subject)\\r\\n',
                       mail_options=\(mailOptions), rcpt_options=\(rcptOptions))
            s.quit()
            """)
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func notifyRetEnvidAndOrcptThroughTheWholePath() throws {
        let user = try TestUser()
        let (site, _) = try site(user)

        // NOTIFY=NEVER: the failure is logged, nobody gets a notice.
        try send(site, subject: "never", to: "nouser@example.org", mailOptions: [], rcptOptions: ["NOTIFY=NEVER"])
        try waitFor("the silent failure", timeout: 120) { site.system.log().contains("no non-delivery notification (NOTIFY=NEVER)") && site.system.queueIsEmpty }
        #expect(user.messages().isEmpty)

        // NOTIFY=FAILURE with RET=FULL, ENVID and ORCPT: the whole message comes back.
        try send(site, subject: "lost", to: "nouser@example.org", mailOptions: ["RET=FULL", "ENVID=abc"],
                 rcptOptions: ["NOTIFY=FAILURE", "ORCPT=rfc822;orig@x"])
        try waitFor("the bounce", timeout: 120) { user.messages().count == 1 && site.system.queueIsEmpty }
        let bounce = user.messages().first ?? ""
        #expect(bounce.contains("Subject: Undelivered Mail Returned to Sender"))
        #expect(bounce.contains("Original-Envelope-Id: abc\n"))
        #expect(bounce.contains("Original-Recipient: rfc822;orig@x\n"))
        #expect(bounce.contains("Action: failed\nStatus: 5.1.1"))
        #expect(bounce.contains("Content-Type: message/rfc822\n\nReceived: "))
        #expect(bounce.contains("Subject: lost"))
        #expect(bounce.contains("the body of lost"))

        // NOTIFY=SUCCESS: the message and a success notice (Action: delivered, Status: 2.0.0).
        try send(site, subject: "fine", to: "bob@example.org", mailOptions: ["ENVID=QQ+2B1"], rcptOptions: ["NOTIFY=SUCCESS"])
        try waitFor("the message and its success notice", timeout: 120) { user.messages().count == 3 && site.system.queueIsEmpty }
        let notice = user.messages().first { $0.contains("Subject: Successful Mail Delivery Report") } ?? ""
        #expect(notice.contains("Action: delivered\nStatus: 2.0.0"))
        #expect(notice.contains("Original-Envelope-Id: QQ+1\n"))
        #expect(notice.contains("Content-Type: text/rfc822-headers"))
        #expect(!notice.contains("the body of fine"))
        #expect(user.messages().contains { $0.contains("the body of fine") && !$0.contains("Delivery Report") })
    }

    @Test func forgedSideChannelFromAnOrdinaryUserIsIgnored() throws {
        let user = try TestUser()
        let system = try Installation()
        // The runner makes the queue; stopped, it leaves the envelopes in incoming/ to be read.
        try system.startRunner()
        system.stopRunner()
        let dsn = ["POSTAMT_DSN": "RET=FULL ENVID=forged", "POSTAMT_DSN_RCPT": "NOTIFY=NEVER ORCPT=rfc822;x+40y"]
        let envFile = "\(system.root)/forged-envelope"
        FileManager.default.createFile(atPath: envFile, contents: envelope(user.name, ["\(user.name)@\(system.hostname)"]))
        chmod(envFile, 0o644)
        let asUser = try system.queueInject(message: Data("Subject: x\n\nx\n".utf8), envelope: envelope(user.name, ["\(user.name)@\(system.hostname)"]),
                                            as: user, environment: dsn)
        #expect(asUser.status == 0, "\(asUser.stderr)")
        // The same from root (as smtpd's mail_owner would be) is believed and stored.
        let asRoot = try run("/bin/sh", ["-c", "exec \"$0\" 1<\"$1\"", "\(system.root)/bin/postamt-queue", envFile],
                             input: Data("Subject: y\n\ny\n".utf8), environment: system.environment.merging(dsn) { $1 })
        #expect(asRoot.status == 0, "\(asRoot.stderr)")
        let files = system.queueFiles("incoming").map { (try? String(contentsOfFile: "\(system.queue)/incoming/\($0)", encoding: .utf8)) ?? "" }
        #expect(files.count == 2)
        #expect(files.filter { $0.contains("\nret FULL\nenvid forged\n") && $0.contains("\nnotify NEVER\norcpt rfc822;x+40y\n") }.count == 1)
        #expect(files.filter { $0.contains("\nuid \(user.uid)\n") && !$0.contains("\nret ") && !$0.contains("\nnotify ") }.count == 1)
        // Invalid data is dropped with a warning, never a reason to refuse the message.
        let bad = try run("/bin/sh", ["-c", "exec \"$0\" 1<\"$1\"", "\(system.root)/bin/postamt-queue", envFile],
                          input: Data("Subject: z\n\nz\n".utf8),
                          environment: system.environment.merging(["POSTAMT_DSN": "RET=ALL", "POSTAMT_DSN_RCPT": "-"]) { $1 })
        #expect(bad.status == 0)
        #expect(bad.stderr.contains("DSN parameters ignored"))
    }
}

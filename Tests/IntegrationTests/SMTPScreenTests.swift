import Foundation
import Glibc
import Testing

/// postamt-smtpd's connection screen on the mx role (pregreet, DNS lists, greylisting) and the
/// per-user sending limits at submission, with real clients. smtpd reads postamt.conf at each
/// connection, so one site serves several settings in turn.
extension SMTPDaemonTests {
    /// Rewrites the site's postamt.conf: what it was made with, then `extra`.
    func reconfigure(_ site: SMTPSite, base: String, _ extra: String) throws {
        try (base + "\n" + extra + "\n").write(toFile: "\(site.system.root)/etc/postamt/postamt.conf", atomically: true, encoding: .utf8)
    }

    func baseConfiguration(_ site: SMTPSite) throws -> String {
        try String(contentsOfFile: "\(site.system.root)/etc/postamt/postamt.conf", encoding: .utf8)
    }

    @Test func pregreetIsDroppedAndHonestClientsWait() throws {
        let user = try TestUser()
        let site = try SMTPSite(config: "local_domains = localhost")
        let base = try baseConfiguration(site)
        let port = try site.start("mx")

        // A client that talks before the last line of the greeting: 521, closed. The wait is long
        // so that the client's early bytes are surely early; it ends as soon as they arrive.
        try reconfigure(site, base: base, "smtpd_greet_wait = 30s\nsmtpd_pregreet_action = drop")
        let bot = try RawSMTPClient(port: port)
        bot.send("EHLO bot.example\r\n")
        #expect(bot.readReplies() == "220-\(site.system.hostname) ESMTP Postamt\r\n521 5.5.1 Protocol error\r\n")
        #expect(bot.closedByServer())
        #expect(site.log().contains("reject: PREGREET 18 after "))
        #expect(site.log().contains("from unknown[127.0.0.1]: 521 5.5.1"))

        // With the action ignore, the same client is logged and served.
        try reconfigure(site, base: base, "smtpd_greet_wait = 30s\nsmtpd_pregreet_action = ignore")
        let early = try RawSMTPClient(port: port)
        early.send("HELO early.example\r\n")
        #expect(early.readReplies(2) == "220-\(site.system.hostname) ESMTP Postamt\r\n220 \(site.system.hostname) ESMTP Postamt\r\n250 \(site.system.hostname)\r\n")

        // An honest client waits for the last line and delivers (swaks, with the action drop).
        try reconfigure(site, base: base, "smtpd_greet_wait = 1s\nsmtpd_pregreet_action = drop")
        let r = try run("/usr/bin/swaks", ["--server", "127.0.0.1", "--port", "\(port)", "--to", "\(user.name)@localhost",
                                           "--from", "honest@example.com", "--header", "Subject: honest after pregreet wait"])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(r.stdout.contains("<-  220-\(site.system.hostname) ESMTP Postamt"))
        try waitFor("the honest message in the Maildir", timeout: 60) {
            user.messages().contains { $0.contains("Subject: honest after pregreet wait") }
        }
    }

    @Test(.enabled(if: RemoteTestBed.canRun, "needs dnsmasq (apt-get install dnsmasq-base)"))
    func dnsListsAtConnect() throws {
        // bl.test lists 127.0.0.1 (RFC 5782: 1.0.0.127.bl.test has an A record 127.0.0.2);
        // clean.test lists no one.
        let dns = try TestDNS(records: ["--host-record=1.0.0.127.bl.test,127.0.0.2"])
        let user = try TestUser()
        let site = try SMTPSite(config: "local_domains = localhost\nsmtpd_dns_server = 127.0.0.1:\(dns.port)")
        let base = try baseConfiguration(site)
        let port = try site.start("mx")
        let to = "\(user.name)@localhost"

        // Weight 2 reaches the threshold 2: each RCPT gets 554 5.7.1 naming the list.
        try reconfigure(site, base: base, "smtpd_dnsbl_sites = clean.test*5 bl.test*2\nsmtpd_dnsbl_threshold = 2")
        let listed = try site.python("""
            import smtplib, os
            m = smtplib.SMTP("127.0.0.1", int(os.environ["PORT_MX"]))
            m.ehlo("client.example")
            try:
                m.sendmail("a@remote.example", ["\(to)"], b"Subject: listed\\r\\n\\r\\nx\\r\\n")
                raise SystemExit("listed client accepted")
            except smtplib.SMTPRecipientsRefused as e:
                code, text = list(e.recipients.values())[0]
                assert code == 554 and text == b"5.7.1 Service unavailable; client [127.0.0.1] blocked using bl.test", (code, text)
            m.quit()
            """)
        #expect(listed.status == 0, "\(listed.stdout)\(listed.stderr)")
        #expect(site.log().contains("unknown[127.0.0.1] listed by bl.test (score 2, threshold 2)"))

        // Below the threshold the client is served.
        try reconfigure(site, base: base, "smtpd_dnsbl_sites = clean.test*5 bl.test*2\nsmtpd_dnsbl_threshold = 3")
        let r = try run("/usr/bin/swaks", ["--server", "127.0.0.1", "--port", "\(port)", "--to", to,
                                           "--from", "a@remote.example", "--header", "Subject: below threshold"])
        #expect(r.status == 0, "\(r.stdout)")

        // With the action drop: 521 at connect, closed.
        try reconfigure(site, base: base, "smtpd_dnsbl_sites = bl.test\nsmtpd_dnsbl_action = drop")
        let client = try RawSMTPClient(port: port)
        #expect(client.readReplies() == "521 5.7.1 Service unavailable; client [127.0.0.1] blocked using bl.test\r\n")
        #expect(client.closedByServer())

        try waitFor("the message below the threshold in the Maildir", timeout: 60) {
            user.messages().contains { $0.contains("Subject: below threshold") }
        }
        #expect(!user.messages().contains { $0.contains("Subject: listed") })
    }

    @Test func greylistingWithSwaksRetries() throws {
        let user = try TestUser()
        let site = try SMTPSite(config: "local_domains = localhost")
        let base = try baseConfiguration(site)
        let port = try site.start("mx")
        func swaks(from: String, subject: String) throws -> RunResult {
            try run("/usr/bin/swaks", ["--server", "127.0.0.1", "--port", "\(port)", "--to", "\(user.name)@localhost",
                                       "--from", from, "--header", "Subject: \(subject)"])
        }

        // A new triplet, and a retry before the delay: 450 4.7.1 both times.
        try reconfigure(site, base: base, "smtpd_greylist = yes\nsmtpd_greylist_delay = 1h\nsmtpd_greylist_auto_allow = 1")
        let firstAttempt = Date()
        for attempt in ["first", "too soon"] {
            let r = try swaks(from: "sender@remote.example", subject: "greylisted \(attempt)")
            #expect(r.status != 0)
            #expect(r.stdout.contains("<** 450 4.7.1 <\(user.name)@localhost>: Recipient address rejected: Greylisted, try again later"), "\(r.stdout)")
        }
        #expect(site.log().contains("NOQUEUE: reject: RCPT from unknown[127.0.0.1]: 450 4.7.1 <\(user.name)@localhost>: Recipient address rejected: Greylisted, try again later;"))
        // The same triplet after the delay: accepted and delivered.
        try reconfigure(site, base: base, "smtpd_greylist = yes\nsmtpd_greylist_delay = 2s\nsmtpd_greylist_auto_allow = 1")
        while Date().timeIntervalSince(firstAttempt) < 3 { usleep(100_000) }
        var r = try swaks(from: "sender@remote.example", subject: "greylist retry")
        #expect(r.status == 0, "\(r.stdout)")
        #expect(site.log().contains("greylist: passed after retry from unknown[127.0.0.1] from=<sender@remote.example> to=<\(user.name)@localhost>"))
        // One passed triplet auto-allows the client (smtpd_greylist_auto_allow = 1): a new sender passes at once.
        r = try swaks(from: "another@remote.example", subject: "auto-allowed")
        #expect(r.status == 0, "\(r.stdout)")
        try waitFor("the retried and the auto-allowed message in the Maildir", timeout: 60) {
            let messages = user.messages()
            return messages.contains { $0.contains("Subject: greylist retry") } && messages.contains { $0.contains("Subject: auto-allowed") }
        }
        #expect(!user.messages().contains { $0.contains("Subject: greylisted") })
        // The database lives in state_directory/smtpd, the mail owner's.
        let database = "\(site.system.root)/var/lib/postamt/smtpd/greylist"
        var status = stat()
        #expect(stat(database, &status) == 0 && status.st_uid == getpwnam("postamt").pointee.pw_uid)
    }

    @Test func sendingLimitsAtSubmission() throws {
        let (user, password) = try passwordUser()
        let site = try SMTPSite(config: """
            local_domains = localhost
            smtpd_user_message_rate = 2
            smtpd_user_recipient_rate = 3
            """, aliases: "alice: \(user.name)\nbob: \(user.name)\n")
        try site.start("submission")
        let python = try site.python("""
            import smtplib, ssl, os
            def login():
                s = smtplib.SMTP("127.0.0.1", int(os.environ["PORT_SUBMISSION"]))
                s.starttls(context=ssl.create_default_context(cafile=os.environ["CAFILE"]))
                s.login("\(user.name)", "\(password)")
                return s
            sender = "\(user.name)@localhost"
            s = login()
            # Message 1: two recipients.
            assert s.sendmail(sender, ["alice@localhost", "bob@localhost"], b"Subject: limit one\\r\\n\\r\\nx\\r\\n") == {}
            # Message 2: the third recipient of the hour passes, the fourth gets 452 4.7.1.
            refused = s.sendmail(sender, ["alice@localhost", "bob@localhost"], b"Subject: limit two\\r\\n\\r\\nx\\r\\n")
            assert list(refused) == ["bob@localhost"] and refused["bob@localhost"][0] == 452, refused
            assert refused["bob@localhost"][1].startswith(b"4.7.1 "), refused
            # Message 3: past the message rate, MAIL gets 452 4.7.1.
            code, text = s.mail(sender)
            assert code == 452 and text.startswith(b"4.7.1 Error: too much mail from \(user.name)"), (code, text)
            s.rset(); s.quit()
            # Another connection (another smtpd process) knows the count.
            s = login()
            code, text = s.mail(sender)
            assert code == 452, (code, text)
            s.quit()
            print("limits ok")
            """)
        #expect(python.status == 0, "\(python.stdout)\(python.stderr)")
        try waitFor("both messages in the Maildir", timeout: 60) {
            let messages = user.messages()
            return messages.contains { $0.contains("Subject: limit one") } && messages.contains { $0.contains("Subject: limit two") }
        }
        #expect(site.log().contains("NOQUEUE: reject: RCPT from unknown[127.0.0.1]: 452 4.7.1 Error: too many recipients from \(user.name): 3 per hour, try again later;"))
        #expect(site.log().contains("NOQUEUE: reject: MAIL from unknown[127.0.0.1]: 452 4.7.1 Error: too much mail from \(user.name): 2 messages per hour, try again later;"))
    }
}

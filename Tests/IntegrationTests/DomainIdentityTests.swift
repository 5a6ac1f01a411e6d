import Foundation
import Glibc
import Testing

/// Domains and identities end to end, with real users, the real smtpd, runner, sendmail and
/// postamt-remote: virtual domains (catch-all, extensions) built with the admin commands,
/// unknown addresses refused at RCPT, senders refused unless the logged-in user owns them (MAIL
/// FROM and From: separately), the sender table's grants, and DKIM signatures only on mail its
/// submitter owns (checked with dkimpy).
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct DomainIdentityTests {
    /// Python lines that log in on the submission port over STARTTLS, leaving the session in `s`.
    static func submissionLogin(_ user: String, _ password: String) -> String {
        """
        import smtplib, ssl, os
        s = smtplib.SMTP("127.0.0.1", int(os.environ["PORT_SUBMISSION"]))
        s.starttls(context=ssl.create_default_context(cafile=os.environ["CAFILE"]))
        s.login("\(user)", "\(password)")

        """
    }

    func admin(_ system: Installation, _ args: [String]) throws -> RunResult {
        let r = try system.postamt(args)
        #expect(r.status == 0, "postamt \(args.joined(separator: " ")): \(r.stdout)\(r.stderr)")
        return r
    }

    @Test func virtualDomainsRouteAndUnknownAddressesAreRefusedAtRCPT() throws {
        let alice = try TestUser(), bob = try TestUser()
        let site = try SMTPSite(config: "local_domains = mail.test.example, localhost")
        let system = site.system
        _ = try admin(system, ["domain", "add", "example.org"])
        _ = try admin(system, ["domain", "add", "example.com"])
        _ = try admin(system, ["alias", "add", "info@example.org", alice.name])
        _ = try admin(system, ["alias", "add", "team@example.org", alice.name, bob.name])
        _ = try admin(system, ["alias", "add", "@example.org", bob.name])
        _ = try admin(system, ["alias", "add", "sales@example.com", "\(alice.name)@localhost"])
        // The table is compiled by the edits, and postamt check finds nothing wrong with it.
        #expect(FileManager.default.fileExists(atPath: "\(system.root)/etc/postamt/virtual.cdb"))
        let check = try system.postamt(["check"])
        #expect(!check.stdout.contains("virtual"), "\(check.stdout)")
        let resolve = try admin(system, ["resolve", "--user", alice.name, "info+news@example.org"])
        #expect(resolve.stdout.contains("virtual:1: info@example.org → \(alice.name)"), "\(resolve.stdout)")
        #expect(resolve.stdout.contains("deliver to user \(alice.name) (extension news)"))
        #expect(resolve.stdout.contains("\(alice.name) may send as it"))

        try site.start("mx")
        let r = try site.python("""
            import smtplib, os
            s = smtplib.SMTP("127.0.0.1", int(os.environ["PORT_MX"]))
            s.ehlo("client.example")
            def rcpt(address):
                s.mail("someone@remote.example")
                code, text = s.rcpt(address)
                s.rset()
                return code, text
            for unknown in ["nobody@example.com", "nouser-\(alice.name)@localhost"]:
                code, text = rcpt(unknown)
                assert code == 550 and text.startswith(b"5.1.1"), (unknown, code, text)
            for known in ["info@example.org", "INFO+news@Example.org", "random-\(bob.name)@example.org", "sales@example.com",
                          "postmaster@example.com"]:
                assert rcpt(known)[0] == 250, known
            s.sendmail("someone@remote.example", ["info+news@example.org"], b"Subject: to info\\r\\n\\r\\nx\\r\\n")
            s.sendmail("someone@remote.example", ["whoever@example.org"], b"Subject: to the catch-all\\r\\n\\r\\nx\\r\\n")
            s.sendmail("someone@remote.example", ["team@example.org"], b"Subject: to the team\\r\\n\\r\\nx\\r\\n")
            s.sendmail("someone@remote.example", ["sales@example.com"], b"Subject: to sales\\r\\n\\r\\nx\\r\\n")
            s.quit()
            print("ok")
            """)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        try waitFor("deliveries") { alice.messages().count == 3 && bob.messages().count == 2 }
        let toInfo = alice.messages().first { $0.contains("Subject: to info") } ?? ""
        #expect(toInfo.contains("Delivered-To: \(alice.name)+news@\(system.hostname)"), "\(toInfo)")
        #expect(alice.messages().contains { $0.contains("Subject: to sales") })
        #expect(bob.messages().contains { $0.contains("Subject: to the catch-all") })
        #expect(bob.messages().contains { $0.contains("Subject: to the team") })
        #expect(!alice.messages().contains { $0.contains("Subject: to the catch-all") })

        // A bad edit is refused with file:line and changes nothing.
        let before = try String(contentsOfFile: "\(system.root)/etc/postamt/virtual", encoding: .utf8)
        let bad = try system.postamt(["alias", "add", "x@example.org", "|/bin/sh"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("virtual:5:"), "\(bad.stderr)")
        #expect(try String(contentsOfFile: "\(system.root)/etc/postamt/virtual", encoding: .utf8) == before)
    }

    @Test func submissionSendsOnlyAsTheLoggedInUser() throws {
        let (user, password) = try TestUser.withPassword()
        let (exempt, exemptPassword) = try TestUser.withPassword()
        let other = try TestUser()
        let site = try SMTPSite(config: """
            local_domains = mail.test.example, localhost
            sender_login_exempt = \(exempt.name)
            """)
        _ = try admin(site.system, ["domain", "add", "example.org"])
        _ = try admin(site.system, ["alias", "add", "info@example.org", user.name])
        _ = try admin(site.system, ["sender", "add", "noreply@example.org", user.name])
        try site.start("submission")
        let to = "\(other.name)@localhost"
        let r = try site.python("""
            import smtplib, ssl, os
            ctx = ssl.create_default_context(cafile=os.environ["CAFILE"])
            def session(user, password):
                s = smtplib.SMTP("127.0.0.1", int(os.environ["PORT_SUBMISSION"]))
                s.starttls(context=ctx)
                s.ehlo("client.example")
                s.login(user, password)
                return s
            def message(sender, subject):
                return ("From: %s\\r\\nTo: \(to)\\r\\nSubject: %s\\r\\n\\r\\nbody\\r\\n" % (sender, subject)).encode()
            s = session("\(user.name)", "\(password)")
            # MAIL FROM of another user, of root, the null sender: 553 5.7.1.
            for sender in ["\(other.name)@localhost", "root@localhost", ""]:
                code, text = s.mail(sender)
                assert code == 553 and text.startswith(b"5.7.1"), (sender, code, text)
                s.rset()
            # An owned envelope sender with someone else's From: is refused after the data.
            s.mail("\(user.name)@localhost"); s.rcpt("\(to)")
            code, text = s.data(message("The Boss <root@localhost>", "forged from"))
            assert code == 550 and text.startswith(b"5.7.1") and b"root@localhost" in text, (code, text)
            # A From: list with one foreign address is refused too.
            s.mail("\(user.name)@localhost"); s.rcpt("\(to)")
            code, text = s.data(message("\(user.name)@localhost, \(other.name)@localhost", "forged list"))
            assert code == 550, (code, text)
            # What the user owns: their address (any extension, any local domain), the virtual
            # address that reaches them, and the sender table's grant.
            for sender in ["\(user.name)@localhost", "\(user.name)+tag@mail.test.example", "info@example.org", "noreply@example.org"]:
                s.sendmail(sender, ["\(to)"], message("Me <%s>" % sender, "own " + sender))
            s.quit()
            # An exempt user may send as anyone.
            e = session("\(exempt.name)", "\(exemptPassword)")
            e.sendmail("root@localhost", ["\(to)"], message("root@localhost", "exempt"))
            e.quit()
            print("ok")
            """)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        try waitFor("deliveries") { other.messages().count == 5 }
        let messages = other.messages()
        #expect(!messages.contains { $0.contains("Subject: forged") })
        for sender in ["\(user.name)@localhost", "info@example.org", "noreply@example.org"] {
            #expect(messages.contains { $0.contains("Subject: own \(sender)") })
        }
        #expect(messages.contains { $0.contains("Subject: exempt") })
        let log = site.log()
        #expect(log.contains("refused: not owned by user \(user.name)"))
        #expect(!log.contains(password))
    }

    /// A table that exists but cannot be read makes the runner wait, never bounce.
    @Test func anUnreadableTableDefersInsteadOfBouncing() throws {
        let user = try TestUser()
        let system = try Installation(aliases: "team: \(user.name)\n")
        chmod("\(system.root)/etc/aliases", 0o600)   // root's; the runner runs as postamt
        try system.startRunner()
        let r = try system.sendmail(["-i", "team"], "Subject: waits\n\nx\n")
        #expect(r.status == 0, "\(r.stderr)")
        try waitFor("the runner notices") { system.log().contains("the message waits") }
        #expect(user.messages().isEmpty)
        #expect(!system.log().contains("status=bounced"))
        chmod("\(system.root)/etc/aliases", 0o644)
        try waitFor("delivery after the table is readable", timeout: 120) { user.messages().count == 1 }
    }

    /// The same programs with the check switched off: the old behaviour, for sites that want it.
    @Test func theCheckCanBeSwitchedOff() throws {
        let (user, password) = try TestUser.withPassword()
        let other = try TestUser()
        let site = try SMTPSite(config: "sender_login_check = no")
        try site.start("submission")
        let r = try site.python(DomainIdentityTests.submissionLogin(user.name, password) + """
            s.sendmail("\(other.name)@localhost", ["\(other.name)@localhost"], b"From: \(other.name)@localhost\\r\\nSubject: off\\r\\n\\r\\nx\\r\\n")
            s.quit()
            """)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        try waitFor("delivery") { other.messages().count == 1 }
    }

    /// DKIM signs what its submitter owns and nothing else: a submission by its owner and a
    /// local sendmail by the owning user are signed (dkimpy verifies), a From: the sendmail user
    /// does not own and mail relayed from outside are not, and the log says why for each.
    @Test(.enabled(if: TwoHopBed.canRun, "needs dnsmasq and dkimpy (python3-dkim)"))
    func dkimSignsOnlyOwnedMail() throws {
        let bed = try RemoteTestBed()
        let (user, password) = try TestUser.withPassword()
        let site = try SMTPSite(config: """
            local_domains = mail.test.example, localhost
            smtpd_trusted_networks = 127.0.0.0/8
            remote_nameserver = 127.0.0.1:\(bed.dnsPort)
            remote_smtp_port = \(bed.smtpPort)
            remote_connect_timeout = 3s
            remote_dns_timeout = 1s
            """, runner: false)
        let system = site.system
        try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/postamt-remote", toPath: "\(system.root)/bin/postamt-remote")
        chmod("\(system.root)/bin/postamt-remote", 0o755)
        let keygen = try admin(system, ["dkim", "keygen", "mail.test.example", "--type", "ed25519"])
        let record = RemoteDeliveryTests.txtText(keygen.stdout)
        try system.startRunner()
        try site.start("submission")
        try site.start("mx")

        let own = "\(user.name)@mail.test.example"
        func message(_ from: String, _ subject: String) -> String { "From: \(from)\nTo: x@ok.test\nSubject: \(subject)\n\nbody\n" }
        // 1. Submission by the owner.
        let r = try site.python(DomainIdentityTests.submissionLogin(user.name, password) + """
            s.sendmail("\(own)", ["submitted@ok.test"], b"From: \(own)\\r\\nSubject: submitted\\r\\n\\r\\nbody\\r\\n")
            s.quit()
            # 2. Relayed from a trusted network without AUTH: never signed.
            m = smtplib.SMTP("127.0.0.1", int(os.environ["PORT_MX"]))
            m.sendmail("\(own)", ["relayed@ok.test"], b"From: \(own)\\r\\nSubject: relayed\\r\\n\\r\\nbody\\r\\n")
            m.quit()
            """)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        // 3. sendmail by the owning user; 4. the same user with a From: they do not own.
        let gid = getpwnam(user.name).pointee.pw_gid
        func sendmailAsUser(_ args: [String], _ text: String) throws -> RunResult {
            try run("/usr/bin/setpriv", ["--reuid=\(user.uid)", "--regid=\(gid)", "--init-groups", "\(system.root)/bin/sendmail"] + args,
                    input: Data(text.utf8), environment: system.environment)
        }
        var s = try sendmailAsUser(["-i", "local@ok.test"], message(own, "local own"))
        #expect(s.status == 0, "\(s.stderr)")
        s = try sendmailAsUser(["-i", "foreign@ok.test"], message("The Boss <boss@mail.test.example>", "local foreign"))
        #expect(s.status == 0, "\(s.stderr)")
        // 5. -f with an address the user does not own is refused (sendmail_sender_check = refuse).
        s = try sendmailAsUser(["-i", "-f", "boss@mail.test.example", "refused@ok.test"], message(own, "refused"))
        #expect(s.status == 77, "\(s.stderr)")
        #expect(s.stderr.contains("may not send as <boss@mail.test.example>"), "\(s.stderr)")

        try waitFor("remote deliveries", timeout: 90) {
            ["submitted", "relayed", "local", "foreign"].allSatisfy { !bed.receivedFor("\($0)@ok.test").isEmpty } && system.queueIsEmpty
        }
        #expect(bed.receivedFor("refused@ok.test").isEmpty)
        for signed in ["submitted", "local"] {
            let got = bed.receivedFor("\(signed)@ok.test")[0].message
            #expect(String(decoding: got, as: UTF8.self).hasPrefix("DKIM-Signature:"), "\(signed)")
            #expect(try RemoteDeliveryTests.dkimVerifies(got, record: record, in: bed.work), "\(signed)")
        }
        for unsigned in ["relayed", "foreign"] {
            let got = String(decoding: bed.receivedFor("\(unsigned)@ok.test")[0].message, as: UTF8.self)
            #expect(!got.contains("DKIM-Signature:"), "\(unsigned)")
        }
        let log = system.log()
        #expect(log.components(separatedBy: "dkim=signed (d=mail.test.example").count - 1 == 2, "\(log)")
        #expect(log.contains("dkim=none (not signed: not submitted by a local or authenticated user)"))
        #expect(log.contains("dkim=none (not signed: From: <boss@mail.test.example> is not owned by submitter \(user.name)"))
    }
}

import Foundation
import Glibc
import Testing

/// REQUIRETLS (RFC 8689): smtpd takes it only over TLS, the queue keeps it, the runner passes
/// it on, and postamt-remote delivers only over verified TLS to a next hop that offers it.
@Suite(.serialized, .enabled(if: RemoteTestBed.canRun, "needs root (users, setpriv) and dnsmasq (apt-get install dnsmasq-base)"))
struct RequireTLSTests {
    /// postamt-remote with REQUIRETLS from the runner (POSTAMT_DSN), trusting the test certificate.
    func remote(_ bed: RemoteTestBed, _ domain: String, message: String = "Subject: x\n\ny\n",
                env: [String: String] = ["POSTAMT_DSN": "REQUIRETLS"]) throws -> RunResult {
        try run("/usr/bin/setpriv", ["--reuid=postamt", "--regid=postamt", "--clear-groups", "--",
                                     "\(bed.system.root)/bin/postamt-remote", domain, "a@mail.test.example", "u@\(domain)"],
                input: Data(message.utf8), environment: bed.system.environment.merging(env) { $1 })
    }

    func bedTrustingItsCertificate(_ config: String = "") throws -> RemoteTestBed {
        let bed = try RemoteTestBed(config: config)
        let path = "\(bed.system.root)/etc/postamt/postamt.conf"
        var conf = try String(contentsOfFile: path, encoding: .utf8)
        conf += "\nremote_tls_ca_file = \(bed.certificate)\n"
        try conf.write(toFile: path, atomically: true, encoding: .utf8)
        return bed
    }

    @Test func deliveredToANextHopThatOffersIt() throws {
        let bed = try bedTrustingItsCertificate()
        let r = try remote(bed, "requiretls.test")
        #expect(RemoteTestBed.reports(r).last?.hasPrefix("K") == true, "\(RemoteTestBed.reports(r)) \(r.stderr)")
        let record = bed.received().first?.record
        #expect(record?["mail"] as? String == "MAIL FROM:<a@mail.test.example> SIZE=17 REQUIRETLS")
        #expect(record?["tls"] as? Bool == true)
        #expect(r.stderr.contains("tls=verified"), "\(r.stderr)")
    }

    /// ok.test has verified TLS but no REQUIRETLS: its only MX refuses, so the recipient bounces 5.7.30.
    @Test func bouncedWhenTheNextHopDoesNotOfferIt() throws {
        let bed = try bedTrustingItsCertificate()
        let r = try remote(bed, "ok.test")
        let last = RemoteTestBed.reports(r).last ?? ""
        #expect(last.hasPrefix("D") && last.contains("5.7.30"), "\(RemoteTestBed.reports(r)) \(r.stderr)")
        #expect(bed.received().isEmpty)
        // Without REQUIRETLS the same host takes it.
        let plain = try remote(bed, "ok.test", env: [:])
        #expect(RemoteTestBed.reports(plain).last?.hasPrefix("K") == true)
    }

    /// A certificate that does not verify, or no TLS at all, is a temporary failure (RFC 8689 §5).
    @Test func unverifiedOrNoTLSIsTemporary() throws {
        let bed = try RemoteTestBed()
        let unverified = try remote(bed, "requiretls.test")
        #expect(RemoteTestBed.reports(unverified).last?.hasPrefix("Z") == true, "\(RemoteTestBed.reports(unverified))")
        #expect(RemoteTestBed.reports(unverified).last?.contains("#4.7.5") == true)
        let plain = try remote(bed, "mixed.test")
        #expect(RemoteTestBed.reports(plain).last?.hasPrefix("Z") == true, "\(RemoteTestBed.reports(plain))")
        #expect(bed.received().isEmpty)
    }

    /// "TLS-Required: No" (RFC 8689 §4.3): a domain's MTA-STS/DANE policy does not hold the
    /// message back, but REQUIRETLS on MAIL overrides the header.
    @Test func tlsRequiredNoHeader() throws {
        let bed = try RemoteTestBed()
        let message = "TLS-Required: No\nSubject: x\n\ny\n"
        let r = try remote(bed, "mixed.test", message: message, env: [:])
        #expect(RemoteTestBed.reports(r).last?.hasPrefix("K") == true)
        #expect(r.stderr.contains("TLS-Required: No"), "\(r.stderr)")
        let both = try remote(bed, "mixed.test", message: message)
        #expect(RemoteTestBed.reports(both).last?.hasPrefix("Z") == true, "\(RemoteTestBed.reports(both))")
    }

    /// The whole way: smtplib sends REQUIRETLS after STARTTLS, the runner passes it to postamt-remote.
    @Test func fromSMTPThroughTheRunner() throws {
        let bed = try bedTrustingItsCertificate()
        // A site of its own (smtpd, runner) with the test bed's DNS, port and CA: trusted
        // loopback clients may relay to requiretls.test.
        let bedConf = try String(contentsOfFile: "\(bed.system.root)/etc/postamt/postamt.conf", encoding: .utf8)
        let remoteLines = bedConf.split(separator: "\n").filter { $0.hasPrefix("remote_") }.joined(separator: "\n")
        let site = try SMTPSite(config: remoteLines + "\nsmtpd_trusted_networks = 127.0.0.0/8", runner: false, auth: false)
        try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/postamt-remote",
                                         toPath: "\(site.system.root)/bin/postamt-remote")
        chmod("\(site.system.root)/bin/postamt-remote", 0o755)
        // The runner creates the queue; stopped, so the queued envelope can be read first.
        try site.system.startRunner()
        site.system.stopRunner()
        try site.start("mx")
        let python = try site.python("""
            import smtplib, ssl, os
            ctx = ssl.create_default_context(cafile=os.environ["CAFILE"])
            s = smtplib.SMTP("127.0.0.1", int(os.environ["PORT_MX"]))
            s.ehlo("client.example")
            assert "requiretls" not in s.esmtp_features
            s.putcmd("MAIL FROM:<a@client.example> REQUIRETLS"); code, text = s.getreply()
            assert code == 530 and text.startswith(b"5.7.10"), (code, text)
            s.starttls(context=ctx)
            s.ehlo("client.example")
            assert "requiretls" in s.esmtp_features, s.esmtp_features
            s.sendmail("a@client.example", ["u@requiretls.test"], b"Subject: rt\\r\\n\\r\\nbody\\r\\n", mail_options=["REQUIRETLS"])
            s.quit()
            print("sent")
            """)
        #expect(python.stdout.contains("sent"), "\(python.stderr) \(site.log())")
        let envelopes = try run("/bin/grep", ["-rl", "^requiretls yes$", site.system.queue])
        #expect(!envelopes.stdout.isEmpty, "no queued envelope with 'requiretls yes'")
        try site.system.startRunner()
        try waitFor("delivery to requiretls.test", timeout: 60) { !bed.received().isEmpty }
        let record = bed.received().first?.record
        #expect((record?["mail"] as? String)?.hasSuffix(" REQUIRETLS") == true, "\(String(describing: record))")
    }

    /// The test bed's remote_ settings (DNS, port, timeouts) and trust in its certificate, for a
    /// site of its own that relays to the scripted MX hosts.
    func remoteSettings(_ bed: RemoteTestBed) throws -> String {
        let bedConf = try String(contentsOfFile: "\(bed.system.root)/etc/postamt/postamt.conf", encoding: .utf8)
        return bedConf.split(separator: "\n").filter { $0.hasPrefix("remote_") }.joined(separator: "\n")
    }

    /// What the test MX hosts got, and the notices `user` got: waits until the queue is empty.
    func outcome(_ bed: RemoteTestBed, _ system: Installation, _ user: TestUser, bounces: Int, delivered: [String]) throws {
        try waitFor("deliveries and notices", timeout: 90) {
            delivered.allSatisfy { !bed.receivedFor($0).isEmpty } && user.messages().filter { $0.contains("5.7.30") }.count == bounces
                && system.queueIsEmpty
        }
    }

    /// sendmail -O RequireTLS (sendmail(1)) by an ordinary user: the queued envelope says
    /// requiretls, the runner passes it on, postamt-remote sends MAIL … REQUIRETLS to a next
    /// hop that offers it and bounces 5.7.30 where the next hop does not; without the option
    /// the same host takes the message.
    @Test func sendmailOptionRequestsIt() throws {
        let bed = try bedTrustingItsCertificate()
        let system = bed.system
        let user = try TestUser()
        try system.startRunner()
        system.stopRunner()
        let gid = getpwnam(user.name).pointee.pw_gid
        func sendmailAsUser(_ args: [String], _ text: String) throws -> RunResult {
            try run("/usr/bin/setpriv", ["--reuid=\(user.uid)", "--regid=\(gid)", "--init-groups", "\(system.root)/bin/sendmail"] + args,
                    input: Data(text.utf8), environment: system.environment)
        }
        var s = try sendmailAsUser(["-i", "-O", "RequireTLS", "u@requiretls.test", "v@ok.test"], "Subject: rt by sendmail\n\nbody\n")
        #expect(s.status == 0, "\(s.stderr)")
        s = try sendmailAsUser(["-i", "w@ok.test"], "Subject: plain by sendmail\n\nbody\n")
        #expect(s.status == 0, "\(s.stderr)")
        let envelopes = try run("/bin/grep", ["-rl", "^requiretls yes$", "\(system.queue)/incoming"])
        #expect(envelopes.stdout.split(separator: "\n").count == 1, "one of two envelopes asks for REQUIRETLS: \(envelopes.stdout)")
        try system.startRunner()
        try outcome(bed, system, user, bounces: 1, delivered: ["u@requiretls.test", "w@ok.test"])
        #expect((bed.receivedFor("u@requiretls.test").first?.record["mail"] as? String)?.hasSuffix(" REQUIRETLS") == true)
        #expect((bed.receivedFor("w@ok.test").first?.record["mail"] as? String)?.contains("REQUIRETLS") == false)
        #expect(bed.receivedFor("v@ok.test").isEmpty)
        let bounce = user.messages().first { $0.contains("5.7.30") } ?? ""
        #expect(bounce.contains("v@ok.test") && bounce.contains("Subject: rt by sendmail"), "\(bounce)")
    }

    /// The webmail's "Require TLS" checkbox (postamt-webmail(8)) does the same for a message
    /// written in the browser.
    @Test func webmailCheckboxRequestsIt() throws {
        let bed = try RemoteTestBed()
        let service = try WebmailService(config: try remoteSettings(bed) + "\nremote_tls_ca_file = \(bed.certificate)")
        try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/postamt-remote",
                                         toPath: "\(service.system.root)/bin/postamt-remote")
        chmod("\(service.system.root)/bin/postamt-remote", 0o755)
        let system = service.system
        let (user, password) = try TestUser.withPassword()
        try system.startRunner()
        system.stopRunner()
        let address = "\(user.name)@\(system.hostname)"
        let result = try service.python(#"""
        user, password, address = ARGS
        c = conn()
        cookie = login(c, user, password)
        r, page = req(c, "GET", "/compose", cookie=cookie)
        check(r.status == 200 and 'name="requiretls" value="yes"' in page and "Require TLS" in page, "the compose form has the Require TLS box")
        token = csrf(page)
        for to, subject, box in [("u@requiretls.test", "rt to requiretls", True), ("v@ok.test", "rt to ok", True), ("w@ok.test", "plain to ok", False)]:
            form = {"csrf": token, "from": address, "to": to, "subject": subject, "body": "x"}
            if box: form["requiretls"] = "yes"
            r, page = req(c, "POST", "/compose", form, cookie=cookie)
            check(r.status == 200 and "is on its way" in page, "sent: " + subject)
        r, page = req(c, "POST", "/compose", {"csrf": token, "from": address, "to": "not an address", "subject": "s", "body": "x", "requiretls": "yes"}, cookie=cookie)
        check(r.status == 400 and 'name="requiretls" value="yes" checked' in page, "a refused form keeps the box ticked")
        """#, [user.name, password, address])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(service.log())")
        let envelopes = try run("/bin/grep", ["-rl", "^requiretls yes$", "\(system.queue)/incoming"])
        #expect(envelopes.stdout.split(separator: "\n").count == 2, "two of three envelopes ask for REQUIRETLS: \(envelopes.stdout)")
        try system.startRunner()
        try outcome(bed, system, user, bounces: 1, delivered: ["u@requiretls.test", "w@ok.test"])
        #expect((bed.receivedFor("u@requiretls.test").first?.record["mail"] as? String)?.hasSuffix(" REQUIRETLS") == true)
        #expect((bed.receivedFor("w@ok.test").first?.record["mail"] as? String)?.contains("REQUIRETLS") == false)
        #expect(bed.receivedFor("v@ok.test").isEmpty)
    }

    /// A REQUIRETLS message no MX takes bounces 5.7.30, and its notice returns headers only
    /// even with RET=FULL (RFC 8689 §5).
    @Test func bounceReturnsHeadersOnly() throws {
        let bed = try bedTrustingItsCertificate()
        let sender = try TestUser()
        try bed.system.startRunner()
        let from = "\(sender.name)@\(bed.system.hostname)"
        let envFile = "\(bed.system.root)/envelope"
        FileManager.default.createFile(atPath: envFile, contents: Data("F\(from)\0Tu@ok.test\0\0".utf8))
        let q = try run("/bin/sh", ["-c", "exec \"$0\" 1<\"$1\"", "\(bed.system.root)/bin/postamt-queue", envFile],
                        input: Data("From: \(from)\nSubject: private\n\nthe secret body\n".utf8),
                        environment: bed.system.environment.merging(["POSTAMT_DSN": "RET=FULL REQUIRETLS"]) { $1 })
        #expect(q.status == 0, "\(q.stderr)")
        try waitFor("non-delivery notice", timeout: 60) { sender.messages().contains { $0.contains("5.7.30") } }
        let notice = sender.messages().first { $0.contains("5.7.30") } ?? ""
        #expect(notice.contains("Subject: private"), "\(notice)")
        #expect(!notice.contains("the secret body"), "\(notice)")
        #expect(bed.received().isEmpty)
    }
}

import Foundation
import Glibc
import Testing

/// DSN parameters (RFC 3461 §4) travel on: from the queue through the runner to postamt-remote,
/// and from there to a next hop that offers DSN, never to one that does not.
@Suite(.serialized, .enabled(if: RemoteTestBed.canRun, "needs root (users, setpriv) and dnsmasq (apt-get install dnsmasq-base)"))
struct DSNOnwardTests {
    func remote(_ bed: RemoteTestBed, _ domain: String, dsn: [String: String]) throws -> RunResult {
        try run("/usr/bin/setpriv", ["--reuid=postamt", "--regid=postamt", "--clear-groups", "--",
                                     "\(bed.system.root)/bin/postamt-remote", domain, "a@mail.test.example", "u@\(domain)", "v@\(domain)"],
                input: Data("Subject: x\n\ny\n".utf8), environment: bed.system.environment.merging(dsn) { $1 })
    }

    static let dsn = ["POSTAMT_DSN": "RET=HDRS ENVID=QQ+2B1", "POSTAMT_DSN_RCPT": "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+40x.example\n-"]

    @Test func passedToANextHopWithDSN() throws {
        let bed = try RemoteTestBed()
        let r = try remote(bed, "dsn.test", dsn: DSNOnwardTests.dsn)
        #expect(RemoteTestBed.reports(r).last?.hasPrefix("K") == true, "\(RemoteTestBed.reports(r)) \(r.stderr)")
        let record = bed.received().first?.record
        #expect(record?["mail"] as? String == "MAIL FROM:<a@mail.test.example> SIZE=17 RET=HDRS ENVID=QQ+2B1")
        #expect(record?["rcptcmds"] as? [String] == ["RCPT TO:<u@dsn.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+40x.example",
                                                     "RCPT TO:<v@dsn.test>"])
    }

    @Test func notPassedToANextHopWithoutDSN() throws {
        let bed = try RemoteTestBed()
        let r = try remote(bed, "mixed.test", dsn: DSNOnwardTests.dsn)
        #expect(RemoteTestBed.reports(r).last?.hasPrefix("K") == true)
        let record = bed.received().first?.record
        #expect(record?["mail"] as? String == "MAIL FROM:<a@mail.test.example> SIZE=17")
        #expect(record?["rcptcmds"] as? [String] == ["RCPT TO:<u@mixed.test>", "RCPT TO:<v@mixed.test>"])
    }

    @Test(arguments: [["POSTAMT_DSN": "RET=ALL"], ["POSTAMT_DSN_RCPT": "NOTIFY=SUCCESS"], ["POSTAMT_DSN": "ENVID=a\u{1}b"]])
    func invalidParametersAreATemporaryFailure(env: [String: String]) throws {
        let bed = try RemoteTestBed()
        let r = try remote(bed, "dsn.test", dsn: env)
        #expect(RemoteTestBed.reports(r).last?.hasPrefix("Z") == true, "\(RemoteTestBed.reports(r))")
        #expect(RemoteTestBed.reports(r).last?.contains("invalid DSN parameters") == true)
        #expect(bed.received().isEmpty)
    }

    /// The whole way: postamt-queue stores them (as smtpd hands them over), the runner passes them.
    @Test func throughTheRunner() throws {
        let bed = try RemoteTestBed()
        try bed.system.startRunner()
        let envelope = Data("Fa@mail.test.example\0Tu@dsn.test\0\0".utf8)
        let envFile = "\(bed.system.root)/envelope"
        FileManager.default.createFile(atPath: envFile, contents: envelope)
        let q = try run("/bin/sh", ["-c", "exec \"$0\" 1<\"$1\"", "\(bed.system.root)/bin/postamt-queue", envFile],
                        input: Data("Subject: via runner\n\nbody\n".utf8),
                        environment: bed.system.environment.merging(["POSTAMT_DSN": "RET=FULL ENVID=e1",
                                                                    "POSTAMT_DSN_RCPT": "NOTIFY=NEVER ORCPT=rfc822;u+40dsn.test"]) { $1 })
        #expect(q.status == 0, "\(q.stderr)")
        try waitFor("delivery to dsn.test", timeout: 60) { !bed.received().isEmpty }
        let record = bed.received().first?.record
        #expect((record?["mail"] as? String)?.hasSuffix(" RET=FULL ENVID=e1") == true, "\(String(describing: record))")
        #expect(record?["rcptcmds"] as? [String] == ["RCPT TO:<u@dsn.test> NOTIFY=NEVER ORCPT=rfc822;u+40dsn.test"])
    }

    /// RFC 3461 §5.2.2: NOTIFY=SUCCESS relayed to a next hop without DSN earns the sender a
    /// "relayed" notice; §5.2.1: to a next hop with DSN the parameters go on and that hop owes
    /// the notice, so none comes from here. smtplib → postamt-smtpd → queue → runner →
    /// postamt-remote → the scripted MX hosts; the notice lands in the sender's Maildir.
    @Test func relayedNoticeOnlyWhenTheNextHopLacksDSN() throws {
        let bed = try RemoteTestBed()
        let user = try TestUser()
        let bedConf = try String(contentsOfFile: "\(bed.system.root)/etc/postamt/postamt.conf", encoding: .utf8)
        let remoteLines = bedConf.split(separator: "\n").filter { $0.hasPrefix("remote_") }.joined(separator: "\n")
        let site = try SMTPSite(config: remoteLines + """

            myhostname = mx.example.org
            local_domains = example.org
            smtpd_trusted_networks = 127.0.0.0/8
            """, aliases: "alice: \(user.name)\n", runner: false, auth: false)
        try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/postamt-remote",
                                         toPath: "\(site.system.root)/bin/postamt-remote")
        chmod("\(site.system.root)/bin/postamt-remote", 0o755)
        try site.system.startRunner()
        _ = try site.start("mx")
        let python = try site.python("""
            import smtplib, os
            s = smtplib.SMTP("127.0.0.1", int(os.environ["PORT_MX"]))
            s.ehlo("client.example")
            assert "dsn" in s.esmtp_features, s.esmtp_features
            s.sendmail("alice@example.org", ["u@mixed.test"], b"Subject: to a hop without DSN\\r\\n\\r\\nbody\\r\\n",
                       mail_options=["ENVID=relay1"], rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
            s.sendmail("alice@example.org", ["u@dsn.test"], b"Subject: to a hop with DSN\\r\\n\\r\\nbody\\r\\n",
                       mail_options=["ENVID=relay2"], rcpt_options=["NOTIFY=SUCCESS"])
            s.quit()
            print("sent")
            """)
        #expect(python.stdout.contains("sent"), "\(python.stderr) \(site.log())")
        try waitFor("both relayed and the notice delivered", timeout: 90) {
            !bed.receivedFor("u@mixed.test").isEmpty && !bed.receivedFor("u@dsn.test").isEmpty
                && !user.messages().isEmpty && site.system.queueIsEmpty
        }
        let notices = user.messages()
        #expect(notices.count == 1, "exactly one notice, for the hop without DSN: \(notices)")
        let notice = notices.first ?? ""
        #expect(notice.contains("Subject: Successful Mail Delivery Report"), "\(notice)")
        #expect(notice.contains("Content-Type: multipart/report; report-type=delivery-status"), "\(notice)")
        #expect(notice.contains("Original-Envelope-Id: relay1\n"), "\(notice)")
        #expect(notice.contains("Final-Recipient: rfc822; u@mixed.test\nAction: relayed\nStatus: 2.0.0"), "\(notice)")
        #expect(!notice.contains("u@dsn.test"))
        // The hop with DSN got NOTIFY and ENVID; the one without got none of it.
        #expect(bed.receivedFor("u@dsn.test").first?.record["rcptcmds"] as? [String] == ["RCPT TO:<u@dsn.test> NOTIFY=SUCCESS"])
        #expect((bed.receivedFor("u@dsn.test").first?.record["mail"] as? String)?.hasSuffix(" ENVID=relay2") == true)
        #expect(bed.receivedFor("u@mixed.test").first?.record["rcptcmds"] as? [String] == ["RCPT TO:<u@mixed.test>"])
        #expect(site.system.log().contains("NOTIFY=SUCCESS passed on to a next hop that offers DSN; no success notification from here"), "\(site.system.log())")
        // A python email parser agrees on the structure.
        try notice.write(toFile: "\(site.system.root)/notice.eml", atomically: true, encoding: .utf8)
        let parsed = try run("/usr/bin/python3", ["-c", """
            import email, sys
            m = email.message_from_binary_file(open(sys.argv[1], "rb"))
            assert m.get_content_type() == "multipart/report" and m.get_param("report-type") == "delivery-status"
            status = [p for p in m.walk() if p.get_content_type() == "message/delivery-status"][0]
            fields = [f for block in status.get_payload() for f in block.items()]
            assert ("Action", "relayed") in fields, fields
            print("ok")
            """, "\(site.system.root)/notice.eml"])
        #expect(parsed.stdout.contains("ok"), "\(parsed.stderr)")
    }
}

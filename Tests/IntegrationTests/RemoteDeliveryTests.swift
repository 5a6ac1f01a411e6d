import Foundation
import Glibc
import Testing

/// postamt-remote and the runner's remote side against real SMTP servers on loopback
/// addresses and a dnsmasq serving the test domains.
@Suite(.serialized, .enabled(if: RemoteTestBed.canRun, "needs root (users, setpriv) and dnsmasq (apt-get install dnsmasq-base)"))
struct RemoteDeliveryTests {
    // MARK: postamt-remote alone: qmail-remote's reports

    @Test func reportsPerRecipient() throws {
        let bed = try RemoteTestBed()
        let r = try bed.remote(["mixed.test", "a@mail.test.example", "good@mixed.test", "rcpt550x@mixed.test", "rcpt451y@mixed.test"],
                               message: "From: a@mail.test.example\nSubject: hi\n\nbody\n")
        #expect(r.status == 0)
        let reports = RemoteTestBed.reports(r)
        #expect(reports.count == 4, "\(reports) \(r.stderr)")
        #expect(reports.first?.hasPrefix("r") == true)
        #expect(reports.dropFirst().first?.hasPrefix("h") == true)
        #expect(reports.dropFirst().first?.contains("550 5.1.1") == true)
        #expect(reports.dropFirst(2).first?.hasPrefix("s") == true)
        #expect(reports.last?.hasPrefix("K") == true)
        #expect(bed.received().count == 1)
    }

    @Test(arguments: [
        ("nullmx.test", "D", "null MX"),
        ("nothere.test", "D", "NXDOMAIN"),
        ("x.broken.example", "Z", "#4.4.3"),
        ("greet.test", "D", "554"),
        ("small.test", "D", "#5.3.4"),
        ("mail451.test", "Z", "451"),
    ])
    func messageLevelResults(domain: String, kind: String, text: String) throws {
        let bed = try RemoteTestBed()
        let r = try bed.remote([domain, "a@mail.test.example", "u@\(domain)"], message: "Subject: x\n\n" + String(repeating: "y", count: 200) + "\n")
        #expect(r.status == 0)
        let reports = RemoteTestBed.reports(r)
        #expect(reports.last?.hasPrefix(kind) == true, "\(reports) \(r.stderr)")
        #expect(reports.last?.contains(text) == true, "\(reports)")
        #expect(bed.received().isEmpty)
    }

    @Test func smtpUTF8NeededButMissing() throws {
        let bed = try RemoteTestBed()
        let r = try bed.remote(["plain.test", "a@mail.test.example", "j\u{fc}rgen@plain.test"], message: "Subject: x\n\ny\n")
        #expect(RemoteTestBed.reports(r).last?.hasPrefix("D") == true)
        #expect(RemoteTestBed.reports(r).last?.contains("#5.6.7") == true, "\(RemoteTestBed.reports(r))")
        let ok = try bed.remote(["mixed.test", "a@mail.test.example", "j\u{fc}rgen@mixed.test"], message: "Subject: x\n\ny\n")
        #expect(RemoteTestBed.reports(ok).last?.hasPrefix("K") == true, "\(RemoteTestBed.reports(ok))")
        #expect((bed.received().first?.record["mail"] as? String)?.hasSuffix(" SMTPUTF8") == true)
    }

    /// 4xx and 5xx at every stage of the transaction (recipient names choose the replies).
    @Test(arguments: [
        ("mail550.test", "u", ["h", "D"], "550 5.7.1"),
        ("greet421.test", "u", ["Z"], "421"),
        ("mixed.test", "data554a", ["r", "D"], "554 5.6.0"),
        ("mixed.test", "data451a", ["r", "Z"], "451 4.3.0"),
        ("mixed.test", "dot554a", ["r", "D"], "554 5.7.1"),
        ("mixed.test", "dot451a", ["r", "Z"], "451 4.7.1"),
        ("mixed.test", "rcpt550a", ["h", "D"], "550 5.1.1"),
        ("mixed.test", "rcpt451a", ["s", "Z"], "451 4.2.0"),
    ])
    func failuresAtEveryStage(domain: String, user: String, kinds: [String], text: String) throws {
        let bed = try RemoteTestBed()
        let r = try bed.remote([domain, "a@mail.test.example", "\(user)@\(domain)"], message: "Subject: x\n\ny\n")
        let reports = RemoteTestBed.reports(r)
        #expect(reports.map { String($0.prefix(1)) } == kinds, "\(reports)")
        #expect(reports.last?.contains(text) == true || reports.first?.contains(text) == true, "\(reports)")
    }

    @Test func verifiedTLS() throws {
        let bed = try RemoteTestBed(config: "remote_tls_policy = verify")
        var conf = try String(contentsOfFile: "\(bed.system.root)/etc/postamt/postamt.conf", encoding: .utf8)
        conf += "\nremote_tls_ca_file = \(bed.certificate)\n"
        try conf.write(toFile: "\(bed.system.root)/etc/postamt/postamt.conf", atomically: true, encoding: .utf8)
        let r = try bed.remote(["ok.test", "a@mail.test.example", "u@ok.test"], message: "Subject: x\n\ny\n")
        #expect(RemoteTestBed.reports(r).last?.hasPrefix("K") == true, "\(RemoteTestBed.reports(r)) \(r.stderr)")
        #expect(r.stderr.contains("tls=verified"))
        // Policy verify and a host without STARTTLS: not delivered in plaintext.
        let plain = try bed.remote(["mixed.test", "a@mail.test.example", "u@mixed.test"], message: "Subject: x\n\ny\n")
        #expect(RemoteTestBed.reports(plain).last?.hasPrefix("Z") == true)
        #expect(RemoteTestBed.reports(plain).last?.contains("#4.7.5") == true)
    }

    /// A destination nobody answers for is left alone for remote_destination_backoff: a
    /// second message to it waits instead of connecting again at once.
    @Test func unreachableDestinationBackoff() throws {
        let bed = try RemoteTestBed(config: "remote_destination_backoff = 1h")
        try bed.system.startRunner()
        _ = try bed.system.sendmail(["-f", "ann@mail.test.example", "u@silent.test"], "Subject: 1\n\nbody\n")
        try waitFor("first deferral") { bed.system.log().contains("to=<u@silent.test>, relay=silent.test") }
        _ = try bed.system.sendmail(["-f", "ann@mail.test.example", "v@silent.test"], "Subject: 2\n\nbody\n")
        try waitFor("second message picked up") { bed.system.log().components(separatedBy: "(queue active)").count == 3 }
        usleep(500_000)
        let log = bed.system.log()
        #expect(log.contains("silent.test is unreachable"))
        // Only the first message ever reached postamt-remote.
        #expect(!log.contains("to=<v@silent.test>"), "\(log)")
        #expect(bed.queued("state").count == 2)
    }

    /// Every local slot taken (delivery_concurrency = 1, held by a |command that waits for the
    /// test): a message's remote recipient goes out at once, though a local recipient stands
    /// before it in the envelope; the local one waits for the slot and arrives when it is free.
    @Test func aRemoteRecipientDoesNotWaitForALocalSlot() throws {
        let bed = try RemoteTestBed(config: "delivery_concurrency = 1")
        let user = try TestUser()
        // At most a minute, should the test end before it says go.
        try user.writeFile(".postamt-hold", "|i=0; while [ ! -e \"$HOME/go\" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n")
        try bed.system.startRunner()
        _ = try bed.system.sendmail(["-i", "-f", "ann@mail.test.example", "\(user.name)+hold"], "Subject: holds the slot\n\nx\n")
        try waitFor("the slot taken") { bed.system.log().contains("(queue active)") }
        _ = try bed.system.sendmail(["-i", "-f", "ann@mail.test.example", user.name, "good@mixed.test"], "Subject: both\n\nx\n")
        try waitFor("the remote copy", timeout: 30) { bed.received().count == 1 }
        #expect((bed.received().first?.record["rcpts"] as? [String]) == ["good@mixed.test"])
        #expect(!user.messages().contains { $0.contains("Subject: both") }, "the local copy waits for the slot")
        try user.writeFile("go", "")
        try waitFor("the local copy") { user.messages().count == 1 && bed.queued("state").isEmpty && bed.queued("incoming").isEmpty }
    }

    @Test func silentServerTimesOut() throws {
        let bed = try RemoteTestBed()
        let r = try bed.remote(["silent.test", "a@mail.test.example", "u@silent.test"], message: "Subject: x\n\ny\n")
        #expect(RemoteTestBed.reports(r) == [RemoteTestBed.reports(r).last ?? ""])
        #expect(RemoteTestBed.reports(r).last?.hasPrefix("Z") == true)
        #expect(RemoteTestBed.reports(r).last?.contains("timed out") == true, "\(RemoteTestBed.reports(r))")
    }

    @Test func routing() throws {
        let bed = try RemoteTestBed()
        for domain in ["amx.test", "fallback.test", "cname.test"] {
            let r = try bed.remote([domain, "a@mail.test.example", "u@\(domain)"], message: "Subject: \(domain)\n\ny\n")
            #expect(RemoteTestBed.reports(r).last?.hasPrefix("K") == true, "\(domain): \(RemoteTestBed.reports(r)) \(r.stderr)")
        }
        #expect(bed.received().count == 3)
    }

    @Test(.enabled(if: RemoteTestBed.hasIPv6, "no IPv6 loopback here"))
    func ipv6AndIPv4() throws {
        let bed = try RemoteTestBed()
        for domain in ["v6.test", "dual.test"] {
            let r = try bed.remote([domain, "a@mail.test.example", "u@\(domain)"], message: "Subject: \(domain)\n\ny\n")
            #expect(RemoteTestBed.reports(r).last?.hasPrefix("K") == true, "\(domain): \(RemoteTestBed.reports(r)) \(r.stderr)")
        }
        #expect(bed.received().map { $0.record["addr"] as? String } == ["::1", "127.0.0.3"])
    }

    /// delay_warning_time: one delay notice, however many retries follow.
    @Test func delayNoticeOnce() throws {
        let bed = try RemoteTestBed(config: "delay_warning_time = 1s")
        let sender = try TestUser()
        try bed.system.startRunner()
        let from = "\(sender.name)@\(bed.system.hostname)"
        _ = try bed.system.sendmail(["-f", from, "u@mail451.test"], "From: \(from)\nSubject: slow\n\nbody\n")
        try waitFor("delay notice") { sender.messages().contains { $0.contains("Delayed Mail") } }
        try waitFor("more retries", timeout: 90) { bed.system.log().components(separatedBy: "to=<u@mail451.test>").count >= 4 }
        let notices = sender.messages().filter { $0.contains("Delayed Mail") }
        #expect(notices.count == 1)
        #expect(notices.first?.contains("Action: delayed") == true)
        #expect(notices.first?.contains("Status: 4.3.0") == true)
        #expect(bed.queued("state").count == 1)
    }

    @Test func refusesAddressesThatCouldInjectCommands() throws {
        let bed = try RemoteTestBed()
        let r = try bed.remote(["mixed.test", "a@mail.test.example", "x@mixed.test>\r\nRSET"], message: "Subject: x\n\ny\n")
        #expect(RemoteTestBed.reports(r).last?.hasPrefix("D") == true)
        #expect(RemoteTestBed.reports(r).last?.contains("#5.1.3") == true)
        #expect(bed.received().isEmpty)
        let local = try bed.remote(["mail.test.example", "a@mail.test.example", "x@mail.test.example"], message: "x\n")
        #expect(RemoteTestBed.reports(local).last?.hasPrefix("Z") == true)
    }

    @Test func checkFindsBadRemoteSettings() throws {
        let system = try Installation(config: "remote_tls_policy = sometimes\nremote_tls_policy_map = a.example=verify, b.example\nremote_nameserver = not-an-ip")
        let r = try system.postamt(["check"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("remote_tls_policy must be none, may, encrypt or verify"))
        #expect(r.stdout.contains("'b.example' is not domain="))
        #expect(!r.stdout.contains("'a.example=verify'"))
        #expect(r.stdout.contains("remote_nameserver 'not-an-ip'"))
    }

    @Test func refusesRoot() throws {
        let bed = try RemoteTestBed()
        let r = try run("\(bed.system.root)/bin/postamt-remote", ["ok.test", "a@b", "c@ok.test"], input: Data("x\n".utf8),
                        environment: bed.system.environment)
        #expect(r.status == 0)
        #expect(RemoteTestBed.reports(r).last?.hasPrefix("Z") == true)
    }

    // MARK: Through the runner

    /// Bare LF, bare CR and leading dots arrive intact and unambiguous; DKIM verifies with dkimpy.
    @Test(arguments: ["rsa", "ed25519"])
    func happyPathSignedAndUnsmuggled(type: String) throws {
        let bed = try RemoteTestBed()
        let keygen = try bed.system.postamt(["dkim", "keygen", "mail.test.example", "--type", type])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let record = RemoteDeliveryTests.txtText(keygen.stdout)
        #expect(record.hasPrefix("v=DKIM1; k=\(type); p="))
        var st = stat()
        #expect(stat("\(bed.system.root)/etc/postamt/dkim/mail.test.example/postamt.key", &st) == 0 && st.st_mode & 0o777 == 0o600)
        let dns = try bed.system.postamt(["dns", "mail.test.example"])
        #expect(dns.stdout.contains("postamt._domainkey.mail.test.example."))
        #expect(dns.stdout.contains("_dmarc.mail.test.example."))

        try bed.system.startRunner()
        let body = "From: Ann <ann@mail.test.example>\nTo: u@ok.test\nSubject: dots\n\n.leading dot\n..two\nbare\rCR and a lone LF\n.\nend.\n\u{e4}\n"
        let s = try bed.system.sendmail(["-i", "-f", "ann@mail.test.example", "u@ok.test"], body)
        #expect(s.status == 0, "\(s.stderr)")
        try waitFor("delivery", timeout: 60) { !bed.receivedFor("u@ok.test").isEmpty && bed.system.queueIsEmpty }
        let got = bed.receivedFor("u@ok.test")[0]
        // The wire: only CRLF line ends, every line starting with a dot stuffed.
        let wire = [UInt8](got.wire)
        for (i, b) in wire.enumerated() {
            if b == 10 { #expect(i > 0 && wire[i - 1] == 13) }
            if b == 13 { #expect(i + 1 < wire.count && wire[i + 1] == 10) }
        }
        let text = String(decoding: got.message, as: UTF8.self)
        #expect(text.contains("\r\n.leading dot\r\n..two\r\nbare\r\nCR and a lone LF\r\n.\r\nend.\r\n\u{e4}\r\n"))
        #expect(String(decoding: got.wire, as: UTF8.self).contains("\r\n..leading dot\r\n...two\r\n"))
        #expect(got.record["tls"] as? Bool == true)
        #expect((got.record["mail"] as? String)?.contains("BODY=8BITMIME") == true)
        let log = bed.system.log()
        #expect(log.contains("dkim=signed (d=mail.test.example, s=postamt"))
        #expect(log.contains("tls=unverified"))
        #expect(log.contains("to=<u@ok.test>, relay=ok.test"))
        #expect(log.contains("status=sent"))
        #expect(try RemoteDeliveryTests.dkimVerifies(got.message, record: record, in: bed.work))
    }

    /// No PIPELINING, no 8BITMIME: the 8-bit body goes as quoted-printable, signed after that.
    @Test func sevenBitFallback() throws {
        let bed = try RemoteTestBed()
        let keygen = try bed.system.postamt(["dkim", "keygen", "mail.test.example", "--type", "ed25519"])
        let record = RemoteDeliveryTests.txtText(keygen.stdout)
        try bed.system.startRunner()
        _ = try bed.system.sendmail(["-f", "ann@mail.test.example", "u@plain.test"],
                                    "From: ann@mail.test.example\nSubject: 8bit\n\nGr\u{fc}\u{df}e\n")
        try waitFor("delivery") { !bed.receivedFor("u@plain.test").isEmpty && bed.system.queueIsEmpty }
        let got = bed.receivedFor("u@plain.test")[0]
        #expect(got.message.allSatisfy { $0 < 0x80 })
        #expect(String(decoding: got.message, as: UTF8.self).contains("Gr=C3=BC=C3=9Fe"))
        #expect((got.record["ehlo"] as? String)?.hasPrefix("EHLO") == true)
        #expect(try RemoteDeliveryTests.dkimVerifies(got.message, record: record, in: bed.work))
    }

    /// One transaction for the recipients of one domain; each gets its own result; the
    /// rejected one bounces with the remote reply quoted, the greylisted one stays queued.
    @Test func perRecipientResultsAndBounce() throws {
        let bed = try RemoteTestBed()
        let sender = try TestUser()
        try bed.system.startRunner()
        let from = "\(sender.name)@\(bed.system.hostname)"
        _ = try bed.system.sendmail(["-f", from, "good@mixed.test", "rcpt550a@mixed.test", "rcpt451b@mixed.test", "fine@amx.test"],
                                    "From: \(from)\nSubject: mixed\n\nhello\n")
        try waitFor("bounce") { sender.messages().contains { $0.contains("rcpt550a@mixed.test") } }
        let bounce = sender.messages().first { $0.contains("rcpt550a@mixed.test") }!
        #expect(bounce.contains("550 5.1.1"))
        #expect(bounce.contains("Status: 5.1.1"))
        #expect(!bounce.contains("good@mixed.test"))
        try waitFor("deliveries") { bed.received().count >= 2 }
        let mixed = bed.received().filter { ($0.record["addr"] as? String) == "127.0.0.3" }
        #expect(mixed.contains { ($0.record["rcpts"] as? [String]) == ["good@mixed.test"] })
        #expect(mixed.contains { ($0.record["rcpts"] as? [String]) == ["fine@amx.test"] })
        try waitFor("deferred") { bed.system.log().contains("to=<rcpt451b@mixed.test>, relay=mixed.test") && bed.system.log().contains("status=deferred") }
        // Still queued, for the greylisted recipient only (once the bounce has left the queue).
        try? waitFor("bounce delivered") { bed.queued("state").count == 1 }
        #expect(bed.queued("state").count == 1, "\(bed.system.log())")
        let state = try String(contentsOfFile: "\(bed.system.queue)/state/\(bed.queued("state")[0])", encoding: .utf8)
        #expect(state.contains("rcpt\tpending") && state.contains("rcpt451b@mixed.test"))
        #expect(state.contains("rcpt\tdelivered"))
    }

    /// Temporary trouble keeps the message and retries; nothing is lost.
    @Test(arguments: ["silent.test", "closedata.test", "x.broken.example"])
    func temporaryFailuresRetry(domain: String) throws {
        let bed = try RemoteTestBed()
        try bed.system.startRunner()
        _ = try bed.system.sendmail(["-f", "ann@mail.test.example", "u@\(domain)"], "Subject: t\n\nbody\n")
        try waitFor("two attempts", timeout: 90) {
            bed.system.log().components(separatedBy: "to=<u@\(domain)>").count >= 3
        }
        #expect(bed.queued("state").count == 1, "\(bed.system.log())")
        #expect(bed.queued("mess").count == 1)
        #expect(bed.system.log().contains("status=deferred"))
        #expect(!bed.system.log().contains("status=bounced"))
    }

    @Test func startTLSFailureFallsBackOnlyWhenAllowed() throws {
        let bed = try RemoteTestBed(config: "remote_tls_policy_map = ok.test=verify")
        try bed.system.startRunner()
        _ = try bed.system.sendmail(["-f", "ann@mail.test.example", "u@tlsfail.test", "v@ok.test"], "Subject: t\n\nbody\n")
        try? waitFor("delivery without TLS") { !bed.receivedFor("u@tlsfail.test").isEmpty }
        #expect(!bed.receivedFor("u@tlsfail.test").isEmpty, "\(bed.system.log())")
        #expect(bed.receivedFor("u@tlsfail.test")[0].record["tls"] as? Bool == false)
        #expect(bed.system.log().contains("trying again without TLS"))
        // ok.test's certificate is self-signed: policy verify defers it.
        try waitFor("verify deferral") { bed.system.log().contains("to=<v@ok.test>, relay=ok.test") }
        #expect(bed.receivedFor("v@ok.test").isEmpty)
        #expect(bed.system.log().contains("#4.7.5"))
    }

    @Test func smarthostWithAuthOverTLS() throws {
        let bed = try RemoteTestBed(config: "relayhost = [127.0.0.10]\nrelayhost_auth_file = /dev/null")
        // The credentials file: root-owned, readable by the mail owner's group.
        let auth = "\(bed.system.root)/etc/postamt/relay-auth"
        try "relayuser s3cret pass\n".write(toFile: auth, atomically: true, encoding: .utf8)
        chown(auth, 0, getgrnam("postamt").pointee.gr_gid)
        chmod(auth, 0o640)
        var conf = try String(contentsOfFile: "\(bed.system.root)/etc/postamt/postamt.conf", encoding: .utf8)
        conf = conf.replacingOccurrences(of: "relayhost_auth_file = /dev/null", with: "relayhost_auth_file = \(auth)")
        try conf.write(toFile: "\(bed.system.root)/etc/postamt/postamt.conf", atomically: true, encoding: .utf8)
        try bed.system.startRunner()
        _ = try bed.system.sendmail(["-f", "ann@mail.test.example", "someone@elsewhere.example"], "Subject: relayed\n\nbody\n")
        try waitFor("relayed") { !bed.receivedFor("someone@elsewhere.example").isEmpty && bed.system.queueIsEmpty }
        let got = bed.receivedFor("someone@elsewhere.example")[0]
        #expect(got.record["tls"] as? Bool == true)
        #expect(got.record["auth"] as? String == "\0relayuser\0s3cret pass")
        #expect(!bed.system.log().contains("s3cret"))
    }

    /// Postfix's words for a TLS session's trust (issue 19): Verified (the certificate verifies
    /// for the MX name), Trusted (a trusted chain for another name), Untrusted (no trusted chain).
    @Test func tlsTrustIsLoggedInPostfixWords() throws {
        let bed = try RemoteTestBed(records: ["--mx-host=othername.test,mx.othername.test,10", "--host-record=mx.othername.test,127.0.0.2"])
        let untrusted = try bed.remote(["ok.test", "a@mail.test.example", "u@ok.test"], message: "Subject: x\n\ny\n")
        #expect(untrusted.stderr.contains("Untrusted TLS connection established to mx.ok.test[127.0.0.2]"), "\(untrusted.stderr)")
        let path = "\(bed.system.root)/etc/postamt/postamt.conf"
        try (String(contentsOfFile: path, encoding: .utf8) + "\nremote_tls_ca_file = \(bed.certificate)\n").write(toFile: path, atomically: true, encoding: .utf8)
        let verified = try bed.remote(["ok.test", "a@mail.test.example", "u@ok.test"], message: "Subject: x\n\ny\n")
        #expect(verified.stderr.contains("Verified TLS connection established to mx.ok.test[127.0.0.2]"), "\(verified.stderr)")
        let trusted = try bed.remote(["othername.test", "a@mail.test.example", "u@othername.test"], message: "Subject: x\n\ny\n")
        #expect(trusted.stderr.contains("Trusted TLS connection established to mx.othername.test[127.0.0.2]"), "\(trusted.stderr)")
        #expect(bed.received().count == 3)
    }

    // MARK: helpers

    /// The text of the TXT record printed by `postamt dkim keygen` (its quoted strings joined).
    static func txtText(_ output: String) -> String {
        var result = ""
        var inside = false
        for c in output.drop(while: { $0 != "(" }) {
            if c == "\"" { inside.toggle(); continue }
            if inside { result.append(c) }
        }
        return result
    }

    static func dkimVerifies(_ message: Data, record: String, in directory: String) throws -> Bool {
        let path = "\(directory)/verify-\(UUID().uuidString).eml"
        try message.write(to: URL(fileURLWithPath: path))
        let r = try run("/usr/bin/python3", ["-c", """
            import dkim, sys
            msg = open(sys.argv[1], 'rb').read()
            rec = sys.argv[2].encode()
            ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: rec)
            print(ok); sys.exit(0 if ok else 1)
            """, path, record])
        if r.status != 0 { print("dkim verify: \(r.stdout) \(r.stderr)") }
        return r.status == 0
    }
}

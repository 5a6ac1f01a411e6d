import Foundation
import Glibc
import Testing

/// `postamt tlsrpt send` (RFC 8460 §5): a day of synthetic results goes to every rua of the
/// domain's TLSRPT record: a queued multipart/report for mailto: (§5.3), an HTTP POST of the
/// gzipped report to a real HTTPS server with a test CA for https: (§5.4). Both reports
/// validate against TLSRPTTests.schema.
@Suite(.serialized, .enabled(if: RemoteTestBed.canRun, "needs root (users, setpriv) and dnsmasq (apt-get install dnsmasq-base)"))
struct TLSRPTSendTests {
    static let reportsAddress = "127.0.0.22"

    /// The HTTPS report server (certificate for reports.test only) and a test bed whose DNS has
    /// the TLSRPT records of `rua` (domain → its rua list) and trusts the server's test CA.
    func bed(rua: [String: String], names: [String] = ["reports.test"]) throws -> (RemoteTestBed, TestHTTPSServer) {
        let server = try TestHTTPSServer(address: TLSRPTSendTests.reportsAddress, names: names)
        // On dnsmasq's command line a comma splits a TXT record into strings (and the comma is
        // lost); in a configuration file a quoted one keeps it, as a real rua list needs.
        let conf = rua.map { "txt-record=_smtp._tls.\($0.key),\"v=TLSRPTv1; rua=\($0.value.replacingOccurrences(of: "PORT", with: String(server.port)))\"\n" }.joined()
        try conf.write(toFile: "\(server.work)/tlsrpt-records.conf", atomically: true, encoding: .utf8)
        let bed = try RemoteTestBed(config: "tlsrpt_https_timeout = 5s", records: [
            "--conf-file=\(server.work)/tlsrpt-records.conf",
            "--host-record=reports.test,\(TLSRPTSendTests.reportsAddress)",
            "--host-record=wrongname.test,\(TLSRPTSendTests.reportsAddress)",
        ])
        let confPath = "\(bed.system.root)/etc/postamt/postamt.conf"
        try (String(contentsOfFile: confPath, encoding: .utf8) + "\nremote_tls_ca_file = \(server.caFile)\n")
            .write(toFile: confPath, atomically: true, encoding: .utf8)
        // The runner creates the queue; stopped, so the queued reports stay there to be read.
        try bed.system.startRunner()
        bed.system.stopRunner()
        return (bed, server)
    }

    /// The day's results in tlsrpt_directory, which belongs to the mail owner as installed
    /// (postamt-remote writes it; the https pass of `tlsrpt send` runs as that user).
    func writeResults(_ bed: RemoteTestBed, day: String, _ lines: [String]) throws {
        let dir = "\(bed.system.root)/var/lib/postamt/tlsrpt"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try (lines.joined(separator: "\n") + "\n").write(toFile: "\(dir)/\(day)", atomically: true, encoding: .utf8)
        let owner = getpwnam("postamt")!.pointee
        chown(dir, owner.pw_uid, owner.pw_gid)
    }

    /// "YYYY-MM-DD" of `daysAgo` days before today, UTC.
    static func day(_ daysAgo: Int) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        f.timeZone = TimeZone(identifier: "UTC")
        f.locale = Locale(identifier: "en_US_POSIX")
        return f.string(from: Date().addingTimeInterval(-86400 * Double(daysAgo)))
    }

    /// Validates a gzipped report against the RFC 8460 schema; prints "valid" and the summary.
    func validate(_ system: Installation, gzipped: Data) throws -> RunResult {
        try TLSRPTTests.schema.write(toFile: "\(system.root)/schema.json", atomically: true, encoding: .utf8)
        try gzipped.write(to: URL(fileURLWithPath: "\(system.root)/report.json.gz"))
        return try run("/usr/bin/python3", ["-c", """
            import gzip, json, sys, jsonschema
            report = json.loads(gzip.decompress(open(sys.argv[2], "rb").read()))
            jsonschema.validate(report, json.load(open(sys.argv[1])))
            p = report["policies"][0]
            print("valid", p["policy"]["policy-domain"], p["summary"]["total-successful-session-count"], p["summary"]["total-failure-session-count"])
            """, "\(system.root)/schema.json", "\(system.root)/report.json.gz"])
    }

    @Test(.enabled(if: TLSRPTTests.hasJSONSchema, "needs python3-jsonschema"))
    func everyMailtoAndHTTPSRuaGetsTheReport() throws {
        let (bed, server) = try bed(rua: [
            "example.test": "mailto:tls%2Dreports@reports.test,https://reports.test:PORT/v1/tlsrpt",
            "https.test": "https://reports.test:PORT/a,https://reports.test:PORT/b?x=1",
        ])
        let system = bed.system
        try writeResults(bed, day: "2026-01-02", [
            "sts\texample.test\tmx1.example.test\t198.51.100.1\tsuccess\t192.0.2.5",
            "sts\texample.test\tmx2.example.test\t198.51.100.2\tcertificate-expired\t192.0.2.5",
            "sts\thttps.test\tmx.https.test\t198.51.100.4\tsuccess",
            "tlsa\tnorua.test\tmx.norua.test\t198.51.100.3\tsuccess",
        ])
        let r = try system.postamt(["tlsrpt", "send", "--day", "2026-01-02"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        let base = "https://reports.test:\(server.port)"
        #expect(r.stdout.contains("example.test: report of 2026-01-02 queued for tls-reports@reports.test"), "\(r.stdout)")
        for (domain, path) in [("example.test", "/v1/tlsrpt"), ("https.test", "/a"), ("https.test", "/b?x=1")] {
            #expect(r.stdout.contains("\(domain): report of 2026-01-02 posted to \(base)\(path) (HTTP 202)"), "\(r.stdout)")
        }
        #expect(r.stdout.contains("norua.test: no TLSRPT record"), "\(r.stdout)")

        // The HTTPS server got three POSTs of application/tlsrpt+gzip, each a valid report.
        let posts = server.posted()
        #expect(posts.map { $0.record["path"] as? String ?? "" }.sorted() == ["/a", "/b?x=1", "/v1/tlsrpt"])
        for post in posts {
            #expect(post.record["content-type"] as? String == "application/tlsrpt+gzip")
            #expect(post.record["host"] as? String == "reports.test:\(server.port)")
            let check = try validate(system, gzipped: post.body)
            let domain = post.record["path"] as? String == "/v1/tlsrpt" ? "example.test 1 1" : "https.test 1 0"
            #expect(check.stdout.contains("valid \(domain)"), "\(check.stdout) \(check.stderr)")
        }
        let example = posts.first { $0.record["path"] as? String == "/v1/tlsrpt" }?.body ?? Data()
        try example.write(to: URL(fileURLWithPath: "\(system.root)/example.json.gz"))
        let details = try run("/usr/bin/python3", ["-c", """
            import gzip, json, sys
            r = json.loads(gzip.decompress(open(sys.argv[1], "rb").read()))
            print(json.dumps(r["policies"][0]["failure-details"]))
            """, "\(system.root)/example.json.gz"])
        #expect(details.stdout.contains("\"sending-mta-ip\": \"192.0.2.5\""), "\(details.stdout)")

        // The mailto: rua got the same report as a queued multipart/report (§5.3).
        let found = try run("/bin/grep", ["-rl", "^TLS-Report-Domain: example.test", "\(system.queue)/mess"])
        let files = found.stdout.split(separator: "\n").map(String.init)
        #expect(files.count == 1, "\(found.stdout)")
        let envelopes = try run("/bin/grep", ["-rl", "^rcpt tls-reports@reports.test$", "\(system.queue)/incoming"])
        let envelope = try String(contentsOfFile: envelopes.stdout.split(separator: "\n").first.map(String.init) ?? "/nonexistent", encoding: .utf8)
        #expect(envelope.contains("submitter root\n"), "\(envelope)")
        let check = try run("/usr/bin/python3", ["-c", """
            import email, gzip, json, sys, jsonschema
            data = open(sys.argv[2], "rb").read()
            if data.startswith(b"POSTAMT-QUEUE 1 "):  # postamt-queue(8), QUEUE: the message after its header
                data = data[int(data.split(b"\\n", 1)[0].split()[2]):]
            m = email.message_from_bytes(data)
            assert m.get_content_type() == "multipart/report" and m.get_param("report-type") == "tlsrpt", m["Content-Type"]
            assert m["Subject"].startswith("Report Domain: example.test Submitter: "), m["Subject"]
            assert m["TLS-Report-Domain"] == "example.test" and m["TLS-Report-Submitter"]
            parts = [p for p in m.walk() if p.get_content_type() == "application/tlsrpt+gzip"]
            assert len(parts) == 1
            assert parts[0].get_filename().endswith(".json.gz") and "!example.test!1767312000!1767398399!" in parts[0].get_filename()
            report = json.loads(gzip.decompress(parts[0].get_payload(decode=True)))
            jsonschema.validate(report, json.load(open(sys.argv[1])))
            s = report["policies"][0]["summary"]
            assert (s["total-successful-session-count"], s["total-failure-session-count"]) == (1, 1), s
            print("valid")
            """, "\(system.root)/schema.json", files.first ?? "/nonexistent"])
        #expect(check.stdout.contains("valid"), "\(check.stderr)")

        // A second run of the same day sends nothing more.
        let again = try system.postamt(["tlsrpt", "send", "--day", "2026-01-02"])
        #expect(again.status == 0)
        #expect(server.posted().count == 3)
        #expect(try run("/bin/grep", ["-rl", "^TLS-Report-Domain: example.test", "\(system.queue)/mess"]).stdout.split(separator: "\n").count == 1)
    }

    /// A POST answered with anything but 2xx, or to a server whose certificate does not verify,
    /// is a failure (exit 75); the next run (the timer's, without --day) retries only what failed.
    @Test func failedPostsAreRetriedAtTheNextRun() throws {
        let (bed, server) = try bed(rua: [
            "retry.test": "mailto:r@reports.test,https://reports.test:PORT/flaky,https://reports.test:PORT/steady",
            "badcert.test": "https://wrongname.test:PORT/x",
        ])
        let system = bed.system
        let day = TLSRPTSendTests.day(2)
        try writeResults(bed, day: day, [
            "sts\tretry.test\tmx.retry.test\t198.51.100.1\tstarttls-not-supported\t127.0.0.1",
            "sts\tbadcert.test\tmx.badcert.test\t198.51.100.2\tsuccess\t127.0.0.1",
        ])
        FileManager.default.createFile(atPath: "\(server.root)/fail-flaky", contents: Data())
        let first = try system.postamt(["tlsrpt", "send"])
        #expect(first.status == 75, "\(first.stdout) \(first.stderr)")
        #expect(first.stdout.contains("retry.test: https://reports.test:\(server.port)/flaky answered HTTP 503"), "\(first.stdout)")
        #expect(first.stdout.contains("badcert.test: cannot post the report to https://wrongname.test:\(server.port)/x"), "\(first.stdout)")
        #expect(server.posted().map { "\($0.record["path"] as? String ?? "") \($0.record["status"] as? Int ?? 0)" } == ["/flaky 503", "/steady 202"])
        #expect(try run("/bin/grep", ["-rl", "^TLS-Report-Domain: retry.test", "\(system.queue)/mess"]).stdout.split(separator: "\n").count == 1)

        try FileManager.default.removeItem(atPath: "\(server.root)/fail-flaky")
        let second = try system.postamt(["tlsrpt", "send"])
        #expect(second.status == 75, "badcert.test still fails: \(second.stdout)")
        #expect(second.stdout.contains("retry.test: report of \(day) posted to https://reports.test:\(server.port)/flaky (HTTP 202)"), "\(second.stdout)")
        #expect(!second.stdout.contains("/steady"), "\(second.stdout)")
        #expect(server.posted().map { "\($0.record["path"] as? String ?? "") \($0.record["status"] as? Int ?? 0)" } == ["/flaky 503", "/steady 202", "/flaky 202"])
        #expect(try run("/bin/grep", ["-rl", "^TLS-Report-Domain: retry.test", "\(system.queue)/mess"]).stdout.split(separator: "\n").count == 1)
        let sent = try String(contentsOfFile: "\(system.root)/var/lib/postamt/tlsrpt/\(day).sent", encoding: .utf8)
        #expect(sent.split(separator: "\n").contains("retry.test") && !sent.split(separator: "\n").contains("badcert.test"), "\(sent)")
    }

    /// The mailed report is DKIM-signed when root owns its From: (here by a sender grant,
    /// postamt-senders(5)): queued as submitter root, delivered by the runner and postamt-remote
    /// to the scripted MX of ok.test, verified by dkimpy.
    @Test(.enabled(if: TwoHopBed.canRun, "needs dnsmasq and dkimpy (python3-dkim)"))
    func mailedReportIsDKIMSigned() throws {
        let (bed, _) = try bed(rua: ["signed.test": "mailto:tls@ok.test"])
        let system = bed.system
        let from = "postmaster@\(system.hostname)"
        var r = try system.postamt(["sender", "add", from, "root"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        r = try system.postamt(["dkim", "keygen", system.hostname, "--type", "ed25519"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        let record = RemoteDeliveryTests.txtText(r.stdout)
        try writeResults(bed, day: "2026-01-02", ["sts\tsigned.test\tmx.signed.test\t198.51.100.1\tsuccess\t127.0.0.1"])
        r = try system.postamt(["tlsrpt", "send", "--day", "2026-01-02"])
        #expect(r.status == 0 && r.stdout.contains("queued for tls@ok.test"), "\(r.stdout) \(r.stderr)")
        try system.startRunner()
        try waitFor("the report at ok.test", timeout: 60) { !bed.receivedFor("tls@ok.test").isEmpty }
        let got = bed.receivedFor("tls@ok.test")[0].message
        #expect(String(decoding: got, as: UTF8.self).hasPrefix("DKIM-Signature:"))
        #expect(String(decoding: got, as: UTF8.self).contains("TLS-Report-Domain: signed.test"))
        #expect(try RemoteDeliveryTests.dkimVerifies(got, record: record, in: bed.work))
    }

    /// Run by root, the command queues the mail as root but posts as mail_owner: a CA file only
    /// root can read makes the POST fail (and the mail still goes); readable, the retry posts.
    @Test func postsRunAsTheMailOwner() throws {
        let (bed, server) = try bed(rua: ["owner.test": "mailto:o@reports.test,https://reports.test:PORT/o"])
        let system = bed.system
        let rootOnly = "\(system.root)/etc/postamt/root-only-ca.pem"
        try FileManager.default.copyItem(atPath: server.caFile, toPath: rootOnly)
        chmod(rootOnly, 0o600)
        let confPath = "\(system.root)/etc/postamt/postamt.conf"
        try (String(contentsOfFile: confPath, encoding: .utf8) + "\nremote_tls_ca_file = \(rootOnly)\n").write(toFile: confPath, atomically: true, encoding: .utf8)
        try writeResults(bed, day: "2026-01-02", ["sts\towner.test\tmx.owner.test\t198.51.100.1\tsuccess\t127.0.0.1"])
        let first = try system.postamt(["tlsrpt", "send", "--day", "2026-01-02"])
        #expect(first.status == 75, "\(first.stdout) \(first.stderr)")
        #expect(first.stdout.contains("owner.test: report of 2026-01-02 queued for o@reports.test"), "\(first.stdout)")
        #expect(first.stdout.contains("owner.test: cannot post the report to https://reports.test:\(server.port)/o"), "\(first.stdout)")
        #expect(server.posted().isEmpty)
        // The .sent file root made belongs to the mail owner, who appends to it.
        var st = stat()
        #expect(stat("\(system.root)/var/lib/postamt/tlsrpt/2026-01-02.sent", &st) == 0 && st.st_uid == getpwnam("postamt")!.pointee.pw_uid)
        chmod(rootOnly, 0o644)
        let second = try system.postamt(["tlsrpt", "send", "--day", "2026-01-02"])
        #expect(second.status == 0, "\(second.stdout) \(second.stderr)")
        #expect(server.posted().count == 1)
        #expect(try run("/bin/grep", ["-rl", "^TLS-Report-Domain: owner.test", "\(system.queue)/mess"]).stdout.split(separator: "\n").count == 1)
    }

    /// An https: rua whose host is an IP literal, as Go's client (mox) and OpenSSL-based
    /// senders treat it: the certificate must hold that address as an IP SAN (RFC 5280
    /// iPAddress; a DNS name with the digits does not count) and no SNI is sent (RFC 6066 §3:
    /// host names only), for IPv4 and IPv6 alike. A rua by name sends its name as SNI.
    @Test(.enabled(if: TLSRPTTests.hasJSONSchema, "needs python3-jsonschema"))
    func ipLiteralRuaNeedsAnIPAddressInTheCertificate() throws {
        // A second server whose certificate has DNS names only, and one on ::1 with an IPv6
        // address in its certificate; their CAs are trusted too.
        let dnsOnly = try TestHTTPSServer(address: "127.0.0.25", names: ["reports.test", "127-0-0-25.reports.test"])
        let v6 = try TestHTTPSServer(address: "::1", names: ["::1"])
        let ip = TLSRPTSendTests.reportsAddress
        let (bed, server) = try bed(rua: [
            "ip.test": "https://\(ip):PORT/ip,https://reports.test:PORT/named,https://[::1]:\(v6.port)/v6",
            "dnsonly.test": "https://127.0.0.25:\(dnsOnly.port)/x",
        ], names: ["reports.test", ip])
        let system = bed.system
        let bundle = "\(server.work)/bundle.pem"
        try [server.caFile, dnsOnly.caFile, v6.caFile].map { try String(contentsOfFile: $0, encoding: .utf8) }.joined()
            .write(toFile: bundle, atomically: true, encoding: .utf8)
        chmod(bundle, 0o644)
        let confPath = "\(system.root)/etc/postamt/postamt.conf"
        try (String(contentsOfFile: confPath, encoding: .utf8) + "\nremote_tls_ca_file = \(bundle)\n").write(toFile: confPath, atomically: true, encoding: .utf8)
        try writeResults(bed, day: "2026-01-02", [
            "sts\tip.test\tmx.ip.test\t198.51.100.1\tsuccess\t127.0.0.1",
            "sts\tdnsonly.test\tmx.dnsonly.test\t198.51.100.2\tsuccess\t127.0.0.1",
        ])
        let r = try system.postamt(["tlsrpt", "send", "--day", "2026-01-02"])
        #expect(r.status == 75, "dnsonly.test fails: \(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("ip.test: report of 2026-01-02 posted to https://\(ip):\(server.port)/ip (HTTP 202)"), "\(r.stdout)")
        #expect(r.stdout.contains("ip.test: report of 2026-01-02 posted to https://reports.test:\(server.port)/named (HTTP 202)"), "\(r.stdout)")
        #expect(r.stdout.contains("dnsonly.test: cannot post the report to https://127.0.0.25:\(dnsOnly.port)/x")
                && r.stdout.contains("IP address mismatch"), "\(r.stdout)")
        #expect(dnsOnly.posted().isEmpty)
        #expect(r.stdout.contains("ip.test: report of 2026-01-02 posted to https://[::1]:\(v6.port)/v6 (HTTP 202)"), "\(r.stdout)")
        let byV6 = v6.posted().first
        #expect(byV6?.record["host"] as? String == "[::1]:\(v6.port)" && byV6?.record["sni"] is NSNull, "\(v6.posted().map(\.record))")
        let posts = server.posted()
        let byIP = posts.first { $0.record["path"] as? String == "/ip" }
        let byName = posts.first { $0.record["path"] as? String == "/named" }
        #expect(byIP?.record["host"] as? String == "\(ip):\(server.port)", "\(posts.map(\.record))")
        #expect(byIP?.record["sni"] is NSNull, "\(posts.map(\.record))")
        #expect(byName?.record["sni"] as? String == "reports.test", "\(posts.map(\.record))")
        let check = try validate(system, gzipped: byIP?.body ?? Data())
        #expect(check.stdout.contains("valid ip.test 1 0"), "\(check.stdout) \(check.stderr)")
    }

    /// A rua server slower than tlsrpt_https_timeout (5s here) is a failure, retried later.
    @Test func slowServerIsAFailure() throws {
        let (bed, server) = try bed(rua: ["slow.test": "https://reports.test:PORT/slow"])
        try writeResults(bed, day: "2026-01-02", ["sts\tslow.test\tmx.slow.test\t198.51.100.1\tsuccess\t127.0.0.1"])
        try "8".write(toFile: "\(server.root)/slow", atomically: true, encoding: .utf8)
        let r = try bed.system.postamt(["tlsrpt", "send", "--day", "2026-01-02"])
        #expect(r.status == 75, "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("slow.test: cannot post the report to https://reports.test:\(server.port)/slow") && r.stdout.contains("timed out"), "\(r.stdout)")
        let sent = (try? String(contentsOfFile: "\(bed.system.root)/var/lib/postamt/tlsrpt/2026-01-02.sent", encoding: .utf8)) ?? ""
        #expect(!sent.contains("slow.test"), "\(sent)")
    }
}

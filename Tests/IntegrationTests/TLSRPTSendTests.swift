import Foundation
import Glibc
import Testing

/// `postamt tlsrpt send` (RFC 8460 §5): a day of synthetic results becomes a queued
/// multipart/report whose gzip part holds a report that validates against TLSRPTTests.schema.
@Suite(.serialized, .enabled(if: RemoteTestBed.canRun, "needs root (users, setpriv) and dnsmasq (apt-get install dnsmasq-base)"))
struct TLSRPTSendTests {
    @Test(.enabled(if: TLSRPTTests.hasJSONSchema, "needs python3-jsonschema"))
    func reportIsQueuedGzippedAndValid() throws {
        let bed = try RemoteTestBed(records: [
            // dnsmasq splits TXT strings at commas: one URI per record here.
            "--txt-record=_smtp._tls.example.test,v=TLSRPTv1; rua=mailto:tls%2Dreports@reports.test",
            "--txt-record=_smtp._tls.https.test,v=TLSRPTv1; rua=https://reports.test/x",
        ])
        let system = bed.system
        // The runner creates the queue; stopped, so the report stays there to be read.
        try system.startRunner()
        system.stopRunner()
        let dir = "\(system.root)/var/lib/postamt/tlsrpt"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let lines = [
            "sts\texample.test\tmx1.example.test\t198.51.100.1\tsuccess",
            "sts\texample.test\tmx2.example.test\t198.51.100.2\tcertificate-expired",
            "sts\thttps.test\tmx.https.test\t198.51.100.4\tsuccess",
            "tlsa\tnorua.test\tmx.norua.test\t198.51.100.3\tsuccess",
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: "\(dir)/2026-01-02", atomically: true, encoding: .utf8)
        let r = try system.postamt(["tlsrpt", "send", "--day", "2026-01-02"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("example.test: report of 2026-01-02 queued for tls-reports@reports.test"), "\(r.stdout)")
        #expect(r.stdout.contains("https://reports.test/x is not a mailto: URI"), "\(r.stdout)")
        #expect(r.stdout.contains("norua.test: no TLSRPT record"), "\(r.stdout)")
        let found = try run("/bin/grep", ["-rl", "^TLS-Report-Domain: example.test", system.queue])
        let files = found.stdout.split(separator: "\n").map(String.init)
        #expect(files.count == 1, "\(found.stdout)")
        let envelopes = try run("/bin/grep", ["-rl", "^rcpt tls-reports@reports.test$", system.queue])
        let envelope = try String(contentsOfFile: envelopes.stdout.split(separator: "\n").first.map(String.init) ?? "/nonexistent", encoding: .utf8)
        #expect(envelope.contains("submitter root\n"), "\(envelope)")
        try TLSRPTTests.schema.write(toFile: "\(system.root)/schema.json", atomically: true, encoding: .utf8)
        let check = try run("/usr/bin/python3", ["-c", """
            import email, gzip, json, sys, jsonschema
            m = email.message_from_binary_file(open(sys.argv[2], "rb"))
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
        // A second run of the same day queues nothing more.
        let again = try system.postamt(["tlsrpt", "send", "--day", "2026-01-02"])
        #expect(again.status == 0)
        #expect(try run("/bin/grep", ["-rl", "^TLS-Report-Domain: example.test", system.queue]).stdout.split(separator: "\n").count == 1)
    }
}

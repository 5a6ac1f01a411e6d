import Foundation
import Glibc
import Testing

/// `postamt dns` prints zone-file records an independent parser accepts (dnspython's zone
/// parser), including the DKIM key `postamt dkim keygen` made.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct DNSRecordsTests {
    static let dnspython = (try? run("/usr/bin/python3", ["-c", "import dns.zone"]))?.status == 0

    @Test(.enabled(if: DNSRecordsTests.dnspython, "dnspython is not installed (python3-dnspython, pulled in by python3-dkim)"))
    func recordsParseAsAZone() throws {
        let system = try Installation(config: "myhostname = mail.example.org\ndkim_key_directory = @ROOT@/etc/postamt/dkim\n")
        let confPath = "\(system.root)/etc/postamt/postamt.conf"
        let conf = try String(contentsOfFile: confPath, encoding: .utf8).replacingOccurrences(of: "@ROOT@", with: system.root)
        try conf.write(toFile: confPath, atomically: true, encoding: .utf8)
        for type in ["rsa", "ed25519"] {
            let keygen = try system.postamt(["dkim", "keygen", "example.org", "--selector", "s\(type)", "--type", type])
            #expect(keygen.status == 0, "\(keygen.stderr)")
        }
        let dns = try system.postamt(["dns", "example.org"])
        #expect(dns.status == 0, "\(dns.stderr)")
        let zoneFile = "\(system.root)/zone.txt"
        try ("$TTL 3600\n@ IN SOA ns.example.org. hostmaster.example.org. 1 3600 600 86400 3600\n@ IN NS ns.example.org.\n" + dns.stdout)
            .write(toFile: zoneFile, atomically: true, encoding: .utf8)
        let check = try run("/usr/bin/python3", ["-c", """
            import base64, dns.zone, sys
            z = dns.zone.from_text(open(sys.argv[1]).read(), origin="example.org.", relativize=False)
            def txt(name):
                node = z.get_node(name)
                return ["".join(s.decode() for s in r.strings) for r in node.get_rdataset(1, 16)] if node else []
            mx = z.get_node("example.org.").get_rdataset(1, 15)
            assert [str(r.exchange) for r in mx] == ["mail.example.org."], mx
            assert any(t.startswith("v=spf1 ") for t in txt("example.org.")), txt("example.org.")
            assert txt("_dmarc.example.org.")[0].startswith("v=DMARC1; p="), txt("_dmarc.example.org.")
            for sel, k in (("srsa", "rsa"), ("sed25519", "ed25519")):
                rec = txt(sel + "._domainkey.example.org.")[0]
                tags = dict(t.strip().split("=", 1) for t in rec.split(";") if t.strip())
                assert tags["v"] == "DKIM1" and tags["k"] == k, tags
                key = base64.b64decode(tags["p"], validate=True)
                assert len(key) >= (32 if k == "ed25519" else 200), len(key)
            def srv(name):
                node = z.get_node(name)
                return [(r.priority, r.weight, r.port, str(r.target)) for r in node.get_rdataset(1, 33)] if node else []
            # RFC 6186 for the default autoconfig_services; a service not offered is "0 0 0 .".
            assert srv("_submissions._tcp.example.org.") == [(0, 1, 465, "mail.example.org.")], srv("_submissions._tcp.example.org.")
            assert srv("_submission._tcp.example.org.") == [(0, 1, 587, "mail.example.org.")]
            assert srv("_imaps._tcp.example.org.") == [(0, 1, 993, "mail.example.org.")]
            assert srv("_pop3s._tcp.example.org.") == [(0, 1, 995, "mail.example.org.")]
            assert srv("_imap._tcp.example.org.") == [(0, 0, 0, ".")] and srv("_pop3._tcp.example.org.") == [(0, 0, 0, ".")]
            assert srv("_autodiscover._tcp.example.org.") == [(0, 1, 443, "mail.example.org.")]
            for name in ("autoconfig", "autodiscover"):
                assert [str(r.target) for r in z.get_node(name + ".example.org.").get_rdataset(1, 5)] == ["mail.example.org."]
            print("zone ok")
            """, zoneFile])
        #expect(check.stdout.contains("zone ok"), "\(check.stdout)\(check.stderr)\n\(dns.stdout)")
    }
}

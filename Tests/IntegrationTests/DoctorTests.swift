import Foundation
import Glibc
import Testing
import TestSupport

/// `postamt doctor` against dnsmasq zones that are right and wrong in each way it checks, with
/// the scripted SMTP server of RemoteTestBed as this host's STARTTLS service (mx.ok.test on
/// 127.0.0.2, certificate valid for two days).
final class DoctorBed {
    let bed: RemoteTestBed
    let work: String

    /// Two ed25519 keys: A is installed for good.test and published there; bad.test installs B
    /// but publishes A.
    /// `tlsa`: the RDATA (hex) of a TLSA record for mx.ok.test's SMTP port, from the
    /// certificate's SPKI and full SHA-256.
    init(tlsa: ((_ spki: String, _ full: String) -> String)? = nil) throws {
        work = makeTemporaryDirectory(prefix: "postamt-doctor")
        var published: [String] = []
        for name in ["a", "b"] {
            let r = try run("/usr/bin/openssl", ["genpkey", "-algorithm", "ed25519", "-out", "\(work)/\(name).key"])
            guard r.status == 0 else { throw HarnessError("openssl genpkey: \(r.stderr)") }
            let pub = try run("/bin/sh", ["-c", "openssl pkey -in \"$0\" -pubout -outform DER | tail -c 32 | base64 -w0", "\(work)/\(name).key"])
            published.append(pub.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let dkimA = "v=DKIM1; k=ed25519; p=\(published[0])"
        let spfLong = "v=spf1 " + String(repeating: "include:never.spfl.test ", count: 11) + "-all"
        bed = try RemoteTestBed(config: "", recordsFor: { cert, port in
            guard let tlsa else { return [] }
            let (spki, full) = try DoctorBed.hashes(cert)
            return ["--dns-rr=_\(port)._tcp.mx.ok.test,52,\(tlsa(spki, full))"]
        }, records: [
            "--mx-host=good.test,mx.ok.test,10",
            "--txt-record=good.test,v=spf1 ip4:127.0.0.2 -all",
            "--txt-record=postamt._domainkey.good.test,\(dkimA)",
            "--txt-record=_dmarc.good.test,v=DMARC1; p=reject; rua=mailto:postmaster@good.test",
            "--mx-host=bad.test,mx.elsewhere.test,10", "--address=/mx.elsewhere.test/192.0.2.7",
            "--txt-record=bad.test,v=spf1 ip4:192.0.2.1 -all",
            "--txt-record=postamt._domainkey.bad.test,\(dkimA)",
            "--mx-host=spf2.test,mx.ok.test,10",
            "--txt-record=spf2.test,v=spf1 ip4:127.0.0.2 -all", "--txt-record=spf2.test,v=spf1 mx -all",
            "--mx-host=spflong.test,mx.ok.test,10", "--txt-record=spflong.test,\(spfLong)",
            "--txt-record=never.spfl.test,v=spf1 -all",
            "--mx-host=nomx.test,nothere.nomx.test,10",
            // 127.0.0.30: no PTR (the reverse zone is local: NXDOMAIN), and listed in bl.test.
            "--local=/0.0.127.in-addr.arpa/",
            "--address=/30.0.0.127.bl.test/127.0.0.2",
            // 127.0.0.31: a PTR whose name does not resolve back (no forward confirmation).
            "--ptr-record=31.0.0.127.in-addr.arpa,nowhere.ok.test",
            // A name of this host that its certificate does not cover.
            "--address=/other.ok.test/127.0.0.2",
            // DMARC that neither SPF (wrong address) nor DKIM (no key here) can align with, and
            // one that does not parse.
            "--mx-host=noalign.test,mx.ok.test,10", "--txt-record=noalign.test,v=spf1 ip4:192.0.2.1 -all",
            "--txt-record=_dmarc.noalign.test,v=DMARC1; p=reject",
            "--mx-host=badmarc.test,mx.ok.test,10", "--txt-record=badmarc.test,v=spf1 ip4:127.0.0.2 -all",
            "--txt-record=_dmarc.badmarc.test,v=DMARC1; p=sometimes",
            // Two selectors: postamt is published, second (a key of its own) is not.
            "--mx-host=twosel.test,mx.ok.test,10", "--txt-record=twosel.test,v=spf1 ip4:127.0.0.2 -all",
            "--txt-record=postamt._domainkey.twosel.test,\(dkimA)", "--txt-record=_dmarc.twosel.test,v=DMARC1; p=reject",
        ])
        try append("""
        myhostname = mx.ok.test
        doctor_smtp_ports = \(bed.smtpPort)
        doctor_tls_ports =
        doctor_dnsbl_zones = bl.test
        remote_tls_ca_file = \(bed.certificate)
        """)
        for (domain, key, selector) in [("good.test", "a", "postamt"), ("bad.test", "b", "postamt"), ("twosel.test", "a", "postamt"), ("twosel.test", "b", "second")] {
            let d = "\(bed.system.root)/etc/postamt/dkim/\(domain)"
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "\(work)/\(key).key", toPath: "\(d)/\(selector).key")
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: work) }

    /// The SPKI and certificate SHA-256 of a certificate, as hex.
    static func hashes(_ cert: String) throws -> (spki: String, full: String) {
        func sha256(_ pipeline: String) throws -> String {
            try run("/bin/sh", ["-c", pipeline + " | sha256sum | cut -d' ' -f1", cert]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return (try sha256("openssl x509 -in \"$0\" -pubkey -noout | openssl pkey -pubin -outform DER"),
                try sha256("openssl x509 -in \"$0\" -outform DER"))
    }

    func append(_ text: String) throws {
        let path = "\(bed.system.root)/etc/postamt/postamt.conf"
        try (String(contentsOfFile: path, encoding: .utf8) + "\n" + text + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Runs `postamt doctor --json DOMAIN`: the exit status and the findings.
    func doctor(_ domain: String) throws -> (status: Int32, findings: [[String: String]], json: [String: Any], stderr: String) {
        let r = try run("\(bed.system.root)/bin/postamt", ["doctor", "--json", domain], environment: bed.system.environment)
        let json = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
        return (r.status, (json["findings"] as? [[String: String]]) ?? [], json, r.stdout + r.stderr)
    }
}

@Suite(.serialized, .enabled(if: RemoteTestBed.canRun, "needs root (users, setpriv) and dnsmasq (apt-get install dnsmasq-base)"))
struct DoctorTests {
    @Test func rightDomainHasNoErrors() throws {
        let doctor = try DoctorBed()
        let r = try doctor.doctor("good.test")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.json["errors"] as? Int == 0, "\(r.findings)")
        for check in ["mx", "address", "ptr", "spf", "dkim", "dmarc", "dnsbl", "port", "tls"] {
            #expect(r.findings.contains { $0["check"] == check && $0["level"] == "ok" }, "\(check): \(r.findings)")
        }
        // The test certificate lives two days: less than doctor_certificate_warning_days.
        #expect(r.findings.contains { $0["check"] == "tls" && $0["level"] == "warning" && $0["text"]!.contains("expires in") }, "\(r.findings)")
        #expect(r.findings.contains { $0["check"] == "mta-sts" && $0["level"] == "info" })
        // The text form says the same for people.
        let text = try run("\(doctor.bed.system.root)/bin/postamt", ["doctor", "good.test"], environment: doctor.bed.system.environment)
        #expect(text.status == 0)
        #expect(text.stdout.contains("[ok] dkim: postamt._domainkey.good.test publishes the key"), "\(text.stdout)")
        #expect(text.stdout.hasSuffix("good.test: 0 errors, 1 warning\n"), "\(text.stdout)")
    }

    @Test(arguments: [
        ("bad.test", "", "mx", "none of them is this host"),
        ("bad.test", "", "spf", "does not include 127.0.0.2"),
        ("bad.test", "", "dkim", "different key"),
        ("bad.test", "", "dmarc", "no DMARC record"),
        ("spf2.test", "", "spf", "2 SPF records"),
        ("spflong.test", "", "spf", "invalid"),
        ("nomx.test", "", "mx", "none of them is this host"),
        ("absent.test", "", "mx", "does not exist"),
        ("good.test", "doctor_host_addresses = 127.0.0.30", "ptr", "no PTR"),
        ("good.test", "doctor_host_addresses = 127.0.0.31", "ptr", "does not resolve back to 127.0.0.31"),
        ("good.test", "doctor_host_addresses = 127.0.0.30", "dnsbl", "listed in bl.test"),
        ("good.test", "doctor_host_addresses = 127.0.0.30", "spf", "does not include 127.0.0.30"),
        ("good.test", "myhostname = other.ok.test", "tls", "does not verify"),
        ("good.test", "doctor_smtp_ports = 1", "port", "not reachable"),
        ("noalign.test", "", "dmarc", "neither SPF nor DKIM can align"),
        ("badmarc.test", "", "dmarc", "is invalid"),
        ("good.test", "myhostname = noaddr.ok.test", "address", "has no A or AAAA record"),
        ("twosel.test", "", "dkim", "second._domainkey.twosel.test has no TXT record"),
    ])
    func wrongSetupIsAnErrorWithAFix(domain: String, config: String, check: String, text: String) throws {
        let doctor = try DoctorBed()
        try doctor.append(config)
        let r = try doctor.doctor(domain)
        #expect(r.status == 1, "\(r.stderr)")
        let finding = r.findings.first { $0["check"] == check && $0["level"] == "error" && $0["text"]!.contains(text) }
        #expect(finding != nil, "\(r.findings)")
        #expect(finding?["fix"]?.isEmpty == false, "\(String(describing: finding))")
    }

    /// TLSA for the SMTP port (dnsmasq serves them with --dns-rr): SPKI matches (ok), only the
    /// whole certificate matches (warning: a renewal breaks it), nothing matches (error), none (info).
    @Test(arguments: [("ok", "3 1 1 matches"), ("warning", "next renewal breaks DANE"), ("error", "matches the certificate served"),
                      ("info", "has no TLSA records")])
    func tlsaAgainstTheCertificate(level: String, text: String) throws {
        let doctor = try DoctorBed(tlsa: level == "info" ? nil : { spki, full in
            level == "ok" ? "030101" + spki : level == "warning" ? "030001" + full : "030101" + String(repeating: "ab", count: 32)
        })
        let r = try doctor.doctor("good.test")
        let finding = r.findings.first { $0["check"] == "tlsa" }
        #expect(finding?["level"] == level, "\(r.findings)")
        #expect(finding?["text"]?.contains(text) == true, "\(String(describing: finding))")
        if level != "ok" {
            #expect(finding?["fix"]?.contains("TLSA\t3 1 1 \(try DoctorBed.hashes(doctor.bed.certificate).spki)") == true, "\(String(describing: finding))")
        }
    }

    /// An implicit-TLS service on this host's address (Python's ssl) with certificates made by
    /// Python's cryptography: "expired" (self-signed, expired three days ago), "leaf" (signed by
    /// an intermediate that is not sent) or "chain" (leaf and intermediate). The root CA of the
    /// latter two is written to WORK/chain-root.pem. Returns the port; stop it with the lifeline.
    func serveTLS(_ doctor: DoctorBed, _ mode: String) throws -> (port: UInt16, server: Process, lifeline: Pipe) {
        let port = try RemoteTestBed.freePort(host: "127.0.0.2", udpToo: false)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = ["-c", """
            import datetime, socket, ssl, sys, threading
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.x509.oid import NameOID
            port, work, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
            now = datetime.datetime.now(datetime.timezone.utc)
            def cert(cn, key, issuer, issuer_key, ca, before, after):
                b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                     .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(before).not_valid_after(after)
                     .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
                if not ca: b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
                return b.sign(issuer_key, hashes.SHA256())
            pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
            day = datetime.timedelta(days=1)
            leaf_key = ec.generate_private_key(ec.SECP256R1())
            if mode == "expired":
                name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.ok.test")])
                chain = [cert("mx.ok.test", leaf_key, name, leaf_key, False, now - 10 * day, now - 3 * day - datetime.timedelta(hours=1))]
            else:
                root_key, mid_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
                root = cert("Doctor Test Root", root_key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Doctor Test Root")]), root_key, True, now - day, now + 60 * day)
                mid = cert("Doctor Test Intermediate", mid_key, root.subject, root_key, True, now - day, now + 60 * day)
                chain = [cert("mx.ok.test", leaf_key, mid.subject, mid_key, False, now - day, now + 60 * day)] + ([mid] if mode == "chain" else [])
                open(work + "/chain-root.pem", "wb").write(pem(root))
            open(work + "/served.pem", "wb").write(b"".join(pem(c) for c in chain))
            open(work + "/served.key", "wb").write(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(work + "/served.pem", work + "/served.key")
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.2", port)); s.listen(5)
            def serve():
                while True:
                    c, _ = s.accept()
                    try:
                        t = ctx.wrap_socket(c, server_side=True); t.recv(1)
                    except Exception:
                        pass
                    c.close()
            threading.Thread(target=serve, daemon=True).start()
            print("ready", flush=True)
            sys.stdin.readline()
            """, String(port), doctor.work, mode]
        let lifeline = Pipe(), ready = Pipe()
        server.standardInput = lifeline
        server.standardOutput = ready
        try server.run()
        guard ready.fileHandleForReading.availableDataOrWait().starts(with: Data("ready".utf8)) else {
            throw HarnessError("the TLS test service did not start")
        }
        return (port, server, lifeline)
    }

    /// A TLS service whose certificate expired is an error with a fix.
    @Test(.enabled(if: DoctorTests.hasCryptography, "needs python3-cryptography"))
    func expiredCertificateIsAnError() throws {
        let doctor = try DoctorBed()
        let (port, server, lifeline) = try serveTLS(doctor, "expired")
        defer { try? lifeline.fileHandleForWriting.close(); server.waitUntilExit() }
        try doctor.append("doctor_tls_ports = \(port)")
        let r = try doctor.doctor("good.test")
        #expect(r.status == 1, "\(r.stderr)")
        let finding = r.findings.first { $0["check"] == "tls" && $0["level"] == "error" && $0["text"]!.contains("expired 3 days ago") }
        #expect(finding?["fix"]?.contains("renew") == true, "\(r.findings)")
    }

    /// "Chain complete": a service that sends its leaf without the intermediate does not verify
    /// against the root (an error whose fix is the full chain); with the intermediate it does.
    @Test(.enabled(if: DoctorTests.hasCryptography, "needs python3-cryptography"), arguments: [("leaf", "error"), ("chain", "ok")])
    func incompleteChainIsAnError(mode: String, level: String) throws {
        let doctor = try DoctorBed()
        let (port, server, lifeline) = try serveTLS(doctor, mode)
        defer { try? lifeline.fileHandleForWriting.close(); server.waitUntilExit() }
        chmod(doctor.work, 0o755)
        try doctor.append("doctor_tls_ports = \(port)\nremote_tls_ca_file = \(doctor.work)/chain-root.pem")
        let r = try doctor.doctor("good.test")
        let finding = r.findings.first { $0["check"] == "tls" && $0["text"]!.contains(":\(port)") && ($0["level"] == "ok" || $0["level"] == "error") }
        #expect(finding?["level"] == level, "\(r.findings)")
        if level == "error" {
            #expect(finding?["text"]?.contains("does not verify for mx.ok.test") == true, "\(r.findings)")
            #expect(finding?["fix"]?.contains("full chain") == true, "\(r.findings)")
        } else {
            #expect(finding?["text"]?.contains("with a complete chain") == true, "\(r.findings)")
        }
    }

    static let hasCryptography = (try? run("/usr/bin/python3", ["-c", "import cryptography"]))?.status == 0

    @Test func badArgument() throws {
        let doctor = try DoctorBed()
        let r = try run("\(doctor.bed.system.root)/bin/postamt", ["doctor", "not a domain"], environment: doctor.bed.system.environment)
        #expect(r.status == 1)
        #expect(r.stderr.contains("not a domain"))
    }
}

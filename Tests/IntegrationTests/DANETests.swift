import Foundation
import Glibc
import Testing
import TestSupport

/// DANE (RFC 7672) in postamt-remote: a zone signed in the test with ldns-signzone, served by
/// one unbound (auth-zone) and validated by another (the local validating resolver, whose AD
/// bit postamt-remote trusts), with TLSA records for the scripted SMTP servers of RemoteTestBed.
final class DANEBed {
    static let unbound = "/usr/sbin/unbound"
    static let signzone = "/usr/bin/ldns-signzone"
    static var canRun: Bool {
        RemoteTestBed.canRun && FileManager.default.isExecutableFile(atPath: unbound)
            && FileManager.default.isExecutableFile(atPath: signzone)
    }

    /// Where daneWinsOverMTASTS serves the MTA-STS policy of both.dane.test.
    static let policyAddress = "127.0.0.23"

    let bed: RemoteTestBed
    let work: String
    let resolverPort: UInt16
    /// SHA-256 (hex) of the SMTP server certificate's public key: the data of its "3 1 1" TLSA records.
    let spkiHash: String
    private var servers: [Process] = []
    private let taServer = Process()
    private let taLifeline = Pipe()

    init() throws {
        bed = try RemoteTestBed()
        work = makeTemporaryDirectory(prefix: "postamt-dane")
        let cert = bed.certificate
        func sha256(_ pipeline: String) throws -> String {
            let r = try run("/bin/sh", ["-c", pipeline + " | sha256sum | cut -d' ' -f1", cert])
            guard r.status == 0 else { throw HarnessError("\(pipeline): \(r.stderr)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // DANE-TA needs a trust anchor above the leaf: a test CA and a server certificate for
        // mx-ta.dane.test from it, served (chain: leaf, CA) by a second scripted server on .21.
        let (ca, taCert, taKey) = try makeTestCA(in: work, commonName: "DANE Test CA", leaf: "ta", dnsNames: ["mx-ta.dane.test"])
        try (String(contentsOfFile: taCert, encoding: .utf8) + String(contentsOfFile: ca, encoding: .utf8))
            .write(toFile: "\(work)/ta-chain.pem", atomically: true, encoding: .utf8)
        let caHash = try sha256("openssl x509 -in \"$0\" -outform DER".replacingOccurrences(of: "$0", with: ca))
        try FileManager.default.createDirectory(atPath: "\(work)/outbox", withIntermediateDirectories: true)
        try remoteTestServerScript.write(toFile: "\(work)/server.py", atomically: true, encoding: .utf8)
        taServer.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        taServer.arguments = ["\(work)/server.py", "\(work)/outbox", String(bed.smtpPort), "\(work)/ta-chain.pem", taKey]
        taServer.standardInput = taLifeline
        let ready = Pipe()
        taServer.standardOutput = ready
        taServer.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try taServer.run()
        taLifeline.fileHandleForWriting.write(Data("[[\"127.0.0.21\", \"ok,tls\"]]\n".utf8))
        guard ready.fileHandleForReading.availableDataOrWait().starts(with: Data("ready".utf8)) else {
            throw HarnessError("the DANE-TA test server did not start")
        }

        let spki = try sha256("openssl x509 -in \"$0\" -pubkey -noout | openssl pkey -pubin -outform DER")
        spkiHash = spki
        let full = try sha256("openssl x509 -in \"$0\" -outform DER")
        let port = bed.smtpPort
        let wrong = String(repeating: "ab", count: 32)
        let bogus = String(repeating: "cd", count: 32)
        let zone = """
        $ORIGIN dane.test.
        $TTL 300
        @ IN SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 300
        @ IN NS ns.dane.test.
        ns IN A 127.0.0.1
        ee IN MX 10 mx-ee.dane.test.
        mx-ee IN A 127.0.0.2
        _\(port)._tcp.mx-ee IN TLSA 3 1 1 \(spki)
        ta IN MX 10 mx-ta.dane.test.
        mx-ta IN A 127.0.0.21
        _\(port)._tcp.mx-ta IN TLSA 2 0 1 \(caHash)
        ta-name IN MX 10 mx-ta-name.dane.test.
        mx-ta-name IN A 127.0.0.21
        _\(port)._tcp.mx-ta-name IN TLSA 2 0 1 \(caHash)
        eefull IN MX 10 mx-eefull.dane.test.
        mx-eefull IN A 127.0.0.2
        _\(port)._tcp.mx-eefull IN TLSA 3 0 1 \(full)
        bad IN MX 10 mx-bad.dane.test.
        mx-bad IN A 127.0.0.2
        _\(port)._tcp.mx-bad IN TLSA 3 1 1 \(wrong)
        bogus IN MX 10 mx-bogus.dane.test.
        mx-bogus IN A 127.0.0.2
        _\(port)._tcp.mx-bogus IN TLSA 3 1 1 \(bogus)
        plain IN MX 10 mx-plain.dane.test.
        mx-plain IN A 127.0.0.8
        _\(port)._tcp.mx-plain IN TLSA 3 1 1 \(spki)
        unusable IN MX 10 mx-unusable.dane.test.
        mx-unusable IN A 127.0.0.2
        _\(port)._tcp.mx-unusable IN TLSA 1 1 1 \(spki)
        none IN MX 10 mx-none.dane.test.
        mx-none IN A 127.0.0.3
        both IN MX 10 mx-ee.dane.test.
        _mta-sts.both IN TXT "v=STSv1; id=1"
        mta-sts.both IN A \(DANEBed.policyAddress)

        """
        try zone.write(toFile: "\(work)/dane.test.zone", atomically: true, encoding: .utf8)
        var keys: [String] = []
        for flags in [["-k"], []] {
            let r = try run("/bin/sh", ["-c", "cd \"$0\" && ldns-keygen -a ECDSAP256SHA256 \"$@\" dane.test", work] + flags)
            guard r.status == 0 else { throw HarnessError("ldns-keygen: \(r.stderr)") }
            keys.append(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let sign = try run("/bin/sh", ["-c", "cd \"$0\" && ldns-signzone dane.test.zone \"$1\" \"$2\"", work, keys[0], keys[1]])
        guard sign.status == 0 else { throw HarnessError("ldns-signzone: \(sign.stderr)") }
        // Bogus: change the TLSA data of mx-bogus after signing; its RRSIG no longer matches.
        let signedPath = "\(work)/dane.test.zone.signed"
        let signed = try String(contentsOfFile: signedPath, encoding: .utf8)
        guard signed.contains(bogus) else { throw HarnessError("signed zone lacks the bogus record") }
        try signed.replacingOccurrences(of: bogus, with: String(repeating: "ef", count: 32))
            .write(toFile: signedPath, atomically: true, encoding: .utf8)

        let authPort = try RemoteTestBed.freePort(host: "127.0.0.1", udpToo: true)
        var port2 = try RemoteTestBed.freePort(host: "127.0.0.1", udpToo: true)
        while port2 == authPort || port2 == bed.dnsPort { port2 = try RemoteTestBed.freePort(host: "127.0.0.1", udpToo: true) }
        resolverPort = port2
        let common = """
        server:
          do-daemonize: no
          username: ""
          chroot: ""
          directory: "\(work)"
          pidfile: ""
          use-syslog: no
          logfile: ""
          verbosity: 0
          local-zone: "test." nodefault
          do-not-query-localhost: no
          qname-minimisation: no
        remote-control:
          control-enable: no

        """
        try (common + """
        server:
          interface: 127.0.0.1@\(authPort)
          module-config: "iterator"
        auth-zone:
          name: "dane.test"
          zonefile: "\(signedPath)"
          for-downstream: yes
          for-upstream: no

        """).write(toFile: "\(work)/auth.conf", atomically: true, encoding: .utf8)
        try (common + """
        server:
          interface: 127.0.0.1@\(resolverPort)
          module-config: "validator iterator"
          trust-anchor-file: "\(work)/\(keys[0]).key"
        stub-zone:
          name: "dane.test"
          stub-addr: 127.0.0.1@\(authPort)

        """).write(toFile: "\(work)/resolver.conf", atomically: true, encoding: .utf8)
        for conf in ["auth.conf", "resolver.conf"] {
            // Started directly (no lifeline shell): a later child would inherit a lifeline's
            // write end and keep the shell from ever seeing its end.
            let p = Process()
            p.executableURL = URL(fileURLWithPath: DANEBed.unbound)
            p.arguments = ["-d", "-c", "\(work)/\(conf)"]
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try p.run()
            servers.append(p)
        }
        // Ready once the validating resolver answers with AD (trust anchor primed).
        try waitFor("unbound", timeout: 20) {
            (try? run("/usr/bin/python3", ["-c", """
                import socket,struct,sys
                s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(0.5)
                q=struct.pack('>HHHHHH',1,0x0120,1,0,0,0)+b'\\x02ee\\x04dane\\x04test\\x00'+struct.pack('>HH',15,1)
                s.sendto(q,('127.0.0.1',\(resolverPort))); r=s.recv(512)
                sys.exit(0 if struct.unpack('>H',r[2:4])[0] & 0x20 else 1)
                """]).status == 0) ?? false
        }
        try setConfig("dane = yes\ndane_nameserver = 127.0.0.1:\(resolverPort)")
    }

    deinit {
        try? taLifeline.fileHandleForWriting.close()
        if taServer.isRunning { taServer.terminate() }
        taServer.waitUntilExit()
        for p in servers where p.isRunning { p.terminate() }
        for p in servers { p.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: work)
    }

    func setConfig(_ text: String) throws {
        let path = "\(bed.system.root)/etc/postamt/postamt.conf"
        try (String(contentsOfFile: path, encoding: .utf8) + "\n" + text + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    func send(to domain: String) throws -> (reports: [String], log: String) {
        let r = try bed.remote([domain, "a@mail.test.example", "u@\(domain)"], message: "From: a@mail.test.example\nSubject: dane\n\nbody\n")
        return (RemoteTestBed.reports(r), r.stderr)
    }
}

@Suite(.serialized, .enabled(if: DANEBed.canRun, "needs root, dnsmasq, unbound and ldns-signzone (apt-get install dnsmasq-base unbound ldnsutils)"))
struct DANETests {
    @Test(arguments: [("ee.dane.test", "DANE 3 1 1"), ("eefull.dane.test", "DANE 3 0 1"), ("ta.dane.test", "DANE 2 0 1")])
    func matchingTLSADelivers(domain: String, match: String) throws {
        let dane = try DANEBed()
        let (reports, log) = try dane.send(to: domain)
        #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
        #expect(log.contains(match), "\(log)")
        #expect(log.contains("Verified TLS connection established"), "\(log)")
    }

    @Test(arguments: [
        ("bad.dane.test", "matches none of its DANE TLSA records"),
        // DANE-TA checks the name: the certificate is for mx-ta.dane.test, not mx-ta-name.
        ("ta-name.dane.test", "matches none of its DANE TLSA records"),
        ("bogus.dane.test", "TLSA lookup for mx-bogus.dane.test failed"),
        ("plain.dane.test", "does not offer STARTTLS and DANE (its TLSA records) requires TLS"),
    ])
    func mismatchBogusOrNoTLSDefers(domain: String, text: String) throws {
        let dane = try DANEBed()
        let (reports, log) = try dane.send(to: domain)
        #expect(reports.count == 1)
        #expect(reports.last?.hasPrefix("Z") == true, "\(reports) \(log)")
        #expect(reports.last?.contains(text) == true && reports.last?.contains("#4.7.5") == true, "\(reports) \(log)")
        #expect(dane.bed.received().isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(dane.work)/outbox")) ?? []).filter { $0.hasSuffix(".json") }.isEmpty)
    }

    /// Only unusable (PKIX) records: TLS is still required, without authentication.
    @Test func unusableRecordsStillRequireTLS() throws {
        let dane = try DANEBed()
        let (reports, log) = try dane.send(to: "unusable.dane.test")
        #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
        #expect(log.contains("0 usable"), "\(log)")
        #expect(dane.bed.received().first?.record["tls"] as? Bool == true)
    }

    /// No TLSA records: the TLS policy decides (may: plaintext with a server without STARTTLS).
    @Test func noTLSAFallsBackToThePolicy() throws {
        let dane = try DANEBed()
        let (reports, log) = try dane.send(to: "none.dane.test")
        #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
        #expect(!log.contains("DANE"), "\(log)")
        #expect(dane.bed.received().first?.record["tls"] as? Bool == false)
    }

    /// With dane = no the same mismatching records are not consulted.
    @Test func offBySetting() throws {
        let dane = try DANEBed()
        try dane.setConfig("dane = no\nremote_nameserver = 127.0.0.1:\(dane.resolverPort)")
        let (reports, log) = try dane.send(to: "bad.dane.test")
        #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
    }

    /// TLS reports of DANE sessions: the policy domain is the TLSA base domain, the MX host
    /// (RFC 8460 §3), and the policy-string its TLSA records in presentation format (RFC 8460
    /// §4.4, RFC 6698 §2.2); a failed TLSA lookup is dnssec-invalid for that host.
    @Test(.enabled(if: TLSRPTTests.hasJSONSchema, "needs python3-jsonschema"))
    func tlsReportsNameTheTLSARecords() throws {
        let dane = try DANEBed()
        // The state directory as installed: the mail owner's (postamt-remote records there).
        let state = "\(dane.bed.system.root)/var/lib/postamt"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let owner = getpwnam("postamt")!.pointee
        chown(state, owner.pw_uid, owner.pw_gid)
        let (reports, log) = try dane.send(to: "ee.dane.test")
        #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
        _ = try dane.send(to: "bogus.dane.test")
        let today = TLSRPTSendTests.day(0)
        let system = dane.bed.system
        let r = try system.postamt(["tlsrpt", "report", "--day", today, "mx-ee.dane.test"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try TLSRPTTests.validate(r.stdout, in: system.root).stdout.contains("valid"), "\(r.stdout)")
        let entries = TLSRPTTests.policies(r.stdout)
        let policy = entries.first?["policy"] as? [String: Any]
        #expect(entries.count == 1 && policy?["policy-type"] as? String == "tlsa", "\(r.stdout)")
        #expect(policy?["policy-string"] as? [String] == ["3 1 1 \(dane.spkiHash)"], "\(r.stdout)")
        #expect(policy?["policy-domain"] as? String == "mx-ee.dane.test")
        #expect(policy?["mx-host"] == nil, "\(r.stdout)")
        #expect((entries.first?["summary"] as? [String: Int])?["total-successful-session-count"] == 1)
        // Nothing of it is reported to the recipient domain.
        #expect(TLSRPTTests.policies(try system.postamt(["tlsrpt", "report", "--day", today, "ee.dane.test"]).stdout).isEmpty)
        let bogus = try system.postamt(["tlsrpt", "report", "--day", today, "mx-bogus.dane.test"])
        #expect(try TLSRPTTests.validate(bogus.stdout, in: system.root).stdout.contains("valid"), "\(bogus.stdout)")
        let details = TLSRPTTests.failureDetails(bogus.stdout)
        #expect(details.count == 1 && details.first?["result-type"] as? String == "dnssec-invalid", "\(bogus.stdout)")
    }

    /// RFC 8461 §2: where DANE TLSA records exist, DANE wins over MTA-STS. both.dane.test has
    /// TLSA records for its MX and an enforce policy that allows none of its MX hosts: with DANE
    /// the policy is not consulted and the mail goes over DANE-verified TLS; with dane = no the
    /// policy applies and the mail waits.
    @Test func daneWinsOverMTASTS() throws {
        let dane = try DANEBed()
        let https = try TestHTTPSServer(address: DANEBed.policyAddress, names: ["mta-sts.both.dane.test"])
        try "version: STSv1\r\nmode: enforce\r\nmx: mx.elsewhere.test\r\nmax_age: 86400\r\n"
            .write(toFile: "\(https.root)/mta-sts.both.dane.test", atomically: true, encoding: .utf8)
        try dane.setConfig("mta_sts_https_port = \(https.port)\nremote_tls_ca_file = \(https.caFile)\nmta_sts_cache_directory =")
        let (reports, log) = try dane.send(to: "both.dane.test")
        #expect(reports.last?.hasPrefix("K") == true, "\(reports) \(log)")
        #expect(log.contains("DANE 3 1 1"), "\(log)")
        #expect(!log.contains("MTA-STS"), "\(log)")
        try dane.setConfig("dane = no\nremote_nameserver = 127.0.0.1:\(dane.resolverPort)")
        let (without, log2) = try dane.send(to: "both.dane.test")
        #expect(without.last?.hasPrefix("Z") == true && without.last?.contains("MTA-STS") == true, "\(without) \(log2)")
        #expect(dane.bed.received().count == 1)
    }
}

import Foundation
@testable import MailDKIM
import MailMessage
import MailNet
import Testing
@testable import SpamCheck

/// SPF (RFC 7208) and DMARC (RFC 7489) against a dnsmasq on a loopback port.
@Suite(.enabled(if: Dnsmasq.isInstalled, "dnsmasq is not installed (apt-get install dnsmasq-base)"))
struct SPFTests {
    static let records: [String] = [
        "--host-record=ready.test,192.0.2.99",
        "--txt-record=pass.test,v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all",
        "--txt-record=soft.test,v=spf1 ip4:192.0.2.1 ~all",
        "--txt-record=neutral.test,v=spf1 ?all",
        "--txt-record=bad.test,v=spf1 frobnicate:x.test -all",
        "--txt-record=two.test,v=spf1 -all",
        "--txt-record=two.test,v=spf1 +all",
        "--txt-record=a.test,v=spf1 a mx -all",
        "--host-record=a.test,198.51.100.7",
        "--mx-host=a.test,mx.a.test,10",
        "--host-record=mx.a.test,198.51.100.8",
        "--txt-record=inc.test,v=spf1 include:inner.test redirect=red.test",
        "--txt-record=inner.test,v=spf1 ip4:203.0.113.5 -all",
        "--txt-record=red.test,v=spf1 exists:%{ir}.%{l}.ex.test -all",
        "--host-record=77.2.0.192.alice.ex.test,127.0.0.2",
        "--txt-record=temp.test,v=spf1 include:x.broken.example -all",
        "--server=/broken.example/127.0.0.1#9",
        // Eleven includes, each of a domain whose record does not match: the eleventh lookup
        // goes over the limit of ten.
        "--txt-record=many.test,v=spf1 " + (1...11).map { "include:n\($0).test" }.joined(separator: " ") + " -all",
    ] + (1...11).map { "--txt-record=n\($0).test,v=spf1 -all" } + [
        "--txt-record=_dmarc.dm.test,v=DMARC1; p=reject; adkim=r; aspf=r",
        "--txt-record=dm.test,v=spf1 ip4:192.0.2.0/24 -all",
        "--txt-record=_dmarc.quar.test,v=DMARC1; p=quarantine; sp=none",
        // RFC 5782 lists: 192.0.2.2 is listed (127.0.0.2), 192.0.2.3 gets an error code only.
        "--host-record=2.2.0.192.bl.test,127.0.0.2",
        "--host-record=3.2.0.192.bl.test,127.255.255.254",
        "--host-record=2.2.0.192.wl.test,127.0.10.0",
    ]

    let server: Dnsmasq
    let resolver: DNSResolver

    init() throws {
        server = try Dnsmasq(records: SPFTests.records)
        resolver = try server.resolver()
    }

    func spf(_ ip: String, _ sender: String, helo: String = "client.example") -> SPFResult {
        SPFChecker(dns: resolver).check(ip: IPAddress(ip)!, sender: sender, helo: helo)
    }

    @Test func passFailAndSoftfail() {
        #expect(spf("192.0.2.10", "user@pass.test") == .pass)
        #expect(spf("2001:db8::25", "user@pass.test") == .pass)
        #expect(spf("198.51.100.1", "user@pass.test") == .fail)
        #expect(spf("198.51.100.1", "user@soft.test") == .softfail)
        #expect(spf("198.51.100.1", "user@neutral.test") == .neutral)
        #expect(spf("198.51.100.1", "user@nothing.test") == .none)
    }

    @Test func aAndMxMechanisms() {
        #expect(spf("198.51.100.7", "u@a.test") == .pass)
        #expect(spf("198.51.100.8", "u@a.test") == .pass)
        #expect(spf("198.51.100.9", "u@a.test") == .fail)
    }

    @Test func includeRedirectAndMacros() {
        #expect(spf("203.0.113.5", "alice@inc.test") == .pass)     // through include
        #expect(spf("192.0.2.77", "alice@inc.test") == .pass)      // redirect, exists:%{ir}.%{l}
        #expect(spf("192.0.2.77", "bob@inc.test") == .fail)
        #expect(spf("192.0.2.78", "alice@inc.test") == .fail)
    }

    @Test func errors() {
        #expect(spf("192.0.2.1", "u@bad.test") == .permerror)
        #expect(spf("192.0.2.1", "u@two.test") == .permerror)
        #expect(spf("192.0.2.1", "u@temp.test") == .temperror)
        let checker = SPFChecker(dns: resolver)
        #expect(checker.check(ip: IPAddress("192.0.2.1")!, sender: "u@many.test", helo: "h") == .permerror)
        #expect(checker.reason.contains("more than 10 DNS lookups"))
    }

    @Test func nullSenderUsesHelo() {
        #expect(spf("192.0.2.10", "", helo: "pass.test") == .pass)
        #expect(spf("198.51.100.1", "", helo: "pass.test") == .fail)
    }

    @Test func macroExpansion() {
        let checker = SPFChecker(dns: resolver)
        let context = SPFChecker.Context(ip: IPAddress("192.0.2.3")!, sender: "strong-bad@email.example.com", helo: "mx.example.org")
        // RFC 7208 §7.4's examples.
        #expect(checker.expand("%{s}", context, domain: "email.example.com") == "strong-bad@email.example.com")
        #expect(checker.expand("%{d4}", context, domain: "email.example.com") == "email.example.com")
        #expect(checker.expand("%{d2}", context, domain: "email.example.com") == "example.com")
        #expect(checker.expand("%{dr}", context, domain: "email.example.com") == "com.example.email")
        #expect(checker.expand("%{l-}", context, domain: "email.example.com") == "strong.bad")
        #expect(checker.expand("%{lr-}", context, domain: "email.example.com") == "bad.strong")
        #expect(checker.expand("%{ir}.%{v}._spf.%{d2}", context, domain: "email.example.com") == "3.2.0.192.in-addr._spf.example.com")
        #expect(checker.expand("%{x}", context, domain: "d") == nil)
    }

    @Test func dmarcAlignmentAndPolicy() {
        let dmarc = DMARCChecker(dns: resolver)
        let pass = dmarc.check(fromDomain: "dm.test", spf: .pass, spfDomain: "mail.dm.test", dkimPassDomains: [])
        #expect(pass.result == .pass)
        let dkim = dmarc.check(fromDomain: "dm.test", spf: .fail, spfDomain: "other.example", dkimPassDomains: ["dm.test"])
        #expect(dkim.result == .pass)
        let fail = dmarc.check(fromDomain: "dm.test", spf: .pass, spfDomain: "other.example", dkimPassDomains: ["other.example"])
        #expect(fail.result == .fail && fail.policy == "reject")
        // A subdomain without a record of its own takes the organizational domain's sp=.
        let sub = dmarc.check(fromDomain: "news.quar.test", spf: .none, spfDomain: "", dkimPassDomains: [])
        #expect(sub.result == .fail && sub.policy == "none")
        #expect(dmarc.check(fromDomain: "nothing.test", spf: .none, spfDomain: "", dkimPassDomains: []).result == .none)
    }

    @Test func dnsListsOfTheClientAddress() {
        var options = SpamCheckOptions()
        options.databaseDirectory = "/nonexistent"
        options.dnsblZones = ["bl.test", "broken.example"]
        options.dnswlZones = ["wl.test"]
        let checker = SpamChecker(options: options, dns: resolver)
        func names(_ ip: String) -> [String] {
            var input = SpamCheckInput(message: Array("From: a@b.test\nDate: d\nMessage-ID: <1@b>\n\nx\n".utf8))
            input.clientIP = ip
            return checker.check(input).hits.map(\.name)
        }
        #expect(names("192.0.2.2").contains("DNSBL_BL_TEST"))
        #expect(names("192.0.2.2").contains("DNSWL_WL_TEST"))
        #expect(!names("192.0.2.3").contains { $0.hasPrefix("DNSBL") })   // an error code is no listing
        #expect(!names("192.0.2.4").contains { $0.hasPrefix("DNS") })     // and a failing zone never counts
    }

    @Test func dmarcRejectAtSMTPTime() {
        var options = SpamCheckOptions()
        options.dmarcReject = true
        options.hostname = "mx.here.test"
        let checker = SpamChecker(options: options, dns: resolver)
        var input = SpamCheckInput(message: Array("From: boss@dm.test\nDate: x\nMessage-ID: <1@x>\nSubject: pay\n\nnow\n".utf8))
        input.clientIP = "198.51.100.66"
        input.sender = "boss@dm.test"
        input.helo = "evil.example"
        let report = checker.check(input)
        #expect(report.hits.map(\.name).contains("SPF_FAIL"))
        #expect(report.hits.map(\.name).contains("DMARC_FAIL_REJECT"))
        #expect(report.rejectReason?.contains("DMARC") == true)
        let header = String(decoding: report.headerFields(authservID: "mx.here.test"), as: UTF8.self)
        #expect(header.contains("Authentication-Results: mx.here.test;"))
        #expect(header.contains("spf=fail"))
        #expect(header.contains("dmarc=fail"))
    }
}

/// DKIM signatures made by an independent signer (dkimpy's dkimsign) verify here.
@Suite(.enabled(if: Dnsmasq.isInstalled && DKIMTools.dkimsign != nil && DKIMTools.dknewkey != nil, "needs dnsmasq and dkimpy's dkimsign, dknewkey (pip install dkimpy pynacl)"))
struct DKIMTests {
    /// Removed with its keys when the test's instance goes.
    let keys = TemporaryDirectory(prefix: "postamt-spam")
    var directory: String { keys.path }
    let server: Dnsmasq
    let resolver: DNSResolver

    init() throws {
        var records = ["--host-record=ready.test,192.0.2.99"]
        for (name, type) in [("rsa", "rsa"), ("ed", "ed25519")] {
            let made = try shell(DKIMTools.dknewkey!, ["--ktype", type, name], directory: keys.path)
            guard made.status == 0 else { throw HarnessFailure("dknewkey: \(made.error)") }
            let dns = try String(contentsOfFile: "\(keys.path)/\(name).dns", encoding: .utf8)
                .replacingOccurrences(of: "\n", with: "")
            records.append("--txt-record=\(name)._domainkey.signer.test,\(txtStrings(dns))")
        }
        records.append("--txt-record=_dmarc.signer.test,v=DMARC1; p=reject")
        server = try Dnsmasq(records: records)
        resolver = try server.resolver()
    }

    static let message = """
        From: Alice <alice@signer.test>
        To: bob@example.org
        Subject: DKIM test
        Date: Mon, 1 Jan 2024 00:00:00 +0000
        Message-ID: <dkim-1@signer.test>

        Hello Bob,
        this   line has  spaces.\t

        Bye.


        """

    func sign(_ selector: String, _ algorithm: String, header: String, body: String, message: String = DKIMTests.message) throws -> [UInt8] {
        let signed = try shell(DKIMTools.dkimsign!, ["--signalg", algorithm, "--hcanon", header, "--bcanon", body,
                                                     selector, "signer.test", "\(directory)/\(selector).key"],
                               input: Data(message.utf8))
        guard signed.status == 0 else { throw HarnessFailure("dkimsign: \(signed.error)") }
        return [UInt8](signed.output)
    }

    func verify(_ message: [UInt8]) -> [DKIMSignatureResult] {
        DKIMVerifier(dns: resolver).verify(message: message, header: HeaderSection.parse(message))
    }

    @Test(arguments: [("rsa", "rsa-sha256"), ("ed", "ed25519-sha256")], [("relaxed", "relaxed"), ("simple", "simple"), ("relaxed", "simple"), ("simple", "relaxed")])
    func independentSignatureVerifies(key: (String, String), canon: (String, String)) throws {
        let signed = try sign(key.0, key.1, header: canon.0, body: canon.1)
        let results = verify(signed)
        #expect(results.count == 1)
        #expect(results.first?.result == .pass, "\(results.first?.reason ?? "")")
        #expect(results.first?.domain == "signer.test")
    }

    @Test(arguments: [("rsa", "rsa-sha256"), ("ed", "ed25519-sha256")])
    func tamperedBodyFails(key: (String, String)) throws {
        var signed = String(decoding: try sign(key.0, key.1, header: "relaxed", body: "relaxed"), as: UTF8.self)
        signed = signed.replacingOccurrences(of: "Hello Bob", with: "Hello Eve")
        let results = verify(Array(signed.utf8))
        #expect(results.first?.result == .fail)
        #expect(results.first?.reason.contains("body hash") == true)
    }

    @Test func wireFormatCRLFMessageVerifies() throws {
        let crlf = DKIMTests.message.replacingOccurrences(of: "\n", with: "\r\n")
        let signed = try sign("rsa", "rsa-sha256", header: "simple", body: "simple", message: crlf)
        #expect(verify(signed).first?.result == .pass, "\(verify(signed).first?.reason ?? "")")
        // The same message stored with LF line ends (as the queue keeps it) still verifies.
        let lf = String(decoding: signed, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
        #expect(verify(Array(lf.utf8)).first?.result == .pass)
    }

    /// postamt-spamcheck is a static executable that loads libssl with dlopen only for a DKIM
    /// signature: the built program itself verifies one (and a message without one needs no
    /// OpenSSL at all, which /proc/PID/maps could show but the result already does).
    @Test func theStaticProgramVerifiesASignature() throws {
        let build = ProcessInfo.processInfo.environment["POSTAMT_BUILD_DIR"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().path + "/.build/debug"
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/etc/postamt", withIntermediateDirectories: true)
        try "spam_dns_server = 127.0.0.1:\(server.port)\nspam_dns_timeout = 2s\nspam_spf = no\nmyhostname = mx.test\n"
            .write(toFile: "\(root)/etc/postamt/postamt.conf", atomically: true, encoding: .utf8)
        for (key, result) in [("rsa", "dkim=pass"), ("ed", "dkim=pass")] {
            let signed = try sign(key, key == "rsa" ? "rsa-sha256" : "ed25519-sha256", header: "relaxed", body: "relaxed")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "\(build)/postamt-spamcheck")
            process.arguments = ["--root", root]
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            try input.fileHandleForWriting.write(contentsOf: Data(signed))
            try input.fileHandleForWriting.close()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(text.contains("\(result) (") && text.contains("header.d=signer.test"), "\(text.prefix(800))")
            #expect(text.contains("dmarc=pass"), "\(text.prefix(800))")
        }
    }

    @Test func tamperedHeaderFails() throws {
        var signed = String(decoding: try sign("rsa", "rsa-sha256", header: "relaxed", body: "simple"), as: UTF8.self)
        signed = signed.replacingOccurrences(of: "Subject: DKIM test", with: "Subject: DKIM best")
        #expect(verify(Array(signed.utf8)).first?.result == .fail)
    }

    @Test func unknownSelectorIsPermerror() throws {
        var signed = String(decoding: try sign("rsa", "rsa-sha256", header: "relaxed", body: "simple"), as: UTF8.self)
        signed = signed.replacingOccurrences(of: "s=rsa", with: "s=gone")
        #expect(verify(Array(signed.utf8)).first?.result == .permerror)
    }

    @Test func signedMessageScoresDKIMAndDMARCPass() throws {
        let signed = try sign("ed", "ed25519-sha256", header: "relaxed", body: "relaxed")
        var options = SpamCheckOptions()
        options.hostname = "mx.here.test"
        options.authservID = "mx.here.test"
        var input = SpamCheckInput(message: signed)
        input.clientIP = "198.51.100.9"
        input.sender = "bounce@elsewhere.test"
        let report = SpamChecker(options: options, dns: resolver).check(input)
        let names = report.hits.map(\.name)
        #expect(names.contains("DKIM_VALID"))
        #expect(names.contains("DMARC_PASS"))
        #expect(report.authResults.contains { $0.hasPrefix("dkim=pass") && $0.contains("header.d=signer.test") })
    }
}

struct HarnessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ text: String) { description = text }
}

enum DKIMTools {
    static let dkimsign: String? = findProgram("dkimsign")
    static let dknewkey: String? = findProgram("dknewkey")

    static func findProgram(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/local/bin:/usr/bin:/root/.local/bin"
        for directory in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        return nil
    }
}

// postamt dkim keygen, postamt dns: the records a site publishes (postamt(8)).
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailDKIM
import MailRemote
import MailSystem

struct DKIM: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dkim", abstract: "Manage DKIM signing keys.",
                                                    subcommands: [Keygen.self])

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a DKIM key for DOMAIN (dkim_key_directory/DOMAIN/SELECTOR.key, mode 0600) and print its DNS TXT record.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The domain that signs (d=).") var domain: String
        @Option(help: "The selector (s=); default: dkim_selector.") var selector: String?
        @Option(help: "rsa (2048 bits) or ed25519.") var type: String = "rsa"
        @Flag(help: "Replace an existing key.") var force = false

        func run() throws {
            let c = try global.configuration()
            guard let algorithm = DKIMKey.Algorithm(rawValue: type) else { throw fail("--type must be rsa or ed25519") }
            let d = domain.lowercased()
            guard !d.isEmpty, !d.contains("/"), !d.hasPrefix(".") else { throw fail("not a domain: \(domain)") }
            let s = selector ?? c.string("dkim_selector")
            guard !s.isEmpty, !s.contains("/"), !s.hasPrefix(".") else { throw fail("not a selector: \(s)") }
            let directory = "\(c.string("dkim_key_directory"))/\(d)"
            let path = "\(directory)/\(s).key"
            if FileIO.exists(path) && !force { throw fail("\(path) exists (use --force to replace it)") }
            do {
                let key = try DKIMKey.generate(algorithm)
                try FileIO.makeDirectories(directory, mode: 0o750)
                try FileIO.writeAtomically(path, try key.privateKeyPEM(), mode: 0o600)
                // postamt-remote signs as mail_owner: the key belongs to it.
                if Privileges.isRoot, let owner = SystemUser.named(c.string("mail_owner")) {
                    chown(path, owner.uid, owner.gid)
                    chown(directory, owner.uid, owner.gid)
                    chown(c.string("dkim_key_directory"), 0, owner.gid)
                    chmod(c.string("dkim_key_directory"), 0o750)
                }
                print("; \(path)")
                print(DNSRecords.txtRecord(name: "\(s)._domainkey.\(d).", text: try key.dnsRecordText()))
            } catch let error as DKIMKey.Failure {
                throw fail(error)
            }
        }
    }
}

struct DNSRecords: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dns",
        abstract: "Print the DNS records DOMAIN needs for mail (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, client SRV and autoconfig names) in zone-file syntax.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The mail domain.") var domain: String

    /// A TXT record with its text split into strings of at most 255 bytes (RFC 1035 §3.3.14).
    static func txtRecord(name: String, text: String) -> String {
        var chunks: [String] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            chunks.append("\"\(rest.prefix(250))\"")
            rest = rest.dropFirst(250)
        }
        return "\(name)\tIN\tTXT\t( \(chunks.joined(separator: "\n\t\t\t\t")) )"
    }

    func run() throws {
        let c = try global.configuration()
        let d = domain.lowercased()
        let host = c.hostname
        print("; DNS records for mail to and from \(d), served by \(host)")
        print("\(d).\tIN\tMX\t10 \(host).")
        print("\(d).\tIN\tTXT\t\"v=spf1 mx -all\"")
        let directory = "\(c.string("dkim_key_directory"))/\(d)"
        let keys = ((try? FileIO.listDirectory(directory)) ?? []).filter { $0.hasSuffix(".key") }.sorted()
        if keys.isEmpty {
            print("; no DKIM key for \(d) yet: postamt dkim keygen \(d)")
        }
        for file in keys {
            guard let pem = try? FileIO.readFile("\(directory)/\(file)"), let key = try? DKIMKey(pem: pem),
                  let text = try? key.dnsRecordText() else {
                print("; \(directory)/\(file): not readable as a key")
                continue
            }
            print(DNSRecords.txtRecord(name: "\(file.dropLast(4))._domainkey.\(d).", text: text))
        }
        print("_dmarc.\(d).\tIN\tTXT\t\"v=DMARC1; p=quarantine; rua=mailto:postmaster@\(d); adkim=r; aspf=r\"")
        // RFC 8461 §3.2: the policy file; testing first, enforce once TLS-RPT reports look clean.
        let policy = MTASTSPolicy(mode: .testing, mx: [host], maxAge: 604800)
        print("; MTA-STS (RFC 8461): mta-sts.\(d) needs an A/AAAA record and a certificate valid for that")
        print("; name; serve this file as text/plain at https://mta-sts.\(d)/.well-known/mta-sts.txt")
        print("; (switch to mode: enforce once TLS-RPT reports look clean, and change the id below each time):")
        for line in policy.text.split(separator: "\r\n") { print(";   \(line)") }
        print("_mta-sts.\(d).\tIN\tTXT\t\"v=STSv1; id=\(Clock.seconds())\"")
        print("_smtp._tls.\(d).\tIN\tTXT\t\"v=TLSRPTv1; rua=mailto:postmaster@\(d)\"")
        DNSRecords.clientRecords(domain: d, host: host, services: c.list("autoconfig_services"))
    }

    /// RFC 6186 SRV records for the listeners of autoconfig_services (a service this site does
    /// not offer gets the "not available" record, target "."), and the host names Thunderbird
    /// and Outlook look for: autoconfig.DOMAIN, autodiscover.DOMAIN and its SRV record.
    static func clientRecords(domain d: String, host: String, services: [String]) {
        print("; mail clients (RFC 6186 SRV; the webmail answers autoconfig and autodiscover)")
        var offered: [String: Int] = [:]
        for service in services {
            let parts = service.lowercased().split(separator: ":")
            guard parts.count == 3, let port = Int(parts[1]) else { continue }
            let name: String
            switch (parts[0], parts[2]) {
            case ("imap", "ssl"): name = "_imaps"
            case ("imap", _): name = "_imap"
            case ("pop3", "ssl"): name = "_pop3s"
            case ("pop3", _): name = "_pop3"
            case ("smtp", "ssl"): name = "_submissions"
            case ("smtp", _): name = "_submission"
            default: continue
            }
            if offered[name] == nil { offered[name] = port }
        }
        for name in ["_submissions", "_submission", "_imaps", "_imap", "_pop3s", "_pop3"] {
            if let port = offered[name] {
                print("\(name)._tcp.\(d).\tIN\tSRV\t0 1 \(port) \(host).")
            } else {
                print("\(name)._tcp.\(d).\tIN\tSRV\t0 0 0 .")
            }
        }
        print("autoconfig.\(d).\tIN\tCNAME\t\(host).")
        print("autodiscover.\(d).\tIN\tCNAME\t\(host).")
        print("_autodiscover._tcp.\(d).\tIN\tSRV\t0 1 443 \(host).")
    }
}

// postamt doctor DOMAIN: checks through the real resolver what the outside world sees of this
// host and DOMAIN, and says for each problem how to fix it.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailDKIM
import MailNet
import MailQueue
import MailRemote
import MailSystem
import SpamCheck

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doctor",
        abstract: "Check DOMAIN's DNS (MX, A/AAAA, PTR, SPF, DKIM, DMARC, MTA-STS, DNS lists) and this host's TLS services.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The mail domain.") var domain: String
    @Flag(help: "Print the findings as one JSON object, for monitoring.") var json = false

    func run() throws {
        let c = try global.configuration()
        let d = domain.lowercased().trimmingSuffixDot()
        guard DNSName(d) != nil, d.contains(".") else { throw fail("not a domain: \(domain)") }
        let resolver: DNSResolver
        do {
            let ns = c.string("remote_nameserver")
            resolver = try DNSResolver(nameserver: ns.isEmpty ? nil : ns, timeout: .seconds(max(1, c.duration("remote_dns_timeout"))))
        } catch {
            throw fail("cannot set up the DNS resolver: \(error)")
        }
        let findings = DomainDoctor(configuration: c, domain: d, resolver: resolver).run()
        print(json ? DoctorFinding.json(findings, domain: d) : DoctorFinding.text(findings, domain: d), terminator: "")
        if findings.contains(where: { $0.level == .error }) { throw ExitCode(1) }
    }
}

/// One finding: which check, how bad, what was seen, and how to fix it.
struct DoctorFinding {
    enum Level: String { case ok, info, warning, error }
    var check: String
    var level: Level
    var text: String
    var fix: String?

    static func text(_ findings: [DoctorFinding], domain: String) -> String {
        var out = ""
        for f in findings {
            out += "[\(f.level.rawValue)] \(f.check): \(f.text)\n"
            if let fix = f.fix { out += "    fix: \(fix.replacingAll("\n", with: "\n         "))\n" }
        }
        let errors = findings.filter { $0.level == .error }.count, warnings = findings.filter { $0.level == .warning }.count
        out += "\(domain): \(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")\n"
        return out
    }

    static func json(_ findings: [DoctorFinding], domain: String) -> String {
        let items = findings.map { f in
            "{\"check\":\(quote(f.check)),\"level\":\(quote(f.level.rawValue)),\"text\":\(quote(f.text))"
                + (f.fix.map { ",\"fix\":\(quote($0))" } ?? "") + "}"
        }
        let errors = findings.filter { $0.level == .error }.count, warnings = findings.filter { $0.level == .warning }.count
        return "{\"domain\":\(quote(domain)),\"errors\":\(errors),\"warnings\":\(warnings),\"findings\":[\(items.joined(separator: ","))]}\n"
    }
    static func quote(_ s: String) -> String { MailQueue.json(s) }
}

/// The checks, in the order a mail administrator fixes things.
final class DomainDoctor {
    let configuration: Configuration
    let domain: String
    let resolver: DNSResolver
    let host: String
    var findings: [DoctorFinding] = []
    var mxNames: [String] = []
    var hostAddresses: [IPAddress] = []
    var spfPasses = false
    var dkimMatches = false

    init(configuration: Configuration, domain: String, resolver: DNSResolver) {
        self.configuration = configuration
        self.domain = domain
        self.resolver = resolver
        host = configuration.hostname.lowercased().trimmingSuffixDot()
    }

    func add(_ check: String, _ level: DoctorFinding.Level, _ text: String, fix: String? = nil) {
        findings.append(DoctorFinding(check: check, level: level, text: text, fix: fix))
    }

    func run() -> [DoctorFinding] {
        checkMX()
        checkAddresses()
        checkPTR()
        checkSPF()
        checkDKIM()
        checkDMARC()
        checkMTASTS()
        checkDNSLists()
        checkServices()
        return findings
    }

    func checkMX() {
        switch resolver.mx(domain) {
        case .found(let records):
            if records.isNullMX {
                add("mx", .error, "\(domain) has the null MX (RFC 7505): it accepts no mail", fix: "\(domain).\tIN\tMX\t10 \(host).")
                return
            }
            mxNames = records.map { $0.exchange.description.lowercased().trimmingSuffixDot() }
            let list = records.map { "\($0.preference) \($0.exchange.description.trimmingSuffixDot())" }.joined(separator: ", ")
            if mxNames.contains(host) {
                add("mx", .ok, "MX records: \(list); this host (\(host)) is one of them")
            } else {
                add("mx", .error, "MX records: \(list); none of them is this host (\(host))",
                    fix: "\(domain).\tIN\tMX\t10 \(host).   (or set myhostname to the MX name of this host)")
            }
        case .noData:
            add("mx", .error, "\(domain) has no MX record: senders fall back to its A/AAAA records", fix: "\(domain).\tIN\tMX\t10 \(host).")
        case .nonexistentDomain:
            add("mx", .error, "\(domain) does not exist in DNS (NXDOMAIN)", fix: "register the domain or check its delegation")
        case .invalidName(let why):
            add("mx", .error, why)
        case .temporaryFailure(let why):
            add("mx", .error, "cannot look up the MX of \(domain): \(why)", fix: "check the domain's name servers (dig +trace \(domain) MX)")
        }
    }

    func checkAddresses() {
        var found: [IPAddress] = []
        for (type, result) in [("AAAA", resolver.aaaa(host)), ("A", resolver.a(host))] {
            switch result {
            case .found(let a): found += a
            case .temporaryFailure(let why): add("address", .error, "cannot look up \(type) of \(host): \(why)")
            default: break
            }
        }
        if found.isEmpty {
            add("address", .error, "\(host) has no A or AAAA record", fix: "\(host).\tIN\tA\t<this host's public IPv4 address>")
        } else {
            add("address", .ok, "\(host) has the addresses \(found.map(\.description).joined(separator: ", "))")
        }
        let configured = configuration.list("doctor_host_addresses")
        if configured.isEmpty {
            hostAddresses = found
        } else {
            hostAddresses = configured.compactMap { IPAddress($0) }
            for bad in configured where IPAddress(bad) == nil {
                add("address", .error, "doctor_host_addresses: '\(bad)' is not an IP address")
            }
        }
    }

    /// Forward-confirmed reverse DNS: the PTR name of each sending address resolves back to it.
    func checkPTR() {
        for address in hostAddresses {
            switch resolver.ptr(address) {
            case .found(let names):
                let list = names.map { $0.description.lowercased().trimmingSuffixDot() }
                let confirmed = list.filter { name in
                    (resolver.a(name).records + resolver.aaaa(name).records).contains(address)
                }
                if confirmed.isEmpty {
                    add("ptr", .error, "\(address) has the PTR \(list.joined(separator: ", ")), which does not resolve back to \(address)",
                        fix: "add \(list.first ?? host). IN \(address.isIPv4 ? "A" : "AAAA") \(address), or have the PTR set to \(host)")
                } else if !confirmed.contains(host) {
                    add("ptr", .warning, "\(address) has the PTR \(confirmed[0]) (forward-confirmed), not \(host), the name this host says in HELO",
                        fix: "have the PTR of \(address) set to \(host), or set myhostname = \(confirmed[0])")
                } else {
                    add("ptr", .ok, "\(address) has the PTR \(host), which resolves back to it")
                }
            case .temporaryFailure(let why):
                add("ptr", .warning, "cannot look up the PTR of \(address): \(why)")
            default:
                add("ptr", .error, "\(address) has no PTR record: many receivers refuse mail from it",
                    fix: "ask the provider of \(address) to set its reverse DNS (PTR) to \(host)")
            }
        }
    }

    func checkSPF() {
        let fix = "\(domain).\tIN\tTXT\t\"v=spf1 mx -all\"   (or list this host: ip4:/ip6: terms)"
        switch resolver.txt(domain) {
        case .found(let records):
            let spf = records.map(\.text).filter { $0.lowercased() == "v=spf1" || $0.lowercased().hasPrefix("v=spf1 ") }
            guard !spf.isEmpty else { add("spf", .error, "\(domain) has no SPF record", fix: fix); return }
            guard spf.count == 1 else {
                add("spf", .error, "\(domain) has \(spf.count) SPF records; RFC 7208 §4.5 makes that a permanent error",
                    fix: "merge them into one TXT record")
                return
            }
            var passes = !hostAddresses.isEmpty
            for address in hostAddresses {
                let checker = SPFChecker(dns: resolver)
                let result = checker.check(ip: address, sender: "postmaster@\(domain)", helo: host)
                switch result {
                case .pass:
                    add("spf", .ok, "\"\(spf[0])\" passes for \(address)")
                case .permerror:
                    passes = false
                    add("spf", .error, "\"\(spf[0])\" is invalid: \(checker.reason)",
                        fix: "correct the syntax; at most \(SPFChecker.lookupLimit) terms that need DNS lookups (include, a, mx, ptr, exists, redirect)")
                case .temperror:
                    passes = false
                    add("spf", .warning, "SPF for \(address) could not be evaluated: \(checker.reason)")
                default:
                    passes = false
                    add("spf", .error, "\"\(spf[0])\" does not include \(address) (result \(result.rawValue))",
                        fix: "add \(address.isIPv4 ? "ip4" : "ip6"):\(address) or mx to the SPF record of \(domain)")
                }
            }
            spfPasses = passes
        case .temporaryFailure(let why):
            add("spf", .warning, "cannot look up TXT of \(domain): \(why)")
        default:
            add("spf", .error, "\(domain) has no SPF record", fix: fix)
        }
    }

    /// Every key in dkim_key_directory/DOMAIN must be published with the same public key.
    func checkDKIM() {
        let directory = "\(configuration.string("dkim_key_directory"))/\(domain)"
        let keys = ((try? FileIO.listDirectory(directory)) ?? []).filter { $0.hasSuffix(".key") }.sorted()
        guard !keys.isEmpty else {
            add("dkim", .warning, "no DKIM key for \(domain) in \(directory): mail is not signed", fix: "postamt dkim keygen \(domain)")
            return
        }
        var allMatch = true
        for file in keys {
            let selector = String(file.dropLast(4))
            let name = "\(selector)._domainkey.\(domain)"
            guard let pem = (try? FileIO.readFile("\(directory)/\(file)")) ?? nil, let key = try? DKIMKey(pem: pem),
                  let mine = try? key.publicKeyBase64(), let record = try? key.dnsRecordText() else {
                allMatch = false
                add("dkim", .error, "\(directory)/\(file) is not readable as a private key", fix: "postamt dkim keygen --force --selector \(selector) \(domain)")
                continue
            }
            let fix = DNSRecords.txtRecord(name: "\(name).", text: record)
            switch resolver.txt(name) {
            case .found(let records):
                let published = records.map { DomainDoctor.tag("p", in: $0.text) }
                if published.contains(mine) {
                    add("dkim", .ok, "\(name) publishes the key of \(file)")
                } else if published.contains("") {
                    allMatch = false
                    add("dkim", .error, "\(name) has an empty p= (the key is revoked)", fix: fix)
                } else {
                    allMatch = false
                    add("dkim", .error, "\(name) publishes a different key than \(directory)/\(file): signatures will fail", fix: fix)
                }
            case .temporaryFailure(let why):
                allMatch = false
                add("dkim", .warning, "cannot look up \(name): \(why)")
            default:
                allMatch = false
                add("dkim", .error, "\(name) has no TXT record: receivers cannot verify the signatures", fix: fix)
            }
        }
        dkimMatches = allMatch
    }

    /// The value of a tag in a "k=v; k=v" list (DKIM key records), whitespace removed.
    static func tag(_ name: String, in text: String) -> String? {
        for part in text.split(separator: ";") {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            if String(kv[0]).filter({ $0 != " " && $0 != "\t" }) == name {
                return String(kv[1]).filter { $0 != " " && $0 != "\t" && $0 != "\r" && $0 != "\n" }
            }
        }
        return nil
    }

    func checkDMARC() {
        let outcome = DMARCChecker(dns: resolver).check(fromDomain: domain, spf: spfPasses ? .pass : .fail, spfDomain: domain,
                                                        dkimPassDomains: dkimMatches ? [domain] : [])
        let fix = "_dmarc.\(domain).\tIN\tTXT\t\"v=DMARC1; p=quarantine; rua=mailto:postmaster@\(domain)\""
        switch outcome.result {
        case .none: add("dmarc", .error, "\(domain) has no DMARC record", fix: fix)
        case .permerror: add("dmarc", .error, "the DMARC record of \(domain) is invalid: \(outcome.reason)", fix: fix)
        case .temperror: add("dmarc", .warning, "cannot look up the DMARC record: \(outcome.reason)")
        case .pass:
            let through = [spfPasses ? "SPF" : nil, dkimMatches ? "DKIM" : nil].compactMap { $0 }.joined(separator: " and ")
            add("dmarc", .ok, "DMARC policy p=\(outcome.policy); mail from this host can align through \(through)")
        default:
            add("dmarc", .error, "DMARC policy p=\(outcome.policy), but neither SPF nor DKIM can align for mail from this host",
                fix: "fix the SPF and DKIM findings above")
        }
    }

    func checkMTASTS() {
        let name = "_mta-sts.\(domain)"
        let noPolicy = {
            self.add("mta-sts", .info, "\(self.domain) publishes no MTA-STS policy: senders cannot know that it always offers TLS",
                     fix: "postamt dns \(self.domain) prints the records and the policy file")
        }
        switch resolver.txt(name) {
        case .found(let records):
            let sts = records.filter { $0.text.hasPrefix("v=STSv1") }
            if sts.isEmpty { noPolicy(); return }
            guard let record = MTASTSRecord.select(records) else {
                add("mta-sts", .error, "\(name) has \(sts.count) records or a malformed one; senders ignore the policy",
                    fix: "one record: \(name).\tIN\tTXT\t\"v=STSv1; id=\(Clock.seconds())\"")
                return
            }
            let lookup = MTASTSLookup(resolver: resolver, configuration: configuration, log: Log(program: "postamt"), queueID: nil)
            switch lookup.fetch(domain) {
            case .failure(let error):
                add("mta-sts", .error, "\(name) announces a policy (id \(record.id)) but it cannot be fetched: \(error)",
                    fix: "serve https://mta-sts.\(domain)/.well-known/mta-sts.txt as text/plain with a valid certificate for mta-sts.\(domain) (postamt dns \(domain) prints it)")
            case .success(let policy):
                let outside = mxNames.filter { !policy.allows(mxHost: $0) }
                if !outside.isEmpty {
                    add("mta-sts", .error, "the MTA-STS policy (mode \(policy.mode.rawValue)) does not allow the MX host\(outside.count == 1 ? "" : "s") \(outside.joined(separator: ", "))",
                        fix: outside.map { "mx: \($0)" }.joined(separator: "\n") + "   (add to the policy, then change the id in \(name))")
                } else {
                    add("mta-sts", policy.mode == .enforce ? .ok : .info,
                        "policy id \(record.id), mode \(policy.mode.rawValue), max_age \(policy.maxAge), covers every MX host")
                }
            }
        case .temporaryFailure(let why):
            add("mta-sts", .warning, "cannot look up \(name): \(why)")
        default:
            noPolicy()
        }
    }

    func checkDNSLists() {
        let zones = configuration.list("doctor_dnsbl_zones")
        for address in hostAddresses where address.isIPv4 {
            let reversed = address.description.split(separator: ".").reversed().joined(separator: ".")
            for zone in zones {
                switch resolver.a("\(reversed).\(zone)") {
                case .found(let codes):
                    add("dnsbl", .error, "\(address) is listed in \(zone) (\(codes.map(\.description).joined(separator: ", ")))",
                        fix: "find out why (a compromised account, an open relay) and ask \(zone) for delisting")
                case .temporaryFailure(let why):
                    add("dnsbl", .warning, "cannot look up \(address) in \(zone): \(why)")
                default:
                    add("dnsbl", .ok, "\(address) is not listed in \(zone)")
                }
            }
        }
    }

    /// The TLS services of this host: reachable, certificate valid for the host name, chain
    /// complete, days to expiry.
    func checkServices() {
        let addresses = (resolver.a(host).records + resolver.aaaa(host).records)
        guard let address = addresses.first else { return }
        let timeout = Duration.seconds(max(1, configuration.duration("doctor_timeout")))
        let ca = configuration.string("remote_tls_ca_file")
        let anchors: TLSTrustAnchors = ca.isEmpty ? .systemDefault : .caFile(ca)
        let warnDays = Int64(configuration.count("doctor_certificate_warning_days"))
        let ports = configuration.list("doctor_smtp_ports").map { ($0, true) } + configuration.list("doctor_tls_ports").map { ($0, false) }
        for (portText, startTLS) in ports {
            guard let port = UInt16(portText) else {
                add("tls", .error, "'\(portText)' in doctor_\(startTLS ? "smtp" : "tls")_ports is not a port")
                continue
            }
            let peer = "\(host)[\(address)]:\(port)"
            let plain: PlainStream
            do {
                plain = try PlainStream.connect(to: SocketAddress(address: address, port: port), timeout: timeout)
            } catch {
                add("port", .error, "\(peer) is not reachable: \(error)", fix: "start the service and open port \(port) in the firewall")
                continue
            }
            defer { plain.close() }
            plain.timeout = timeout
            do {
                if startTLS {
                    guard try DomainDoctor.smtpReply(plain).hasPrefix("220") else { throw HTTPSError("no 220 greeting") }
                    try plain.write("EHLO \(host)\r\n")
                    let ehlo = try DomainDoctor.smtpReply(plain)
                    guard ehlo.uppercased().contains("STARTTLS") else {
                        add("tls", .error, "\(peer) does not offer STARTTLS", fix: "set smtpd_tls_cert_file and smtpd_tls_key_file (or tls_certificate/tls_key)")
                        continue
                    }
                    try plain.write("STARTTLS\r\n")
                    guard try DomainDoctor.smtpReply(plain).hasPrefix("220") else { throw HTTPSError("STARTTLS refused") }
                }
                let tls = try TLSConnection(client: try TLSClientContext(verification: .opportunistic(anchors)), serverName: host, over: plain)
                tls.timeout = timeout
                try tls.handshake()
                add("port", .ok, "\(peer) answers\(startTLS ? " with STARTTLS" : " with TLS") (\(tls.protocolVersion))")
                switch tls.peerVerification {
                case .verified:
                    add("tls", .ok, "the certificate of \(peer) is valid for \(host) with a complete chain")
                case .failed(let why):
                    add("tls", .error, "the certificate of \(peer) does not verify for \(host): \(why)",
                        fix: "use a certificate for \(host) and configure the full chain (leaf first, then the intermediates)")
                case .notChecked:
                    add("tls", .error, "\(peer) sent no certificate")
                }
                if startTLS, let der = tls.peerCertificateDER { checkTLSA(port: port, certificate: der.certificate, publicKey: der.publicKey) }
                if let left = tls.peerCertificateSecondsLeft {
                    let days = left / 86400
                    if left < 0 {
                        add("tls", .error, "the certificate of \(peer) expired \(-days) days ago", fix: "renew it (certbot renew) and restart the service")
                    } else if days < warnDays {
                        add("tls", .warning, "the certificate of \(peer) expires in \(days) days", fix: "renew it before then (certbot renew)")
                    } else {
                        add("tls", .ok, "the certificate of \(peer) is valid for \(days) more days")
                    }
                }
            } catch {
                add("tls", .error, "TLS with \(peer) failed: \(error)", fix: "check the service's certificate and key settings")
            }
        }
    }

    /// DANE (RFC 7672): TLSA records of this host's SMTP port against the certificate it serves.
    /// Records bound to the certificate (selector 0) break at every renewal; SPKI records
    /// (3 1 1) survive a renewal that keeps the key.
    func checkTLSA(port: UInt16, certificate: [UInt8], publicKey: [UInt8]) {
        let name = "_\(port)._tcp.\(host)"
        let suggested = TLSARecord(usage: 3, selector: 1, matchingType: 1, data: TLSARecord.digest(publicKey, sha512: false))
        let fix = "\(name).\tIN\tTLSA\t3 1 1 \(suggested.hexData)   (publish before the old record goes; keep the key when renewing)"
        switch resolver.tlsa(name) {
        case .found(let records):
            let matching = records.filter { $0.matches(certificate: certificate, publicKey: publicKey) }
            if matching.isEmpty {
                add("tlsa", .error, "no TLSA record of \(name) (\(records.map(\.description).joined(separator: ", "))) matches the certificate served on port \(port): DANE senders defer mail",
                    fix: fix)
            } else if matching.allSatisfy({ $0.selector == 0 }) {
                add("tlsa", .warning, "\(name) matches the certificate only through the whole certificate (\(matching.map(\.description).joined(separator: ", "))): the next renewal breaks DANE",
                    fix: fix)
            } else {
                add("tlsa", .ok, "\(name) \(matching.map(\.description).joined(separator: ", ")) matches the certificate on port \(port)")
            }
        case .temporaryFailure(let why):
            add("tlsa", .warning, "cannot look up \(name): \(why)")
        default:
            add("tlsa", .info, "\(name) has no TLSA records: senders cannot use DANE (it needs DNSSEC for the zone)", fix: fix)
        }
    }

    /// Reads one SMTP reply (all its lines) and returns it.
    static func smtpReply(_ stream: PlainStream) throws -> String {
        var buffer: [UInt8] = []
        while buffer.count < 65536 {
            guard try stream.read(appendingTo: &buffer, max: 1) == 1 else { break }
            if buffer.last == 10 {
                let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\r\n")
                if let last = lines.last, last.count >= 4, last.dropFirst(3).first == " " { return String(decoding: buffer, as: UTF8.self) }
                if let last = lines.last, last.count == 3 { return String(decoding: buffer, as: UTF8.self) }
            }
        }
        throw HTTPSError("no complete SMTP reply")
    }
}

extension String {
    func trimmingSuffixDot() -> String { hasSuffix(".") ? String(dropLast()) : self }
}

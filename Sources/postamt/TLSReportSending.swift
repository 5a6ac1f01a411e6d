// postamt tlsrpt send: the daily TLS reports (RFC 8460 §5) to each policy domain's rua.
import ArgumentParser
import CZlib
import MailCodec
import MailCore
import MailNet
import MailQueue
import MailRemote
import MailSystem
import SMTPProtocol
#if canImport(Glibc)
import Glibc
#endif

extension TLSRPT {
    /// Run once a day (systemd/postamt-tlsrpt.timer). For every policy domain with results on
    /// the day, each rua URI of its `_smtp._tls` TXT record (RFC 8460 §3) gets the gzipped JSON
    /// report: a mailto: address as multipart/report (§5.3), queued through postamt-queue; an
    /// https: URI as an HTTP POST (§5.4). What is done is listed in tlsrpt_directory/DAY.sent
    /// ("DOMAIN" when the whole domain is, "DOMAIN URI" for one URI), so a later run sends
    /// nothing twice and retries only what failed.
    ///
    /// Two passes: the mail goes first, as the caller (root from the timer, so postamt-queue
    /// records the submitter root and the report can be DKIM-signed); then, run by root, the
    /// command becomes mail_owner before the POSTs, as they speak TLS and HTTP to servers the
    /// reported domain names.
    struct Send: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send one day's TLS reports to each domain's mailto: and https: rua (default: yesterday, UTC, and the unsent days of tlsrpt_retry_days before it).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The UTC day, YYYY-MM-DD (default: yesterday and the tlsrpt_retry_days before it).") var day: String?

        enum Pass { case mail, https }

        func run() throws {
            let c = try global.configuration()
            let days: [String]
            if let day {
                days = [try TLSRPT.checkedDay(day)]
            } else {
                // RFC 8460 §5.4 lets a failed delivery be retried: the days before yesterday
                // whose reports did not all go out are tried again, oldest first.
                let now = Clock.seconds()
                days = (1...(1 + max(0, c.count("tlsrpt_retry_days")))).reversed().map { TLSReportStore.day(now - Int64($0) * 86400) }
            }
            let ns = c.string("remote_nameserver")
            let resolver = try DNSResolver(nameserver: ns.isEmpty ? nil : ns, timeout: .seconds(max(1, c.duration("remote_dns_timeout"))))
            let owner = SystemUser.named(c.string("mail_owner"))
            var lookups: [String: ReportingAddresses] = [:]
            var failed = false
            for d in days where !sendDay(d, pass: .mail, configuration: c, resolver: resolver, lookups: &lookups, owner: owner) { failed = true }
            if Privileges.isRoot {
                guard let owner else {
                    print("mail_owner \(c.string("mail_owner")) is not a user; no https: report posted")
                    throw ExitCode(75)
                }
                do { try Privileges.dropToDaemonAccount(owner) } catch {
                    print("cannot become mail_owner for the https: reports: \(error); none posted")
                    throw ExitCode(75)
                }
            }
            for d in days where !sendDay(d, pass: .https, configuration: c, resolver: resolver, lookups: &lookups, owner: owner) { failed = true }
            if day == nil, c.count("tlsrpt_keep_days") > 0 {
                // Days older than tlsrpt_keep_days (and older than the retry window) are gone:
                // their results, .sent records and stored policies.
                let keep = max(c.count("tlsrpt_keep_days"), 1 + c.count("tlsrpt_retry_days"))
                let cut = TLSReportStore.day(Clock.seconds() - Int64(keep) * 86400)
                do {
                    let n = try TLSReportStore(directory: c.string("tlsrpt_directory")).prune(before: cut)
                    if n > 0 { print("removed the TLS results of \(n) day(s) before \(cut)") }
                } catch {
                    print("cannot prune \(c.string("tlsrpt_directory")): \(error)")
                }
            }
            if failed { throw ExitCode(75) }
        }

        /// One pass over what is left of one day; false when something failed temporarily.
        func sendDay(_ d: String, pass: Pass, configuration c: Configuration, resolver: DNSResolver,
                     lookups: inout [String: ReportingAddresses], owner: SystemUser?) -> Bool {
            let directory = c.string("tlsrpt_directory")
            let store = TLSReportStore(directory: directory)
            let results = store.results(day: d)
            let policies = store.policies(day: d, ids: Set(results.map(\.policyID)))
            let sentFile = "\(directory)/\(d).sent"
            let sent = Set(((try? FileIO.readFile(sentFile)) ?? nil).map { String(decoding: $0, as: UTF8.self).split(separator: "\n").map(String.init) } ?? [])
            let domains = Set(results.map(\.policyDomain)).subtracting(sent).sorted()
            let from = c.string("tlsrpt_from").isEmpty ? "postmaster@\(c.hostname)" : c.string("tlsrpt_from")
            var ok = true
            for domain in domains {
                if lookups[domain] == nil { lookups[domain] = TLSRPT.reportingAddresses(domain, resolver: resolver) }
                let rua: [String]
                switch lookups[domain]! {
                case .temporary(let why):
                    if pass == .mail { print("\(domain): \(why); try again later") }
                    ok = false
                    continue
                case .none(let why):
                    print("\(domain): \(why); no report")
                    if !markSent(domain, file: sentFile, owner: owner) { ok = false }
                    continue
                case .uris(let uris): rua = uris
                }
                var mailto: [(uri: String, address: String)] = []
                var https: [(uri: String, target: HTTPSTarget)] = []
                for uri in rua {
                    if uri.lowercased().hasPrefix("mailto:"), let address = TLSRPT.mailtoAddress(uri) {
                        mailto.append((uri, address))
                    } else if let target = HTTPSTarget(uri) {
                        https.append((uri, target))
                    } else if pass == .mail {
                        print("\(domain): rua \(uri) is neither a mailto: address nor an https: URI; left out")
                    }
                }
                var done = Set((mailto.map(\.uri) + https.map(\.uri)).filter { sent.contains("\(domain) \($0)") })
                let json = Array(TLSRPT.report(results, domain: domain, day: d, organization: c.hostname, contact: from, policies: policies).utf8)
                switch pass {
                case .mail:
                    let pending = mailto.filter { !done.contains($0.uri) }
                    if !pending.isEmpty, queue(json, domain: domain, day: d, from: from, to: pending.map(\.address), configuration: c) {
                        for m in pending where markSent("\(domain) \(m.uri)", file: sentFile, owner: owner) { done.insert(m.uri) }
                    }
                case .https:
                    for h in https where !done.contains(h.uri) {
                        if post(json, to: h.target, uri: h.uri, domain: domain, day: d, configuration: c, resolver: resolver),
                           markSent("\(domain) \(h.uri)", file: sentFile, owner: owner) {
                            done.insert(h.uri)
                        }
                    }
                }
                let mailDone = mailto.allSatisfy { done.contains($0.uri) }
                let allDone = mailDone && https.allSatisfy { done.contains($0.uri) }
                // The mail pass fails only for the mail; the https pass closes the domain.
                if pass == .mail ? !mailDone : !allDone { ok = false }
                if pass == .https && allDone && !markSent(domain, file: sentFile, owner: owner) { ok = false }
            }
            return ok
        }

        /// One message to every mailto: address (RFC 8460 §5.3), queued as root: postamt-queue
        /// records the submitter root, so postamt-remote DKIM-signs it when root owns From:.
        func queue(_ json: [UInt8], domain: String, day d: String, from: String, to mailto: [String], configuration c: Configuration) -> Bool {
            let envelope: Envelope
            let message: [UInt8]
            do {
                message = try TLSRPT.reportMessage(json: json, domain: domain, day: d, from: from, to: mailto, submitter: c.hostname)
                envelope = Envelope(sender: try EnvelopeAddress(from, allowEmpty: false, lengthLimit: 4096),
                                    recipients: try mailto.map { try EnvelopeAddress($0, lengthLimit: 4096) })
            } catch {
                print("\(domain): cannot make the report for \(mailto.joined(separator: ", ")): \(error)")
                return false
            }
            switch QueueClient.inject(program: c.program("postamt-queue"), message: message, envelope: envelope) {
            case .success:
                print("\(domain): report of \(d) queued for \(mailto.joined(separator: ", "))")
                return true
            case .failure(let why):
                print("\(domain): cannot queue the report: \(why)")
                return false
            }
        }

        /// RFC 8460 §5.4: the gzipped report as the body of an HTTP POST with Content-Type
        /// application/tlsrpt+gzip, over HTTPS with a certificate that verifies; a 2xx answer
        /// is delivery, anything else a failure to retry at the next run.
        func post(_ json: [UInt8], to target: HTTPSTarget, uri: String, domain: String, day d: String,
                  configuration c: Configuration, resolver: DNSResolver) -> Bool {
            var addresses: [IPAddress] = []
            if let literal = IPAddress(target.host) {
                addresses = [literal]
            } else {
                for answer in [resolver.aaaa(target.host), resolver.a(target.host)] {
                    if case .temporaryFailure(let why) = answer {
                        print("\(domain): cannot post the report to \(uri): address lookup of \(target.host) failed: \(why)")
                        return false
                    }
                    addresses += answer.records
                }
            }
            let ca = c.string("remote_tls_ca_file")
            let client = HTTPSClient(anchors: ca.isEmpty ? .systemDefault : .caFile(ca), port: target.port,
                                     timeout: .seconds(max(1, c.duration("tlsrpt_https_timeout"))),
                                     bodyLimit: Int(clamping: max(1, c.size("tlsrpt_https_response_limit"))))
            do {
                let body = try TLSRPT.gzip(json)
                let response = try client.post(host: target.host, path: target.path, addresses: addresses,
                                               contentType: "application/tlsrpt+gzip", body: body)
                guard (200...299).contains(response.status) else {
                    print("\(domain): \(uri) answered HTTP \(response.status); the report of \(d) is tried again at the next run")
                    return false
                }
                print("\(domain): report of \(d) posted to \(uri) (HTTP \(response.status))")
                return true
            } catch {
                print("\(domain): cannot post the report to \(uri): \(error); tried again at the next run")
                return false
            }
        }

        /// Appends a line to DAY.sent; a file root makes goes to mail_owner, who writes the
        /// https pass. False (and a line saying so) when it cannot be written: then a later
        /// run sends that report again.
        func markSent(_ line: String, file: String, owner: SystemUser?) -> Bool {
            do {
                let fd = try FileIO.open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode: 0o640)
                if Privileges.isRoot, let owner { _ = fchown(fd.raw, owner.uid, owner.gid) }
                try FileIO.writeAll(fd.raw, Array("\(line)\n".utf8))
                return true
            } catch {
                print("cannot record '\(line)' in \(file): \(error); it will be sent again")
                return false
            }
        }
    }

    /// An https: rua (RFC 8460 §3, RFC 9110 §4.2.2): host, port and path with query. Only
    /// printable ASCII without spaces, no user info: the URI comes from DNS and goes into the
    /// request line and Host field.
    struct HTTPSTarget: Equatable {
        var host: String
        var port: UInt16
        var path: String

        init?(_ uri: String) {
            guard uri.lowercased().hasPrefix("https://"), uri.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
            var rest = Substring(uri.dropFirst(8))
            if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
            let slash = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            let authority = rest[..<slash]
            path = String(rest[slash...])
            if path.isEmpty { path = "/" } else if path.hasPrefix("?") { path = "/" + path }
            guard !authority.contains("@") else { return nil }
            var hostPart = authority
            var portText: Substring = ""
            if authority.hasPrefix("[") {
                guard let close = authority.firstIndex(of: "]") else { return nil }
                hostPart = authority[authority.index(after: authority.startIndex)..<close]
                let after = authority[authority.index(after: close)...]
                guard after.isEmpty || after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
                guard IPAddress(String(hostPart)) != nil else { return nil }
            } else if let colon = authority.firstIndex(of: ":") {
                hostPart = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            }
            guard !hostPart.isEmpty, hostPart.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == ":" }) else { return nil }
            if portText.isEmpty {
                port = 443
            } else {
                guard let p = UInt16(portText), p > 0 else { return nil }
                port = p
            }
            host = hostPart.lowercased()
        }
    }

    enum ReportingAddresses {
        case uris([String])
        case none(String)
        case temporary(String)
    }

    /// RFC 8460 §3: exactly one TXT record at _smtp._tls.DOMAIN that starts "v=TLSRPTv1;",
    /// its rua a comma list of URIs.
    static func reportingAddresses(_ domain: String, resolver: DNSResolver) -> ReportingAddresses {
        let name = "_smtp._tls.\(domain)"
        let answer = resolver.txt(name)
        if case .temporaryFailure(let why) = answer { return .temporary("TXT lookup for \(name) failed: \(why)") }
        let records = answer.records.map { String(decoding: $0.bytes, as: UTF8.self) }.filter { $0.hasPrefix("v=TLSRPTv1;") }
        guard records.count == 1 else {
            return .none(records.isEmpty ? "no TLSRPT record at \(name)" : "\(records.count) TLSRPT records at \(name) (RFC 8460 §3: none counts)")
        }
        for field in records[0].split(separator: ";") {
            let parts = field.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
            if parts.count == 2, parts[0] == "rua" {
                let uris = parts[1].split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
                return uris.isEmpty ? .none("empty rua at \(name)") : .uris(uris)
            }
        }
        return .none("no rua in the TLSRPT record at \(name)")
    }

    /// The address of a mailto: URI (RFC 6068): percent-decoded, without "?" headers; nil when
    /// it is not one plain address.
    static func mailtoAddress(_ uri: String) -> String? {
        var text = Array(uri.utf8.dropFirst(7))
        if let q = text.firstIndex(of: UInt8(ascii: "?")) { text = Array(text[..<q]) }
        var out: [UInt8] = []
        var i = 0
        while i < text.count {
            if text[i] == UInt8(ascii: "%"), i + 2 < text.count, let v = UInt8(String(decoding: text[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                out.append(v); i += 3
            } else {
                out.append(text[i]); i += 1
            }
        }
        let address = String(decoding: out, as: UTF8.self)
        guard address.contains("@"), !address.contains(","), address.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") }) else { return nil }
        return address
    }

    struct GzipFailed: Error, CustomStringConvertible { var description: String { "gzip (zlib) failed" } }

    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: bytes.count + bytes.count / 100 + 1024)
        var length = out.count
        let status = bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                postamt_gzip(input.baseAddress, input.count, output.baseAddress, &length)
            }
        }
        guard status == 0 else { throw GzipFailed() }
        return Array(out[..<length])
    }

    /// RFC 8460 §5.3: multipart/report; report-type="tlsrpt", a text part and the report as
    /// application/tlsrpt+gzip named by §5.1; the Subject and TLS-Report-* fields it names.
    /// TLS-Required: No (RFC 8689 §4.3): a report about broken TLS must still get through.
    static func reportMessage(json: [UInt8], domain: String, day: String, from: String, to: [String], submitter: String) throws -> [UInt8] {
        let now = Clock.seconds()
        let start = TLSRPT.epoch(day), end = start + 86399
        let reportID = "\(day)_\(domain)@\(submitter)"
        let unique = "\(now)-\(getpid())"
        let boundary = "tlsrpt-\(unique)"
        let filename = "\(submitter)!\(domain)!\(start)!\(end)!\(unique).json.gz"
        let body = Base64.encode(try gzip(json))
        var lines: [String] = []
        var offset = body.startIndex
        while offset < body.endIndex {
            let next = body.index(offset, offsetBy: 76, limitedBy: body.endIndex) ?? body.endIndex
            lines.append(String(body[offset..<next]))
            offset = next
        }
        let text = """
            From: <\(from)>
            To: \(to.map { "<\($0)>" }.joined(separator: ", "))
            Date: \(Clock.rfc5322Date(now))
            Subject: Report Domain: \(domain) Submitter: \(submitter) Report-ID: <\(reportID)>
            Message-ID: <tlsrpt.\(unique).\(domain)@\(submitter)>
            TLS-Report-Domain: \(domain)
            TLS-Report-Submitter: \(submitter)
            TLS-Required: No
            MIME-Version: 1.0
            Content-Type: multipart/report; report-type="tlsrpt"; boundary="\(boundary)"

            --\(boundary)
            Content-Type: text/plain; charset=us-ascii

            This is an aggregate TLS report (RFC 8460) from \(submitter) about the
            sessions to \(domain) on \(day) (UTC).

            --\(boundary)
            Content-Type: application/tlsrpt+gzip
            Content-Transfer-Encoding: base64
            Content-Disposition: attachment; filename="\(filename)"

            \(lines.joined(separator: "\n"))
            --\(boundary)--

            """
        return Array(text.utf8)
    }

    /// Seconds since the epoch of 00:00:00 UTC of "YYYY-MM-DD".
    static func epoch(_ day: String) -> Int64 {
        let p = day.split(separator: "-").compactMap { Int32($0) }
        guard p.count == 3 else { return 0 }
        var tm = Glibc.tm()
        tm.tm_year = p[0] - 1900; tm.tm_mon = p[1] - 1; tm.tm_mday = p[2]
        return Int64(timegm(&tm))
    }
}

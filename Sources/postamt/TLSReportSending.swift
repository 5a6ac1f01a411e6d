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
    /// the day, the rua of its `_smtp._tls` TXT record (RFC 8460 §3) gets the gzipped JSON
    /// report as multipart/report (§5.3), queued through postamt-queue. Sent domains are listed
    /// in tlsrpt_directory/DAY.sent, so a second run of the same day sends nothing twice.
    struct Send: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue one day's TLS reports to each domain's mailto: rua (default: yesterday, UTC).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The UTC day, YYYY-MM-DD (default: yesterday).") var day: String?

        func run() throws {
            let c = try global.configuration()
            let d = try TLSRPT.checkedDay(day ?? TLSReportStore.day(Clock.seconds() - 86400))
            let directory = c.string("tlsrpt_directory")
            let store = TLSReportStore(directory: directory)
            let results = store.results(day: d)
            let sentFile = "\(directory)/\(d).sent"
            let sent = Set(((try? FileIO.readFile(sentFile)) ?? nil).map { String(decoding: $0, as: UTF8.self).split(separator: "\n").map(String.init) } ?? [])
            let domains = Set(results.map(\.policyDomain)).subtracting(sent).sorted()
            let ns = c.string("remote_nameserver")
            let resolver = try DNSResolver(nameserver: ns.isEmpty ? nil : ns, timeout: .seconds(max(1, c.duration("remote_dns_timeout"))))
            let from = c.string("tlsrpt_from").isEmpty ? "postmaster@\(c.hostname)" : c.string("tlsrpt_from")
            var failed = false
            for domain in domains {
                let rua: [String]
                switch TLSRPT.reportingAddresses(domain, resolver: resolver) {
                case .temporary(let why):
                    print("\(domain): \(why); try again later")
                    failed = true
                    continue
                case .none(let why):
                    print("\(domain): \(why); no report")
                    markSent(domain, file: sentFile)
                    continue
                case .uris(let uris): rua = uris
                }
                var mailto: [String] = []
                for uri in rua {
                    if uri.lowercased().hasPrefix("mailto:"), let address = TLSRPT.mailtoAddress(uri) {
                        mailto.append(address)
                    } else {
                        // RFC 8460 §5.4 (HTTPS POST) is not implemented.
                        print("\(domain): rua \(uri) is not a mailto: URI this command sends to; left out")
                    }
                }
                guard !mailto.isEmpty else { markSent(domain, file: sentFile); continue }
                let json = TLSRPT.report(results, domain: domain, day: d, organization: c.hostname,
                                         contact: from, sendingIP: c.list("doctor_host_addresses").first)
                let message = try TLSRPT.reportMessage(json: Array(json.utf8), domain: domain, day: d, from: from,
                                                       to: mailto, submitter: c.hostname)
                let envelope: Envelope
                do {
                    envelope = Envelope(sender: try EnvelopeAddress(from, allowEmpty: false, lengthLimit: 4096),
                                        recipients: try mailto.map { try EnvelopeAddress($0, lengthLimit: 4096) })
                } catch {
                    print("\(domain): bad address in \(from) or \(mailto): \(error); no report")
                    failed = true
                    continue
                }
                // Run by root (the timer): postamt-queue records the submitter root, so
                // postamt-remote DKIM-signs the report when root owns the From: address.
                switch QueueClient.inject(program: c.program("postamt-queue"), message: message, envelope: envelope) {
                case .success:
                    print("\(domain): report of \(d) queued for \(mailto.joined(separator: ", "))")
                    markSent(domain, file: sentFile)
                case .failure(let why):
                    print("\(domain): cannot queue the report: \(why)")
                    failed = true
                }
            }
            if failed { throw ExitCode(75) }
        }

        func markSent(_ domain: String, file: String) {
            guard let fd = try? FileIO.open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode: 0o640) else { return }
            try? FileIO.writeAll(fd.raw, Array("\(domain)\n".utf8))
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

#if canImport(Glibc)
import Glibc
#endif
import MailDKIM
import MailMessage
import MailNet
import SpamFilter

/// What postamt-spamcheck knows about one message besides its bytes: the SMTP session's
/// client, HELO and envelope (from the environment smtpd sets and the queue envelope).
public struct SpamCheckInput: Sendable {
    public var message: [UInt8]
    public var clientIP: String? = nil
    public var helo: String? = nil
    public var sender: String? = nil
    public var recipients: [String] = []
    /// Whose token database to use when `spam_database = per-user` (nil: global).
    public var user: String? = nil

    public init(message: [UInt8]) { self.message = message }
}

/// One rule that fired, with its weight.
public struct SpamRuleHit: Sendable, Equatable {
    public var name: String
    public var weight: Double
}

/// The verdict on one message and the header fields that say so.
public struct SpamReport: Sendable {
    public var score = 0.0
    public var hits: [SpamRuleHit] = []
    public var isSpam = false
    /// Set when the queue mode should refuse the message, with the reason for the SMTP reply.
    public var rejectReason: String? = nil
    /// RFC 8601 resinfo items: "spf=pass smtp.mailfrom=example.org", ...
    public var authResults: [String] = []
    /// Limits hit, checks skipped, errors (for the log and a header comment).
    public var notes: [String] = []
    public var bayesExplanation: String? = nil
    /// The message was not scanned at all (an internal error): it passes.
    public var unscanned = false

    public init() {}

    /// The fields postamt-spamcheck adds at the top of the message, each ending in LF.
    public func headerFields(authservID rawID: String) -> [UInt8] {
        // Everything below comes from rules, DNS and the message: no line ends may slip in.
        func oneLine(_ text: String) -> String {
            guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) else { return text }
            return String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? " " : $0 }))
        }
        let authservID = oneLine(rawID)
        let notes = self.notes.map(oneLine), authResults = self.authResults.map(oneLine)
        let bayesExplanation = self.bayesExplanation.map(oneLine)
        var text = ""
        let tests = hits.map { "\(oneLine($0.name))(\(formatScore($0.weight)))" }.joined(separator: ",")
        text += "X-Spam-Status: \(isSpam ? "Yes" : "No"), score=\(formatScore(score)), tests=\(tests.isEmpty ? "none" : tests)\n"
        text += "X-Spam-Score: \(formatScore(score))\n"
        if let bayesExplanation { text += "X-Spam-Bayes: \(bayesExplanation)\n" }
        if !notes.isEmpty { text += "X-Spam-Note: \(notes.joined(separator: "; "))\n" }
        if authResults.isEmpty {
            text += "Authentication-Results: \(authservID); none\n"
        } else {
            text += "Authentication-Results: \(authservID);\n\t" + authResults.joined(separator: ";\n\t") + "\n"
        }
        return Array(text.utf8)
    }
}

func formatScore(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    let sign = tenths < 0 ? "-" : ""
    return "\(sign)\(abs(tenths) / 10).\(abs(tenths) % 10)"
}

func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// Scores one message: Bayes, SPF, DKIM, DMARC, DNS lists, header rules, local lists.
/// Never throws: a check that cannot run is skipped with a note, and the message passes.
public final class SpamChecker {
    public let options: SpamCheckOptions
    private let givenDNS: AuthDNS?
    /// The resolver, made at the first check that asks DNS: a message that needs none (no
    /// client address, no DKIM signature, DMARC off) never reads resolv.conf.
    lazy var dns: AuthDNS? = givenDNS
        ?? (try? DNSResolver(nameserver: options.dnsServer, timeout: .seconds(options.dnsTimeoutSeconds), attempts: 1))

    /// - Parameter dns: the resolver for SPF/DKIM/DMARC/DNS lists; nil makes one from the options
    ///   when a check first needs it (and when that fails, those checks are skipped).
    public init(options: SpamCheckOptions, dns: AuthDNS? = nil) {
        self.options = options
        self.givenDNS = dns
    }

    public func check(_ input: SpamCheckInput) -> SpamReport {
        var report = SpamReport()
        let deadline = monotonicSeconds() + Double(options.timeLimitSeconds)
        func timeLeft(_ what: String) -> Bool {
            if monotonicSeconds() < deadline { return true }
            if !report.hits.contains(where: { $0.name == "TIME_LIMIT" }) { fire(&report, "TIME_LIMIT") }
            report.notes.append("\(what) skipped: time limit")
            return false
        }
        var message = input.message
        // An mbox "From " separator line (a message saved from a mailbox) is not a header field.
        if message.starts(with: Array("From ".utf8)), let end = message.firstIndex(of: 10) {
            message = Array(message[(end + 1)...])
        }
        let header = HeaderSection.parse(message, limit: options.decodeLimits.maxHeaderBytes)
        let fromMailbox = header.first("From").flatMap { MailboxList.mailboxes(in: $0.value).first }
        let fromDomain = fromMailbox?.domain?.lowercased() ?? ""
        let sender = (input.sender ?? "").lowercased()

        // Local lists first: they decide alone.
        let identities = [sender, fromMailbox.map { $0.address.lowercased() } ?? ""].filter { !$0.isEmpty }
        if identities.contains(where: { matchesList(options.allowSenders, $0) }) { fire(&report, "ALLOW_LIST") }
        if identities.contains(where: { matchesList(options.blockSenders, $0) }) { fire(&report, "BLOCK_LIST") }

        // Authentication.
        let ip = input.clientIP.flatMap { IPAddress($0) }?.unmapped
        let helo = input.helo ?? ""
        var spfResult: SPFResult? = nil
        var spfDomain = ""
        if options.checkSPF, let ip, let dns, input.sender != nil, timeLeft("SPF") {
            let checker = SPFChecker(dns: dns)
            let result = checker.check(ip: ip, sender: sender, helo: helo)
            spfResult = result
            spfDomain = sender.contains("@") ? String(sender[sender.index(after: sender.lastIndex(of: "@")!)...]) : helo.lowercased()
            let identity = sender.isEmpty ? "smtp.helo=\(helo)" : "smtp.mailfrom=\(sender)"
            report.authResults.append("spf=\(result.rawValue) (\(commentSafe(checker.reason))) \(identity)")
            switch result {
            case .pass: fire(&report, "SPF_PASS")
            case .fail: fire(&report, "SPF_FAIL")
            case .softfail: fire(&report, "SPF_SOFTFAIL")
            case .permerror: fire(&report, "SPF_PERMERROR")
            default: break
            }
        }
        var dkimPassDomains: [String] = []
        if options.checkDKIM, header.first("DKIM-Signature") == nil {
            report.authResults.append("dkim=none")
        } else if options.checkDKIM, let dns, timeLeft("DKIM") {
            var verifier = DKIMVerifier(dns: dns, maxSignatures: options.dkimMaxSignatures)
            verifier.now = Int64(time(nil))
            let results = verifier.verify(message: message, header: header)
            if results.isEmpty { report.authResults.append("dkim=none") }
            for r in results {
                report.authResults.append("dkim=\(r.result.rawValue) (\(commentSafe(r.reason))) header.d=\(r.domain) header.s=\(r.selector) header.a=\(r.algorithm)")
                if r.result == .pass { dkimPassDomains.append(r.domain) }
            }
            if !dkimPassDomains.isEmpty { fire(&report, "DKIM_VALID") } else if results.contains(where: { $0.result == .fail }) { fire(&report, "DKIM_INVALID") }
        }
        if options.checkDMARC, let dns, !fromDomain.isEmpty, timeLeft("DMARC") {
            let outcome = DMARCChecker(dns: dns).check(fromDomain: fromDomain, spf: spfResult ?? .none, spfDomain: spfDomain,
                                                       dkimPassDomains: dkimPassDomains)
            report.authResults.append("dmarc=\(outcome.result.rawValue) (p=\(outcome.policy); \(commentSafe(outcome.reason))) header.from=\(fromDomain)")
            switch outcome.result {
            case .pass: fire(&report, "DMARC_PASS")
            case .fail:
                fire(&report, outcome.policy == "reject" ? "DMARC_FAIL_REJECT" : outcome.policy == "quarantine" ? "DMARC_FAIL_QUARANTINE" : "DMARC_FAIL_NONE")
                if outcome.policy == "reject" && options.dmarcReject {
                    report.rejectReason = "DMARC policy of \(fromDomain) says reject"
                }
            default: break
            }
        }

        // DNS lists of the client address; a DNS failure never counts against the message.
        if let ip, !isLoopback(ip), !options.dnsblZones.isEmpty || !options.dnswlZones.isEmpty, let dns {
            for zone in options.dnsblZones where timeLeft("DNSBL \(zone)") {
                if listed(ip, in: zone, dns: dns) { fire(&report, "DNSBL", named: "DNSBL_" + ruleSuffix(zone)) }
            }
            for zone in options.dnswlZones where timeLeft("DNSWL \(zone)") {
                if listed(ip, in: zone, dns: dns) { fire(&report, "DNSWL", named: "DNSWL_" + ruleSuffix(zone)) }
            }
        }

        // Header sanity.
        if header.first("Date") == nil { fire(&report, "MISSING_DATE") }
        if header.first("Message-ID") == nil { fire(&report, "MISSING_MESSAGE_ID") }
        let received = header.all("Received")
        let me = options.hostname.lowercased()
        if !me.isEmpty, received.dropFirst().contains(where: { claimsReceivedBy($0.value, host: me) }),
           ip.map({ !isLoopback($0) }) ?? false {
            fire(&report, "FORGED_RECEIVED")
        }
        if let fromMailbox {
            let isLocalFrom = options.localDomains.contains(fromDomain)
            if !isLocalFrom, let name = fromMailbox.decodedDisplayName?.lowercased(),
               options.localDomains.contains(where: { name.contains("@" + $0) }) {
                fire(&report, "FROM_DISPLAY_SPOOF")
            }
            if isLocalFrom, let ip, !isLoopback(ip), spfResult != .pass, dkimPassDomains.isEmpty {
                fire(&report, "FROM_LOCAL_UNAUTH")
            }
        }

        // The administrator's rules and the statistical classifier see the decoded message.
        // Decoding and tokenising are bounded by the limits.
        let document = SpamDocument.decode(rawMessage: input.message, limits: options.decodeLimits)
        if let path = options.rulesFile, timeLeft("local rules") { localRules(path, document, &report) }
        if timeLeft("Bayes") { bayes(input, document, &report) }

        report.score = report.hits.reduce(0) { $0 + $1.weight }
        report.isSpam = report.score >= options.tagScore
        if report.rejectReason == nil, options.rejectScore > 0, report.score >= options.rejectScore {
            report.rejectReason = "message scored \(formatScore(report.score)) as spam"
        }
        return report
    }

    func localRules(_ path: String, _ document: SpamDocument, _ report: inout SpamReport) {
        let rules: LocalRules?
        do { rules = try LocalRules.load(path: path) } catch {
            report.notes.append("local rules skipped: \(error)")
            return
        }
        guard let rules else { return }
        for rule in rules.matches(headers: document.headers, body: document.textParts) {
            report.hits.append(SpamRuleHit(name: rule.name, weight: options.weights[rule.name] ?? rule.score))
        }
    }

    func bayes(_ input: SpamCheckInput, _ document: SpamDocument, _ report: inout SpamReport) {
        // What the limits cut is reported even when there is no database to classify against.
        let tokens = SpamTokenizer(limits: options.tokenizerLimits).tokenize(document)
        if !tokens.truncation.isEmpty {
            fire(&report, "SCAN_PARTIAL")
            report.notes.append("scanned partially (" + tokens.truncation.map(\.rawValue).sorted().joined(separator: ", ") + ")")
        }
        let path = options.databasePathForReading(user: input.user)
        let snapshot: TokenDatabaseSnapshot
        do {
            snapshot = try SnapshotCache.snapshot(path)
        } catch TokenDatabaseError.notFound {
            report.notes.append("no spam token database yet")
            return
        } catch {
            report.notes.append("Bayes skipped: \(error)")
            return
        }
        guard snapshot.spamMessageCount > 0, snapshot.hamMessageCount > 0 else {
            report.notes.append("token database has no spam or no ham yet")
            return
        }
        let verdict = SpamClassifier().classify(tokens, rawMessage: input.message, using: snapshot)
        report.bayesExplanation = verdict.explanation(maxTokens: 6)
        if let rule = Self.bayesRule(score: verdict.score, gramsFull: verdict.parts != nil && snapshot.gramWeight >= 1) {
            fire(&report, rule)
        }
    }

    /// The rule a statistical score fires. BAYES_80 (0.8 to 0.9) only once the byte-gram model
    /// has its full share of the score: the mean of the two models is less extreme than Bayes
    /// alone, and at 0.8 it let through as few ham as Bayes alone did at 0.9 (cross-validated,
    /// six partitions: 6 of 16,704 either way) while it missed 2.8 % of spam instead of 4.3 %;
    /// for Bayes alone 0.8 doubled the ham let through.
    static func bayesRule(score: Double, gramsFull: Bool) -> String? {
        switch score {
        case 0.99...: return "BAYES_99"
        case 0.9..<0.99: return "BAYES_90"
        case 0.8..<0.9 where gramsFull: return "BAYES_80"
        case 0.6..<0.9: return "BAYES_60"
        case 0.01..<0.1: return "BAYES_10"
        case ..<0.01: return "BAYES_00"
        default: return nil
        }
    }

    func fire(_ report: inout SpamReport, _ rule: String, named: String? = nil) {
        report.hits.append(SpamRuleHit(name: named ?? rule, weight: options.weights[named ?? ""] ?? options.weights[rule] ?? 0))
    }

    func matchesList(_ list: [String], _ address: String) -> Bool {
        list.contains { entry in
            entry.hasPrefix("@") ? address.hasSuffix(entry) : entry == address
        }
    }

    /// RFC 5782 §2.1: the reversed address below the zone; an A record in 127.0.0.0/8 means listed
    /// (127.255.255.x are the lists' error codes, not listings).
    func listed(_ ip: IPAddress, in zone: String, dns: AuthDNS) -> Bool {
        DNSList.isListing(dns.a(DNSList.queryName(for: ip, in: zone)))
    }

    func isLoopback(_ ip: IPAddress) -> Bool {
        ip.isIPv4 ? ip.bytes[0] == 127 : ip.bytes == [UInt8](repeating: 0, count: 15) + [1]
    }

    /// Whether the first "by" word of a Received: value is followed by `host` (lower case),
    /// words split at white space, parentheses and semicolons; bytes, no allocation.
    func claimsReceivedBy(_ value: String, host: String) -> Bool {
        var value = value
        var host = host
        return value.withUTF8 { text in
            host.withUTF8 { name in
                func isSeparator(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 40 || b == 41 || b == 59 }
                func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b | 0x20 : b }
                var i = 0
                var sawBy = false
                while i < text.count {
                    while i < text.count, isSeparator(text[i]) { i += 1 }
                    let start = i
                    while i < text.count, !isSeparator(text[i]) { i += 1 }
                    guard i > start else { break }
                    if sawBy {
                        return i - start == name.count && (0..<name.count).allSatisfy { lower(text[start + $0]) == name[$0] }
                    }
                    sawBy = i - start == 2 && lower(text[start]) == 98 && lower(text[start + 1]) == 121
                }
                return false
            }
        }
    }

    func ruleSuffix(_ zone: String) -> String {
        String(zone.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    /// RFC 8601 comments may not contain parentheses or line breaks.
    func commentSafe(_ text: String) -> String {
        String(text.map { "()\\\r\n".contains($0) ? " " : $0 }.prefix(120))
    }
}

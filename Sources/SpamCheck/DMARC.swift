import MailDKIM
import MailNet

/// DMARC results (RFC 7489 §11.2, RFC 8601 §2.7.6).
public enum DMARCResult: String, Sendable, Equatable {
    case none, pass, fail, temperror, permerror
}

/// A DMARC evaluation: the policy that applies and whether the message is aligned.
public struct DMARCOutcome: Sendable, Equatable {
    public var result: DMARCResult
    /// The From: domain evaluated.
    public var fromDomain: String
    /// The requested policy for this domain (p=, or sp= for a subdomain): none, quarantine, reject.
    public var policy: String
    public var reason: String
}

/// DMARC (RFC 7489): looks up `_dmarc.<From domain>`, falling back to the organizational domain,
/// and checks identifier alignment of SPF (MAIL FROM domain) and DKIM (d=) results.
///
/// XXX: the organizational domain comes from a short built-in list of two-label public suffixes
/// instead of the Public Suffix List (§3.2 wants the PSL); "a.b.example.co.uk" → "example.co.uk".
public struct DMARCChecker {
    let dns: AuthDNS

    public init(dns: AuthDNS) { self.dns = dns }

    static let twoLabelSuffixes: Set<String> = [
        "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "ltd.uk", "plc.uk", "com.au", "net.au", "org.au", "edu.au",
        "co.nz", "org.nz", "co.jp", "ne.jp", "or.jp", "ac.jp", "com.br", "net.br", "com.cn", "net.cn", "org.cn",
        "co.in", "co.za", "com.mx", "com.ar", "com.tr", "co.kr", "com.tw", "com.hk", "com.sg", "co.il", "com.pl",
    ]

    /// The organizational domain (§3.2), approximated: see the type's note.
    public static func organizationalDomain(_ domain: String) -> String {
        let labels = domain.lowercased().split(separator: ".").map(String.init)
        guard labels.count > 2 else { return labels.joined(separator: ".") }
        let lastTwo = labels.suffix(2).joined(separator: ".")
        let keep = twoLabelSuffixes.contains(lastTwo) ? 3 : 2
        return labels.suffix(keep).joined(separator: ".")
    }

    static func aligned(_ a: String, _ b: String, strict: Bool) -> Bool {
        let x = a.lowercased(), y = b.lowercased()
        if strict { return x == y }
        return organizationalDomain(x) == organizationalDomain(y)
    }

    /// - Parameters:
    ///   - fromDomain: the domain of the single From: address (RFC 7489 §6.6.1).
    ///   - spf: the SPF result and the domain it was for (MAIL FROM, or HELO for a null sender).
    ///   - dkim: the passing DKIM signatures' d= domains.
    public func check(fromDomain rawFrom: String, spf: SPFResult, spfDomain: String, dkimPassDomains: [String]) -> DMARCOutcome {
        let fromDomain = rawFrom.lowercased()
        var outcome = DMARCOutcome(result: .none, fromDomain: fromDomain, policy: "none", reason: "")
        guard !fromDomain.isEmpty else { outcome.reason = "no From domain"; return outcome }
        var record: [String: String]? = nil
        var isSubdomainPolicy = false
        for (index, name) in [fromDomain, DMARCChecker.organizationalDomain(fromDomain)].enumerated() {
            if index == 1 && name == fromDomain { break }
            switch dns.txt("_dmarc.\(name)") {
            case .found(let records):
                let candidates = records.map(\.text).filter {
                    $0.trimmingCharacters(inSet: " \t").lowercased().hasPrefix("v=dmarc1")
                }
                // §6.6.3: several records, or none, mean no policy.
                if candidates.count == 1, let parsed = DKIMTags.parse(candidates[0]) {
                    record = parsed
                    isSubdomainPolicy = index == 1
                }
            case .temporaryFailure(let why):
                outcome.result = .temperror
                outcome.reason = "_dmarc.\(name): \(why)"
                return outcome
            default: break
            }
            if record != nil { break }
        }
        guard let record else { outcome.reason = "no DMARC record"; return outcome }
        guard record["v"] == "DMARC1", let p = record["p"]?.lowercased(), ["none", "quarantine", "reject"].contains(p) else {
            outcome.result = .permerror
            outcome.reason = "DMARC record has no valid p="
            return outcome
        }
        var policy = p
        if isSubdomainPolicy, let sp = record["sp"]?.lowercased(), ["none", "quarantine", "reject"].contains(sp) { policy = sp }
        outcome.policy = policy
        let strictSPF = record["aspf"]?.lowercased() == "s", strictDKIM = record["adkim"]?.lowercased() == "s"
        let spfAligned = spf == .pass && DMARCChecker.aligned(spfDomain, fromDomain, strict: strictSPF)
        let dkimAligned = dkimPassDomains.contains { DMARCChecker.aligned($0, fromDomain, strict: strictDKIM) }
        if spfAligned || dkimAligned {
            outcome.result = .pass
            outcome.reason = spfAligned ? "SPF aligned" : "DKIM aligned"
        } else {
            outcome.result = .fail
            outcome.reason = "neither SPF nor DKIM aligned with \(fromDomain)"
        }
        return outcome
    }
}

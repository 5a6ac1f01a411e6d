import MailDKIM
import MailNet

/// The DNS questions the authentication checks ask. `DNSResolver` answers them; tests may too.
public protocol AuthDNS: DKIMKeyLookup {
    func txt(_ name: String) -> DNSResult<TXTRecord>
    func a(_ name: String) -> DNSResult<IPAddress>
    func aaaa(_ name: String) -> DNSResult<IPAddress>
    func mx(_ domain: String) -> DNSResult<MXRecord>
    func ptr(_ address: IPAddress) -> DNSResult<DNSName>
}

extension DNSResolver: AuthDNS {}

/// The results of RFC 7208 §2.6.
public enum SPFResult: String, Sendable, Equatable {
    case none, neutral, pass, fail, softfail, temperror, permerror
}

/// An SPF evaluation (RFC 7208): check_host() with include/redirect, macros (§7), the limit of
/// 10 DNS-querying terms (§4.6.4) and of 2 void lookups.
public final class SPFChecker {
    let dns: AuthDNS
    /// §4.6.4: "SPF implementations MUST limit the total number of those terms to 10".
    public static let lookupLimit = 10
    /// §4.6.4: void lookups (NXDOMAIN or no records) SHOULD be limited to two.
    public static let voidLookupLimit = 2
    /// §4.6.4: "the evaluation of each "MX" record MUST NOT result in querying more than 10
    /// address records".
    public static let mxAddressLimit = 10

    private var lookups = 0
    private var voidLookups = 0
    /// Why the result is what it is (for logs and Received-SPF-style comments).
    public private(set) var reason = ""

    public init(dns: AuthDNS) { self.dns = dns }

    /// check_host(ip, domain, sender) for the MAIL FROM identity (or HELO when the sender is
    /// null: §2.4 then uses postmaster@helo).
    public func check(ip: IPAddress, sender: String, helo: String) -> SPFResult {
        lookups = 0
        voidLookups = 0
        var mailFrom = sender
        if mailFrom.isEmpty { mailFrom = "postmaster@\(helo)" }
        if !mailFrom.contains("@") { mailFrom = "postmaster@\(mailFrom)" }
        let domain = String(mailFrom[mailFrom.index(after: mailFrom.lastIndex(of: "@")!)...])
        let context = Context(ip: ip.unmapped, sender: mailFrom, helo: helo)
        return checkHost(context, domain: domain, depth: 0)
    }

    struct Context {
        let ip: IPAddress
        let sender: String
        let helo: String
        var localPart: String { String(sender[..<sender.lastIndex(of: "@")!]) }
        var senderDomain: String { String(sender[sender.index(after: sender.lastIndex(of: "@")!)...]) }
    }

    private enum Outcome { case result(SPFResult), noMatch }

    private func checkHost(_ context: Context, domain rawDomain: String, depth: Int) -> SPFResult {
        let domain = rawDomain.hasSuffix(".") ? String(rawDomain.dropLast()) : rawDomain
        // §4.3: a domain that is not a valid FQDN gives none.
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        if domain.isEmpty || labels.count < 2 || labels.contains(where: { $0.isEmpty || $0.count > 63 }) || domain.utf8.count > 253 {
            reason = "\(domain): not a domain name"
            return .none
        }
        if depth > 20 { reason = "include/redirect loop"; return .permerror }
        let records: [String]
        switch dns.txt(domain) {
        case .found(let txts): records = txts.map(\.text).filter(SPFChecker.isSPFRecord)
        case .noData, .nonexistentDomain, .invalidName: records = []
        case .temporaryFailure(let why): reason = "\(domain): DNS: \(why)"; return .temperror
        }
        if records.isEmpty { reason = "\(domain): no SPF record"; return .none }
        if records.count > 1 { reason = "\(domain): more than one SPF record"; return .permerror }
        let terms = records[0].split(whereSeparator: { $0 == " " }).dropFirst().map(String.init)

        var redirect: String? = nil
        var directives: [(qualifier: Character, name: String, argument: String?)] = []
        for term in terms {
            if let eq = term.firstIndex(of: "="), !term[..<eq].contains(":"), !term[..<eq].contains("/") {
                let name = term[..<eq].lowercased()
                let value = String(term[term.index(after: eq)...])
                guard name.first?.isLetter == true else { reason = "bad modifier \(term)"; return .permerror }
                if name == "redirect" {
                    if redirect != nil { reason = "two redirect modifiers"; return .permerror }
                    redirect = value
                } else if name == "exp" {
                    continue
                }   // unknown modifiers are ignored (§6)
                continue
            }
            var text = Substring(term)
            var qualifier: Character = "+"
            if let first = text.first, "+-~?".contains(first) { qualifier = first; text = text.dropFirst() }
            var name = text.lowercased(), argument: String? = nil
            if let sep = text.firstIndex(where: { $0 == ":" || $0 == "/" }) {
                name = text[..<sep].lowercased()
                argument = text[sep] == ":" ? String(text[text.index(after: sep)...]) : String(text[sep...])
            }
            guard ["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"].contains(name) else {
                reason = "unknown mechanism \(name)"
                return .permerror
            }
            directives.append((qualifier, name, argument))
        }

        for directive in directives {
            switch evaluate(directive.name, directive.argument, context, domain: domain, depth: depth) {
            case .result(let result) where result == .temperror || result == .permerror:
                return result
            case .result(let matched) where matched == .pass:
                switch directive.qualifier {
                case "-": reason = "\(domain): matched -\(directive.name)"; return .fail
                case "~": reason = "\(domain): matched ~\(directive.name)"; return .softfail
                case "?": reason = "\(domain): matched ?\(directive.name)"; return .neutral
                default: reason = "\(domain): matched \(directive.name)"; return .pass
                }
            default: continue
            }
        }
        if let redirect {
            guard countLookup() else { return .permerror }
            guard let target = expand(redirect, context, domain: domain) else { return .permerror }
            let result = checkHost(context, domain: target, depth: depth + 1)
            // §6.1: a redirect to a domain with no SPF record is a permerror.
            return result == .none ? .permerror : result
        }
        reason = "\(domain): no mechanism matched"
        return .neutral
    }

    static func isSPFRecord(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower == "v=spf1" || lower.hasPrefix("v=spf1 ")
    }

    private func countLookup() -> Bool {
        lookups += 1
        if lookups > SPFChecker.lookupLimit {
            reason = "more than \(SPFChecker.lookupLimit) DNS lookups"
            return false
        }
        return true
    }

    private func countVoid<R>(_ result: DNSResult<R>) -> Bool {
        switch result {
        case .noData, .nonexistentDomain:
            voidLookups += 1
            if voidLookups > SPFChecker.voidLookupLimit { reason = "more than \(SPFChecker.voidLookupLimit) void lookups"; return false }
        default: break
        }
        return true
    }

    /// Evaluates one mechanism: `.result(.pass)` for a match, `.noMatch`, or an error result.
    private func evaluate(_ name: String, _ argument: String?, _ context: Context, domain: String, depth: Int) -> Outcome {
        switch name {
        case "all":
            return .result(.pass)
        case "include":
            guard countLookup() else { return .result(.permerror) }
            guard let spec = argument, let target = expand(spec, context, domain: domain) else { return .result(.permerror) }
            // §5.2: pass matches; fail/softfail/neutral do not; temperror stays; none is permerror.
            switch checkHost(context, domain: target, depth: depth + 1) {
            case .pass: return .result(.pass)
            case .fail, .softfail, .neutral: return .noMatch
            case .temperror: return .result(.temperror)
            case .permerror, .none: return .result(.permerror)
            }
        case "a", "mx":
            guard countLookup() else { return .result(.permerror) }
            guard let (spec, v4, v6) = splitCIDR(argument) else { return .result(.permerror) }
            guard let target = spec.map({ expand($0, context, domain: domain) }) ?? domain else { return .result(.permerror) }
            var hosts = [target]
            if name == "mx" {
                let answer = dns.mx(target)
                if answer.isTemporaryFailure { return .result(.temperror) }
                guard countVoid(answer) else { return .result(.permerror) }
                let names = answer.records.map { $0.exchange.description }
                if names.count > SPFChecker.mxAddressLimit { reason = "more than 10 MX names"; return .result(.permerror) }
                hosts = names
            }
            for host in hosts {
                let answer = context.ip.isIPv4 ? dns.a(host) : dns.aaaa(host)
                if answer.isTemporaryFailure { return .result(.temperror) }
                if name == "a" { guard countVoid(answer) else { return .result(.permerror) } }
                for address in answer.records where matches(context.ip, address, prefix: context.ip.isIPv4 ? v4 : v6) {
                    return .result(.pass)
                }
            }
            return .noMatch
        case "ptr":
            // §5.5: validated reverse names ending in the target domain. Discouraged, still honoured.
            guard countLookup() else { return .result(.permerror) }
            guard let target = argument.map({ expand($0, context, domain: domain) }) ?? domain else { return .result(.permerror) }
            for ptrName in dns.ptr(context.ip).records.prefix(10) {
                let host = ptrName.description.hasSuffix(".") ? String(ptrName.description.dropLast()) : ptrName.description
                let forward = context.ip.isIPv4 ? dns.a(host) : dns.aaaa(host)
                if forward.records.contains(context.ip),
                   host.lowercased() == target.lowercased() || host.lowercased().hasSuffix("." + target.lowercased()) {
                    return .result(.pass)
                }
            }
            return .noMatch
        case "ip4", "ip6":
            guard let argument else { return .result(.permerror) }
            var text = argument, prefix: Int? = nil
            if let slash = argument.firstIndex(of: "/") {
                text = String(argument[..<slash])
                guard let p = Int(argument[argument.index(after: slash)...]) else { return .result(.permerror) }
                prefix = p
            }
            guard let network = IPAddress(text), network.isIPv4 == (name == "ip4") else { return .result(.permerror) }
            let bits = prefix ?? (network.isIPv4 ? 32 : 128)
            guard bits >= 0, bits <= network.bytes.count * 8 else { return .result(.permerror) }
            return matches(context.ip, network, prefix: bits) ? .result(.pass) : .noMatch
        case "exists":
            guard countLookup() else { return .result(.permerror) }
            guard let spec = argument, let target = expand(spec, context, domain: domain) else { return .result(.permerror) }
            let answer = dns.a(target)
            if answer.isTemporaryFailure { return .result(.temperror) }
            guard countVoid(answer) else { return .result(.permerror) }
            return answer.records.isEmpty ? .noMatch : .result(.pass)
        default:
            return .result(.permerror)
        }
    }

    /// "domain/24//64" → (domain, 24, 64); the domain part may be absent.
    private func splitCIDR(_ argument: String?) -> (String?, Int, Int)? {
        guard let argument else { return (nil, 32, 128) }
        var spec = argument, v4 = 32, v6 = 128
        if let parts = splitOnce(spec, "//") {
            guard let n = Int(parts.1), (0...128).contains(n) else { return nil }
            v6 = n
            spec = parts.0
        }
        if let slash = spec.lastIndex(of: "/") {
            guard let n = Int(spec[spec.index(after: slash)...]), (0...32).contains(n) else { return nil }
            v4 = n
            spec = String(spec[..<slash])
        }
        if spec.hasPrefix("/") { spec = String(spec.dropFirst()) }
        return (spec.isEmpty ? nil : spec, v4, v6)
    }

    private func splitOnce(_ text: String, _ separator: String) -> (String, String)? {
        let bytes = Array(text.utf8), sep = Array(separator.utf8)
        guard bytes.count >= sep.count else { return nil }
        for i in 0...(bytes.count - sep.count) where Array(bytes[i..<(i + sep.count)]) == sep {
            return (String(decoding: bytes[..<i], as: UTF8.self), String(decoding: bytes[(i + sep.count)...], as: UTF8.self))
        }
        return nil
    }

    private func matches(_ ip: IPAddress, _ network: IPAddress, prefix: Int) -> Bool {
        guard ip.bytes.count == network.bytes.count else { return false }
        var remaining = prefix
        for i in 0..<ip.bytes.count where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xff : UInt8(0xff << (8 - remaining) & 0xff)
            if ip.bytes[i] & mask != network.bytes[i] & mask { return false }
            remaining -= 8
        }
        return true
    }

    /// Macro expansion (§7): %{s l o d i p h v} with digit and r transformers and delimiters,
    /// %% %_ %-. Returns nil for a syntax error (a permerror).
    func expand(_ spec: String, _ context: Context, domain: String) -> String? {
        var out = ""
        var chars = Array(spec)[...]
        while let c = chars.popFirst() {
            guard c == "%" else { out.append(c); continue }
            guard let next = chars.popFirst() else { reason = "bad macro in \(spec)"; return nil }
            switch next {
            case "%": out += "%"
            case "_": out += " "
            case "-": out += "%20"
            case "{":
                guard let close = chars.firstIndex(of: "}") else { reason = "bad macro in \(spec)"; return nil }
                let body = String(chars[chars.startIndex..<close])
                chars = chars[chars.index(after: close)...]
                guard let first = body.first else { return nil }
                let letter = first.lowercased()
                var value: String
                switch letter {
                case "s": value = context.sender
                case "l": value = context.localPart
                case "o": value = context.senderDomain
                case "d": value = domain
                case "i":
                    if context.ip.isIPv4 { value = context.ip.description } else {
                        let hex = Array("0123456789abcdef")
                        value = context.ip.bytes.flatMap { [String(hex[Int($0 >> 4)]), String(hex[Int($0 & 15)])] }.joined(separator: ".")
                    }
                case "p": value = "unknown"   // §7.3: SHOULD NOT be used; "unknown" is allowed
                case "h": value = context.helo
                case "v": value = context.ip.isIPv4 ? "in-addr" : "ip6"
                default: reason = "bad macro letter in \(spec)"; return nil
                }
                var rest = body.dropFirst()
                var digits = ""
                while let d = rest.first, d.isNumber { digits.append(d); rest = rest.dropFirst() }
                var reverse = false
                if let r = rest.first, r == "r" || r == "R" { reverse = true; rest = rest.dropFirst() }
                let delimiters = rest.isEmpty ? "." : String(rest)
                guard delimiters.allSatisfy({ ".-+,/_=".contains($0) }) else { reason = "bad macro delimiter in \(spec)"; return nil }
                if !digits.isEmpty || reverse || !rest.isEmpty {
                    var parts = value.split(whereSeparator: { delimiters.contains($0) }).map(String.init)
                    if reverse { parts.reverse() }
                    if let n = Int(digits) {
                        guard n > 0 else { return nil }
                        parts = Array(parts.suffix(n))
                    }
                    value = parts.joined(separator: ".")
                }
                if first.isUppercase { value = percentEncode(value) }   // upper case: URL-encode
                out += value
            default:
                reason = "bad macro in \(spec)"
                return nil
            }
        }
        // §7.3: expanded domain-specs longer than 253 lose labels from the left.
        while out.utf8.count > 253, let dot = out.firstIndex(of: ".") { out = String(out[out.index(after: dot)...]) }
        return out
    }

    private func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7a) || "-._~".utf8.contains(byte) {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 15)])
            }
        }
        return out
    }
}

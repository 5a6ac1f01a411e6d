import COpenSSL
import MailCodec
import MailMessage
import MailNet

/// Where the verifier finds public keys: TXT records at selector._domainkey.domain (RFC 6376
/// §3.6.2.2). The spam filter's resolver (AuthDNS) is one.
public protocol DKIMKeyLookup: AnyObject {
    func txt(_ name: String) -> DNSResult<TXTRecord>
}

/// The results of one DKIM signature (RFC 8601 §2.7.1).
public enum DKIMResult: String, Sendable, Equatable {
    case none, pass, fail, neutral, temperror, permerror
}

/// The outcome of verifying one DKIM-Signature field.
public struct DKIMSignatureResult: Sendable, Equatable {
    public var result: DKIMResult
    /// The signing domain (d=) and selector (s=), empty when unreadable.
    public var domain: String
    public var selector: String
    public var algorithm: String
    public var reason: String
}

/// DKIM verification (RFC 6376) of rsa-sha256 and ed25519-sha256 (RFC 8463) signatures,
/// simple and relaxed canonicalisation, with keys from DNS and OpenSSL for the arithmetic.
public struct DKIMVerifier {
    let dns: DKIMKeyLookup
    /// RFC 8301 §3.2: "Verifiers MUST NOT consider signatures using RSA keys of less than 1024
    /// bits as valid signatures."
    public var minimumRSABits: Int32 = 1024
    public var maxSignatures: Int = 5
    /// The verifier's clock (seconds since 1970) for x= (expiry).
    public var now: Int64 = 0

    public init(dns: DKIMKeyLookup, maxSignatures: Int = 5, now: Int64 = 0) {
        self.dns = dns
        self.maxSignatures = maxSignatures
        self.now = now
    }

    /// Verifies every DKIM-Signature field of the message (at most `maxSignatures`).
    public func verify(message: [UInt8], header: HeaderSection) -> [DKIMSignatureResult] {
        let signatures = header.fields.filter { $0.isNamed("DKIM-Signature") }.prefix(maxSignatures)
        if signatures.isEmpty { return [] }
        var bodyHashes: [String: [UInt8]] = [:]   // canonicalisation + length → hash
        return signatures.map { verify(signature: $0, message: message, header: header, bodyHashes: &bodyHashes) }
    }

    func verify(signature field: HeaderField, message: [UInt8], header: HeaderSection,
                bodyHashes: inout [String: [UInt8]]) -> DKIMSignatureResult {
        var outcome = DKIMSignatureResult(result: .neutral, domain: "", selector: "", algorithm: "", reason: "")
        func fail(_ result: DKIMResult, _ why: String) -> DKIMSignatureResult {
            outcome.result = result
            outcome.reason = why
            return outcome
        }
        guard let tags = DKIMTags.parse(field.value) else { return fail(.permerror, "signature tag list unreadable") }
        let domain = (tags["d"] ?? "").lowercased(), selector = tags["s"] ?? ""
        outcome.domain = domain
        outcome.selector = selector
        outcome.algorithm = (tags["a"] ?? "").lowercased()
        // §6.1.1: required tags and their syntax.
        guard tags["v"] == "1" else { return fail(.permerror, "v= is not 1") }
        guard !domain.isEmpty, !selector.isEmpty, let signedNames = tags["h"], let bodyHashText = tags["bh"],
              let signatureText = tags["b"] else { return fail(.permerror, "a required tag is missing") }
        let names = signedNames.split(separator: ":").map { $0.trimmingCharacters(inSet: " \t\r\n").lowercased() }
        guard names.contains("from") else { return fail(.permerror, "From is not signed") }
        if let identity = tags["i"] {
            let identityDomain = identity.split(separator: "@").last.map(String.init)?.lowercased() ?? ""
            guard identityDomain == domain || identityDomain.hasSuffix("." + domain) else {
                return fail(.permerror, "i= is not within d=")
            }
        }
        if let expiry = tags["x"].flatMap({ Int64($0) }), now > 0, expiry < now {
            return fail(.permerror, "signature expired")
        }
        let canonicalisation = (tags["c"] ?? "simple/simple").lowercased().split(separator: "/").map(String.init)
        let headerCanon = canonicalisation.first ?? "simple"
        let bodyCanon = canonicalisation.count > 1 ? canonicalisation[1] : "simple"
        guard ["simple", "relaxed"].contains(headerCanon), ["simple", "relaxed"].contains(bodyCanon) else {
            return fail(.permerror, "unknown canonicalisation")
        }
        guard outcome.algorithm == "rsa-sha256" || outcome.algorithm == "ed25519-sha256" else {
            return fail(.permerror, "unsupported algorithm \(outcome.algorithm)")
        }
        var bodyLength: Int? = nil
        if let l = tags["l"] { guard let n = Int(l), n >= 0 else { return fail(.permerror, "bad l=") }; bodyLength = n }
        guard let expectedBodyHash = Base64.decodeLenient(bodyHashText.utf8), let signatureBytes = Base64.decodeLenient(signatureText.utf8) else {
            return fail(.permerror, "bad base64")
        }

        // The key (§3.6.2): selector._domainkey.domain TXT.
        let keyRecord: [String: String]
        switch dns.txt("\(selector)._domainkey.\(domain)") {
        case .found(let records):
            guard let first = records.first, let parsed = DKIMTags.parse(first.text) else {
                return fail(.permerror, "key record unreadable")
            }
            keyRecord = parsed
        case .temporaryFailure(let why): return fail(.temperror, "key lookup: \(why)")
        default: return fail(.permerror, "no key for \(selector)._domainkey.\(domain)")
        }
        if let v = keyRecord["v"], v != "DKIM1" { return fail(.permerror, "key v= is not DKIM1") }
        let keyType = (keyRecord["k"] ?? "rsa").lowercased()
        guard let keyText = keyRecord["p"] else { return fail(.permerror, "key has no p=") }
        if keyText.isEmpty { return fail(.permerror, "key revoked") }
        guard let keyBytes = Base64.decodeLenient(keyText.utf8) else { return fail(.permerror, "key base64 unreadable") }
        guard (keyType == "rsa" && outcome.algorithm == "rsa-sha256") || (keyType == "ed25519" && outcome.algorithm == "ed25519-sha256") else {
            return fail(.permerror, "key type \(keyType) does not fit \(outcome.algorithm)")
        }

        // The body hash (§3.7).
        let cacheKey = "\(bodyCanon)/\(bodyLength.map(String.init) ?? "-")"
        let bodyHash: [UInt8]
        if let cached = bodyHashes[cacheKey] { bodyHash = cached } else {
            var body = DKIMCanonical.body(message[min(header.bodyStart, message.count)...], relaxed: bodyCanon == "relaxed")
            if let bodyLength {
                guard bodyLength <= body.count else { return fail(.permerror, "l= is longer than the body") }
                body.removeSubrange(bodyLength...)
            }
            bodyHash = sha256(body)
            bodyHashes[cacheKey] = bodyHash
        }
        guard bodyHash == expectedBodyHash else { return fail(.fail, "body hash did not verify") }

        // The header hash: the signed fields, bottom-up per name (§5.4.2), then this field with b= empty.
        var data: [UInt8] = []
        var used = Set<Int>()
        for name in names {
            guard let index = header.fields.indices.reversed().first(where: {
                !used.contains($0) && header.fields[$0].isNamed(name)
            }) else { continue }   // a name with no (more) instances is the null string
            used.insert(index)
            data += DKIMCanonical.header(name: header.fields[index].name, rawValue: header.fields[index].rawValue,
                                         relaxed: headerCanon == "relaxed")
            data += [13, 10]
        }
        data += DKIMCanonical.header(name: field.name, rawValue: ArraySlice(DKIMTags.emptyingSignature(Array(field.rawValue))),
                                     relaxed: headerCanon == "relaxed")

        let verified: Int32
        if outcome.algorithm == "rsa-sha256" {
            verified = keyBytes.withUnsafeBufferPointer { key in
                data.withUnsafeBufferPointer { d in
                    signatureBytes.withUnsafeBufferPointer { s in
                        postamt_verify_rsa_sha256(key.baseAddress, key.count, d.baseAddress, d.count, s.baseAddress, s.count, minimumRSABits)
                    }
                }
            }
        } else {
            // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the header data.
            let digest = sha256(data)
            verified = keyBytes.withUnsafeBufferPointer { key in
                digest.withUnsafeBufferPointer { d in
                    signatureBytes.withUnsafeBufferPointer { s in
                        postamt_verify_ed25519(key.baseAddress, key.count, d.baseAddress, d.count, s.baseAddress, s.count)
                    }
                }
            }
        }
        switch verified {
        case 1: outcome.result = .pass; outcome.reason = "good signature"
        case 0: outcome.result = .fail; outcome.reason = "signature did not verify"
        case -2: outcome.result = .permerror; outcome.reason = "RSA key shorter than \(minimumRSABits) bits"
        default: outcome.result = .permerror; outcome.reason = "key unusable"
        }
        return outcome
    }
}

func sha256<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
    var out = [UInt8](repeating: 0, count: 32)
    let ok = bytes.withContiguousStorageIfAvailable { buffer in
        out.withUnsafeMutableBufferPointer { postamt_sha256(buffer.baseAddress, buffer.count, $0.baseAddress) }
    }
    if ok == nil {
        let copy = Array(bytes)
        _ = copy.withUnsafeBufferPointer { buffer in
            out.withUnsafeMutableBufferPointer { postamt_sha256(buffer.baseAddress, buffer.count, $0.baseAddress) }
        }
    }
    return out
}

/// Tag lists (RFC 6376 §3.2): `tag=value; tag=value`, white space around both ignored (DMARC
/// records use the same syntax, RFC 7489 §6.4).
public enum DKIMTags {
    public static func parse(_ text: String) -> [String: String]? {
        var tags: [String: String] = [:]
        for element in text.split(separator: ";", omittingEmptySubsequences: false) {
            let trimmed = element.trimmingCharacters(inSet: " \t\r\n")
            if trimmed.isEmpty { continue }
            guard let eq = trimmed.firstIndex(of: "=") else { return nil }
            let name = trimmed[..<eq].trimmingCharacters(inSet: " \t\r\n")
            guard !name.isEmpty, tags[name] == nil else { return nil }   // §3.2: duplicate tags are an error
            var value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(inSet: " \t\r\n")
            if name == "b" || name == "bh" || name == "p" { value = String(String.UnicodeScalarView(value.unicodeScalars.filter { $0 != " " && $0 != "\t" && $0 != "\r" && $0 != "\n" })) }
            tags[name] = value
        }
        return tags
    }

    /// The raw field value with the b= tag's value removed (§3.5, "b=" empty for hashing).
    static func emptyingSignature(_ raw: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var start = 0
        while start <= raw.count {
            let end = raw[start...].firstIndex(of: UInt8(ascii: ";")) ?? raw.count
            let element = raw[start..<end]
            if let eq = element.firstIndex(of: UInt8(ascii: "=")),
               element[..<eq].filter({ $0 != 32 && $0 != 9 && $0 != 13 && $0 != 10 }) == [UInt8(ascii: "b")] {
                out += element[...eq]
            } else {
                out += element
            }
            if end < raw.count { out.append(UInt8(ascii: ";")) }
            start = end + 1
        }
        return out
    }
}

/// Canonicalisation (RFC 6376 §3.4); bare LF line ends count as CRLF.
enum DKIMCanonical {
    static func isWSP(_ b: UInt8) -> Bool { b == 32 || b == 9 }

    /// One header field without its final CRLF.
    static func header(name: String, rawValue: ArraySlice<UInt8>, relaxed: Bool) -> [UInt8] {
        if !relaxed {
            // §3.4.1: exactly as it is; our parser drops white space before the colon only
            // from the name, so the raw field keeps "name:value" with folding.
            var out = Array(name.utf8) + [UInt8(ascii: ":")]
            var previous: UInt8 = 0
            for b in rawValue {
                if b == 10 && previous != 13 { out.append(13) }
                out.append(b)
                previous = b
            }
            return out
        }
        // §3.4.2: lower-case name, unfold, runs of WSP to one SP, none at the ends of the value.
        var out = Array(name.lowercased().utf8) + [UInt8(ascii: ":")]
        var pendingSpace = false
        var started = false
        for b in rawValue where b != 13 && b != 10 {
            if isWSP(b) { pendingSpace = started; continue }
            if pendingSpace { out.append(32); pendingSpace = false }
            out.append(b)
            started = true
        }
        return out
    }

    /// The body, canonicalised (§3.4.3, §3.4.4).
    static func body(_ body: ArraySlice<UInt8>, relaxed: Bool) -> [UInt8] {
        var lines: [ArraySlice<UInt8>] = []
        var start = body.startIndex
        var i = body.startIndex
        while i < body.endIndex {
            if body[i] == 10 {
                var end = i
                if end > start && body[end - 1] == 13 { end -= 1 }
                lines.append(body[start..<end])
                start = i + 1
            }
            i += 1
        }
        if start < body.endIndex { lines.append(body[start...]) }   // a last line without line end
        var out: [UInt8] = []
        out.reserveCapacity(body.count + lines.count)
        var emptyRun = 0
        for line in lines {
            var canonical: [UInt8]
            if relaxed {
                canonical = []
                var pendingSpace = false
                for b in line {
                    if isWSP(b) { pendingSpace = true; continue }
                    if pendingSpace { canonical.append(32); pendingSpace = false }
                    canonical.append(b)
                }
            } else {
                canonical = Array(line)
            }
            if canonical.isEmpty { emptyRun += 1; continue }
            for _ in 0..<emptyRun { out += [13, 10] }
            emptyRun = 0
            out += canonical
            out += [13, 10]
        }
        // §3.4.3: an empty body is one CRLF for simple; relaxed leaves it empty.
        if out.isEmpty && !relaxed { out = [13, 10] }
        return out
    }
}

extension StringProtocol {
    /// Drops leading and trailing scalars that are in `set` (scalars, so "\r\n" is two).
    func trimmingCharacters(inSet set: String) -> String {
        let members = Set(set.unicodeScalars)
        var scalars = Substring(self).unicodeScalars[...]
        while let f = scalars.first, members.contains(f) { scalars = scalars.dropFirst() }
        while let l = scalars.last, members.contains(l) { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}

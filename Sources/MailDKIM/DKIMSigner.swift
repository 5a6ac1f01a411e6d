import MailCodec

/// Signs messages with DKIM (RFC 6376): relaxed/relaxed, rsa-sha256 or ed25519-sha256
/// (RFC 8463), the whole body (no l=), From: over-signed so nobody can add a second one.
///
/// Verification (the spam filter's, in its own branch) is expected to share
/// `DKIMCanonicalization` and `DKIMMessage` and to offer
/// `DKIMVerifier.verify(message:resolver:) -> [DKIMVerificationResult]`.
public struct DKIMSigner: Sendable {
    public let domain: String
    public let selector: String
    public let key: DKIMKey
    public let signedHeaders: [String]

    public init(domain: String, selector: String, key: DKIMKey, signedHeaders: [String]) {
        self.domain = domain
        self.selector = selector
        self.key = key
        var names = signedHeaders.map { $0.lowercased() }
        if !names.contains("from") { names.insert("from", at: 0) }
        self.signedHeaders = names
    }

    /// The DKIM-Signature field (with CRLF) for `message`, whose line ends must already be
    /// CRLF; prepend it to the message.
    public func signatureField(for message: DKIMMessage, time: Int64) throws(DKIMKey.Failure) -> [UInt8] {
        let bodyHash = Base64.encode(DKIMKey.sha256(DKIMCanonicalization.relaxedBody(message.body)))
        // RFC 6376 §5.4.2: several instances of a name are signed from the bottom up.
        var remaining: [String: [[UInt8]]] = [:]
        for f in message.fields { remaining[DKIMMessage.name(of: f), default: []].append(f) }
        var h: [String] = []
        var data: [UInt8] = []
        for name in signedHeaders {
            while var list = remaining[name], let field = list.popLast() {
                remaining[name] = list
                h.append(name)
                data += DKIMCanonicalization.relaxedHeader(field)
            }
        }
        h.append("from")  // over-signing: a From: added later breaks the signature
        var field = "DKIM-Signature: v=1; a=\(key.algorithm.signatureAlgorithm); c=relaxed/relaxed;\r\n"
        field += "\td=\(domain); s=\(selector); t=\(time);\r\n"
        field += "\th=\(h.joined(separator: ":"));\r\n"
        field += "\tbh=\(bodyHash);\r\n\tb="
        var canonical = DKIMCanonicalization.relaxedHeader(Array(field.utf8))
        canonical.removeLast(2)  // the signature field is hashed without its CRLF
        data += canonical
        let signature = Base64.encode(try key.sign(data))
        return Array((field + signature + "\r\n").utf8)
    }
}

/// The keys of `dkim_key_directory`: DIR/DOMAIN/SELECTOR.key.
public struct DKIMKeyStore: Sendable {
    public let directory: String
    public let preferredSelector: String

    public init(directory: String, preferredSelector: String) {
        self.directory = directory
        self.preferredSelector = preferredSelector
    }

    public func path(domain: String, selector: String) -> String {
        "\(directory)/\(domain.lowercased())/\(selector).key"
    }
}

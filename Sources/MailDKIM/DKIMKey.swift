import COpenSSL
import MailCodec

/// A DKIM signing key (RSA or Ed25519) held by OpenSSL.
public final class DKIMKey: @unchecked Sendable {
    public enum Algorithm: String, Sendable {
        case rsa, ed25519

        /// The a= tag value (RFC 6376 §3.3, RFC 8463 §3).
        public var signatureAlgorithm: String { self == .rsa ? "rsa-sha256" : "ed25519-sha256" }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ what: String) {
            var text = what
            var code = ERR_get_error()
            var details: [String] = []
            while code != 0 {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                details.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                code = ERR_get_error()
            }
            if !details.isEmpty { text += ": " + details.joined(separator: "; ") }
            description = text
        }
    }

    let key: OpaquePointer
    public let algorithm: Algorithm

    init(key: OpaquePointer) throws(Failure) {
        self.key = key
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA: algorithm = .rsa
        case EVP_PKEY_ED25519: algorithm = .ed25519
        default:
            EVP_PKEY_free(key)
            throw Failure("unsupported key type (DKIM keys are RSA or Ed25519)")
        }
    }

    deinit { EVP_PKEY_free(key) }

    /// Reads a PEM private key (PKCS#8 or traditional RSA).
    public convenience init(pem: [UInt8]) throws(Failure) {
        ERR_clear_error()
        let bio = pem.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }
        guard let bio else { throw Failure("cannot read the key") }
        defer { BIO_free(bio) }
        guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else { throw Failure("not a PEM private key") }
        try self.init(key: key)
    }

    /// A new key: RSA of `bits` (2048 by default, RFC 8301 wants at least 1024) or Ed25519.
    public static func generate(_ algorithm: Algorithm, bits: Int = 2048) throws(Failure) -> DKIMKey {
        ERR_clear_error()
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, algorithm == .rsa ? "RSA" : "ED25519", nil) else {
            throw Failure("key generation context")
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1 else { throw Failure("key generation") }
        if algorithm == .rsa, EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) != 1 {
            throw Failure("RSA key size")
        }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_generate(ctx, &key) == 1, let key else { throw Failure("key generation") }
        return try DKIMKey(key: key)
    }

    /// The private key as PKCS#8 PEM.
    public func privateKeyPEM() throws(Failure) -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw Failure("memory") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, key, nil, nil, 0, nil, nil) == 1 else { throw Failure("write key") }
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = postamt_BIO_get_mem_data(bio, &data)
        guard length > 0, let data else { throw Failure("write key") }
        return Array(UnsafeRawBufferPointer(start: data, count: Int(length)))
    }

    /// The p= value of the DNS record: the SubjectPublicKeyInfo for RSA (RFC 6376 §3.6.1), the
    /// raw 32-byte key for Ed25519 (RFC 8463 §4), base64.
    public func publicKeyBase64() throws(Failure) -> String {
        switch algorithm {
        case .rsa:
            let length = i2d_PUBKEY(key, nil)
            guard length > 0 else { throw Failure("public key") }
            var der = [UInt8](repeating: 0, count: Int(length))
            let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
                var p: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
                return i2d_PUBKEY(key, &p)
            }
            guard written == length else { throw Failure("public key") }
            return Base64.encode(der)
        case .ed25519:
            var raw = [UInt8](repeating: 0, count: 32)
            var length = 32
            guard EVP_PKEY_get_raw_public_key(key, &raw, &length) == 1 else { throw Failure("public key") }
            return Base64.encode(raw[0..<length])
        }
    }

    /// The TXT record's text: "v=DKIM1; k=rsa; p=…".
    public func dnsRecordText() throws(Failure) -> String {
        "v=DKIM1; k=\(algorithm.rawValue); p=\(try publicKeyBase64())"
    }

    /// Signs: RSASSA-PKCS1-v1_5 with SHA-256 over `data` for RSA; PureEdDSA over SHA-256(data)
    /// for Ed25519 (RFC 8463 §3).
    public func sign(_ data: [UInt8]) throws(Failure) -> [UInt8] {
        ERR_clear_error()
        guard let md = EVP_MD_CTX_new() else { throw Failure("digest context") }
        defer { EVP_MD_CTX_free(md) }
        let input = algorithm == .rsa ? data : DKIMKey.sha256(data)
        guard EVP_DigestSignInit(md, nil, algorithm == .rsa ? EVP_sha256() : nil, nil, key) == 1 else {
            throw Failure("signature init")
        }
        var length = 0
        guard EVP_DigestSign(md, nil, &length, input, input.count) == 1 else { throw Failure("signature") }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(md, &signature, &length, input, input.count) == 1 else { throw Failure("signature") }
        return Array(signature[0..<length])
    }

    public static func sha256(_ data: some Collection<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        let bytes = Array(data)
        _ = EVP_Digest(bytes, bytes.count, &out, &length, EVP_sha256(), nil)
        return out
    }
}

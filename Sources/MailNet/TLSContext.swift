#if canImport(Glibc)
import Glibc
#endif
import COpenSSL

/// The lowest TLS version a context accepts.
public enum TLSProtocolVersion: Sendable {
    case tls12
    case tls13

    var openSSLValue: Int32 {
        switch self {
        case .tls12: TLS1_2_VERSION
        case .tls13: TLS1_3_VERSION
        }
    }
}

/// Certificates a client trusts when it checks a server.
public enum TLSTrustAnchors: Sendable, Equatable {
    /// OpenSSL's default CA file and directory (the distribution's bundle).
    case systemDefault
    /// A PEM file of CA certificates (may hold a single self-signed certificate to pin).
    case caFile(String)
    /// A hashed directory of CA certificates (c_rehash layout).
    case caDirectory(String)
}

/// How a client treats the server's certificate.
public enum TLSVerification: Sendable, Equatable {
    /// No checks at all; `TLSConnection.peerVerification` is `.notChecked`.
    case none
    /// Opportunistic TLS (RFC 7435): check the chain and the host name against the anchors and
    /// report the outcome in `peerVerification`, but never fail the handshake because of it.
    case opportunistic(TLSTrustAnchors)
    /// Require a chain to the anchors and a matching host name; the handshake fails otherwise.
    case peer(TLSTrustAnchors)
}

/// Settings shared by both sides: no compression (CRIME), no renegotiation, and a client that
/// treats a peer closing without close_notify as end of stream (mail protocols end with QUIT/LOGOUT,
/// and many clients just close).
private func applyCommonPolicy(_ context: OpaquePointer, minimumVersion: TLSProtocolVersion) throws {
    guard postamt_SSL_CTX_set_min_proto_version(context, minimumVersion.openSSLValue) == 1 else {
        throw OpenSSLErrorQueue.error("TLS context: minimum protocol version")
    }
    _ = SSL_CTX_set_options(context,
        postamt_SSL_OP_NO_COMPRESSION() | postamt_SSL_OP_NO_RENEGOTIATION()
            | postamt_SSL_OP_IGNORE_UNEXPECTED_EOF())
    // Partial writes and a movable buffer let `TLSConnection.write` retry after WANT_WRITE on
    // non-blocking fds with whatever slice of a Swift array is left.
    _ = postamt_SSL_CTX_set_mode(context,
        postamt_SSL_MODE_ENABLE_PARTIAL_WRITE() | postamt_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER())
}

/// A server's TLS configuration: certificate chain and private key (read now, so a server can
/// build this before dropping root, and again by every new process, so a renewed certificate needs
/// no restart), TLS 1.2 minimum, Mozilla's "intermediate" cipher policy, no compression, no
/// renegotiation, no session tickets or cache (each connection is its own process, so a per-process
/// ticket key could never resume a session anyway).
public final class TLSServerContext: @unchecked Sendable {
    // @unchecked: the SSL_CTX is not changed once built; OpenSSL allows SSL_new from any thread.
    // Built once, at init or (with `loadNow: false`) at the first connection that uses it.
    private var built: OpaquePointer?
    public let certificateChainPath: String
    public let privateKeyPath: String
    /// The PEM files' contents when they were read up front (`init(certificateChainPEM:…)`):
    /// a program that drops its privileges before the first STARTTLS builds from these.
    private var certificateChainPEM: [UInt8]?
    private var privateKeyPEM: [UInt8]?
    let minimumVersion: TLSProtocolVersion
    let cipherList: String

    /// TLS 1.2 ciphers of Mozilla's "intermediate" configuration (v5.7); TLS 1.3 suites are OpenSSL's defaults.
    public static let intermediateCipherList =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
        + "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"

    /// Key exchange groups of the same configuration.
    public static let intermediateGroups = "X25519:prime256v1:secp384r1"

    /// Loads a PEM certificate chain (leaf first) and the matching PEM private key.
    ///
    /// With `loadNow: false` only checks that both files can be read and builds the context
    /// when the first connection needs it (`load()`): a per-connection server whose client
    /// never says STARTTLS then never loads OpenSSL at all. That needs the files to be readable
    /// at that later moment too (imapd and pop3d are still root before login; smtpd, which
    /// drops privileges at once, loads now).
    public init(
        certificateChainPath: String,
        privateKeyPath: String,
        minimumVersion: TLSProtocolVersion = .tls12,
        cipherList: String = TLSServerContext.intermediateCipherList,
        loadNow: Bool = true
    ) throws {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.minimumVersion = minimumVersion
        self.cipherList = cipherList
        if loadNow {
            _ = try load()
        } else {
            for path in [certificateChainPath, privateKeyPath] where access(path, R_OK) != 0 {
                throw NetError.system(errno, "read \(path)")
            }
        }
    }

    /// A context from PEM contents already read (as root, before a privilege drop); built at
    /// `load()`, so a session that never starts TLS never loads OpenSSL. `certificateChainPath`
    /// and `privateKeyPath` only name the files in messages. The key bytes are overwritten once
    /// the context holds the key.
    public init(
        certificateChainPEM: [UInt8], privateKeyPEM: [UInt8],
        certificateChainPath: String, privateKeyPath: String,
        minimumVersion: TLSProtocolVersion = .tls12,
        cipherList: String = TLSServerContext.intermediateCipherList
    ) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.minimumVersion = minimumVersion
        self.cipherList = cipherList
        self.certificateChainPEM = certificateChainPEM
        self.privateKeyPEM = privateKeyPEM
    }

    /// The OpenSSL context, built at the first call.
    public func load() throws -> OpaquePointer {
        if let built { return built }
        try OpenSSLLibrary.load()
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw OpenSSLErrorQueue.error("TLS server context")
        }
        do {
            try applyCommonPolicy(context, minimumVersion: minimumVersion)
            _ = SSL_CTX_set_options(context, postamt_SSL_OP_NO_TICKET())
            _ = SSL_CTX_set_num_tickets(context, 0)
            _ = postamt_SSL_CTX_set_session_cache_mode(context, postamt_SSL_SESS_CACHE_OFF())
            guard SSL_CTX_set_cipher_list(context, cipherList) == 1 else {
                throw OpenSSLErrorQueue.error("TLS server context: cipher list")
            }
            guard postamt_SSL_CTX_set1_groups_list(context, TLSServerContext.intermediateGroups) == 1 else {
                throw OpenSSLErrorQueue.error("TLS server context: groups")
            }
            _ = postamt_SSL_CTX_set_dh_auto(context, 1)
            if let chain = certificateChainPEM, let key = privateKeyPEM {
                try useChain(context, pem: chain)
                try useKey(context, pem: key)
                privateKeyPEM = [UInt8](repeating: 0, count: key.count)
            } else {
                guard SSL_CTX_use_certificate_chain_file(context, certificateChainPath) == 1 else {
                    throw OpenSSLErrorQueue.error("load certificate chain \(certificateChainPath)")
                }
                guard SSL_CTX_use_PrivateKey_file(context, privateKeyPath, postamt_SSL_FILETYPE_PEM()) == 1 else {
                    throw OpenSSLErrorQueue.error("load private key \(privateKeyPath)")
                }
            }
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw OpenSSLErrorQueue.error("private key \(privateKeyPath) does not match certificate \(certificateChainPath)")
            }
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        built = context
        return context
    }

    /// The leaf (first) certificate and the chain behind it, as SSL_CTX_use_certificate_chain_file
    /// reads a file.
    private func useChain(_ context: OpaquePointer, pem: [UInt8]) throws {
        let failure = "load certificate chain \(certificateChainPath)"
        try withMemoryBIO(pem, failure: failure) { bio in
            guard let leaf = PEM_read_bio_X509_AUX(bio, nil, nil, nil) else { throw OpenSSLErrorQueue.error(failure) }
            defer { X509_free(leaf) }
            guard SSL_CTX_use_certificate(context, leaf) == 1 else { throw OpenSSLErrorQueue.error(failure) }
            while let next = PEM_read_bio_X509(bio, nil, nil, nil) {
                // add0: the context takes the certificate over.
                guard postamt_SSL_CTX_add0_chain_cert(context, next) == 1 else {
                    X509_free(next)
                    throw OpenSSLErrorQueue.error(failure)
                }
            }
            ERR_clear_error() // the end of the PEM data reads as "no start line"
        }
    }

    private func useKey(_ context: OpaquePointer, pem: [UInt8]) throws {
        let failure = "load private key \(privateKeyPath)"
        try withMemoryBIO(pem, failure: failure) { bio in
            guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else { throw OpenSSLErrorQueue.error(failure) }
            defer { EVP_PKEY_free(key) }
            guard SSL_CTX_use_PrivateKey(context, key) == 1 else { throw OpenSSLErrorQueue.error(failure) }
        }
    }

    /// Runs `body` on a read-only memory BIO over `pem`.
    private func withMemoryBIO(_ pem: [UInt8], failure: String, _ body: (OpaquePointer) throws -> Void) throws {
        try pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { throw OpenSSLErrorQueue.error(failure) }
            defer { BIO_free(bio) }
            try body(bio)
        }
    }

    deinit { if let built { SSL_CTX_free(built) } }
}

/// OpenSSL itself, mapped at first use (see COpenSSL's loader.c): `load()` reports a missing
/// libssl.so.3 as an error instead of the exit that a call into an unloaded library makes.
public enum OpenSSLLibrary {
    public static func load() throws {
        var buffer = [CChar](repeating: 0, count: 256)
        guard postamt_openssl_load(&buffer, buffer.count) == 1 else {
            throw NetError(.tls, operation: "load OpenSSL", detail: String(cString: buffer))
        }
    }
}

/// A client's TLS configuration (the remote delivery agent's STARTTLS): TLS 1.2 minimum, OpenSSL's
/// default cipher list, and the certificate policy in `verification`. The host name to check and
/// to send as SNI is given per connection.
public final class TLSClientContext: @unchecked Sendable {
    // @unchecked: as for TLSServerContext, immutable after init.
    let context: OpaquePointer
    public let verification: TLSVerification

    /// `dane`: prepare the context for DANE (RFC 7671); connections then take TLSA records
    /// through `TLSConnection.enableDANE`.
    public init(verification: TLSVerification, minimumVersion: TLSProtocolVersion = .tls12, dane: Bool = false) throws {
        try OpenSSLLibrary.load()
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw OpenSSLErrorQueue.error("TLS client context")
        }
        self.context = context
        self.verification = verification
        try applyCommonPolicy(context, minimumVersion: minimumVersion)
        let anchors: TLSTrustAnchors?
        switch verification {
        case .none: anchors = nil
        case .opportunistic(let trust): anchors = trust
        case .peer(let trust): anchors = trust
        }
        switch anchors {
        case nil:
            break
        case .systemDefault:
            guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                throw OpenSSLErrorQueue.error("TLS client context: default CA paths")
            }
        case .caFile(let path):
            guard SSL_CTX_load_verify_locations(context, path, nil) == 1 else {
                throw OpenSSLErrorQueue.error("load CA file \(path)")
            }
        case .caDirectory(let path):
            guard SSL_CTX_load_verify_locations(context, nil, path) == 1 else {
                throw OpenSSLErrorQueue.error("load CA directory \(path)")
            }
        }
        if dane {
            guard SSL_CTX_dane_enable(context) > 0 else { throw OpenSSLErrorQueue.error("TLS client context: DANE") }
        }
        if case .peer = verification {
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        } else {
            // Opportunistic: the chain is still verified and the result kept for SSL_get_verify_result.
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
    }

    deinit { SSL_CTX_free(context) }
}

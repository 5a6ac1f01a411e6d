import COpenSSL
import Glibc

/// What a client learnt about the server's certificate.
public enum TLSPeerVerification: Sendable, Equatable {
    /// The chain leads to a trust anchor and the host name matches.
    case verified
    /// Checked and not trusted; the reason is OpenSSL's ("self-signed certificate", "hostname mismatch").
    case failed(reason: String)
    /// Not checked (`TLSVerification.none`, the server side, or before the handshake).
    case notChecked
}

/// A TLS session over a `PlainStream`'s fds (SSL_set_rfd/SSL_set_wfd, so fd 0 and fd 1 of a
/// socket-activated server work as well as one client socket). Every operation waits with poll()
/// and gives up after the stream's `timeout` without progress; the handshake must finish within
/// one `timeout` as a whole. Errors are `NetError`s carrying OpenSSL's error queue as text.
///
/// STARTTLS on a server (RFC 3207), with `plain` the PlainStream on fd 0/1:
///
///     try plain.write("220 Ready to start TLS\r\n")
///     reader.discardBuffered()          // RFC 3207 §6: nothing sent before the handshake counts
///     let tls = try TLSConnection(server: context, over: plain)
///     try tls.handshake()
///     reader.stream = tls
public final class TLSConnection: ByteStream {
    /// The plaintext stream underneath; the connection keeps it (and its fds) alive.
    public let transport: PlainStream
    private let ssl: OpaquePointer
    private let contextOwner: AnyObject
    private let isClient: Bool
    private let verification: TLSVerification
    private var handshakeDone = false
    /// After a fatal error OpenSSL forbids SSL_shutdown; remember that.
    private var failed = false

    public var timeout: Duration {
        get { transport.timeout }
        set { transport.timeout = newValue }
    }

    /// The server side of a session, e.g. right after answering STARTTLS with 220.
    public convenience init(server context: TLSServerContext, over transport: PlainStream) throws {
        try self.init(context: try context.load(), owner: context, isClient: false, verification: .none,
                      serverName: nil, transport: transport)
    }

    /// The client side. `serverName` (the MX host name) is sent as SNI unless it is an IP
    /// literal, and is the name the certificate must match (SSL_set1_host / set1_ip_asc).
    public convenience init(client context: TLSClientContext, serverName: String?, over transport: PlainStream) throws {
        try self.init(context: context.context, owner: context, isClient: true, verification: context.verification,
                      serverName: serverName, transport: transport)
    }

    private init(
        context: OpaquePointer, owner: AnyObject, isClient: Bool, verification: TLSVerification,
        serverName: String?, transport: PlainStream
    ) throws {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else { throw OpenSSLErrorQueue.error("TLS session") }
        self.ssl = ssl
        self.transport = transport
        self.contextOwner = owner
        self.isClient = isClient
        self.verification = verification
        guard SSL_set_rfd(ssl, transport.readFD) == 1, SSL_set_wfd(ssl, transport.writeFD) == 1 else {
            throw OpenSSLErrorQueue.error("TLS session: attach fds")
        }
        if isClient {
            if let serverName, !serverName.isEmpty, verification != .none {
                let nameSet: Bool
                if IPAddress(serverName) != nil {
                    nameSet = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) == 1
                } else {
                    SSL_set_hostflags(ssl, postamt_X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS())
                    nameSet = SSL_set1_host(ssl, serverName) == 1
                }
                guard nameSet else { throw OpenSSLErrorQueue.error("TLS session: server name \(serverName)") }
            }
            // RFC 6066 §3: SNI carries host names only, never IP literals.
            if let serverName, !serverName.isEmpty, IPAddress(serverName) == nil {
                guard postamt_SSL_set_tlsext_host_name(ssl, serverName) == 1 else {
                    throw OpenSSLErrorQueue.error("TLS session: SNI \(serverName)")
                }
            }
            SSL_set_connect_state(ssl)
        } else {
            SSL_set_accept_state(ssl)
        }
    }

    deinit { SSL_free(ssl) }

    /// Runs the TLS handshake. On a client with `.peer` verification an untrusted certificate
    /// fails here, with the certificate problem in the error's detail.
    public func handshake() throws {
        try drive("TLS handshake", deadline: Deadline.after(timeout)) { SSL_do_handshake(ssl) }
        handshakeDone = true
    }

    /// Decrypted bytes wait inside OpenSSL (poll(2) on the socket does not see them).
    public var hasBufferedData: Bool { SSL_pending(ssl) > 0 }

    public func read(appendingTo buffer: inout [UInt8], max: Int) throws -> Int {
        guard max > 0 else { return 0 }
        let deadline = Deadline.after(timeout)
        var total = 0
        var result: Int32 = 0
        while true {
            var errorCode: Int32 = 0
            var savedErrno: Int32 = 0
            total = appendBytes(to: &buffer, max: max) { pointer, capacity in
                ERR_clear_error()
                var count = 0
                result = SSL_read_ex(ssl, pointer, capacity, &count)
                savedErrno = errno
                if result == 1 { return count }
                errorCode = SSL_get_error(ssl, result)
                return -1
            }
            if result == 1 { return total }
            // ZERO_RETURN: close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) a plain close: end of stream.
            if errorCode == SSL_ERROR_ZERO_RETURN { return 0 }
            try handle(errorCode, errno: savedErrno, operation: "TLS read", deadline: deadline)
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        var deadline = Deadline.after(timeout)
        while offset < bytes.count {
            var written = 0
            ERR_clear_error()
            let result = bytes.withUnsafeBytes { raw in
                SSL_write_ex(ssl, raw.baseAddress! + offset, raw.count - offset, &written)
            }
            let savedErrno = errno
            if result == 1 {
                offset += written
                deadline = Deadline.after(timeout)
                continue
            }
            try handle(SSL_get_error(ssl, result), errno: savedErrno, operation: "TLS write", deadline: deadline)
        }
    }

    /// Sends close_notify (without waiting for the peer's). The fds stay open.
    public func shutdown() throws {
        guard !failed else { return }
        let deadline = Deadline.after(timeout)
        while true {
            ERR_clear_error()
            let result = SSL_shutdown(ssl)
            let savedErrno = errno
            if result >= 0 { return }
            let errorCode = SSL_get_error(ssl, result)
            // WANT_READ: our close_notify is out and we do not wait for theirs. ZERO_RETURN: they
            // already closed; nothing left to say.
            if errorCode == SSL_ERROR_WANT_READ || errorCode == SSL_ERROR_ZERO_RETURN { return }
            try handle(errorCode, errno: savedErrno, operation: "TLS shutdown", deadline: deadline)
        }
    }

    /// Negotiated protocol, e.g. "TLSv1.3"; empty before the handshake.
    public var protocolVersion: String {
        handshakeDone ? String(cString: SSL_get_version(ssl)) : ""
    }

    /// Negotiated cipher suite, e.g. "TLS_AES_256_GCM_SHA384"; empty before the handshake.
    public var cipherName: String {
        guard handshakeDone, let cipher = SSL_get_current_cipher(ssl) else { return "" }
        return String(cString: SSL_CIPHER_get_name(cipher))
    }

    /// Secret bits of the cipher (for Received: headers, "256 bits").
    public var cipherBits: Int {
        guard handshakeDone, let cipher = SSL_get_current_cipher(ssl) else { return 0 }
        return Int(SSL_CIPHER_get_bits(cipher, nil))
    }

    /// The peer certificate's subject in RFC 2253 form ("CN=mx.example.org"), if the peer sent one.
    public var peerCertificateSubject: String? {
        guard let certificate = SSL_get0_peer_certificate(ssl) else { return nil }
        var buffer = [CChar](repeating: 0, count: 1024)
        let count = postamt_X509_subject_rfc2253(certificate, &buffer, Int32(buffer.count))
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Authenticates the server by TLSA records (RFC 7671, RFC 7672 §3) instead of (only) the
    /// CA bundle: DANE-EE(3) matches the leaf without name checks, DANE-TA(2) a trust anchor in
    /// the chain with the name checked against `baseDomain` (the MX host name). Call before the
    /// handshake, on a connection whose context was made with `dane: true`. Returns how many
    /// records OpenSSL can use; with none, the caller decides (RFC 7672 §2.2: TLS still required).
    @discardableResult
    public func enableDANE(baseDomain: String, records: [TLSARecord]) throws -> Int {
        ERR_clear_error()
        guard SSL_dane_enable(ssl, baseDomain) > 0 else { throw OpenSSLErrorQueue.error("DANE for \(baseDomain)") }
        // DANE_FLAG_NO_DANE_EE_NAMECHECKS (RFC 7672 §3.1.1: DANE-EE ignores the names).
        _ = SSL_dane_set_flags(ssl, 1)
        var usable = 0
        for record in records {
            let added = record.data.withUnsafeBufferPointer { buffer in
                SSL_dane_tlsa_add(ssl, record.usage, record.selector, record.matchingType, buffer.baseAddress, buffer.count)
            }
            if added > 0 { usable += 1 }
            else if added < 0 { ERR_clear_error() }  // malformed for OpenSSL: unusable, not fatal
        }
        return usable
    }

    /// The TLSA record that authenticated the peer (after the handshake), or nil.
    public var daneMatch: TLSARecord? {
        var usage: UInt8 = 0, selector: UInt8 = 0, matchingType: UInt8 = 0
        var data: UnsafePointer<UInt8>? = nil
        var length = 0
        guard SSL_get0_dane_tlsa(ssl, &usage, &selector, &matchingType, &data, &length) >= 0,
              SSL_get_verify_result(ssl) == X509_V_OK else { return nil }
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: length)) } ?? []
        return TLSARecord(usage: usage, selector: selector, matchingType: matchingType, data: bytes)
    }

    /// The peer certificate (DER) and its SubjectPublicKeyInfo (DER), for TLSA comparisons.
    public var peerCertificateDER: (certificate: [UInt8], publicKey: [UInt8])? {
        guard let certificate = SSL_get0_peer_certificate(ssl), let key = X509_get0_pubkey(certificate) else { return nil }
        let certLength = i2d_X509(certificate, nil), keyLength = i2d_PUBKEY(key, nil)
        guard certLength > 0, keyLength > 0 else { return nil }
        var cert = [UInt8](repeating: 0, count: Int(certLength)), spki = [UInt8](repeating: 0, count: Int(keyLength))
        let a = cert.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var p: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_X509(certificate, &p)
        }
        let b = spki.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var p: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_PUBKEY(key, &p)
        }
        guard a == certLength, b == keyLength else { return nil }
        return (cert, spki)
    }

    /// Seconds until the peer certificate's notAfter (negative when it has expired), if the peer sent one.
    public var peerCertificateSecondsLeft: Int64? {
        guard let certificate = SSL_get0_peer_certificate(ssl), let notAfter = X509_get0_notAfter(certificate) else { return nil }
        var days: Int32 = 0, seconds: Int32 = 0
        guard ASN1_TIME_diff(&days, &seconds, nil, notAfter) == 1 else { return nil }
        return Int64(days) * 86400 + Int64(seconds)
    }

    /// Whether the server's certificate verified (client side, after the handshake). Use it to log
    /// "verified" versus "opportunistic" TLS.
    public var peerVerification: TLSPeerVerification {
        guard isClient, handshakeDone, verification != .none else { return .notChecked }
        guard SSL_get0_peer_certificate(ssl) != nil else { return .failed(reason: "no peer certificate") }
        let result = SSL_get_verify_result(ssl)
        if result == X509_V_OK { return .verified }
        return .failed(reason: String(cString: X509_verify_cert_error_string(result)))
    }

    /// Why the server's certificate was rejected when a client handshake with `.peer`
    /// verification failed on it (OpenSSL's reason), or nil when the handshake did not fail on
    /// the certificate.
    public var certificateRejection: String? {
        guard isClient, verification != .none, !handshakeDone, failed else { return nil }
        let result = SSL_get_verify_result(ssl)
        return result == X509_V_OK ? nil : String(cString: X509_verify_cert_error_string(result))
    }

    /// Runs `step` until it succeeds (returns > 0), waiting on WANT_READ/WANT_WRITE.
    private func drive(_ operation: String, deadline: Deadline, _ step: () -> Int32) throws {
        while true {
            ERR_clear_error()
            let result = step()
            let savedErrno = errno
            if result > 0 { return }
            try handle(SSL_get_error(ssl, result), errno: savedErrno, operation: operation, deadline: deadline)
        }
    }

    /// Waits for the fd OpenSSL asked for, or throws the error that `errorCode` stands for.
    private func handle(_ errorCode: Int32, errno savedErrno: Int32, operation: String, deadline: Deadline) throws {
        switch errorCode {
        case SSL_ERROR_WANT_READ:
            try waitForDescriptor(transport.readFD, events: POLLIN, until: deadline, operation: operation)
        case SSL_ERROR_WANT_WRITE:
            try waitForDescriptor(transport.writeFD, events: POLLOUT, until: deadline, operation: operation)
        case SSL_ERROR_ZERO_RETURN:
            failed = true
            throw NetError(.tls, operation: operation, detail: "peer closed the TLS session")
        case SSL_ERROR_SYSCALL:
            failed = true
            let queued = OpenSSLErrorQueue.drain()
            if savedErrno != 0 && savedErrno != EAGAIN {
                throw NetError.system(savedErrno, operation)
            }
            throw NetError(.tls, operation: operation,
                           detail: queued.isEmpty ? "connection closed by peer" : queued.joined(separator: "; "))
        default:
            failed = true
            var error = OpenSSLErrorQueue.error(operation)
            if isClient, !handshakeDone, SSL_get_verify_result(ssl) != X509_V_OK {
                let reason = String(cString: X509_verify_cert_error_string(SSL_get_verify_result(ssl)))
                error = NetError(.tls, operation: operation, detail: error.detail + "; peer certificate: " + reason)
            }
            throw error
        }
    }
}

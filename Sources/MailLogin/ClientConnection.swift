#if canImport(Glibc)
import Glibc
#endif
import MailNet

/// The client's connection as a per-connection server gets it from systemd (`Accept=yes`),
/// inetd, tcpserver or postamt-listen: fd 0 to read, fd 1 to write; plaintext until
/// `startTLS` (STLS/STARTTLS, or at once for implicit TLS on 995/993).
public final class ClientConnection {
    public let plain: PlainStream
    /// The stream to read and write now: `plain`, or the TLS session over it.
    public private(set) var stream: any ByteStream
    public private(set) var tls: TLSConnection?
    /// The client's address from the UCSPI environment (TCPREMOTEIP), systemd's REMOTE_ADDR,
    /// or "-" (a pipe, a test).
    public let peer: String

    public init(readFD: Int32 = 0, writeFD: Int32 = 1, timeout: Duration = .seconds(600)) throws {
        plain = try PlainStream(readFD: readFD, writeFD: writeFD, timeout: timeout)
        stream = plain
        ConnectionOptions.sendAtOnce(writeFD)
        peer = ClientConnection.peerFromEnvironment()
    }

    public var isTLS: Bool { tls != nil }

    /// Runs the server side of a TLS handshake over the plaintext fds and switches `stream` to
    /// it. The caller must have dropped every plaintext byte it buffered (RFC 2595 §4, RFC 3207
    /// §6): bytes still in the socket are read by OpenSSL as handshake records, so injected
    /// plaintext fails the handshake rather than being executed.
    public func startTLS(_ context: TLSServerContext, handshakeTimeout: Duration) throws {
        precondition(tls == nil, "TLS is already active")
        let saved = plain.timeout
        plain.timeout = handshakeTimeout
        defer { plain.timeout = saved }
        let session = try TLSConnection(server: context, over: plain)
        try session.handshake()
        tls = session
        stream = session
    }

    /// True when TLS holds decrypted bytes not yet read: they do not show on the socket, so a
    /// poll(2) on the fd alone would wait for nothing.
    public var hasBufferedInput: Bool { tls?.hasBufferedData ?? false }

    /// "TLSv1.3 TLS_AES_256_GCM_SHA384", for a log line; empty without TLS.
    public var tlsDescription: String {
        guard let tls else { return "" }
        return "\(tls.protocolVersion) \(tls.cipherName)"
    }

    public static func peerFromEnvironment() -> String {
        for name in ["TCPREMOTEIP", "REMOTE_ADDR"] {
            if let value = getenv(name) {
                let text = String(cString: value)
                // An address, nothing else: it goes to log lines and PAM_RHOST.
                let clean = text.utf8.prefix(64).allSatisfy { $0 > 0x20 && $0 < 0x7F }
                if !text.isEmpty && clean { return String(text.prefix(64)) }
            }
        }
        return "-"
    }
}

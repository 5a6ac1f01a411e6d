import Glibc

/// The one error type of MailNet's I/O: a failed syscall, an expired timeout, a TLS failure
/// (with OpenSSL's error queue as text) or a bad argument. `operation` says what was being done
/// ("TLS handshake", "connect to 192.0.2.1:25"), `detail` why it failed. Never carries key
/// material or payload bytes.
public struct NetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is; callers branch on this, logs print `description`.
    public enum Kind: Sendable, Equatable {
        /// The peer did not make progress within the stream's timeout.
        case timedOut
        /// A syscall failed with this errno (ECONNRESET, EPIPE, ECONNREFUSED, …).
        case system(errno: Int32)
        /// OpenSSL reported a protocol, certificate or configuration error.
        case tls
        /// A caller-supplied value (address, path, name) cannot be used.
        case invalidArgument
    }

    public let kind: Kind
    public let operation: String
    public let detail: String

    public init(_ kind: Kind, operation: String, detail: String) {
        self.kind = kind
        self.operation = operation
        self.detail = detail
    }

    /// A syscall failure described by `strerror`.
    static func system(_ code: Int32, _ operation: String) -> NetError {
        NetError(.system(errno: code), operation: operation, detail: String(cString: strerror(code)))
    }

    public var description: String { "\(operation): \(detail)" }

    /// True for a timeout.
    public var isTimeout: Bool { kind == .timedOut }
}

import MailCore

/// What every login server (postamt-pop3d, postamt-imapd) reads from postamt.conf(5) before
/// the client says anything: its name, its certificate and how to reach postamt-auth(8).
public struct LoginSettings: Sendable, Equatable {
    /// `myhostname`, for the greeting and log lines.
    public var hostname: String
    /// `tls_certificate`: a PEM chain, leaf first; empty means no TLS (no STLS/STARTTLS).
    public var certificatePath: String
    /// `tls_key`: the PEM private key, readable by root only.
    public var keyPath: String
    /// `auth_socket`, where `postamt-auth serve` answers.
    public var authSocket: String
    /// `auth_timeout`, seconds to wait for postamt-auth's answer.
    public var authTimeoutSeconds: Int64
    /// `home_mailbox`: the Maildir below a user's home directory ("Maildir/"), or an absolute path.
    public var homeMailbox: String

    /// `certificateSetting`/`keySetting` name a server's own pair (imapd's `imap_tls_certificate`
    /// and `imap_tls_key`); each falls back to `tls_certificate`/`tls_key` when empty, so one
    /// certificate setting serves every server.
    public init(_ configuration: Configuration, certificateSetting: String? = nil, keySetting: String? = nil) {
        func path(_ specific: String?, _ general: String) -> String {
            if let specific {
                let value = configuration.string(specific)
                if !value.isEmpty { return value }
            }
            return configuration.string(general)
        }
        hostname = configuration.hostname
        certificatePath = path(certificateSetting, "tls_certificate")
        keyPath = path(keySetting, "tls_key")
        authSocket = configuration.string("auth_socket")
        authTimeoutSeconds = max(1, configuration.duration("auth_timeout"))
        homeMailbox = configuration.string("home_mailbox")
    }

    /// True when a certificate is configured (STLS/STARTTLS offered, implicit TLS possible).
    public var tlsConfigured: Bool { !certificatePath.isEmpty }

    /// The user's INBOX Maildir: `home_mailbox` below `home` (or itself when absolute), without
    /// the trailing slash. Nil when `home_mailbox` names an mbox file (no trailing slash).
    public func maildirPath(home: String) -> String? {
        guard homeMailbox.hasSuffix("/") else { return nil }
        var path = homeMailbox.hasPrefix("/") ? homeMailbox : "\(home)/\(homeMailbox)"
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }
}

/// postamt-imapd(8).
let imapSettings: [Setting] = [
    Setting(name: "imap_tls_certificate", kind: .path, defaultValue: "", summary: "PEM certificate chain for IMAP's STARTTLS and implicit TLS (empty: tls_certificate)"),
    Setting(name: "imap_tls_key", kind: .path, defaultValue: "", summary: "PEM private key of imap_tls_certificate, read as root when a client asks for TLS, before login (empty: tls_key)"),
    Setting(name: "imap_plaintext_auth", kind: .boolean, defaultValue: "no", summary: "allow LOGIN and AUTHENTICATE without TLS (only for loopback and tests)"),
    Setting(name: "imap_login_timeout", kind: .duration, defaultValue: "60s", summary: "how long an IMAP client may take to log in"),
    Setting(name: "imap_idle_timeout", kind: .duration, defaultValue: "30m", summary: "autologout after this long without a command (IDLE is refreshed, RFC 9051 §5.4)"),
    Setting(name: "imap_max_auth_failures", kind: .count, defaultValue: "3", summary: "failed logins after which the connection is closed"),
    Setting(name: "imap_max_commands_before_login", kind: .count, defaultValue: "50", summary: "commands an IMAP client may send before it logs in"),
    Setting(name: "imap_max_line_length", kind: .size, defaultValue: "64k", summary: "the longest IMAP command line"),
    Setting(name: "imap_max_message_size", kind: .size, defaultValue: "64M", summary: "the largest message IMAP APPEND accepts and FETCH reads"),
]

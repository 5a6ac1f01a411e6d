/// postamt-pop3d(8), and the certificate that the login servers share.
let pop3Settings: [Setting] = [
    Setting(name: "tls_certificate", kind: .path, defaultValue: "", summary: "PEM certificate chain (leaf first) of the login servers; empty: no TLS, no STLS"),
    Setting(name: "tls_key", kind: .path, defaultValue: "", summary: "PEM private key of tls_certificate, read as root (imapd, pop3d: when a client asks for TLS, before login)"),
    Setting(name: "pop3_plaintext_auth", kind: .boolean, defaultValue: "no", summary: "allow USER/PASS and AUTH on a connection without TLS (RFC 2595 section 2 says no)"),
    Setting(name: "pop3_idle_timeout", kind: .duration, defaultValue: "10m", summary: "silence after which a POP3 session ends without deleting anything (RFC 1939: at least 10 minutes)"),
    Setting(name: "pop3_login_timeout", kind: .duration, defaultValue: "60s", summary: "time from connecting to a successful POP3 login"),
    Setting(name: "pop3_handshake_timeout", kind: .duration, defaultValue: "30s", summary: "time for one TLS handshake (STLS or port 995)"),
    Setting(name: "pop3_line_limit", kind: .count, defaultValue: "1024", summary: "longest POP3 command or SASL line in bytes, CRLF included"),
    Setting(name: "pop3_commands_before_auth", kind: .count, defaultValue: "20", summary: "POP3 commands allowed before a successful login"),
    Setting(name: "pop3_auth_failures", kind: .count, defaultValue: "3", summary: "failed POP3 logins after which the connection is closed"),
    Setting(name: "pop3_auth_failure_delay", kind: .duration, defaultValue: "2s", summary: "added wait per failed POP3 login so far (after postamt-auth's own delay), at most 15s"),
    Setting(name: "pop3_uidl_format", kind: .text, defaultValue: "basename", summary: "UIDL strings: basename (the Maildir base name, as Courier) or dovecot (Dovecot's default %08Xu%08Xv: UID and UIDVALIDITY in hex, which stay after a takeover)"),
    Setting(name: "pop3_error_limit", kind: .count, defaultValue: "10", summary: "POP3 protocol errors (unknown commands, bad arguments) after which the connection is closed"),
]

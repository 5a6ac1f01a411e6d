/// postamt-webmail(8).
let webmailSettings: [Setting] = [
    Setting(name: "webmail_tls_certificate", kind: .path, defaultValue: "", summary: "PEM certificate chain of postamt-webmail (empty: tls_certificate); the webmail speaks TLS only"),
    Setting(name: "webmail_tls_key", kind: .path, defaultValue: "", summary: "PEM private key of webmail_tls_certificate, read as root at each connection (empty: tls_key)"),
    Setting(name: "webmail_session_directory", kind: .path, defaultValue: "{root}/var/lib/postamt-webmail", summary: "root-owned directory (0711) of the webmail's session files, one per login, named by the SHA-256 of the cookie and owned by the user"),
    Setting(name: "webmail_session_idle_timeout", kind: .duration, defaultValue: "30m", summary: "a webmail session ends after this long without a request"),
    Setting(name: "webmail_session_lifetime", kind: .duration, defaultValue: "12h", summary: "a webmail session ends this long after its login, however busy"),
    Setting(name: "webmail_keepalive_timeout", kind: .duration, defaultValue: "60s", summary: "silence between two requests after which postamt-webmail closes the connection"),
    Setting(name: "webmail_read_timeout", kind: .duration, defaultValue: "30s", summary: "time for one whole request (head and body) once its first byte arrived (408 after it)"),
    Setting(name: "webmail_handshake_timeout", kind: .duration, defaultValue: "30s", summary: "time for the TLS handshake"),
    Setting(name: "webmail_request_line_limit", kind: .size, defaultValue: "8k", summary: "longest request line (414 above it)"),
    Setting(name: "webmail_header_limit", kind: .size, defaultValue: "32k", summary: "largest header section of a request (431 above it)"),
    Setting(name: "webmail_header_count_limit", kind: .count, defaultValue: "100", summary: "most header fields in a request (431 above it)"),
    Setting(name: "webmail_body_limit", kind: .size, defaultValue: "25M", summary: "largest request body, e.g. a composed message (413 above it)"),
    Setting(name: "webmail_message_size_limit", kind: .size, defaultValue: "64M", summary: "largest message the webmail reads from a Maildir to show"),
    Setting(name: "webmail_page_size", kind: .count, defaultValue: "50", summary: "messages per page of a folder's list"),
    Setting(name: "webmail_remote_images", kind: .boolean, defaultValue: "no", summary: "keep https images in messages' HTML (they tell the sender when a message is read)"),
    Setting(name: "autoconfig_services", kind: .list, defaultValue: "imap:993:ssl, pop3:995:ssl, smtp:465:ssl, smtp:587:starttls", summary: "what the webmail's Thunderbird autoconfig and Outlook autodiscover describe: protocol:port:ssl|starttls for each listener configured"),
]

/// postamt-auth(8) and its clients.
let authSettings: [Setting] = [
    Setting(name: "auth_socket", kind: .path, defaultValue: "{root}/run/postamt/auth", summary: "the Unix socket where postamt-auth answers smtpd, imapd and pop3d"),
    Setting(name: "auth_group", kind: .text, defaultValue: "postamt", summary: "besides root, the group whose processes may ask postamt-auth (checked with SO_PEERCRED)"),
    Setting(name: "pam_service", kind: .text, defaultValue: "postamt", summary: "the PAM service postamt-auth uses; %s is replaced by the caller's protocol (imap, pop3, smtp)"),
    Setting(name: "auth_passwd_file", kind: .path, defaultValue: "", summary: "when set, users are checked against this file of user:crypt-hash lines instead of PAM"),
    Setting(name: "auth_cache_ttl", kind: .duration, defaultValue: "1h", summary: "how long a successful password check is remembered (0: not at all)"),
    Setting(name: "auth_cache_negative_ttl", kind: .duration, defaultValue: "30s", summary: "how long a failed password check is remembered (0: not at all)"),
    Setting(name: "auth_cache_size", kind: .count, defaultValue: "10000", summary: "the most password checks remembered (0: no cache)"),
    Setting(name: "auth_failure_delay", kind: .duration, defaultValue: "2s", summary: "how long a failed password check waits before it is answered"),
    Setting(name: "auth_worker_limit", kind: .count, defaultValue: "8", summary: "password checks postamt-auth runs at once (one worker process each)"),
    Setting(name: "auth_worker_timeout", kind: .duration, defaultValue: "10s", summary: "how long one password check may take before its worker is killed"),
    Setting(name: "auth_timeout", kind: .duration, defaultValue: "15s", summary: "how long smtpd, imapd and pop3d wait for postamt-auth's answer"),
]

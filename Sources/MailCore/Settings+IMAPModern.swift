/// postamt-imapd(8): the extensions of issue 17 (COMPRESS, IDLE on shared storage).
let imapModernSettings: [Setting] = [
    Setting(name: "imap_compress", kind: .boolean, defaultValue: "yes", summary: "offer COMPRESS=DEFLATE (RFC 4978) after login"),
    Setting(name: "imap_compress_level", kind: .count, defaultValue: "6", summary: "the deflate level of COMPRESS, 1 (fastest) to 9 (smallest)"),
]

/// postamt-imapd(8): the extensions of issue 17 (COMPRESS, IDLE on shared storage).
let imapModernSettings: [Setting] = [
    Setting(name: "imap_compress", kind: .boolean, defaultValue: "yes", summary: "offer COMPRESS=DEFLATE (RFC 4978) after login"),
    Setting(name: "imap_compress_level", kind: .count, defaultValue: "6", summary: "the deflate level of COMPRESS, 1 (fastest) to 9 (smallest)"),
]

/// IDLE on shared storage (postamt-imapd(8), postamt-cluster(7)).
let imapIdlePollSettings: [Setting] = [
    Setting(name: "imap_idle_poll", kind: .text, defaultValue: "auto", summary: "IDLE also polls the folder (for changes made by other hosts): auto (on NFS, CIFS, CephFS, FUSE and other network file systems), yes (always), no (inotify only) or only (polling without inotify)"),
    Setting(name: "imap_idle_poll_interval", kind: .duration, defaultValue: "5s", summary: "how often a polling IDLE looks at the folder's new/, cur/ and uid list"),
]

/// postamt-imapd(8): resynchronisation (QRESYNC) and pre-login hardening.
let imapSyncSettings: [Setting] = [
    Setting(name: "imap_expunge_history", kind: .count, defaultValue: "10000", summary: "expunged UIDs each folder's uid list remembers for QRESYNC; a client that was away longer gets every missing UID in its range"),
    Setting(name: "imap_max_invalid_commands", kind: .count, defaultValue: "3", summary: "invalid commands (answered BAD) before login after which the connection is closed"),
]

/// Maildir++ quotas (postamt-local(8), postamt-imapd(8), postamt-maildir(5)).
let quotaSettings: [Setting] = [
    Setting(name: "quota", kind: .size, defaultValue: "0", summary: "storage limit of each user's Maildir, all folders together (Maildir++ maildirsize); 0: none"),
    Setting(name: "quota_messages", kind: .count, defaultValue: "0", summary: "limit on the number of messages in each user's Maildir; 0: none"),
    Setting(name: "quota_file", kind: .path, defaultValue: "{root}/etc/postamt/quotas", summary: "per-user limits overriding quota and quota_messages: 'user  size [messages]' a line, 0 or none for no limit"),
    Setting(name: "quota_exceeded", kind: .text, defaultValue: "defer", summary: "a delivery over the quota: defer (a temporary failure, 4.2.2: the message waits in the queue) or bounce (5.2.2)"),
    Setting(name: "quota_warning_thresholds", kind: .list, defaultValue: "80,95", summary: "percentages of the quota at which a delivery also leaves a warning message in the user's INBOX; empty: none"),
]

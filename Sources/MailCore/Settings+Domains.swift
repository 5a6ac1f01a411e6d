/// Domains, addresses and who may send as them (postamt-virtual(5), postamt-domains(5),
/// postamt-senders(5)).
let domainSettings: [Setting] = [
    Setting(name: "domains_file", kind: .path, defaultValue: "{root}/etc/postamt/domains", summary: "the domains file: one 'domain [virtual|local]' a line, besides local_domains (postamt-domains(5))"),
    Setting(name: "virtual_alias_file", kind: .path, defaultValue: "{root}/etc/postamt/virtual", summary: "the virtual table: 'address  target, target…' for the virtual domains, compiled to FILE.cdb by postamt check (postamt-virtual(5))"),
    Setting(name: "sender_file", kind: .path, defaultValue: "{root}/etc/postamt/senders", summary: "the sender table: 'address  user, user…' grants addresses to users besides those they own (postamt-senders(5))"),
    Setting(name: "sender_login_check", kind: .boolean, defaultValue: "yes", summary: "an authenticated SMTP client may use only MAIL FROM and From: addresses its user owns (553 5.7.1 otherwise)"),
    Setting(name: "sender_login_exempt", kind: .list, defaultValue: "", summary: "users who may send as any address (a shared no-reply sender, a web application); their mail is DKIM-signed too"),
    Setting(name: "sendmail_sender_check", kind: .text, defaultValue: "refuse", summary: "sendmail -f naming an address the calling user does not own: refuse, warn (kept, with an X-Authentication-Warning: header) or no"),
]

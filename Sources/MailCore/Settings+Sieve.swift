/// Sieve filtering in postamt-local (postamt-local(8), postamt-sieve(5)) and postamt-managesieved(8).
/// "~/" in a path is the recipient's home directory.
let sieveSettings: [Setting] = [
    Setting(name: "sieve", kind: .boolean, defaultValue: "yes", summary: "run the recipient's active Sieve script on delivery to the default mailbox"),
    Setting(name: "sieve_script", kind: .text, defaultValue: "~/.dovecot.sieve", summary: "the active script (Pigeonhole's place: a symbolic link into sieve_directory)"),
    Setting(name: "sieve_directory", kind: .text, defaultValue: "~/sieve", summary: "the user's stored scripts, NAME.sieve (ManageSieve, include :personal)"),
    Setting(name: "sieve_global_directory", kind: .path, defaultValue: "{root}/etc/postamt/sieve", summary: "scripts for include :global"),
    Setting(name: "sieve_before", kind: .list, defaultValue: "", summary: "administrator's scripts run before the user's (Pigeonhole's sieve_before)"),
    Setting(name: "sieve_after", kind: .list, defaultValue: "", summary: "administrator's scripts run after the user's unless it stops (sieve_after)"),
    Setting(name: "sieve_max_script_size", kind: .size, defaultValue: "1M", summary: "largest script compiled"),
    Setting(name: "sieve_max_actions", kind: .count, defaultValue: "32", summary: "actions one delivery's scripts may take"),
    Setting(name: "sieve_max_redirects", kind: .count, defaultValue: "4", summary: "redirects one delivery's scripts may take"),
    Setting(name: "sieve_max_nesting", kind: .count, defaultValue: "32", summary: "deepest nesting of blocks and tests"),
    Setting(name: "sieve_max_include_depth", kind: .count, defaultValue: "10", summary: "deepest nesting of include"),
    Setting(name: "sieve_max_steps", kind: .count, defaultValue: "100000", summary: "commands and tests one run may evaluate; bounds a script's run time"),
    Setting(name: "sieve_fileinto_create", kind: .boolean, defaultValue: "yes", summary: "fileinto creates a missing folder (no: the message goes to INBOX, as Dovecot's lda_mailbox_autocreate = no)"),
    Setting(name: "sieve_vacation_default_period", kind: .duration, defaultValue: "7d", summary: "vacation period without :days or :seconds (RFC 5230: 7 days)"),
    Setting(name: "sieve_vacation_min_period", kind: .duration, defaultValue: "1d", summary: "shortest vacation period a script may ask for"),
    Setting(name: "sieve_vacation_max_period", kind: .duration, defaultValue: "90d", summary: "longest vacation period a script may ask for"),
    Setting(name: "sieve_duplicate_database", kind: .text, defaultValue: "~/.postamt-sieve-dupes", summary: "the per-user record of vacation replies sent and duplicate ids seen"),
]

/// postamt-managesieved(8).
let manageSieveSettings: [Setting] = [
    Setting(name: "managesieve_plaintext_auth", kind: .boolean, defaultValue: "no", summary: "allow AUTHENTICATE on a ManageSieve connection without TLS (RFC 5804 section 2.1 says no)"),
    Setting(name: "managesieve_idle_timeout", kind: .duration, defaultValue: "30m", summary: "silence after which a ManageSieve session ends"),
    Setting(name: "managesieve_login_timeout", kind: .duration, defaultValue: "60s", summary: "time from connecting to a successful ManageSieve login"),
    Setting(name: "managesieve_handshake_timeout", kind: .duration, defaultValue: "30s", summary: "time for one TLS handshake (STARTTLS)"),
    Setting(name: "managesieve_line_limit", kind: .count, defaultValue: "8192", summary: "longest ManageSieve command line outside literals, in bytes"),
    Setting(name: "managesieve_commands_before_auth", kind: .count, defaultValue: "20", summary: "ManageSieve commands allowed before a successful login"),
    Setting(name: "managesieve_auth_failures", kind: .count, defaultValue: "3", summary: "failed ManageSieve logins after which the connection is closed"),
    Setting(name: "managesieve_auth_failure_delay", kind: .duration, defaultValue: "2s", summary: "added wait per failed ManageSieve login so far"),
    Setting(name: "managesieve_max_scripts", kind: .count, defaultValue: "100", summary: "scripts one user may store"),
]

/// An mbsync (isync) configuration: channel "all" syncs every folder of the IMAP server that
/// `tunnel` starts (a command speaking IMAP on its stdin and stdout, pre-authenticated) with
/// the local Maildir store in `local` (one directory per folder), both ways, the sync state
/// kept beside the local folders.
func mbsyncConfiguration(tunnel: String, local: String) -> String {
    """
    IMAPAccount mail
    Tunnel "\(tunnel.replacingOccurrences(of: "\"", with: "\\\""))"

    IMAPStore remote
    Account mail

    MaildirStore local
    Path \(local)/
    Inbox \(local)/INBOX
    SubFolders Verbatim

    Channel all
    Far :remote:
    Near :local:
    Patterns *
    Create Both
    Expunge Both
    SyncState *
    """
}

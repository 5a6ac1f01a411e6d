import MailSystem

extension IMAPSession {
    /// True while the selected mailbox's directory is still where it was selected: a RENAME or
    /// DELETE (in this session or another) moves it away, and the session must not go on
    /// reading, flagging or delivering into a path that no longer exists (or recreate it).
    var selectedMailboxIsGone: Bool {
        guard let selected else { return false }
        return !FileIO.isDirectory(selected.mailbox.path)
    }

    /// Dovecot's answer when the selected mailbox vanished: an untagged BYE, then the
    /// connection closes (RFC 9051 §7.1.5: BYE may come at any time). The client reconnects
    /// and selects the mailbox under its new name.
    func endForVanishedMailbox() {
        if let selected { log?("selected mailbox vanished: \(selected.mailbox.path)") }
        selected = nil
        out.untagged(.bye, "Selected mailbox was deleted, have to disconnect")
        state = .logout
    }
}

import IMAPProtocol
import Maildir

extension IMAPSession {
    /// REPLACE and UID REPLACE (RFC 8508): APPEND the new message to `name`, then expunge the
    /// old one from the selected mailbox, in that order, so that a failure (or a crash) between
    /// the two leaves both, never neither (§3.4 asks for the replacement to be atomic as far as
    /// the client can tell: the old message is only removed once the new one is stored). If the
    /// APPEND fails, nothing is removed and the answer is the APPEND's NO.
    func replace(tag: String, _ number: UInt32, _ name: IMAPMailboxName, _ message: IMAPAppendMessage, uid: Bool,
                 selected: IMAPSelectedMailbox, store: IMAPMailStore) throws {
        // §3.3: the selected mailbox must allow the expunge.
        guard !selected.readOnly else { return no(tag, code: .readOnly, "Mailbox is read-only") }
        let old: UInt32
        if uid {
            // §3.3: a UID that is not there is a NO (it may have been expunged already).
            guard selected.sequenceNumber(of: number) != nil else { return no(tag, code: .nonexistent, "No such message") }
            old = number
        } else {
            guard number <= selected.count else { return bad(tag, "Invalid message sequence number") }
            old = selected.uids[Int(number) - 1]
        }
        let folder = try store.folderName(name, utf8Enabled: utf8Enabled)
        guard store.exists(folder) else { return no(tag, code: .tryCreate, "No such mailbox") }
        let mailbox: MaildirMailbox = selected.folder == folder ? selected.mailbox : store.open(folder)
        guard !message.data.isEmpty else { return no(tag, "Empty message") }
        guard message.data.count <= configuration.maxMessageSize else { return no(tag, code: .tooBig, "Message too large") }
        guard message.isBinary || !message.data.contains(0) else { return no(tag, code: .unknownCTE, "Message contains NUL") }
        if let refusal = quotaRefusal(adding: Int64(message.data.count), messages: 1) { return no(tag, code: .overQuota, refusal) }
        let flags = try IMAPSession.maildirFlags(message.flags ?? [], in: mailbox)
        let newUID = try mailbox.append(message.data, flags: flags, internalDate: message.internalDate?.secondsSinceEpoch)
        quotaRecord(adding: Int64(message.data.count), messages: 1)
        let validity = try mailbox.uidList.read()?.uidValidity ?? 0
        out.untagged(.ok, code: .appendUID(uidValidity: validity, uids: IMAPNumberSet(numbers: [newUID])), "Replacement Message ID")
        // The new message is stored: now the old one goes, whatever its flags (as MOVE's second half).
        try selected.mailbox.remove(uids: [old])
        synchronize()
        ok(tag, "REPLACE completed")
    }
}

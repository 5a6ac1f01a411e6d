import MailCore
import MailMessage
import Maildir

/// Filing of mail postamt-spamcheck tagged as spam into the user's Junk folder (Maildir++),
/// as Dovecot's sieve "fileinto Junk" setups do. Only the default mailbox is affected: a
/// .postamt or .forward file that names a Maildir gets the message as it is.
extension LocalDelivery {
    /// postamt-spamcheck puts its X-Spam-Status field on top (and removes any older one), so the
    /// first such field in the header is the verdict.
    static func isTaggedAsSpam(_ message: [UInt8]) -> Bool {
        let header = HeaderSection.parse(message, limit: 1 << 20)
        guard let status = header.first("X-Spam-Status") else { return false }
        return status.value.lowercasedASCII().hasPrefix("yes")
    }

    /// The Maildir a message for the default mailbox `path` goes to: `path/.Junk/` (created
    /// when missing) for tagged mail when `spam_junk_folder` names a folder, else `path`.
    func defaultMailboxTarget(_ path: String) -> (path: String, junk: Bool) {
        let folder = configuration.string("spam_junk_folder")
        guard path.hasSuffix("/"), !folder.isEmpty, !folder.contains("/"), !folder.hasPrefix("."),
              LocalDelivery.isTaggedAsSpam(message) else { return (path, false) }
        return ("\(path).\(folder)/", true)
    }
}

extension LocalDelivery {
    /// Creates the Junk folder (and the inbox Maildir above it) with the `maildirfolder` marker,
    /// as IMAP's special-use folder of that name is created.
    func createJunkFolder(_ inbox: String, _ junk: String) -> DeliveryOutcome? {
        let folder = configuration.string("spam_junk_folder")
        do {
            // Race-safe with another delivery or an IMAP session creating it at the same time.
            _ = try MaildirFolders(root: Maildir(path: String(inbox.dropLast()))).specialFolder(folder)
            return nil
        } catch {
            return .temporary("2.0", "cannot create the folder \(junk): \(error)")
        }
    }
}

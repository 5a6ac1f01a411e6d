import Maildir

/// The Spam and Not spam buttons, and learning as the user sorts, the way imapd does it
/// (IMAPSession+SpamLearning.swift) through the same queue writer, Maildir's
/// `SpamLearningEnqueuer`: a message moved into Junk is queued as spam, one moved out of Junk
/// into another folder but Trash as ham; `postamt spam learn-queue` learns them. Spam moves a
/// message to the Junk folder, Not spam moves it from Junk to INBOX. Junk and Trash are the
/// folders with the \Junk and \Trash special use (RFC 6154) as imapd's LIST reports them, so a
/// folder given \Junk with IMAP's CREATE … USE is the Junk here too; without one, the folder
/// named Junk (Trash) is made. Queueing never fails the move: an error is only logged.
extension RequestContext {
    /// "spam", "ham" or nil for a move from `source` to `target`, Junk and Trash being `junk`
    /// and `trash` (imapd's rule, IMAPSession+SpamLearning.swift).
    static func learningClass(from source: String, to target: String, junk: String = "Junk", trash: String = "Trash") -> String? {
        if target == junk && source != junk { return "spam" }
        if source == junk && target != junk && target != trash { return "ham" }
        return nil
    }

    /// Moves `uids` and queues them for learning when the move crosses Junk's boundary.
    func move(_ uids: [UInt32], from mailbox: MaildirMailbox, named source: String, to destination: MaildirMailbox, named target: String) throws {
        var enqueuer: SpamLearningEnqueuer?
        var entries: [UInt32: String] = [:]
        if let spamClass = RequestContext.learningClass(from: source, to: target, junk: specialName(.junk), trash: specialName(.trash)), let rootPath {
            do {
                let queue = try SpamLearningEnqueuer(maildirRoot: rootPath, spamClass: spamClass)
                enqueuer = queue
                for uid in uids {
                    if let file = try mailbox.filePath(uid: uid) { entries[uid] = try queue.prepare(file: file) }
                }
            } catch {
                app.log("spam learning queue user=\(user.name): \(error)")
            }
        }
        let moved: [(source: UInt32, destination: UInt32)]
        do {
            moved = try mailbox.move(uids: uids, to: destination)
        } catch {
            for name in entries.values { enqueuer?.discard(name) }
            throw error
        }
        guard let enqueuer else { return }
        let done = Set(moved.map(\.source))
        var queued = 0
        for (uid, name) in entries {
            if done.contains(uid) {
                if enqueuer.commit(name) { queued += 1 }
            } else {
                enqueuer.discard(name)
            }
        }
        if queued > 0 { app.log("spam learning user=\(user.name): \(queued) message(s) queued as \(enqueuer.spamClass)") }
    }

    /// The folder a Spam or Not spam button sends messages to, with its mailbox.
    func spamTarget(_ op: String, from source: String) throws -> (String, MaildirMailbox)? {
        guard let rootPath else { return nil }
        let junk = specialName(.junk)
        switch op {
        case "spam" where source != junk:
            return try specialFolder(.junk)
        case "ham" where source == junk:
            return ("INBOX", MaildirMailbox(maildir: Maildir(path: rootPath), rootPath: rootPath))
        default:
            return nil
        }
    }
}

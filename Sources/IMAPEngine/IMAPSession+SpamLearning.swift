#if canImport(Glibc)
import Glibc
#endif
import IMAPProtocol
import Maildir
import MailSystem

/// Learning as users sort: a message the user moves or copies into the Junk folder is queued to
/// be learnt as spam, one moved or copied out of Junk into another folder (not Trash) as ham.
/// The queue and its entries are Maildir's `SpamLearningEnqueuer` (shared with postamt-webmail);
/// `postamt spam learn-queue` applies them. Queueing never fails the COPY or MOVE: an error is
/// only logged.
extension IMAPSession {
    struct SpamLearningBatch {
        var enqueuer: SpamLearningEnqueuer?
        var spamClass: String
        /// Source uid → entry name in tmp/.
        var entries: [UInt32: String]
    }

    /// Links the messages into the queue's tmp/ when the copy crosses the Junk folder's boundary.
    func prepareSpamLearning(from selected: IMAPSelectedMailbox, to destination: String?, store: IMAPMailStore,
                             uids: [UInt32]) -> SpamLearningBatch? {
        let source = selected.folder
        guard source != destination, !uids.isEmpty else { return nil }
        let special = IMAPSpecialUse(folders: store.folders)
        let table = special.stored()
        func uses(_ folder: String?) -> [IMAPMailboxAttribute] {
            folder.map { special.attributes($0, stored: table) } ?? []
        }
        let sourceUses = uses(source), destinationUses = uses(destination)
        let spamClass: String
        if destinationUses.contains(.junk) && !sourceUses.contains(.junk) {
            spamClass = "spam"
        } else if sourceUses.contains(.junk) && !destinationUses.contains(.junk) && !destinationUses.contains(.trash) {
            spamClass = "ham"
        } else {
            return nil
        }
        var batch = SpamLearningBatch(enqueuer: nil, spamClass: spamClass, entries: [:])
        do {
            let enqueuer = try SpamLearningEnqueuer(maildirRoot: store.rootPath, spamClass: spamClass)
            batch.enqueuer = enqueuer
            for uid in uids {
                guard let file = try selected.mailbox.filePath(uid: uid) else { continue }
                batch.entries[uid] = try enqueuer.prepare(file: file)
            }
        } catch {
            log?("spam learning queue \(store.rootPath)/\(SpamLearningEnqueuer.directoryName): \(error)")
        }
        return batch
    }

    /// Moves the entries of the messages that were copied into new/ and drops the others.
    func commitSpamLearning(_ batch: SpamLearningBatch?, copied: [UInt32]) {
        guard let batch, let enqueuer = batch.enqueuer else { return }
        let done = Set(copied)
        var queued = 0
        for (uid, name) in batch.entries {
            if done.contains(uid) {
                if enqueuer.commit(name) { queued += 1 }
            } else {
                enqueuer.discard(name)
            }
        }
        if queued > 0 { log?("spam learning: \(queued) message(s) queued as \(batch.spamClass)") }
    }
}

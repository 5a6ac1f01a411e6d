#if canImport(Glibc)
import Glibc
#endif
import IMAPProtocol
import Maildir
import MailSystem

/// Learning as users sort: a message the user moves or copies into the Junk folder is queued to
/// be learnt as spam, one moved or copied out of Junk into another folder (not Trash) as ham.
///
/// The queue is a Maildir-style directory in the Maildir root, `postamt-spamlearn/` with `tmp/`
/// and `new/` (postamt-spamcheck(8), LEARNING QUEUE). Each entry is a hard link to the message's
/// file, named `<seconds>.M<microseconds>P<pid>Q<n>.<host>,spam` or `,ham`, so no message is
/// copied and an entry stays readable even when the user expunges the message before it is
/// learnt. Entries are linked into `tmp/` before the COPY or MOVE and renamed into `new/` once it
/// has succeeded (the learner removes `tmp/` leftovers after 36 hours, as Maildir readers do).
/// Where a link is impossible the bytes are copied. `postamt spam learn-queue` applies the
/// entries and removes them. Queueing never fails the COPY or MOVE: an error is only logged.
extension IMAPSession {
    static let spamLearningDirectory = "postamt-spamlearn"
    nonisolated(unsafe) static var spamLearningCounter = 0

    struct SpamLearningBatch {
        var queue: String
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
        var batch = SpamLearningBatch(queue: "\(store.rootPath)/\(IMAPSession.spamLearningDirectory)", spamClass: spamClass, entries: [:])
        do {
            for sub in ["", "/tmp", "/new"] where !FileIO.isDirectory(batch.queue + sub) {
                if mkdir(batch.queue + sub, 0o700) != 0 && errno != EEXIST { throw SystemError("mkdir \(batch.queue + sub)") }
            }
            for uid in uids {
                guard let file = try selected.mailbox.filePath(uid: uid) else { continue }
                batch.entries[uid] = try IMAPSession.linkForSpamLearning(file: file, queue: batch.queue, spamClass: spamClass)
            }
        } catch {
            log?("spam learning queue \(batch.queue): \(error)")
        }
        return batch
    }

    /// Moves the entries of the messages that were copied into new/ and drops the others.
    func commitSpamLearning(_ batch: SpamLearningBatch?, copied: [UInt32]) {
        guard let batch else { return }
        let done = Set(copied)
        var queued = 0
        for (uid, name) in batch.entries {
            let temporary = "\(batch.queue)/tmp/\(name)"
            if done.contains(uid), Glibc.rename(temporary, "\(batch.queue)/new/\(name)") == 0 {
                queued += 1
            } else {
                unlink(temporary)
            }
        }
        if queued > 0 { log?("spam learning: \(queued) message(s) queued as \(batch.spamClass)") }
    }

    /// A hard link (or, across file systems, a durable copy) of `file` in the queue's tmp/.
    static func linkForSpamLearning(file: String, queue: String, spamClass: String) throws -> String {
        var now = timeval()
        gettimeofday(&now, nil)
        spamLearningCounter += 1
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        let hostName = String(String(cString: host).map { $0 == "/" || $0 == "," || $0 == ":" ? "_" : $0 })
        let name = "\(now.tv_sec).M\(now.tv_usec)P\(getpid())Q\(spamLearningCounter).\(hostName),\(spamClass)"
        if link(file, "\(queue)/tmp/\(name)") == 0 { return name }
        guard [EXDEV, EPERM, EMLINK, ENOTSUP].contains(errno) else { throw SystemError("link \(file) into \(queue)/tmp") }
        guard let bytes = try FileIO.readFile(file, limit: 64 << 20) else { throw SystemError("read \(file)", errno: ENOENT) }
        try FileIO.replace("\(queue)/tmp/\(name)", bytes, mode: 0o600, durability: .contents)
        return name
    }
}

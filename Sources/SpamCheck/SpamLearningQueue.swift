#if canImport(Glibc)
import Glibc
#endif
import Maildir
import MailSystem
import SpamFilter

/// `postamt spam learn-queue`: applies a user's learning queue, the entries postamt-imapd leaves
/// in `<Maildir>/postamt-spamlearn/new/` when the user moves mail into or out of Junk
/// (postamt-spamcheck(8), LEARNING QUEUE). Each entry is a hard link to the message, its name
/// ending in `,spam` or `,ham`. Entries are applied in name (that is, time) order, so a message
/// moved into Junk and back out ends as ham; an entry is removed only once the database that
/// holds its counts has been replaced. A damaged or unreadable entry is removed with a note, an
/// entry with another ending is left alone, and `tmp/` leftovers older than 36 hours (a COPY
/// that failed half way) are removed.
public struct SpamLearningQueue {
    public static let directoryName = SpamLearningEnqueuer.directoryName
    public let path: String

    /// The queue of the Maildir at `maildir`.
    public init(maildir: String) {
        path = (maildir.hasSuffix("/") ? String(maildir.dropLast()) : maildir) + "/" + SpamLearningQueue.directoryName
    }

    public struct Result: Sendable, Equatable {
        public var spam = 0
        public var ham = 0
        public var skipped = 0
    }

    /// Entries waiting in new/, in order, with their class.
    public func entries() throws -> [(name: String, spamClass: SpamClass)] {
        guard FileIO.isDirectory("\(path)/new") else { return [] }
        return try FileIO.listDirectory("\(path)/new").filter { !$0.hasPrefix(".") }.sorted().compactMap { name in
            if name.hasSuffix(",spam") { return (name, .spam) }
            if name.hasSuffix(",ham") { return (name, .ham) }
            return nil
        }
    }

    /// Learns every entry into `training`'s database and removes it.
    public func apply(_ training: SpamTraining, now: Int = time(nil)) throws -> Result {
        var result = Result()
        removeStaleTemporaryEntries(now: now)
        let waiting = try entries()
        guard !waiting.isEmpty else { return result }
        // Consecutive entries of one class go in one database rewrite.
        var start = 0
        while start < waiting.count {
            var end = start
            while end < waiting.count, waiting[end].spamClass == waiting[start].spamClass { end += 1 }
            let run = waiting[start..<end].map { "\(path)/new/\($0.name)" }
            var files: [String] = []
            for file in run {
                if FileIO.exists(file) { files.append(file) } else { result.skipped += 1 }
            }
            let (_, learnt) = try training.train(files, as: waiting[start].spamClass)
            if waiting[start].spamClass == .spam { result.spam += learnt } else { result.ham += learnt }
            result.skipped += files.count - learnt
            for file in files { unlink(file) }
            start = end
        }
        return result
    }

    func removeStaleTemporaryEntries(now: Int) {
        guard let names = try? FileIO.listDirectory("\(path)/tmp") else { return }
        for name in names {
            let file = "\(path)/tmp/\(name)"
            if let status = FileIO.status(file), now - Int(status.st_mtim.tv_sec) > 36 * 3600 { unlink(file) }
        }
    }
}

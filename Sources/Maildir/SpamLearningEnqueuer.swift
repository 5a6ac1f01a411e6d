#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// Writing to a user's spam learning queue, for every program that lets the user sort mail
/// (postamt-imapd's COPY and MOVE, postamt-webmail's Spam and Not spam buttons);
/// `SpamLearningQueue` in SpamCheck reads it (postamt-spamcheck(8), LEARNING QUEUE).
///
/// The queue is a Maildir-style directory in the Maildir root, `postamt-spamlearn/` with `tmp/`
/// and `new/`. Each entry is a hard link to the message's file, named
/// `<seconds>.M<microseconds>P<pid>Q<n>.<host>,spam` or `,ham`, so no message is copied and an
/// entry stays readable even when the user expunges the message before it is learnt. Entries
/// are linked into `tmp/` before the copy or move and renamed into `new/` once it has succeeded
/// (the learner removes `tmp/` leftovers after 36 hours, as Maildir readers do). Where a link is
/// impossible the bytes are copied.
public struct SpamLearningEnqueuer {
    public static let directoryName = "postamt-spamlearn"
    nonisolated(unsafe) static var counter = 0

    /// `<Maildir root>/postamt-spamlearn`.
    public let queue: String
    /// "spam" or "ham": the ending of the entries' names.
    public let spamClass: String

    /// Creates the queue's directories when missing.
    public init(maildirRoot: String, spamClass: String) throws {
        queue = "\(maildirRoot)/\(SpamLearningEnqueuer.directoryName)"
        self.spamClass = spamClass
        for sub in ["", "/tmp", "/new"] where !FileIO.isDirectory(queue + sub) {
            if mkdir(queue + sub, 0o700) != 0 && errno != EEXIST { throw SystemError("mkdir \(queue + sub)") }
        }
    }

    /// A hard link (or, across file systems, a durable copy) of `file` in the queue's tmp/; the
    /// entry's name.
    public func prepare(file: String) throws -> String {
        var now = timeval()
        gettimeofday(&now, nil)
        SpamLearningEnqueuer.counter += 1
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        let hostName = String(String(cString: host).map { $0 == "/" || $0 == "," || $0 == ":" ? "_" : $0 })
        let name = "\(now.tv_sec).M\(now.tv_usec)P\(getpid())Q\(SpamLearningEnqueuer.counter).\(hostName),\(spamClass)"
        if link(file, "\(queue)/tmp/\(name)") == 0 { return name }
        guard [EXDEV, EPERM, EMLINK, ENOTSUP].contains(errno) else { throw SystemError("link \(file) into \(queue)/tmp") }
        guard let bytes = try FileIO.readFile(file, limit: 64 << 20) else { throw SystemError("read \(file)", errno: ENOENT) }
        try FileIO.replace("\(queue)/tmp/\(name)", bytes, mode: 0o600, durability: .contents)
        return name
    }

    /// Moves a prepared entry into new/ (the sorting succeeded); false when that failed, and
    /// then the entry is gone.
    @discardableResult
    public func commit(_ name: String) -> Bool {
        let temporary = "\(queue)/tmp/\(name)"
        if rename(temporary, "\(queue)/new/\(name)") == 0 { return true }
        unlink(temporary)
        return false
    }

    /// Drops a prepared entry (the sorting failed).
    public func discard(_ name: String) {
        unlink("\(queue)/tmp/\(name)")
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailSystem
import MailCore

/// The queue's directories (queue(5) in postamt-queue(8)):
///
///     tmp/        envelope records too big for the message's header (ID.env) being written
///                 by postamt-queue; removed when older than orphan_age
///     mess/ID     the message file: a header (QueueFile), then the message exactly as given
///                 (LF line ends); written here from the start, seen by the runner only
///                 once incoming/ID exists (orphans removed when older than orphan_age)
///     incoming/ID the envelope: a second link to the message file when its header holds the
///                 record, else a file of its own; its link here is the commit point
///     state/ID    the runner's per-recipient state, rewritten atomically after each result
///     corrupt/    envelopes or states that fail validation, kept for a human
///     spare/N     wiped message files of delivered mail, N a slot below queue_spare_files,
///                 taken by the next injections instead of creating files (QueueSpares)
///     lock        flock()ed by the one running runner
///     trigger     a FIFO: postamt writes commands (flush, hold, release, delete) to the runner
public struct QueueLayout: Sendable {
    public let root: String
    public init(root: String) { self.root = root }
    public init(configuration: Configuration) { self.root = configuration.queueDirectory }

    public var tmp: String { "\(root)/tmp" }
    public var messages: String { "\(root)/mess" }
    public var incoming: String { "\(root)/incoming" }
    public var state: String { "\(root)/state" }
    public var corrupt: String { "\(root)/corrupt" }
    public var spare: String { "\(root)/spare" }
    public var lockFile: String { "\(root)/lock" }
    public var trigger: String { "\(root)/trigger" }

    public func message(_ id: String) -> String { "\(messages)/\(id)" }
    public func envelope(_ id: String) -> String { "\(incoming)/\(id)" }
    public func stateFile(_ id: String) -> String { "\(state)/\(id)" }
    public func spareFile(_ slot: Int) -> String { "\(spare)/\(slot)" }

    public static let subdirectories = ["tmp", "mess", "incoming", "state", "corrupt", "spare"]
    /// Those a queue cannot work without (spare/ is an optimisation: a queue made before it
    /// existed works without it until the runner's next start creates it).
    static let required = ["tmp", "mess", "incoming", "state", "corrupt"]

    /// Creates the directories (and the trigger FIFO). Directories are group-writable for the
    /// set-gid postamt-queue and not readable by others; `owner` (root only) gets them.
    public func create(owner: SystemUser? = nil) throws {
        try FileIO.makeDirectories(root, mode: 0o755)
        for sub in QueueLayout.subdirectories {
            let path = "\(root)/\(sub)"
            if mkdir(path, 0o770) != 0 && errno != EEXIST { throw SystemError("mkdir \(path)") }
            // Set-gid directories: every file created in them belongs to the mail_owner's group,
            // whoever runs postamt-queue, so the runner can always read what was queued.
            if let owner { chown(path, owner.uid, owner.gid) }
            chmod(path, 0o2770)
        }
        if !FileIO.exists(trigger) {
            if mkfifo(trigger, 0o660) != 0 && errno != EEXIST { throw SystemError("mkfifo \(trigger)") }
        }
        let lock = open(lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o660)
        if lock < 0 { throw SystemError("create \(lockFile)") }
        close(lock)
        if let owner {
            for path in [trigger, lockFile] { chown(path, owner.uid, owner.gid); chmod(path, 0o660) }
        }
    }

    public var isComplete: Bool {
        QueueLayout.required.allSatisfy { FileIO.isDirectory("\(root)/\($0)") }
    }

    /// Every directory `create` makes is there (spare/ too): nothing for it to do.
    public var isFullyMade: Bool {
        QueueLayout.subdirectories.allSatisfy { FileIO.isDirectory("\(root)/\($0)") }
    }

    /// Queue ids: seconds and microseconds in hex, then the pid: short, sortable by arrival,
    /// safe in file names and logs. Uniqueness is enforced by O_EXCL on mess/ID.
    public static func newID() -> String {
        let now = Clock.now()
        let sec = String(now.seconds, radix: 16, uppercase: true)
        var usec = String(now.microseconds, radix: 16, uppercase: true)
        while usec.count < 5 { usec = "0" + usec }
        return sec + usec + String(getpid(), radix: 16, uppercase: true)
    }

    public static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 40 && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) }
    }

    /// Sends one command line to a running runner through the trigger FIFO. Returns false when
    /// no runner has it open (ENXIO), so the caller knows nothing listened.
    /// A long command (`delete` of many ids) is sent as several lines, each under PIPE_BUF so
    /// that every write is atomic.
    @discardableResult
    public func sendTrigger(_ command: String) -> Bool {
        let fd = open(trigger, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var words = command.split(separator: " ").map(String.init)
        guard let verb = words.first else { return false }
        words.removeFirst()
        var lines: [String] = []
        var line = verb
        for w in words {
            if line.utf8.count + w.utf8.count + 2 > 512 { lines.append(line); line = verb }
            line += " " + w
        }
        lines.append(line)
        for l in lines {
            var bytes = Array((l + "\n").utf8)
            var sent = -1
            for _ in 0..<100 {
                sent = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
                if sent >= 0 || errno != EAGAIN { break }
                usleep(10_000) // the FIFO is full: the runner is busy; wait a little
            }
            if sent != bytes.count { return false }
        }
        return true
    }
}

import MailSystem
import SpamFilter
import Synchronization

/// The token database as mapped by an earlier check of this process, while its file is the same
/// (inode, size, modification time): a writer replaces the file by rename and never writes in
/// place (TokenDatabase), so a kept mapping is one complete version, and a new version is a new
/// inode. For a process that checks many messages (smtpd's kept checker, `ResidentCheck`) this
/// saves mapping the database, the page faults on the pages a check touches and the unmapping at
/// every message — about half of the Bayes step's time in a profile with 20 sessions. A process
/// that checks one message pays one stat(2) more.
enum SnapshotCache {
    /// A few databases at most (per-user databases: the last users'); full, it starts again.
    static let limit = 8
    private static let entries = Mutex<[String: (stamp: [Int], snapshot: TokenDatabaseSnapshot)]>([:])

    static func snapshot(_ path: String) throws -> TokenDatabaseSnapshot {
        // Stamped before the mapping: a file replaced in between is mapped again next time.
        let stamp = FileIO.stamp([path])
        if let kept = entries.withLock({ $0[path] }), kept.stamp == stamp { return kept.snapshot }
        let snapshot = try TokenDatabase(path: path).snapshot()
        entries.withLock {
            if $0.count >= limit { $0.removeAll() }
            $0[path] = (stamp, snapshot)
        }
        return snapshot
    }
}

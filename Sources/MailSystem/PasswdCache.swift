#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The users a long-lived process has looked up (`SystemUser.named`, `withID`), kept while
/// /etc/passwd is the same file (identity, size, modification time) and for at most
/// passwd_cache_time (postamt.conf(5)). One message's path looked a user up in smtpd (the
/// recipient), the runner (the route), its spawner (whom to become) and the delivery child (who
/// it is): getpwnam reads and parses the whole of /etc/passwd each time (its NSS "files"
/// source has no index), ~9 µs with 35 lines and growing with every line. Postfix's local(8)
/// keeps the entries it looked up for the life of its process (mypwd.c, up to max_use
/// deliveries) without looking at the file at all.
///
/// - A change to /etc/passwd (useradd, userdel, usermod, vipw: each writes a new file or the
///   old one in place) empties the cache at the next lookup: one stat(2) a lookup.
/// - Sources other than files (LDAP, SSSD) change without that file changing: what they said
///   is kept for the lifetime alone, as nscd and sssd keep it (their defaults: 10 minutes and
///   90 minutes).
/// - Only users that exist are kept: an unknown name is looked up again each time, so a user
///   added is found at once whatever the source.
///
/// Off (lifetime 0) until a program turns it on: a program that looks up one user and exits
/// would pay the stat for nothing. Forked children inherit the cache and its setting.
public final class PasswdCache: Sendable {
    public enum Key: Hashable, Sendable {
        case name(String)
        case id(uid_t)
    }

    struct State {
        var lifetime: Int64 = 0  // nanoseconds; 0: off
        var stamp: [Int] = []
        var entries: [Key: (user: SystemUser, time: Int64)] = [:]
    }

    /// The one the process's lookups use.
    public static let shared = PasswdCache(file: "/etc/passwd")

    let file: String
    let clock: @Sendable () -> Int64
    private let state = Synchronization.Mutex(State())

    /// `file`: whose changes empty the cache; `clock`: monotonic nanoseconds (a test's own).
    public init(file: String, clock: @escaping @Sendable () -> Int64 = { Clock.monotonicNanoseconds() }) {
        self.file = file
        self.clock = clock
    }

    /// Keeps users for `seconds` from now on (0: keeps none and forgets those kept).
    public func keep(forSeconds seconds: Int64) {
        state.withLock {
            $0.lifetime = max(0, seconds) * 1_000_000_000
            if $0.lifetime == 0 { $0.entries.removeAll() }
        }
    }

    /// The user `key` names: kept, or from `lookup` (and then kept, when it exists).
    public func user(_ key: Key, lookup: () -> SystemUser?) -> SystemUser? {
        guard state.withLock({ $0.lifetime > 0 }) else { return lookup() }
        // Stamped before the lookup: a file changed in between is read again next time.
        let stamp = FileIO.stamp([file])
        let now = clock()
        let kept: SystemUser? = state.withLock {
            if $0.stamp != stamp {
                $0.stamp = stamp
                $0.entries.removeAll()
                return nil
            }
            guard let entry = $0.entries[key], now - entry.time < $0.lifetime else { return nil }
            return entry.user
        }
        if let kept { return kept }
        let user = lookup()
        if let user {
            state.withLock {
                guard $0.lifetime > 0, $0.stamp == stamp else { return }
                $0.entries[key] = (user, now)
            }
        }
        return user
    }
}

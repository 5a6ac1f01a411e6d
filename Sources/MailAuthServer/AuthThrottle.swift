import MailAuth
import MailCodec

/// The limits of `AuthThrottle`, from the `auth_throttle_*` settings (postamt.conf(5)).
public struct AuthThrottlePolicy: Sendable, Equatable {
    /// Failures count for this many seconds (a sliding window); 0 switches throttling off.
    public var window: Int64 = 600
    /// Past this many failures in the window (of the source or of the user), each further
    /// failure answer waits longer: 1 s, 2 s, 4 s … at most `maxDelay`; 0: no extra delay.
    public var delayAfter = 3
    public var maxDelay: Int64 = 8
    /// This many failures of one source address in the window block it for `blockTime`; 0: never.
    public var blockAfter = 10
    public var blockTime: Int64 = 900
    /// This many failures for one user name (from any addresses) block the name for
    /// `userBlockTime`, except from addresses the user logged in from (`familiarTime`); 0: never.
    public var userBlockAfter = 30
    public var userBlockTime: Int64 = 300
    /// How long an address the user logged in from stays exempt from blocks of that user name.
    public var familiarTime: Int64 = 30 * 86400
    /// The most addresses and user names tracked, and the most familiar pairs.
    public var maxEntries = 100_000

    public init() {}

    public var isEnabled: Bool { window > 0 }
}

/// Login throttling, shared by every caller of postamt-auth: failures are counted per source
/// address and per user name over a sliding window. Past `delayAfter` failures answers are held
/// back longer; past `blockAfter` the source (or past `userBlockAfter` the user name) is blocked
/// for a time, and every request it makes fails without a password check, the right password
/// included — so a blocked attacker learns nothing and costs no PAM run.
///
/// A block of a user name would let anyone lock the real user out (lockout as denial of service),
/// so it does not apply to addresses from which that user logged in successfully during the last
/// `familiarTime`: the attacker is kept out, the user's usual phone and laptop are not. (Dovecot's
/// auth_penalty only delays; a delay alone does not stop a slow, distributed guesser.)
///
/// Time is passed in (monotonic nanoseconds), so tests drive it without sleeping.
public struct AuthThrottle: Sendable {
    public enum Subject: Hashable, Sendable {
        case source(String)
        case user([UInt8])
    }

    /// A block that began: what, how many failures led to it, until when.
    public struct Block: Equatable, Sendable {
        public let subject: Subject
        public let failures: Int
        public let until: Int64
    }

    /// What `recordFailure` found.
    public struct FailureOutcome: Equatable, Sendable {
        /// Added to auth_failure_delay, in nanoseconds.
        public var extraDelay: Int64 = 0
        public var newBlocks: [Block] = []
    }

    struct Record: Sendable {
        /// Failure times inside the window, oldest first, at most `limit` of them.
        var failures: [Int64] = []
        var blockedUntil: Int64 = 0
        var touched: Int64 = 0
    }

    struct Familiar: Hashable, Sendable {
        let user: [UInt8]
        let source: String
    }

    public let policy: AuthThrottlePolicy
    private(set) var records: [Subject: Record] = [:]
    private(set) var familiar: [Familiar: Int64] = [:]

    static let second: Int64 = 1_000_000_000

    public init(policy: AuthThrottlePolicy) { self.policy = policy }

    /// The source key of a peer: an address as the caller sent it, IPv4-mapped IPv6 unmapped,
    /// lower case; nil for no address ("-", empty: a local caller), which is not counted.
    public static func sourceKey(_ peer: [UInt8]) -> String? {
        var text = AuthProtocol.printable(peer, limit: 64).lowercased()
        if text.hasPrefix("::ffff:") && text.contains(".") { text.removeFirst(7) }
        return text.isEmpty || text == "-" ? nil : text
    }

    /// User names are counted case-insensitively (ASCII), so Alice and alice share one count.
    static func userKey(_ user: [UInt8]) -> [UInt8] {
        user.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
    }

    /// The block that refuses this request, if any.
    public func block(source peer: [UInt8], user: [UInt8], now: Int64) -> Subject? {
        guard policy.isEnabled else { return nil }
        let source = AuthThrottle.sourceKey(peer)
        if let source, let r = records[.source(source)], r.blockedUntil > now { return .source(source) }
        let name = AuthThrottle.userKey(user)
        if let r = records[.user(name)], r.blockedUntil > now {
            if let source, let seen = familiar[Familiar(user: name, source: source)],
               seen + policy.familiarTime * AuthThrottle.second > now {
                return nil
            }
            return .user(name)
        }
        return nil
    }

    /// The delay a blocked request's answer gets on top of auth_failure_delay, in nanoseconds.
    public var blockedDelay: Int64 { policy.delayAfter > 0 ? policy.maxDelay * AuthThrottle.second : 0 }

    /// Counts a failed check (not one refused by a block) and says how much longer to wait and
    /// which blocks began.
    public mutating func recordFailure(source peer: [UInt8], user: [UInt8], now: Int64) -> FailureOutcome {
        guard policy.isEnabled else { return FailureOutcome() }
        var outcome = FailureOutcome()
        var most = 0
        var subjects: [(Subject, Int, Int64)] = [(.user(AuthThrottle.userKey(user)), policy.userBlockAfter, policy.userBlockTime)]
        if let source = AuthThrottle.sourceKey(peer) { subjects.insert((.source(source), policy.blockAfter, policy.blockTime), at: 0) }
        for (subject, blockAfter, blockTime) in subjects {
            makeRoom(for: subject, now: now)
            var r = records[subject] ?? Record()
            r.touched = now
            r.failures.removeAll { $0 <= now - policy.window * AuthThrottle.second }
            r.failures.append(now)
            let limit = max(blockAfter, policy.delayAfter + 64, 1)
            if r.failures.count > limit { r.failures.removeFirst(r.failures.count - limit) }
            let count = r.failures.count
            if blockAfter > 0 && count >= blockAfter && r.blockedUntil <= now {
                // The block is the penalty: counting starts afresh when it ends.
                r.blockedUntil = now + blockTime * AuthThrottle.second
                r.failures = []
                outcome.newBlocks.append(Block(subject: subject, failures: count, until: r.blockedUntil))
            }
            most = max(most, count)
            records[subject] = r
        }
        if policy.delayAfter > 0 && most > policy.delayAfter {
            let doublings = min(most - policy.delayAfter - 1, 30)
            outcome.extraDelay = min(policy.maxDelay, Int64(1) << doublings) * AuthThrottle.second
        }
        return outcome
    }

    /// A successful check: the user's failures are forgiven (the source's are not, or one valid
    /// account would reset a guesser's count), and the address becomes familiar for the user.
    public mutating func recordSuccess(source peer: [UInt8], user: [UInt8], now: Int64) {
        guard policy.isEnabled else { return }
        let name = AuthThrottle.userKey(user)
        if var r = records[.user(name)] {
            r.failures = []
            records[.user(name)] = r.blockedUntil > now ? r : nil
        }
        guard let source = AuthThrottle.sourceKey(peer) else { return }
        let pair = Familiar(user: name, source: source)
        if familiar[pair] == nil && familiar.count >= policy.maxEntries {
            let horizon = now - policy.familiarTime * AuthThrottle.second
            familiar = familiar.filter { $0.value > horizon }
            if familiar.count >= policy.maxEntries, let oldest = familiar.min(by: { $0.value < $1.value }) {
                familiar[oldest.key] = nil
            }
        }
        familiar[pair] = now
    }

    /// Keeps `records` within maxEntries: expired records go first, then the least recently
    /// touched one that is not blocked (a full table must not end a block early).
    mutating func makeRoom(for subject: Subject, now: Int64) {
        guard records[subject] == nil, records.count >= policy.maxEntries else { return }
        dropExpired(now: now)
        guard records.count >= policy.maxEntries else { return }
        let victim = records.filter { $0.value.blockedUntil <= now }.min { $0.value.touched < $1.value.touched }
            ?? records.min { $0.value.blockedUntil < $1.value.blockedUntil }
        if let victim { records[victim.key] = nil }
    }

    /// Forgets records with no block in force and no failure inside the window.
    public mutating func dropExpired(now: Int64) {
        let horizon = now - policy.window * AuthThrottle.second
        records = records.filter { $0.value.blockedUntil > now || ($0.value.failures.last ?? Int64.min) > horizon }
    }

    /// The blocks in force, for the state file.
    public func blocks(now: Int64) -> [(subject: Subject, until: Int64)] {
        records.filter { $0.value.blockedUntil > now }.map { ($0.key, $0.value.blockedUntil) }
            .sorted { $0.until < $1.until }
    }

    /// Takes a block read back from the state file (ignored when it has already ended).
    public mutating func restore(_ subject: Subject, until: Int64, now: Int64) {
        guard until > now, records.count < policy.maxEntries else { return }
        var r = records[subject] ?? Record()
        r.blockedUntil = max(r.blockedUntil, until)
        r.touched = now
        records[subject] = r
    }

    /// A subject for a log line: `rip=ADDRESS` or `user=NAME` (printable, at most 64 bytes).
    public static func describe(_ subject: Subject) -> String {
        switch subject {
        case .source(let address): return "rip=\(address)"
        case .user(let name): return "user=\(AuthProtocol.printable(name, limit: 64))"
        }
    }
}

/// The state file of the throttle (`state_directory/auth-throttle`): the blocks in force, one
/// per line, so that a restart of postamt-auth does not free a blocked attacker:
///
///     source 192.0.2.7 1765000000
///     user YWxpY2U= 1765000300
///
/// The last field is the block's end in seconds since the epoch; a user name is base64.
public enum AuthThrottleState {
    public static func encode(_ blocks: [(subject: AuthThrottle.Subject, until: Int64)], wallNow: Int64, monotonicNow: Int64) -> [UInt8] {
        var text = "# postamt-auth: login blocks in force (postamt-auth(8)); rewritten when one begins\n"
        for block in blocks {
            let end = wallNow + (block.until - monotonicNow + AuthThrottle.second - 1) / AuthThrottle.second
            switch block.subject {
            case .source(let address): text += "source \(address) \(end)\n"
            case .user(let name): text += "user \(Base64.encode(name)) \(end)\n"
            }
        }
        return Array(text.utf8)
    }

    /// Parses a state file; lines that do not parse are counted in `bad`, the rest returned
    /// with their ends turned into monotonic time. Blocks that have ended are dropped.
    public static func decode(_ bytes: [UInt8], wallNow: Int64, monotonicNow: Int64)
        -> (blocks: [(subject: AuthThrottle.Subject, until: Int64)], bad: Int) {
        var blocks: [(subject: AuthThrottle.Subject, until: Int64)] = []
        var bad = 0
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            if line.first == UInt8(ascii: "#") { continue }
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard fields.count == 3, let end = Int64(String(decoding: fields[2], as: UTF8.self)), !fields[1].isEmpty,
                  fields[1].count <= 128, fields[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                bad += 1
                continue
            }
            let subject: AuthThrottle.Subject
            switch String(decoding: fields[0], as: UTF8.self) {
            case "source": subject = .source(String(decoding: fields[1], as: UTF8.self))
            case "user":
                guard let name = Base64.decode(fields[1]), !name.isEmpty else { bad += 1; continue }
                subject = .user(name)
            default:
                bad += 1
                continue
            }
            guard end > wallNow else { continue }
            blocks.append((subject, monotonicNow + (end - wallNow) * AuthThrottle.second))
        }
        return (blocks, bad)
    }
}

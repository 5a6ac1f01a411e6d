/// The serving process's cache of password checks, as Dovecot's auth cache: positive and
/// negative results with their own time to live, at most `capacity` entries.
///
/// An entry is keyed by service, user and a keyed fingerprint of the password (never the password
/// itself, see `SecretFingerprinter`). Because the password is part of the key, a cached failure
/// only answers the same wrong password again: the right password misses the cache and is
/// checked. A changed password takes effect at once for failures and after at most the positive
/// TTL for the old password (as in Dovecot). Temporary results are never cached.
///
/// Time is passed in (monotonic nanoseconds), so tests drive expiry with their own clock.
public struct AuthCache: Sendable {
    /// What a cache entry is keyed by.
    public struct Key: Hashable, Sendable {
        public let service: String
        public let user: [UInt8]
        public let password: SecretFingerprint
        public init(service: String, user: [UInt8], password: SecretFingerprint) {
            self.service = service; self.user = user; self.password = password
        }
    }

    /// A cached outcome: the canonical user, or a failure.
    public enum Outcome: Equatable, Sendable {
        case success(user: [UInt8])
        case failure
    }

    private struct Entry: Sendable {
        let outcome: Outcome
        let expires: Int64
        let sequence: UInt64
    }

    /// How long a success is kept, in nanoseconds; 0 disables positive caching.
    public let positiveLifetime: Int64
    /// How long a failure is kept, in nanoseconds; 0 disables negative caching.
    public let negativeLifetime: Int64
    /// The most entries kept; the oldest go first.
    public let capacity: Int

    private var entries: [Key: Entry] = [:]
    /// Keys in insertion order with the sequence number they were stored under; a key stored
    /// again gets a new number, and its old position is skipped when evicting.
    private var order: [(key: Key, sequence: UInt64)] = []
    private var orderStart = 0
    private var nextSequence: UInt64 = 0

    public init(positiveLifetime: Int64, negativeLifetime: Int64, capacity: Int) {
        self.positiveLifetime = max(0, positiveLifetime)
        self.negativeLifetime = max(0, negativeLifetime)
        self.capacity = max(0, capacity)
    }

    public var count: Int { entries.count }

    /// The cached outcome for `key`, or nil when there is none or it has expired.
    public mutating func lookup(_ key: Key, now: Int64) -> Outcome? {
        guard let entry = entries[key] else { return nil }
        if entry.expires <= now {
            entries[key] = nil
            return nil
        }
        return entry.outcome
    }

    /// Stores an outcome (unless its lifetime is 0), evicting the oldest entries beyond capacity.
    public mutating func store(_ outcome: Outcome, for key: Key, now: Int64) {
        let lifetime: Int64
        switch outcome {
        case .success: lifetime = positiveLifetime
        case .failure: lifetime = negativeLifetime
        }
        guard lifetime > 0, capacity > 0 else { return }
        nextSequence += 1
        entries[key] = Entry(outcome: outcome, expires: now &+ lifetime, sequence: nextSequence)
        order.append((key, nextSequence))
        while entries.count > capacity, orderStart < order.count {
            let oldest = order[orderStart]
            orderStart += 1
            if entries[oldest.key]?.sequence == oldest.sequence { entries[oldest.key] = nil }
        }
        compactOrder(now: now)
    }

    /// Forgets every entry of a user (all services, all passwords).
    public mutating func forget(user: [UInt8]) {
        for key in entries.keys where key.user == user { entries[key] = nil }
    }

    /// Keeps the order list proportional to the entries: expired entries are dropped and the
    /// list rebuilt when it has grown to twice the live entries (amortised O(1) per store).
    private mutating func compactOrder(now: Int64) {
        guard order.count - orderStart > 2 * max(entries.count, 16) else { return }
        entries = entries.filter { $0.value.expires > now }
        order = order[orderStart...].filter { entries[$0.key]?.sequence == $0.sequence }
        orderStart = 0
    }
}

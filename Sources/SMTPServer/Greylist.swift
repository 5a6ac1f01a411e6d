import MailNet

/// Greylisting (postamt-smtpd(8), GREYLISTING): a mail server that retries after a temporary
/// failure, as RFC 5321 §4.5.4.1 asks, gets its mail through after a delay; much spamware never
/// retries. The key is the triplet of the client's network (IPv4 /24, IPv6 /64: a site's
/// outgoing servers take turns), the envelope sender and the recipient, all lowercased.
///
/// A new triplet is answered 450; a retry after `delay` and within `retryWindow` of the first
/// attempt passes, and the triplet then passes at once until it goes unseen for `maxAge`.
/// A client network with `autoAllow` passed triplets is no longer greylisted (postgrey's
/// auto-whitelisting), until it too goes unseen for `maxAge`.
struct Greylist {
    struct Settings: Sendable, Equatable {
        var delaySeconds: Int64 = 300
        var retryWindowSeconds: Int64 = 2 * 86400
        var maxAgeSeconds: Int64 = 35 * 86400
        var autoAllow: Int = 5
        var maxEntries: Int = 50000
    }

    enum Verdict: Equatable {
        /// A new triplet, or one retried too soon.
        case deferred
        /// The retry came after the delay: the triplet passes from now on.
        case passedRetry
        /// A triplet that passed before.
        case known
        /// The client network is auto-allowed.
        case clientAllowed
    }

    let path: String
    let settings: Settings

    /// The network part of the triplet: `192.0.2.0/24`, `2001:db8:1:2::/64`.
    static func network(of address: IPAddress) -> String {
        let address = address.unmapped
        if address.isIPv4 {
            return "\(address.bytes[0]).\(address.bytes[1]).\(address.bytes[2]).0/24"
        }
        let prefix = IPAddress(bytes: Array(address.bytes[0..<8]) + [UInt8](repeating: 0, count: 8)) ?? address
        return "\(prefix)/64"
    }

    /// Looks the triplet up and records this attempt. `now` is the wall clock in seconds:
    /// every smtpd process shares the database, so no process's monotonic clock will do.
    func check(client: IPAddress, sender: String, recipient: String, now: Int64) throws -> Verdict {
        let network = Greylist.network(of: client)
        let table = try GreylistTable(path: path, slots: max(16, settings.maxEntries))
        let clientKey = GreylistTable.key("client\0\(network)")
        if settings.autoAllow > 0, case let (slot, entry)? = try table.find(clientKey),
           now - entry.last <= settings.maxAgeSeconds, entry.count >= settings.autoAllow {
            var entry = entry
            entry.last = now
            try table.store(entry, at: slot)
            return .clientAllowed
        }
        let tripletKey = GreylistTable.key("triplet\0\(network)\0\(sender.lowercased())\0\(recipient.lowercased())")
        if case let (slot, existing)? = try table.find(tripletKey), !isExpired(existing, now: now) {
            var entry = existing
            if entry.passed {
                entry.last = now
                try table.store(entry, at: slot)
                return .known
            }
            guard now - entry.first >= settings.delaySeconds else {
                entry.last = now
                try table.store(entry, at: slot)
                return .deferred
            }
            entry.passed = true
            entry.last = now
            try table.store(entry, at: slot)
            if settings.autoAllow > 0 { try countPassed(clientKey, in: table, now: now) }
            return .passedRetry
        }
        let entry = GreylistTable.Entry(key: tripletKey, first: now, last: now, count: 0, passed: false)
        try table.store(entry, at: try table.freeSlot(for: tripletKey) { isExpired($0, now: now) })
        return .deferred
    }

    func isExpired(_ entry: GreylistTable.Entry, now: Int64) -> Bool {
        entry.passed || entry.count > 0 ? now - entry.last > settings.maxAgeSeconds
                                        : now - entry.first > settings.retryWindowSeconds
    }

    private func countPassed(_ clientKey: GreylistTable.Key, in table: borrowing GreylistTable, now: Int64) throws {
        if case let (slot, existing)? = try table.find(clientKey), now - existing.last <= settings.maxAgeSeconds {
            var entry = existing
            entry.count += 1
            entry.last = now
            try table.store(entry, at: slot)
        } else {
            let entry = GreylistTable.Entry(key: clientKey, first: now, last: now, count: 1, passed: false)
            try table.store(entry, at: try table.freeSlot(for: clientKey) { isExpired($0, now: now) })
        }
    }
}

/// The greylist database: one file of fixed-size slots, an open-addressing hash table that
/// every smtpd process reads and writes in place under a lock. Its size is fixed by the
/// number of slots, so it never grows: an entry goes into the first free or expired slot of
/// its probe window, else over the least recently seen one there.
///
/// Layout (little-endian): an 8-byte magic `PAGREY01`, the slot count as 8 bytes, 16 bytes
/// reserved; then per slot 40 bytes: key (16), first seen (8), last seen (8), count (4),
/// flags (4: 1 used, 2 passed). A file whose header does not match the configured slot count
/// is started afresh — greylisting state is soft, and losing it only greylists again.
struct GreylistTable: ~Copyable {
    struct Key: Equatable { var high: UInt64; var low: UInt64 }
    struct Entry: Equatable {
        var key: Key
        var first: Int64
        var last: Int64
        var count: Int
        var passed: Bool
    }

    static let magic = Array("PAGREY01".utf8)
    static let headerSize = 32
    static let slotSize = 40
    /// Slots looked at for one key.
    static let probeWindow = 16

    let file: LockedStateFile
    let slots: Int

    init(path: String, slots: Int) throws {
        let file = try LockedStateFile(path: path)
        try GreylistTable.prepare(file, slots: slots)
        self.file = file
        self.slots = slots
    }

    private static func prepare(_ file: borrowing LockedStateFile, slots: Int) throws {
        let header = try file.read(at: 0, count: GreylistTable.headerSize)
        let expectedSize = GreylistTable.headerSize + slots * GreylistTable.slotSize
        if header.count < 16 || Array(header[0..<8]) != GreylistTable.magic || GreylistTable.uint64(header, 8) != UInt64(slots)
            || file.size != expectedSize {
            // New, or made for another smtpd_greylist_max_entries: start afresh (sparse zeros).
            try file.truncate(to: 0)
            try file.truncate(to: expectedSize)
            var fresh = GreylistTable.magic
            GreylistTable.append(UInt64(slots), to: &fresh)
            fresh += [UInt8](repeating: 0, count: GreylistTable.headerSize - fresh.count)
            try file.write(fresh, at: 0)
        }
    }

    /// Two FNV-1a hashes with different offset bases: 128 bits, so two triplets sharing a slot
    /// key is not a practical worry (and would only let one pass early).
    static func key(_ text: String) -> Key {
        var high: UInt64 = 0xcbf2_9ce4_8422_2325
        var low: UInt64 = 0x6c62_272e_07bb_0142
        for byte in text.utf8 {
            high = (high ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            low = (low ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            low = (low << 7) | (low >> 57)
        }
        return Key(high: high, low: low)
    }

    private func home(of key: Key) -> Int { Int(key.high % UInt64(slots)) }

    private func read(slot: Int) throws -> Entry? {
        let bytes = try file.read(at: GreylistTable.headerSize + slot * GreylistTable.slotSize, count: GreylistTable.slotSize)
        guard bytes.count == GreylistTable.slotSize else { return nil }
        let flags = GreylistTable.uint32(bytes, 36)
        guard flags & 1 != 0 else { return nil }
        return Entry(key: Key(high: GreylistTable.uint64(bytes, 0), low: GreylistTable.uint64(bytes, 8)),
                     first: Int64(bitPattern: GreylistTable.uint64(bytes, 16)), last: Int64(bitPattern: GreylistTable.uint64(bytes, 24)),
                     count: Int(GreylistTable.uint32(bytes, 32)), passed: flags & 2 != 0)
    }

    private var window: Int { min(GreylistTable.probeWindow, slots) }

    func find(_ key: Key) throws -> (Int, Entry)? {
        let start = home(of: key)
        for step in 0..<window {
            let slot = (start + step) % slots
            if let entry = try read(slot: slot), entry.key == key { return (slot, entry) }
        }
        return nil
    }

    /// Where a new entry for `key` goes: its own old slot, a free one, an expired one, else
    /// the least recently seen one in the window.
    func freeSlot(for key: Key, isExpired: (Entry) -> Bool) throws -> Int {
        let start = home(of: key)
        var oldest: (slot: Int, last: Int64)? = nil
        for step in 0..<window {
            let slot = (start + step) % slots
            guard let entry = try read(slot: slot) else { return slot }
            if entry.key == key || isExpired(entry) { return slot }
            if oldest == nil || entry.last < oldest!.last { oldest = (slot, entry.last) }
        }
        return oldest?.slot ?? start
    }

    func store(_ entry: Entry, at slot: Int) throws {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(GreylistTable.slotSize)
        GreylistTable.append(entry.key.high, to: &bytes)
        GreylistTable.append(entry.key.low, to: &bytes)
        GreylistTable.append(UInt64(bitPattern: entry.first), to: &bytes)
        GreylistTable.append(UInt64(bitPattern: entry.last), to: &bytes)
        let count = UInt32(clamping: entry.count)
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: count >> UInt32(shift))) }
        let flags: UInt32 = 1 | (entry.passed ? 2 : 0)
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: flags >> UInt32(shift))) }
        try file.write(bytes, at: GreylistTable.headerSize + slot * GreylistTable.slotSize)
    }

    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    static func uint64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << UInt64($1 * 8) }
    }

    static func uint32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << UInt32($1 * 8) }
    }
}

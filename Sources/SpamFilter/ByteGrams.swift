/// The features of the second model beside Bayes (`GramModel`): the distinct byte 4-grams of the
/// first `prefix` bytes of the raw message, headers included, undecoded.
///
/// After Sculley and Cormack's online logistic regression over binary 4-gram features of a
/// message's first 3,000 bytes (TREC 2007 spam track, "Relaxed online SVMs for spam filtering",
/// SIGIR 2007): no tokeniser to fool, so obfuscated words, encodings and header layout all count.
/// Four bytes fit one 32-bit value, so the grams are compared exactly and then mixed (the
/// splitmix64 finaliser) into a 64-bit hash that `LogisticModel` folds into its buckets.
public enum ByteGrams {
    /// Bytes of the raw message looked at (3,000 measured best of 2,000/3,000/5,000).
    public static let prefix = 3_000
    public static let length = 4

    public static func hashes(_ raw: [UInt8], prefix: Int = ByteGrams.prefix) -> [UInt64] {
        raw.withUnsafeBufferPointer { hashes($0, prefix: prefix) }
    }

    public static func hashes(_ raw: UnsafeBufferPointer<UInt8>, prefix: Int = ByteGrams.prefix) -> [UInt64] {
        let end = min(raw.count, prefix)
        guard end >= length else { return [] }
        var seen = GramSet(capacity: end)
        var out: [UInt64] = []
        out.reserveCapacity(end)
        var gram = UInt32(raw[0]) << 16 | UInt32(raw[1]) << 8 | UInt32(raw[2])
        for i in 3..<end {
            gram = gram << 8 | UInt32(raw[i])
            if seen.insert(gram) { out.append(mix(gram)) }
        }
        return out
    }

    /// The grams seen so far: an open-addressing table with a multiplicative hash, at most half
    /// full. A message's 3,000 grams went through Set's seeded SipHash before, the filter's
    /// largest single cost in smtpd's check (~1 % of all samples with 20 sessions).
    struct GramSet {
        private var slots: [UInt32]
        private let shift: UInt32
        /// 0 marks an empty slot, so the gram 0 (four NULs) is kept aside.
        private var sawZero = false

        init(capacity: Int) {
            var bits: UInt32 = 4
            while (1 << bits) < 2 * capacity { bits += 1 }
            slots = [UInt32](repeating: 0, count: 1 << bits)
            shift = 32 - bits
        }

        /// Whether `gram` was new.
        @inline(__always)
        mutating func insert(_ gram: UInt32) -> Bool {
            if gram == 0 {
                defer { sawZero = true }
                return !sawZero
            }
            let mask = slots.count - 1
            var i = Int((gram &* 0x9E37_79B1) >> shift)
            return slots.withUnsafeMutableBufferPointer { table in
                while true {
                    let held = table[i]
                    if held == gram { return false }
                    if held == 0 {
                        table[i] = gram
                        return true
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }

    @inline(__always)
    static func mix(_ gram: UInt32) -> UInt64 {
        var z = UInt64(gram) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

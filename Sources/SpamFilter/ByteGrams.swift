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
        var seen = Set<UInt32>(minimumCapacity: end)
        var out: [UInt64] = []
        out.reserveCapacity(end)
        var gram = UInt32(raw[0]) << 16 | UInt32(raw[1]) << 8 | UInt32(raw[2])
        for i in 3..<end {
            gram = gram << 8 | UInt32(raw[i])
            if seen.insert(gram).inserted { out.append(mix(gram)) }
        }
        return out
    }

    @inline(__always)
    static func mix(_ gram: UInt32) -> UInt64 {
        var z = UInt64(gram) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

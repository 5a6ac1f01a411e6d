/// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed hash
/// with a specified output and published test vectors.
///
/// The auth cache keys its entries by a SipHash of the password under a per-process random key,
/// so the serving process never keeps a password, and an observer of the cache (a core dump)
/// cannot test guesses without the key. Swift's `Hasher` is also SipHash-based and randomly
/// seeded, but its algorithm is unspecified and may change between releases, its seed cannot be
/// chosen (so it cannot be tested against vectors) and it gives 64 bits only.
public struct SipHash24: Sendable {
    private let k0: UInt64
    private let k1: UInt64

    /// A hasher for the 128-bit key `k0 || k1`, each half read little-endian as in the paper.
    public init(k0: UInt64, k1: UInt64) {
        self.k0 = k0
        self.k1 = k1
    }

    /// A hasher for a 16-byte key given as bytes (the paper's test vectors use 00 01 … 0f).
    public init(key: [UInt8]) {
        precondition(key.count == 16, "SipHash keys are 16 bytes")
        self.init(k0: SipHash24.littleEndianWord(key, at: 0), k1: SipHash24.littleEndianWord(key, at: 8))
    }

    /// The 64-bit SipHash-2-4 of `message`.
    public func hash<Bytes: Collection>(_ message: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var v0: UInt64 = 0x736f6d6570736575 ^ k0
        var v1: UInt64 = 0x646f72616e646f6d ^ k1
        var v2: UInt64 = 0x6c7967656e657261 ^ k0
        var v3: UInt64 = 0x7465646279746573 ^ k1

        @inline(__always) func round() {
            v0 &+= v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
            v2 &+= v3; v3 = rotl(v3, 16); v3 ^= v2
            v0 &+= v3; v3 = rotl(v3, 21); v3 ^= v0
            v2 &+= v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
        }

        var word: UInt64 = 0
        var filled = 0
        for byte in message {
            word |= UInt64(byte) << UInt64(8 * filled)
            filled += 1
            if filled == 8 {
                v3 ^= word; round(); round(); v0 ^= word   // c = 2 compression rounds
                word = 0
                filled = 0
            }
        }
        // The last block carries the message length modulo 256 in its top byte.
        let last = word | (UInt64(truncatingIfNeeded: message.count) << 56)
        v3 ^= last; round(); round(); v0 ^= last
        v2 ^= 0xff
        round(); round(); round(); round()                 // d = 4 finalisation rounds
        return v0 ^ v1 ^ v2 ^ v3
    }

    @inline(__always) private func rotl(_ x: UInt64, _ b: UInt64) -> UInt64 { (x << b) | (x >> (64 - b)) }

    private static func littleEndianWord(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        var word: UInt64 = 0
        for i in 0..<8 { word |= UInt64(bytes[offset + i]) << UInt64(8 * i) }
        return word
    }
}

/// A 128-bit keyed fingerprint of a secret: two SipHash-2-4 values under independent random keys.
/// Equal secrets give equal fingerprints within one process; nothing else can be learnt from it.
public struct SecretFingerprint: Hashable, Sendable {
    public let high: UInt64
    public let low: UInt64
}

/// The per-process random key that fingerprints passwords for the auth cache.
public struct SecretFingerprinter: Sendable {
    private let first: SipHash24
    private let second: SipHash24

    /// Fixed keys, for tests.
    public init(keys: (UInt64, UInt64, UInt64, UInt64)) {
        first = SipHash24(k0: keys.0, k1: keys.1)
        second = SipHash24(k0: keys.2, k1: keys.3)
    }

    /// Random keys from `SystemRandomNumberGenerator`, which on Linux reads getrandom(2), the
    /// kernel's cryptographically secure source.
    public static func random() -> SecretFingerprinter {
        var generator = SystemRandomNumberGenerator()
        return SecretFingerprinter(keys: (generator.next(), generator.next(), generator.next(), generator.next()))
    }

    public func fingerprint<Bytes: Collection>(_ secret: Bytes) -> SecretFingerprint where Bytes.Element == UInt8 {
        SecretFingerprint(high: first.hash(secret), low: second.hash(secret))
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Online logistic regression over token presence (the "second model" beside Bayes),
/// after Goodman and Yih, "Online Discriminative Spam Filter Training" (CEAS 2006): one weight
/// per token hash (hashed into 2^`bits` buckets), p(spam) = σ(b + Σ w), and per learnt message
/// one gradient step w += rate · (y − p) for each of its tokens.
public struct LogisticModel: Sendable {
    public var bits: Int
    public var rate: Float = 0.02
    /// Passes over the training messages when trained in bulk (the cross-validation).
    public var passes: Int = 1
    public private(set) var weights: [Float]
    public private(set) var bias: Float = 0

    public init(bits: Int = 20) {
        self.bits = bits
        weights = [Float](repeating: 0, count: 1 << bits)
    }

    @inline(__always)
    func bucket(_ hash: UInt64) -> Int { Int(truncatingIfNeeded: (hash >> 20) ^ hash) & ((1 << bits) - 1) }

    /// Each token's value: 1/√n for a message of n tokens (a unit-length vector), so long
    /// messages do not outweigh short ones.
    public var normalized = false

    @inline(__always)
    func value(_ count: Int) -> Float { normalized ? 1 / Float(max(count, 1)).squareRoot() : 1 }

    public func margin(_ hashes: [UInt64]) -> Float {
        var sum: Float = 0
        for h in hashes { sum += weights[bucket(h)] }
        return bias + sum * value(hashes.count)
    }

    public func probability(_ hashes: [UInt64]) -> Double {
        1 / (1 + exp(-Double(margin(hashes))))
    }

    public mutating func learn(_ hashes: [UInt64], spam: Bool) {
        let p = Float(probability(hashes))
        let step = rate * ((spam ? 1 : 0) - p)
        bias += step
        let x = step * value(hashes.count)
        for h in hashes { weights[bucket(h)] += x }
    }
}

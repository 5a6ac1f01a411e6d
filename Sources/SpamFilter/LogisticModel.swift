#if canImport(Glibc)
import Glibc
#endif

/// Online logistic regression over binary features (the "second model" beside Bayes), after
/// Goodman and Yih, "Online Discriminative Spam Filter Training" (CEAS 2006): one weight per
/// feature hash (hashed into 2^`bits` buckets), p(spam) = σ(b + Σ w), and per learnt message
/// one gradient step w += rate · (y − p) for each of its features.
///
/// Over Bayes's word tokens it did not help (`SpamClassifier`'s second round); over byte
/// 4-grams (`ByteGrams`) it is `GramModel`, which does.
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

    /// A model read back from storage (`weights.count` must be 2^`bits`).
    public init(bits: Int, weights: [Float], bias: Float, rate: Float) {
        precondition(weights.count == 1 << bits)
        self.bits = bits
        self.weights = weights
        self.bias = bias
        self.rate = rate
    }

    @inline(__always)
    public static func bucket(_ hash: UInt64, bits: Int) -> Int {
        Int(truncatingIfNeeded: (hash >> 20) ^ hash) & ((1 << bits) - 1)
    }

    /// Each token's value: 1/√n for a message of n tokens (a unit-length vector), so long
    /// messages do not outweigh short ones.
    public var normalized = false

    @inline(__always)
    func value(_ count: Int) -> Float { normalized ? 1 / Float(max(count, 1)).squareRoot() : 1 }

    public func margin(_ hashes: [UInt64]) -> Float {
        var sum: Float = 0
        for h in hashes { sum += weights[Self.bucket(h, bits: bits)] }
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
        for h in hashes { weights[Self.bucket(h, bits: bits)] += x }
    }
}

/// The byte-gram model as the token database keeps it: a `LogisticModel` over `ByteGrams`,
/// 2^18 weights (1 MiB on disk), rate 0.01, one step per message learnt, and the score the
/// filter uses is the mean of its probability and Bayes's (`SpamClassifier`'s fourth round).
public enum GramModel {
    public static let bits = 18
    public static let rate: Float = 0.01
    /// Messages of each class it must have learnt before its probability counts at all, and
    /// the number from which it counts fully (`weight`): a young model, a few small steps from
    /// zero, must not pull a confident Bayes score to the middle.
    public static let minimumLearnt: UInt64 = 50
    public static let fullyTrained: UInt64 = 500

    public static func empty() -> LogisticModel {
        var model = LogisticModel(bits: bits)
        model.rate = rate
        return model
    }

    /// How much the model counts, 0 to 1, after learning `spam` and `ham` messages.
    public static func weight(spam: UInt64, ham: UInt64) -> Double {
        let fewer = min(spam, ham)
        return fewer < minimumLearnt ? 0 : min(1, Double(fewer) / Double(fullyTrained))
    }

    /// The filter's score: Bayes's alone without a gram probability; with one of full weight
    /// their mean; in between, the gram model's share grows with its `weight`.
    public static func combined(bayes: Double, gram: Double?, weight: Double = 1) -> Double {
        guard let gram, weight > 0 else { return bayes }
        return bayes + weight * (gram - bayes) / 2
    }
}

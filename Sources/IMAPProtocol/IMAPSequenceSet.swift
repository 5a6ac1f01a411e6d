/// One end of a sequence range: a number or `*`, "the largest number in use" (RFC 9051 §9,
/// `seq-number`).
public enum IMAPSequenceBound: Hashable, Sendable {
    case number(UInt32)
    case largest

    func resolved(largest: UInt32) -> UInt32 {
        switch self {
        case .number(let value): value
        case .largest: largest
        }
    }
}

/// `seq-number` or `seq-range` as the client wrote it. `5:3` and `3:5` mean the same
/// (RFC 9051 §9: "the order of the two numbers does not matter").
public struct IMAPSequenceRange: Hashable, Sendable {
    public var first: IMAPSequenceBound
    public var last: IMAPSequenceBound

    public init(_ first: IMAPSequenceBound, _ last: IMAPSequenceBound) {
        self.first = first
        self.last = last
    }

    /// A single number or `*`.
    public init(_ single: IMAPSequenceBound) { self.init(single, single) }
}

/// A `sequence-set` as written by the client: ranges in the client's order, possibly overlapping,
/// possibly with `*`. Resolve it against the mailbox with `resolved(largest:)`.
public struct IMAPSequenceSet: Hashable, Sendable, CustomStringConvertible {
    public var ranges: [IMAPSequenceRange]

    public init(_ ranges: [IMAPSequenceRange]) { self.ranges = ranges }

    /// Parses text such as `1:*` or `2,4:7,9` (no `$`; see `IMAPMessageSet`).
    public init?(_ text: String, limits: IMAPLimits = IMAPLimits()) {
        var cursor = IMAPByteCursor(Array(text.utf8), limits: limits)
        guard let set = try? cursor.parseSequenceSet(), cursor.isAtEnd else { return nil }
        self = set
    }

    /// The set with `*` replaced by `largest` (the message count, or the highest UID), as sorted,
    /// merged ranges. With `largest` 0 (an empty mailbox) `*` stands for no message, so a range
    /// that mentions it is empty. Numbers above `largest` are kept (`12:*` with 10 messages is
    /// 10:12, RFC 9051 §6.4.8); `clamped(to:)` removes them where the caller must.
    public func resolved(largest: UInt32) -> IMAPNumberSet {
        IMAPNumberSet(ranges: ranges.compactMap { range in
            if largest == 0 && (range.first == .largest || range.last == .largest) { return nil }
            let a = range.first.resolved(largest: largest)
            let b = range.last.resolved(largest: largest)
            let low = max(min(a, b), 1)
            let high = max(a, b)
            return low <= high ? low...high : nil
        })
    }

    /// The wire form, ranges in their written order (`1:*`, `5:3`).
    public var description: String {
        ranges.map { range in
            func text(_ bound: IMAPSequenceBound) -> String {
                switch bound {
                case .number(let value): String(value)
                case .largest: "*"
                }
            }
            return range.first == range.last ? text(range.first) : text(range.first) + ":" + text(range.last)
        }.joined(separator: ",")
    }
}

/// The message set argument of FETCH, STORE, COPY, MOVE, SEARCH…: a sequence set, or `$`, the
/// result saved by an earlier `SEARCH RETURN (SAVE)` (RFC 5182 §2).
public enum IMAPMessageSet: Hashable, Sendable {
    case set(IMAPSequenceSet)
    case lastSearchResult
}

/// A normalised set of numbers: sorted, disjoint, non-adjacent closed ranges. It iterates and
/// counts without materialising its members, so `1:4294967295` costs one range.
public struct IMAPNumberSet: Hashable, Sendable, Sequence, CustomStringConvertible {
    /// The ranges, ascending, never overlapping or touching.
    public private(set) var ranges: [ClosedRange<UInt32>]

    /// Normalises arbitrary ranges.
    public init(ranges: [ClosedRange<UInt32>]) {
        let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt32>] = []
        merged.reserveCapacity(sorted.count)
        for range in sorted {
            if let last = merged.last, UInt64(range.lowerBound) <= UInt64(last.upperBound) + 1 {
                merged[merged.count - 1] = last.lowerBound...Swift.max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        self.ranges = merged
    }

    /// The set of the given numbers (any order, duplicates allowed).
    public init<Numbers: Sequence>(numbers: Numbers) where Numbers.Element == UInt32 {
        self.init(ranges: numbers.map { $0...$0 })
    }

    /// The empty set.
    public init() { ranges = [] }

    public var isEmpty: Bool { ranges.isEmpty }

    /// Number of members (up to 2^32, hence 64 bits).
    public var count: UInt64 {
        ranges.reduce(0) { $0 + UInt64($1.upperBound - $1.lowerBound) + 1 }
    }

    /// Smallest and largest member.
    public var min: UInt32? { ranges.first?.lowerBound }
    public var max: UInt32? { ranges.last?.upperBound }

    /// Membership in O(log ranges).
    public func contains(_ number: UInt32) -> Bool {
        var low = 0
        var high = ranges.count - 1
        while low <= high {
            let middle = (low + high) / 2
            let range = ranges[middle]
            if number < range.lowerBound { high = middle - 1 }
            else if number > range.upperBound { low = middle + 1 }
            else { return true }
        }
        return false
    }

    /// The members that also lie in `bounds` (for example `1...messageCount`).
    public func clamped(to bounds: ClosedRange<UInt32>) -> IMAPNumberSet {
        IMAPNumberSet(ranges: ranges.compactMap { range in
            let low = Swift.max(range.lowerBound, bounds.lowerBound)
            let high = Swift.min(range.upperBound, bounds.upperBound)
            return low <= high ? low...high : nil
        })
    }

    /// The compact wire form used in COPYUID/APPENDUID and ESEARCH ALL (`1:3,5,7:9`,
    /// RFC 4315 §3 `uid-set`). Empty for the empty set.
    public var description: String {
        ranges.map { $0.lowerBound == $0.upperBound ? String($0.lowerBound) : "\($0.lowerBound):\($0.upperBound)" }
            .joined(separator: ",")
    }

    /// As a sequence set (for parsing round trips and for building commands).
    public var sequenceSet: IMAPSequenceSet {
        IMAPSequenceSet(ranges.map { IMAPSequenceRange(.number($0.lowerBound), .number($0.upperBound)) })
    }

    /// Walks the members in ascending order.
    public struct Iterator: IteratorProtocol {
        let ranges: [ClosedRange<UInt32>]
        var rangeIndex = 0
        var nextValue: UInt64 = 0

        init(ranges: [ClosedRange<UInt32>]) {
            self.ranges = ranges
            nextValue = UInt64(ranges.first?.lowerBound ?? 0)
        }

        public mutating func next() -> UInt32? {
            while rangeIndex < ranges.count {
                let range = ranges[rangeIndex]
                if nextValue <= UInt64(range.upperBound) {
                    defer { nextValue += 1 }
                    return UInt32(nextValue)
                }
                rangeIndex += 1
                if rangeIndex < ranges.count { nextValue = UInt64(ranges[rangeIndex].lowerBound) }
            }
            return nil
        }
    }

    public func makeIterator() -> Iterator { Iterator(ranges: ranges) }
}

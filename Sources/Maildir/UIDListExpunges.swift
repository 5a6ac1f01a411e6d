/// UIDs expunged together, and the modseq of their expunge: HIGHESTMODSEQ right after it
/// (RFC 7162 §3.2.10 has an expunge raise HIGHESTMODSEQ). The uid list keeps these so a QRESYNC
/// client (RFC 7162 §3.2.5) that was away is told exactly which of its messages went.
public struct UIDListExpunge: Hashable, Sendable {
    public var first: UInt32
    public var last: UInt32
    public var modSeq: UInt64

    public init(first: UInt32, last: UInt32, modSeq: UInt64) {
        self.first = first; self.last = last; self.modSeq = modSeq
    }

    public var count: Int { Int(last - first) + 1 }
}

extension UIDListFile {
    /// Adds `uids` (ascending) to the expunge history at `modSeq` (at least every recorded
    /// one), joining runs of consecutive UIDs into one record. The parser rebuilds a batch's
    /// removals with this too, so a file reads back as it was written.
    mutating func recordExpunge(_ uids: [UInt32], modSeq: UInt64) {
        for uid in uids {
            if let last = expunged.last, last.modSeq == modSeq, last.last &+ 1 == uid {
                expunged[expunged.count - 1].last = uid
            } else {
                expunged.append(UIDListExpunge(first: uid, last: uid, modSeq: modSeq))
            }
        }
    }

    /// Drops the records at or below `floor` and makes it the new floor (never lowering it).
    mutating func raiseExpungeFloor(to floor: UInt64) {
        guard floor > expungeFloor else { return }
        expungeFloor = min(floor, highestModSeq)
        let drop = expunged.prefix { $0.modSeq <= expungeFloor }.count
        if drop > 0 { expunged.removeFirst(drop) }
    }

    /// Keeps at most `limit` expunged UIDs, forgetting the oldest expunges whole (all records
    /// of one modseq go together, so the floor stays exact).
    mutating func trimExpunges(limit: Int) {
        var total = expunged.reduce(0) { $0 + $1.count }
        guard total > limit else { return }
        var floor = expungeFloor
        var i = 0
        while i < expunged.count && total > limit {
            floor = expunged[i].modSeq
            while i < expunged.count && expunged[i].modSeq == floor {
                total -= expunged[i].count
                i += 1
            }
        }
        raiseExpungeFloor(to: floor)
    }

    /// The UIDs expunged after `modSeq` (ranges in the order of their expunges; a UID is
    /// expunged once), or nil when `modSeq` is older than what the history keeps (below the
    /// floor): then only "every UID that is not there" is a true answer.
    public func expunged(since modSeq: UInt64) -> [ClosedRange<UInt32>]? {
        guard modSeq >= expungeFloor else { return nil }
        let start = expunged.firstIndex { $0.modSeq > modSeq } ?? expunged.endIndex
        return expunged[start...].map { $0.first...$0.last }
    }

    /// The UIDs that left between `old` and `self` (same UIDVALIDITY), ascending: those of
    /// `old` below its next UID that `self` no longer lists. Cheap when none left (a count).
    func removedUIDs(since old: UIDListFile) -> [UInt32] {
        let stillOld = entries.firstIndex(ofUIDAtLeast: old.nextUID)
        guard stillOld < old.entries.count else { return [] }
        var removed: [UInt32] = []
        var j = 0
        let uids = entries.uids
        for uid in old.entries.uids {
            while j < stillOld && uids[j] < uid { j += 1 }
            if j < stillOld && uids[j] == uid { continue }
            removed.append(uid)
        }
        return removed
    }
}

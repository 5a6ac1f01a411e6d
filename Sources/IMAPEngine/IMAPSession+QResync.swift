import IMAPProtocol
import Maildir

/// QRESYNC (RFC 7162 §3.2): a client that knew the mailbox at some modseq learns, in one
/// round trip, which of its messages went (VANISHED (EARLIER)) and which changed (FETCH).
/// Expunges are remembered in the folder's uid list with the modseq of each (`UIDListExpunge`,
/// bounded by `UIDList.expungeHistoryLimit`); for a modseq older than that history the answer
/// is every UID in the client's range that is not in the mailbox, which is always true
/// (RFC 7162 §3.2.5.2 and §3.2.10: VANISHED (EARLIER) may name UIDs the client never saw).
extension IMAPSession {
    /// After the usual SELECT/EXAMINE responses (RFC 7162 §3.2.5): nothing when the client's
    /// UIDVALIDITY is not the mailbox's (it must start over), else VANISHED (EARLIER) for its
    /// known UIDs that went since its modseq and FETCH (UID FLAGS MODSEQ) for those changed.
    func reportQResync(_ parameters: IMAPQResyncParameters, selected view: IMAPSelectedMailbox) {
        guard parameters.uidValidity == view.uidValidity, view.nextUID > 1 else { return }
        let all = IMAPNumberSet(ranges: [1...(view.nextUID - 1)])
        let known = parameters.knownUIDs.map { $0.resolved(largest: view.nextUID - 1).clamped(to: 1...(view.nextUID - 1)) } ?? all
        var floor: UInt32 = 0
        if let match = parameters.sequenceMatch { floor = matchedUID(match, view) }
        out.vanished(vanishedUIDs(since: parameters.modSeq, within: known, above: floor, view), earlier: true)
        for i in view.uids.indices where view.modSeqs[i] > parameters.modSeq {
            let uid = view.uids[i]
            if parameters.knownUIDs != nil && !known.contains(uid) { continue }
            out.fetch(IMAPFetchResponse(sequenceNumber: UInt32(i + 1),
                                        items: [.uid(uid), .flags(view.imapFlags(view.flags[i], uid: uid)), .modSeq(view.modSeqs[i])]))
            flushIfLarge()
        }
    }

    /// UID FETCH … (CHANGEDSINCE m VANISHED) (RFC 7162 §3.2.6): VANISHED (EARLIER) for the
    /// UIDs of `set` expunged since `modSeq`, before the FETCH responses.
    func reportVanished(_ set: IMAPMessageSet, since modSeq: UInt64, selected view: IMAPSelectedMailbox) {
        let range: IMAPNumberSet
        switch set {
        case .lastSearchResult: range = IMAPNumberSet(numbers: view.savedSearch)
        case .set(let sequence):
            guard view.nextUID > 1 else { return }
            range = sequence.resolved(largest: view.uids.last ?? 0).clamped(to: 1...(view.nextUID - 1))
        }
        out.vanished(vanishedUIDs(since: modSeq, within: range, above: 0, view), earlier: true)
    }

    /// The UIDs of `range` above `floor` that were expunged after `modSeq` and are no longer in
    /// the client's view (one expunged meanwhile but not yet reported stays: its VANISHED comes
    /// with the next update). Exact from the uid list's history when it reaches back to
    /// `modSeq`; otherwise every UID of the range that is not in the view.
    func vanishedUIDs(since modSeq: UInt64, within range: IMAPNumberSet, above floor: UInt32,
                      _ view: IMAPSelectedMailbox) -> IMAPNumberSet {
        if let file = try? view.mailbox.uidList.read(), file.uidValidity == view.uidValidity,
           let expunged = file.expunged(since: modSeq) {
            var result: [ClosedRange<UInt32>] = []
            for r in expunged where r.upperBound > floor {
                for piece in IMAPNumberSet(ranges: [max(r.lowerBound, floor + 1)...r.upperBound]).intersection(range).ranges {
                    result += absent(from: view, in: piece)
                }
            }
            return IMAPNumberSet(ranges: result)
        }
        var result: [ClosedRange<UInt32>] = []
        for piece in range.ranges where piece.upperBound > floor {
            result += absent(from: view, in: max(piece.lowerBound, floor + 1)...piece.upperBound)
        }
        return IMAPNumberSet(ranges: result)
    }

    /// The parts of `bounds` holding no UID of the view (a walk over the sorted UIDs).
    func absent(from view: IMAPSelectedMailbox, in bounds: ClosedRange<UInt32>) -> [ClosedRange<UInt32>] {
        var result: [ClosedRange<UInt32>] = []
        var next = UInt64(bounds.lowerBound)
        var k = view.uids.firstIndex(ofUIDAtLeast: bounds.lowerBound) { $0 }
        while k < view.uids.count, view.uids[k] <= bounds.upperBound {
            let uid = UInt64(view.uids[k])
            if uid > next { result.append(UInt32(next)...UInt32(uid - 1)) }
            next = uid + 1
            k += 1
        }
        if next <= UInt64(bounds.upperBound) { result.append(UInt32(next)...bounds.upperBound) }
        return result
    }

    /// `seq-match-data` (RFC 7162 §3.2.5.2): the largest UID the client had at a message number
    /// that still holds that UID, with every lower pair matching too. The messages up to it are
    /// then the same as the client's (UIDs only grow, so none came below it, and the count up
    /// to it is unchanged), so none of them vanished. 0 when no pair matches, or the two sets
    /// are not of one length.
    func matchedUID(_ match: (sequences: IMAPSequenceSet, uids: IMAPSequenceSet), _ view: IMAPSelectedMailbox) -> UInt32 {
        let sequences = match.sequences.ranges.flatMap { range -> [UInt32] in
            guard case .number(let a) = range.first, case .number(let b) = range.last, a > 0, b > 0 else { return [] }
            return a <= b ? Array(a...min(b, a &+ 100_000)) : Array((b...min(a, b &+ 100_000)).reversed())
        }
        let uids = match.uids.ranges.flatMap { range -> [UInt32] in
            guard case .number(let a) = range.first, case .number(let b) = range.last, a > 0, b > 0 else { return [] }
            return a <= b ? Array(a...min(b, a &+ 100_000)) : Array((b...min(a, b &+ 100_000)).reversed())
        }
        guard sequences.count == uids.count else { return 0 }
        var matched: UInt32 = 0
        for (seq, uid) in zip(sequences, uids) {
            guard seq <= view.count, view.uids[Int(seq) - 1] == uid, uid > matched else { break }
            matched = uid
        }
        return matched
    }
}

extension IMAPNumberSet {
    /// The members in both sets.
    func intersection(_ other: IMAPNumberSet) -> IMAPNumberSet {
        var result: [ClosedRange<UInt32>] = []
        var i = 0, j = 0
        let a = ranges, b = other.ranges
        while i < a.count && j < b.count {
            let low = Swift.max(a[i].lowerBound, b[j].lowerBound)
            let high = Swift.min(a[i].upperBound, b[j].upperBound)
            if low <= high { result.append(low...high) }
            if a[i].upperBound < b[j].upperBound { i += 1 } else { j += 1 }
        }
        return IMAPNumberSet(ranges: result)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// The contents of a folder's `postamt-uidlist` (invariant 3 of DESIGN.md).
///
/// Format (text, one record per line, "\n" line ends; described in postamt-maildir(5)):
///
///     postamt-uidlist 1 V<uidvalidity> N<next uid> M<highest modseq> [R<first recent uid>] [C<sec>.<nsec>,<sec>.<nsec>]
///     <uid> M<modseq> F<flag letters> :<base name>
///     ...
///
/// Example: `postamt-uidlist 1 V1764441600 N4 M7` then `1 M1 FS :1764441600.M1P7Q1R2a.host,S=812`.
/// UIDs are decimal, strictly ascending, below N; a modseq is at most M; flag letters are in
/// ASCII order (possibly none: "F"); the base name is the rest of the line after ":" (the
/// part of the file name before ":2,"). Any line that does not match makes the whole file
/// damaged: it is then treated as lost (a new UIDVALIDITY, larger than the one in a readable
/// header and than any this Maildir handed out before, see `UIDValidityAllocator`).
/// The layout follows Dovecot's dovecot-uidlist v3 (`3 V… N… G…` / `<uid> :<name>`).
///
/// The optional `R` field is IMAP's \Recent (`firstRecentUID`): UIDs from it on have not yet
/// been recent in any IMAP session. It is written only while it is below N (without it, none
/// is recent), and in an "=" line (below) only when it changed; it never goes down.
///
/// The optional `C` field (`CurStamp`) is cur/'s mtime at a moment the list described cur/ exactly (a full
/// scan, or a change by Postamt itself to a list that was exact before it, both under the
/// lock). While cur/ still has that mtime, the list describes cur/ without reading it (Dovecot
/// keeps cur/'s mtime in its index for the same purpose): every rename, link or unlink in
/// cur/ sets a new mtime. Postamt changes cur/ only under the uid list lock; a change by
/// another program (a local MUA working on the Maildir) is noticed by the mtime, and one made
/// within the same file-system timestamp tick as the stamp by the rescan `CurStamp` asks for
/// within `CurStamp.settle`. The second time in the field is when the mtime was read.
///
/// Expunges (QRESYNC, RFC 7162 §3.2.5): the base may end with lines
///
///     X<first uid>[:<last uid>] M<modseq>
///
/// naming UIDs that were expunged and the modseq of their expunge (HIGHESTMODSEQ after it),
/// ascending by modseq, and the header's optional `E` field (`expungeFloor`) says from which
/// modseq on the history is complete: a client that knew the folder at a modseq of at least E
/// is told exactly which of its UIDs went. The history is bounded (`UIDList.expungeHistoryLimit`
/// UIDs); dropping its oldest records raises E. A file without E (one that never recorded an
/// expunge, or written before the field existed) reads as E = M: nothing is known before now.
///
/// Appended changes: a writer may append a batch of changes instead of writing the whole file
/// (no temporary file, no rename, no new inode), as Dovecot appends to its dovecot-uidlist:
///
///     +<uid> M<modseq> F<flags> :<base name>      a new entry, or the new state of one
///     -<uid> [M<modseq>]                          the entry is gone (expunged at modseq)
///     =N<next uid> M<highest modseq> [R<uid>] [E<floor>] [C<stamp>]   the header's values now; ends the batch
///
/// A removal with "M" adds the UID to the expunge history; one without (an older writer) is an
/// expunge the history does not know, so it raises the floor to the batch's M. "E" in an "="
/// line raises the floor (dropping the records at or below it); without it the floor stays.
///
/// A batch is written with one write(2) under the lock and counts only once its "=" line is
/// there: a reader that comes upon an append in progress, or a file whose append a crash cut
/// short, sees the state before the batch. (The last line, when it has no line end, is such an
/// append; the next writer writes the whole file anew.) "=" may not lower N or M, and a batch's
/// entries must stay below its N and at most its M. The appended part is folded into a full
/// write once it is larger than `UIDList.changesLimit`.
public struct UIDListFile: Hashable, Sendable {
    public var uidValidity: UInt32
    public var nextUID: UInt32
    public var highestModSeq: UInt64
    /// IMAP's \Recent (RFC 3501 §2.3.2): the first UID that no IMAP session has yet shown as
    /// recent ("R" field). A session that selects the folder read-write takes every UID from
    /// here to `nextUID` under the lock and moves this up, so each message is recent in exactly
    /// one session, however it came (delivery, APPEND, COPY, MOVE). Dovecot keeps the same
    /// value (first_recent_uid) in its index. A file without the field (written before it
    /// existed) has none recent: it reads as `nextUID`.
    public var firstRecentUID: UInt32
    /// cur/'s mtime when a full scan last matched the list (see above); nil: not known.
    public var curStamp: CurStamp?
    /// Ascending by uid.
    public var entries: UIDListEntries
    /// The expunges remembered for QRESYNC (RFC 7162 §3.2.5), ascending by modseq ("X" lines,
    /// see `UIDListExpunge`).
    public var expunged: [UIDListExpunge]
    /// Every expunge with a larger modseq than this is in `expunged` ("E" field); older ones
    /// may be forgotten. A file without the field knows none: it reads as `highestModSeq`.
    public var expungeFloor: UInt64

    public init(uidValidity: UInt32, nextUID: UInt32 = 1, highestModSeq: UInt64 = 1, firstRecentUID: UInt32? = nil,
                curStamp: CurStamp? = nil, entries: UIDListEntries = [], expunged: [UIDListExpunge] = [],
                expungeFloor: UInt64? = nil) {
        self.uidValidity = uidValidity; self.nextUID = nextUID; self.highestModSeq = highestModSeq
        self.firstRecentUID = min(firstRecentUID ?? nextUID, nextUID)
        self.curStamp = curStamp; self.entries = entries
        self.expunged = expunged
        self.expungeFloor = min(expungeFloor ?? highestModSeq, highestModSeq)
    }

    static let magic = "postamt-uidlist"

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(entries.count * 64 + 96)
        // "R" only while some message is not yet recent anywhere: a file without it reads as
        // none, and stays readable by versions that did not know the field.
        let recent = firstRecentUID < nextUID ? firstRecentUID : nil
        // "E" only when it says more than its absence (a floor below M): a folder that never
        // had an expunge recorded stays readable by versions that did not know the field.
        let floor = expungeFloor < highestModSeq ? expungeFloor : nil
        out.append(contentsOf: "\(UIDListFile.magic) 1 V\(uidValidity) \(UIDListFile.stateFields(nextUID, highestModSeq, recent, floor, curStamp))\n".utf8)
        for i in entries.indices { appendEntry(&out, entries, i) }
        for x in expunged { appendExpunge(&out, x) }
        return out
    }

    func appendDecimal(_ out: inout [UInt8], _ value: UInt64) {
        let start = out.count
        var v = value
        repeat { out.append(0x30 + UInt8(v % 10)); v /= 10 } while v > 0
        out[start...].reverse()
    }

    /// The encoded form of one entry's fields ("<uid> M<modseq> F<flags> :<base name>\n").
    func appendEntry(_ out: inout [UInt8], _ entries: UIDListEntries, _ i: Int) {
        appendDecimal(&out, UInt64(entries.uids[i]))
        out.append(0x20); out.append(UInt8(ascii: "M"))
        appendDecimal(&out, entries.modSeqs[i])
        out.append(0x20); out.append(UInt8(ascii: "F"))
        entries.flags[i].appendLetters(to: &out)
        out.append(0x20); out.append(UInt8(ascii: ":"))
        entries.baseNames.withUTF8(at: i) { out.append(contentsOf: $0) }
        out.append(0x0A)
    }

    /// "X<first>[:<last>] M<modseq>\n".
    func appendExpunge(_ out: inout [UInt8], _ x: UIDListExpunge) {
        out.append(UInt8(ascii: "X"))
        appendDecimal(&out, UInt64(x.first))
        if x.last != x.first {
            out.append(UInt8(ascii: ":"))
            appendDecimal(&out, UInt64(x.last))
        }
        out.append(0x20); out.append(UInt8(ascii: "M"))
        appendDecimal(&out, x.modSeq)
        out.append(0x0A)
    }

    /// The change batch that turns `old` into `self`, for appending to a file that holds
    /// `old` (see "Appended changes" above); nil when only a full write can say it (another
    /// UIDVALIDITY, a smaller next UID or highest modseq, entries out of order).
    public func encodedChanges(from old: UIDListFile) -> [UInt8]? {
        guard uidValidity == old.uidValidity, nextUID >= old.nextUID, highestModSeq >= old.highestModSeq,
              firstRecentUID >= old.firstRecentUID, expungeFloor >= old.expungeFloor else { return nil }
        // The history may only lose its oldest records (up to the new floor) and gain new ones,
        // which a batch says with "-<uid> M<modseq>" (see `UIDListExpunge`).
        let kept = old.expunged.drop { $0.modSeq <= expungeFloor }
        guard expunged.count >= kept.count, expunged.prefix(kept.count).elementsEqual(kept) else { return nil }
        var expungeModSeq: [UInt32: UInt64] = [:]
        for x in expunged[kept.count...] {
            guard x.modSeq > old.highestModSeq, x.last - x.first < 1 << 20 else { return nil }
            for uid in x.first...x.last { expungeModSeq[uid] = x.modSeq }
        }
        var out: [UInt8] = []
        let a = old.entries, b = entries
        var i = 0, j = 0
        let aUIDs = a.uids, bUIDs = b.uids
        while i < a.count || j < b.count {
            if j < b.count, j > 0, bUIDs[j] <= bUIDs[j - 1] { return nil }
            if j == b.count || (i < a.count && aUIDs[i] < bUIDs[j]) {
                out.append(UInt8(ascii: "-"))
                appendDecimal(&out, UInt64(aUIDs[i]))
                // A removal whose record the bound already dropped again is written at the new
                // floor, so a reader records it and drops it too, as this writer did.
                if let modSeq = expungeModSeq.removeValue(forKey: aUIDs[i])
                    ?? (expungeFloor > old.highestModSeq ? expungeFloor : nil) {
                    out.append(0x20); out.append(UInt8(ascii: "M"))
                    appendDecimal(&out, modSeq)
                }
                out.append(0x0A)
                i += 1
            } else if i == a.count || bUIDs[j] < aUIDs[i] {
                out.append(UInt8(ascii: "+"))
                appendEntry(&out, b, j)
                j += 1
            } else {
                if !a.entryEquals(at: i, b, at: j) {
                    out.append(UInt8(ascii: "+"))
                    appendEntry(&out, b, j)
                }
                i += 1; j += 1
            }
        }
        // Every new record must be a removal of this batch (in the order the parser rebuilds them).
        guard expungeModSeq.isEmpty else { return nil }
        // A batch without "R" leaves it as it was; without "E" too.
        let recent = firstRecentUID != old.firstRecentUID ? firstRecentUID : nil
        let floor = expungeFloor != old.expungeFloor ? expungeFloor : nil
        out.append(contentsOf: "=\(UIDListFile.stateFields(nextUID, highestModSeq, recent, floor, curStamp))\n".utf8)
        return out
    }

    /// "N<next> M<highest>[ R<first recent>][ E<expunge floor>][ C<stamp>]", the header's fields
    /// after the UIDVALIDITY.
    static func stateFields(_ next: UInt32, _ modSeq: UInt64, _ firstRecent: UInt32?, _ expungeFloor: UInt64?,
                            _ stamp: CurStamp?) -> String {
        var text = "N\(next) M\(modSeq)"
        if let firstRecent { text += " R\(firstRecent)" }
        if let expungeFloor { text += " E\(expungeFloor)" }
        if let c = stamp {
            text += " C\(c.modified.seconds).\(c.modified.nanoseconds),\(c.checked.seconds).\(c.checked.nanoseconds)"
        }
        return text
    }
}

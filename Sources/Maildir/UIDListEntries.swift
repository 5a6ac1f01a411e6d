/// The entries of a uid list, ascending by UID, kept as columns: one array per field and the
/// base names in a `BaseNameList`. Reading `self[i]` makes a `UIDListEntry` (and its base name's
/// String); code that walks a whole folder reads the columns instead (`uids`, `flags`,
/// `modSeqs`), which a snapshot and an IMAP session share with the list rather than copy.
public struct UIDListEntries: RandomAccessCollection, MutableCollection, RangeReplaceableCollection, Hashable, Sendable {
    public private(set) var uids: [UInt32]
    public private(set) var modSeqs: [UInt64]
    public private(set) var flags: [MaildirFlags]
    public private(set) var baseNames: BaseNameList

    public init() { uids = []; modSeqs = []; flags = []; baseNames = BaseNameList() }

    /// Columns of one length.
    init(uids: [UInt32], modSeqs: [UInt64], flags: [MaildirFlags], baseNames: BaseNameList) {
        precondition(uids.count == modSeqs.count && uids.count == flags.count && uids.count == baseNames.count)
        self.uids = uids; self.modSeqs = modSeqs; self.flags = flags; self.baseNames = baseNames
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { uids.count }

    public subscript(i: Int) -> UIDListEntry {
        get { UIDListEntry(uid: uids[i], modSeq: modSeqs[i], flags: flags[i], baseName: baseNames[i]) }
        set {
            uids[i] = newValue.uid; modSeqs[i] = newValue.modSeq; flags[i] = newValue.flags
            baseNames[i] = newValue.baseName // unchanged bytes when the name is the same
        }
    }

    /// Sets the flags and modseq of the entry at `i` (its UID and name stay).
    public mutating func setFlags(_ newFlags: MaildirFlags, modSeq: UInt64, at i: Int) {
        flags[i] = newFlags; modSeqs[i] = modSeq
    }

    /// The index of the first entry whose UID is `uid` or larger (`endIndex` when none).
    public func firstIndex(ofUIDAtLeast uid: UInt32) -> Int { uids.firstIndex(ofUIDAtLeast: uid) { $0 } }

    /// The index of the entry with `uid`; nil when there is none.
    public func index(ofUID uid: UInt32) -> Int? {
        let k = firstIndex(ofUIDAtLeast: uid)
        return k < uids.count && uids[k] == uid ? k : nil
    }

    public mutating func reserveCapacity(_ n: Int) {
        uids.reserveCapacity(n); modSeqs.reserveCapacity(n); flags.reserveCapacity(n); baseNames.reserveCapacity(n)
    }

    public mutating func append(_ e: UIDListEntry) {
        uids.append(e.uid); modSeqs.append(e.modSeq); flags.append(e.flags); baseNames.append(e.baseName)
    }

    public mutating func replaceSubrange<C: Collection>(_ range: Range<Int>, with entries: C) where C.Element == UIDListEntry {
        uids.replaceSubrange(range, with: entries.map(\.uid))
        modSeqs.replaceSubrange(range, with: entries.map(\.modSeq))
        flags.replaceSubrange(range, with: entries.map(\.flags))
        baseNames.replaceSubrange(range, with: entries.map(\.baseName))
    }

    /// Removes the entries with these UIDs (those there are): each found by a binary search,
    /// the columns closed up in one pass from the first of them (no entry is made).
    public mutating func remove(uids gone: some Sequence<UInt32>) {
        let indexes = Set(gone.compactMap { index(ofUID: $0) }).sorted()
        guard !indexes.isEmpty else { return }
        uids.remove(atSortedIndexes: indexes); modSeqs.remove(atSortedIndexes: indexes); flags.remove(atSortedIndexes: indexes)
        baseNames.remove(atSortedIndexes: indexes)
    }

    /// The base names, still in a uid list's image (see `UIDListIndex`), read in: before a
    /// pass over every entry, which would else ask the image's stand-in once per name.
    public mutating func takeDeferredNames() { baseNames.takeDeferred() }

    /// Whether the entries at `i` here and `j` in `other` are the same (no entry is made).
    func entryEquals(at i: Int, _ other: UIDListEntries, at j: Int) -> Bool {
        uids[i] == other.uids[j] && modSeqs[i] == other.modSeqs[j] && flags[i] == other.flags[j]
            && baseNames.nameEquals(at: i, other.baseNames, at: j)
    }
}

extension Array {
    /// Removes the elements at `indexes` (ascending, no index twice), moving only those after
    /// the first of them.
    mutating func remove(atSortedIndexes indexes: [Int]) {
        guard let first = indexes.first else { return }
        var write = first, next = 0
        for read in first..<count {
            if next < indexes.count && indexes[next] == read { next += 1; continue }
            self[write] = self[read]
            write += 1
        }
        removeLast(count - write)
    }
}

extension UIDListEntries: ExpressibleByArrayLiteral, CustomStringConvertible {
    public init(arrayLiteral entries: UIDListEntry...) {
        self.init()
        append(contentsOf: entries)
    }

    public var description: String { Array(self).description }
}

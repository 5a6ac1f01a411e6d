#if canImport(Glibc)
import Glibc
#endif

/// The base names of a folder's messages, as bytes in shared buffers instead of one String
/// each: a base name ("1764441600.M20P7Q1.host,S=812") is too long for a String's inline form,
/// so a list of 100,000 Strings costs 100,000 heap allocations, and every copy of it 100,000
/// reference counts. A String is made only when a name is asked for (`self[i]`).
///
/// A parsed uid list hands over the file's own bytes and where each name lies in them, so the
/// parse copies no name (`init(bytes:spans:)`). Those bytes are never changed afterwards: names
/// added later go to a second buffer (`added`), so the big one, shared by every copy of the
/// list, is not copied for a change. A name that was replaced or removed from `added` leaves
/// its bytes behind; they are dropped once they are the larger part of that buffer.
public struct BaseNameList: RandomAccessCollection, MutableCollection, RangeReplaceableCollection, Sendable {
    /// Where one name lies: `start` counts through `bytes` and then on through `added`.
    struct Span: Hashable, Sendable {
        var start: UInt32
        var count: UInt32
    }

    /// The bytes the list was made from (a uid list's whole file); never changed.
    private(set) var bytes: [UInt8]
    /// Names added since.
    private(set) var added: [UInt8] = []
    private(set) var spans: [Span]
    /// Bytes of `added` that no span uses any more.
    private(set) var unused = 0
    /// Names not read yet (a uid list's binary image, see `UIDListIndex`): while set, `bytes`,
    /// `added` and `spans` are empty and the names are `deferred.names`, read at the first
    /// question about one; a change first takes them in (`takeDeferred`).
    private var deferred: DeferredNames?
    private var deferredCount = 0

    public init() { bytes = []; spans = [] }

    /// The names at `spans` of `bytes` and, after them, of `added` (bytes parsed after the
    /// others, of which only the names are used).
    init(bytes: [UInt8], added: [UInt8], spans: [Span]) {
        precondition(bytes.count + added.count <= Int(UInt32.max), "base name bytes beyond 4 GiB")
        self.bytes = bytes
        self.added = added
        self.spans = spans
        let used = spans.reduce(0) { Int($1.start) >= bytes.count ? $0 + Int($1.count) : $0 }
        unused = added.count - used
        if unused > 1 << 16 && unused * 2 > added.count { compact() }
    }

    /// `count` names still in an image.
    init(deferred: DeferredNames, count: Int) {
        bytes = []; spans = []
        self.deferred = deferred
        deferredCount = count
    }

    /// The list with its names read (itself when they are).
    func resolved() -> BaseNameList { deferred?.names ?? self }

    /// Reads the names, if they are still deferred, into this list itself.
    mutating func takeDeferred() {
        if let deferred { self = deferred.names }
    }

    /// The names at `spans` of `bytes` (each span within it).
    init(bytes: [UInt8], spans: [Span]) {
        precondition(bytes.count <= Int(UInt32.max), "base name bytes beyond 4 GiB")
        self.bytes = bytes
        self.spans = spans
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { deferred == nil ? spans.count : deferredCount }

    public subscript(i: Int) -> String {
        get { withUTF8(at: i) { String(decoding: $0, as: UTF8.self) } }
        set { if !nameEquals(at: i, newValue) { replaceSubrange(i..<i + 1, with: CollectionOfOne(newValue)) } }
    }

    /// Calls `body` with the name's bytes (valid only during the call).
    public func withUTF8<R>(at i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if let deferred { return try deferred.names.withUTF8(at: i, body) }
        let span = spans[i]
        let start = Int(span.start), count = Int(span.count)
        if start < bytes.count {
            return try bytes.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[start..<start + count])) }
        }
        let offset = start - bytes.count
        return try added.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[offset..<offset + count])) }
    }

    /// Whether the name at `i` is `name`, compared byte by byte (no String is made).
    public func nameEquals(at i: Int, _ name: String) -> Bool {
        var name = name
        return name.withUTF8 { wanted in
            withUTF8(at: i) { have in
                have.count == wanted.count && (have.isEmpty || memcmp(have.baseAddress!, wanted.baseAddress!, have.count) == 0)
            }
        }
    }

    /// Whether the names at `i` of this list and `j` of `other` are the same bytes.
    func nameEquals(at i: Int, _ other: BaseNameList, at j: Int) -> Bool {
        withUTF8(at: i) { a in
            other.withUTF8(at: j) { b in a.count == b.count && (a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0) }
        }
    }

    /// Whether any name of the list is one of `names`: one pass hashing each name's bytes,
    /// comparing them only when the hash is one of theirs (no String is made).
    public func containsAny(of names: Set<String>) -> Bool {
        guard !names.isEmpty else { return false }
        func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
            var hasher = Hasher()
            hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
            return hasher.finalize()
        }
        var hashes = Set<Int>()
        for var name in names { hashes.insert(name.withUTF8(hash)) }
        let list = resolved()
        return list.indices.contains { i in
            list.withUTF8(at: i) { bytes in
                hashes.contains(hash(bytes)) && names.contains(String(decoding: bytes, as: UTF8.self))
            }
        }
    }

    public mutating func reserveCapacity(_ n: Int) { takeDeferred(); spans.reserveCapacity(n) }

    public mutating func append(_ name: String) {
        takeDeferred()
        spans.append(store(name))
    }

    public mutating func replaceSubrange<C: Collection>(_ range: Range<Int>, with names: C) where C.Element == String {
        takeDeferred()
        for span in spans[range] where Int(span.start) >= bytes.count { unused += Int(span.count) }
        spans.replaceSubrange(range, with: names.map { store($0) })
        if unused > 1 << 16 && unused * 2 > added.count { compact() }
    }

    /// Removes the names at `indexes` (ascending, no index twice).
    public mutating func remove(atSortedIndexes indexes: [Int]) {
        takeDeferred()
        for i in indexes where Int(spans[i].start) >= bytes.count { unused += Int(spans[i].count) }
        spans.remove(atSortedIndexes: indexes)
        if unused > 1 << 16 && unused * 2 > added.count { compact() }
    }

    /// `name`'s bytes appended to `added`, and where they lie.
    private mutating func store(_ name: String) -> Span {
        if bytes.count + added.count + name.utf8.count > Int(UInt32.max) { compact() }
        let start = bytes.count + added.count
        precondition(start + name.utf8.count <= Int(UInt32.max), "base names beyond 4 GiB")
        added.append(contentsOf: name.utf8)
        return Span(start: UInt32(start), count: UInt32(name.utf8.count))
    }

    /// The names one after the other in list order, and where each lies in those bytes (an
    /// image's names section, see `UIDListIndex`): the list's own buffers when they are that
    /// already, else gathered with one copy per name.
    func contiguous() -> (bytes: [UInt8], spans: [Span]) {
        let list = resolved()
        var total = 0
        var inOrder = list.added.isEmpty
        for span in list.spans {
            if Int(span.start) != total { inOrder = false }
            total += Int(span.count)
        }
        if inOrder && total == list.bytes.count { return (list.bytes, list.spans) }
        var spans: [Span] = []
        spans.reserveCapacity(list.spans.count)
        let bytes = [UInt8](unsafeUninitializedCapacity: total) { out, initialized in
            var at = 0
            list.bytes.withUnsafeBufferPointer { first in
                list.added.withUnsafeBufferPointer { second in
                    for span in list.spans {
                        let start = Int(span.start), count = Int(span.count)
                        let from = start < first.count ? first.baseAddress! + start : second.baseAddress! + (start - first.count)
                        (out.baseAddress! + at).update(from: from, count: count)
                        spans.append(Span(start: UInt32(at), count: span.count))
                        at += count
                    }
                }
            }
            initialized = at
        }
        return (bytes, spans)
    }

    /// Every name into one new buffer, nothing left unused.
    private mutating func compact() {
        (bytes, spans) = contiguous()
        added = []
        unused = 0
    }
}

extension BaseNameList: Hashable {
    public static func == (a: BaseNameList, b: BaseNameList) -> Bool {
        guard a.count == b.count else { return false }
        if let d = a.deferred, d === b.deferred { return true }
        let a = a.resolved(), b = b.resolved()
        // Copies of one list share their buffers: equal without looking at a name.
        if a.spans == b.spans && a.bytes == b.bytes && a.added == b.added { return true }
        return a.indices.allSatisfy { a.nameEquals(at: $0, b, at: $0) }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        let list = resolved()
        for i in list.indices { list.withUTF8(at: i) { hasher.combine(bytes: UnsafeRawBufferPointer($0)) } }
    }
}

extension BaseNameList: ExpressibleByArrayLiteral, CustomStringConvertible {
    public init(arrayLiteral names: String...) {
        self.init()
        append(contentsOf: names)
    }

    public var description: String { Array(self).description }
}

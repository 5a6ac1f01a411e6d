#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// The last uid list a `UIDList` (and its copies) read or wrote, by the identity of the file
/// it came from: a file still of that identity is not read and parsed again. Appends change
/// the size, full writes the inode (and the change time), so a file with the same identity has
/// the same contents.
final class ParsedUIDList: @unchecked Sendable {
    private let mutex = Mutex()
    private var identity: FileIdentity?
    private var parsed: (file: UIDListFile, layout: UIDListFile.Layout)?
    private var image = ImageState.none

    /// The binary image (`UIDListIndex`) of the remembered list.
    enum ImageState: Equatable {
        /// None is wanted (a small list, or one read while an append came).
        case none
        /// The list was parsed and is big: an image of it is wanted.
        case wanted
        /// It has one (read or written), which knew new/ empty at this stamp (nil: did not).
        case current(newStamp: CurStamp?)
    }

    func lookup(_ identity: FileIdentity) -> (file: UIDListFile, layout: UIDListFile.Layout)? {
        mutex.withLock { self.identity == identity ? parsed : nil }
    }

    func remember(_ identity: FileIdentity?, _ file: UIDListFile, _ layout: UIDListFile.Layout, image: ImageState = .none) {
        mutex.withLock {
            self.identity = identity
            parsed = identity == nil ? nil : (file, layout)
            self.image = image
        }
    }

    func imageState(_ identity: FileIdentity) -> ImageState {
        mutex.withLock { self.identity == identity ? image : .none }
    }

    func setImageState(_ state: ImageState, for identity: FileIdentity) {
        mutex.withLock { if self.identity == identity { image = state } }
    }
}

/// The uid list of one folder: reading, locking, and synchronising it with the directory.
///
/// All writers take the folder's fcntl lock (`FileLock` on `postamt-uidlist.lock`) for the
/// whole read–scan–assign–write cycle, so UIDs are assigned once and in order whatever the
/// number of imapd/pop3d processes and hosts (NFS with locking). Readers need no lock: a full
/// write replaces the file by rename(2), and an appended batch counts only once it is whole,
/// so a reader sees one state or the next, never half of one.
public struct UIDList: Sendable {
    public static let fileName = "postamt-uidlist"

    public let folderPath: String
    /// The Maildir root whose `postamt-uidvalidity` allocates UIDVALIDITY values.
    public let rootPath: String
    public var lockOptions: DotLock.Options
    /// How many expunged UIDs the list remembers for QRESYNC (see `UIDListExpunge`).
    public var expungeHistoryLimit = UIDList.defaultExpungeHistoryLimit
    public static let defaultExpungeHistoryLimit = 10_000
    let memo = ParsedUIDList()

    public init(folderPath: String, rootPath: String? = nil, lockOptions: DotLock.Options = DotLock.Options()) {
        let folder = Maildir(path: folderPath).path
        self.folderPath = folder
        self.lockOptions = lockOptions
        if let rootPath {
            self.rootPath = rootPath
        } else if FileIO.exists("\(folder)/maildirfolder"), FileIO.baseName(folder).hasPrefix(".") {
            self.rootPath = FileIO.directoryName(folder) // a Maildir++ folder: its parent is the root
        } else {
            self.rootPath = folder
        }
    }

    public var filePath: String { "\(folderPath)/\(UIDList.fileName)" }

    /// The file as it is now, without locking; nil when missing or damaged.
    public func read() throws -> UIDListFile? { try readWithIdentity()?.file }

    /// The file and the identity it was read from (a full write gives the file a new inode, an
    /// append a new size, so a changed identity means a changed file).
    public func readWithIdentity() throws -> (file: UIDListFile, identity: FileIdentity)? {
        try readWithIdentity(indexing: true)
    }

    func readWithIdentity(indexing: Bool) throws -> (file: UIDListFile, identity: FileIdentity)? {
        guard let found = try load(indexing: indexing), let parsed = found.parsed else { return nil }
        return (parsed.file, found.identity)
    }

    /// The file as it is now: nil when there is none; `parsed` nil when it is damaged (then
    /// `bytes` holds it). A file of the identity last read or written is not read again.
    /// A big list also has a binary image beside it (`UIDListIndex`): read instead of the text
    /// when it was made from this very file, written after a parse when it was not (`indexing`:
    /// readers do; a writer under the lock does not spend its time on it).
    func load(indexing: Bool = true) throws -> (parsed: (file: UIDListFile, layout: UIDListFile.Layout)?, identity: FileIdentity, bytes: [UInt8]?)? {
        let raw = Glibc.open(filePath, O_RDONLY | O_CLOEXEC)
        if raw < 0 {
            if errno == ENOENT { return nil }
            throw MaildirError.system(SystemError("open \(filePath)"))
        }
        let fd = OwnedFD(adopting: raw)
        var st = stat()
        guard fstat(fd.raw, &st) == 0 else { throw MaildirError.system(SystemError("fstat \(filePath)")) }
        let identity = FileIdentity(st)
        if let known = memo.lookup(identity) { return (known, identity, nil) }
        let indexed = Int(st.st_size) >= UIDList.indexMinimumBytes
        if indexed, let image = UIDListIndex.read(path: indexPath, list: fd.raw, identity: identity) {
            memo.remember(identity, image.file, image.layout, image: image.outgrown ? .wanted : .current(newStamp: image.newStamp))
            return ((image.file, image.layout), identity, nil)
        }
        // Read after the fstat: the bytes are those of `identity` or newer (a later append),
        // never older, so a changed file is never taken for the one remembered.
        let bytes = try UIDList.readAll(fd.raw, expected: Int(st.st_size), limit: 1 << 30)
        guard let parsed = UIDListFile.parseWithLayout(bytes) else { return (nil, identity, bytes) }
        // An image is of exactly the file of `identity`: no append came after the fstat.
        let wanted = indexed && bytes.count == Int(st.st_size)
        memo.remember(identity, parsed.file, parsed.layout, image: wanted ? .wanted : .none)
        if wanted && indexing { writeImage(identity, newStamp: nil) }
        return (parsed, identity, nil)
    }

    /// Writes the image of the remembered list of `identity`, knowing new/ empty at `newStamp`.
    /// The image is a cache: failing to write it changes nothing.
    func writeImage(_ identity: FileIdentity, newStamp: CurStamp?) {
        guard let (file, layout) = memo.lookup(identity) else { return }
        if (try? UIDListIndex.write(file, layout: layout, identity: identity, newStamp: newStamp, folderPath: folderPath)) != nil {
            memo.setImageState(.current(newStamp: newStamp), for: identity)
        } else {
            memo.setImageState(.none, for: identity)
        }
    }

    public var indexPath: String { "\(folderPath)/\(UIDListIndex.fileName)" }

    /// The size from which a uid list gets a binary image (`UIDListIndex`): about 6,000
    /// messages. Parsing a smaller list costs less than a millisecond.
    public static let indexMinimumBytes = 256 << 10

    /// The whole file, read into one buffer of the size fstat(2) gave (a 100,000-message list
    /// is megabytes: growing an array chunk by chunk copies it several times); what an append
    /// added since is read after it.
    static func readAll(_ fd: Int32, expected: Int, limit: Int) throws -> [UInt8] {
        guard expected > 0, expected <= limit else { return try mapSystemErrors { try FileIO.readAll(fd, limit: limit) } }
        var failed: Int32 = 0
        var bytes = [UInt8](unsafeUninitializedCapacity: expected) { buffer, count in
            count = 0
            while count < expected {
                let n = Glibc.read(fd, buffer.baseAddress! + count, expected - count)
                if n < 0 {
                    if errno == EINTR { continue }
                    failed = errno
                    return
                }
                if n == 0 { return }
                count += n
            }
        }
        if failed != 0 { throw MaildirError.system(SystemError("read \(UIDList.fileName)", errno: failed)) }
        if bytes.count == expected {
            let rest = try mapSystemErrors { try FileIO.readAll(fd, limit: limit - expected) }
            bytes.append(contentsOf: rest)
        }
        return bytes
    }

    /// The identity of the file now (stat, no read); nil when it is missing.
    public func identity() -> FileIdentity? { FileIO.status(filePath).map(FileIdentity.init) }

    /// How far HIGHESTMODSEQ jumps when a scan finds flags the list did not record. Such a
    /// change is another program's, or one of Postamt's own whose list update a crash took back
    /// (a flag-only update is appended or written whole without fsync, so a crash may keep
    /// the previous list): its modseqs may already have been shown to a client, so the next
    /// ones must be larger than any of them (RFC 7162 §3.1.2: modseqs only grow). A million
    /// flag changes fit in any commit interval of a journalling file system.
    public static let unrecordedChangeModSeqStep: UInt64 = 1_000_000

    /// What `quickCheck` found.
    public enum QuickCheck {
        /// The file is the one the caller knows and cur/ still has its stamp: nothing changed.
        case unchanged
        /// The file describes the folder (cur/ has the file's stamp, new/ is empty).
        case current(UIDListFile, FileIdentity)
        /// The file describes cur/, and new/ has messages (see `adoptNew`).
        case newMessages
        /// The folder must be scanned.
        case needsScan
    }

    /// cur/'s mtime now.
    func curTime() -> FileTime? { FileIO.status("\(folderPath)/cur").map { FileTime($0.st_mtim) } }

    /// Decides without reading cur/ whether the uid list describes the folder: cur/ must
    /// still have the mtime stamped in the file. `known` and `knownStamp` are the identity and
    /// stamp of the file the caller last read.
    /// `newStamp` remembers new/'s mtime when it was listed empty: while new/ keeps it (under
    /// `CurStamp`'s settle rule), new/ is known empty from one stat(2).
    public func quickCheck(known: FileIdentity?, knownStamp: CurStamp?, newStamp: inout CurStamp?) throws -> QuickCheck {
        guard let curTime = curTime() else { return .needsScan }
        let newPath = "\(folderPath)/new"
        let newTime = FileIO.status(newPath).map { FileTime($0.st_mtim) }
        var newIsEmpty: Bool? = newStamp?.holds(for: newTime) == true ? true : nil
        /// Lists new/ (an empty directory that once held many messages is megabytes of blocks).
        func listNew() throws -> Bool {
            let checked = FileTime.now()
            let empty = try !MaildirScanner.hasMessages(newPath)
            let after = FileIO.status(newPath).map { FileTime($0.st_mtim) }
            newStamp = empty && newTime != nil && after == newTime ? CurStamp(modified: newTime!, checked: checked) : nil
            return empty
        }
        let clock = FileTime.now()
        if let known, let knownStamp, knownStamp.holds(for: curTime, at: clock), identity() == known {
            let empty = try newIsEmpty ?? listNew()
            return empty ? .unchanged : .newMessages
        }
        guard let (file, identity) = try readWithIdentity(indexing: false), file.curStamp?.holds(for: curTime, at: clock) == true else {
            if newIsEmpty == nil { _ = try listNew() } // as before: the stamp for the next check
            return .needsScan
        }
        // The list's image may know new/ empty since its mtime (a fresh process knows nothing).
        let image = memo.imageState(identity)
        if newIsEmpty == nil, case .current(let stamp?) = image, stamp.holds(for: newTime, at: clock) {
            newIsEmpty = true
            newStamp = stamp
        }
        let empty = try newIsEmpty ?? listNew()
        // An image for the next process: wanted after a parse, or one that did not know new/
        // empty where this check does, for good (a settled stamp holds until new/ changes).
        let emptySince = empty ? newStamp.flatMap { $0.holds(for: newTime, at: clock) ? $0 : nil } : nil
        switch image {
        case .wanted:
            writeImage(identity, newStamp: emptySince)
        case .current(let stamp) where stamp.map({ !($0.isSettled && $0.holds(for: newTime, at: clock)) }) ?? true:
            if let emptySince, emptySince.isSettled { writeImage(identity, newStamp: emptySince) }
        default:
            break
        }
        return empty ? .current(file, identity) : .newMessages
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// Wiped message files kept for reuse (spare/N in QueueLayout, N below queue_spare_files).
///
/// Every message used to cost the file system an inode allocated at injection and freed at
/// removal. Freeing is not the dear part; allocating after many frees is: ext4 without a journal
/// will not hand out an inode freed in the last 60–360 seconds (`recently_deleted`), so each new
/// file was found by stepping over every inode the queue freed in that time — at hundreds of
/// messages a second, thousands of steps, the largest single cost of smtpd's hand-off. The
/// runner now wipes a delivered message's file (below) and renames it into an empty slot; the
/// next injection renames it out of a slot as its mess/ID. No inode is freed or allocated.
///
/// Only the runner fills slots and only takers empty them, so what a listing of spare/ shows
/// stays true for one side: a slot seen empty stays empty until the runner fills it, and a slot
/// seen full stays full until a taker empties it (another taker may: then the next listed one is
/// tried). Each side keeps what its last listing showed (`Knowledge`) and lists again when that
/// runs out — a long-lived smtpd and the runner list once per many messages; a listing that
/// found nothing to use (no spare; no empty slot) is not repeated for the next few messages.
/// No lock, no shared counter. A taker that finds no spare, or a runner that finds no empty
/// slot, does what was done before (create; unlink). Both renames refuse to replace
/// (RENAME_NOREPLACE), so a slot or an id is never overwritten.
///
/// Only the file's owner can use it: the runner keeps only files it owns with one link (the
/// mail_owner's — smtpd's and its own notifications'; a local user's postamt-queue file is
/// unlinked as before), and a taker that cannot open the file for writing removes it and
/// creates its own. The rename sets the file's ctime, which cleanOrphans counts a mess/ file's
/// age from as well as its mtime, so a spare just taken is never old.
///
/// A spare reads as zeros or is empty: before it renames, the runner wipes a file no larger
/// than `blockLimit` (queue_spare_size) with fallocate's ZERO_RANGE, which keeps its blocks
/// allocated (marked unwritten), and empties a larger one. The next message is written into
/// those blocks: no block is freed by the runner or allocated by the taker, so no bitmap is
/// written at the taker's fsync, and where the file system discards freed blocks at once
/// (mount -o discard) the runner no longer waits for a discard per message. The taker writes
/// from the start and cuts the file where its writing ended (QueueInjector.commit), so no byte
/// of an earlier message — one a crash left unwiped — becomes part of the new one.
public struct QueueSpares: Sendable {
    public let layout: QueueLayout
    /// Slots 0..<count; 0 turns reuse off.
    public let count: Int
    /// Slots a take tries before it gives up (a listing's names may have been taken since).
    static let tries = 4
    /// Removals that unlink without listing again after a listing found every slot full.
    static let fullPause = 16
    /// Takes that create without listing again after a listing found no spare: while more
    /// messages wait for delivery than there are spares (a burst that smtpd accepts faster than
    /// the runner delivers), spare/ stays empty, and listing it before every message (reading a
    /// directory that once held a thousand names) found nothing each time.
    static let emptyPause = 16

    /// The most slots: a listing's bookkeeping is an array of this many (a mistyped setting
    /// must not ask for gigabytes).
    public static let maximumCount = 100_000

    /// The largest file whose blocks a spare keeps (wiped); a larger one is emptied.
    public let blockLimit: Int64

    public init(layout: QueueLayout, count: Int, blockLimit: Int64 = 0) {
        self.layout = layout
        self.count = min(max(0, count), QueueSpares.maximumCount)
        self.blockLimit = max(0, blockLimit)
    }

    /// What one process saw at its last listing: for a taker, slots holding a spare (taken in
    /// a random order, so that takers do not all try the same one first); for the runner, empty
    /// slots.
    public struct Knowledge: Sendable {
        var slots: [Int] = []
        var pause = 0
        var random: UInt64
        public init(seed: Int = Int(getpid())) { random = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 | 1 }

        /// One of the slots, at random, and no longer known (a process that takes one spare
        /// draws one, rather than shuffling the whole listing).
        mutating func draw() -> Int? {
            guard !slots.isEmpty else { return nil }
            random ^= random << 13; random ^= random >> 7; random ^= random << 17  // xorshift64
            slots.swapAt(Int(random % UInt64(slots.count)), slots.count - 1)
            return slots.removeLast()
        }

        /// Slots to use: the known ones, else a new `listing`, unless one found none within the
        /// last `pause` calls (it is not repeated for that many). False when there are none.
        mutating func refill(pausingFor pause: Int, _ listing: () -> [Int]) -> Bool {
            if !slots.isEmpty { return true }
            if self.pause > 0 {
                self.pause -= 1
                return false
            }
            slots = listing()
            if slots.isEmpty { self.pause = pause }
            return !slots.isEmpty
        }
    }

    /// The slots that hold a file now, as listed.
    func listed() -> [Int] {
        var slots: [Int] = []
        try? FileIO.forEachEntry(layout.spare) { name in
            if let n = QueueSpares.slotNumber(name), n < count { slots.append(n) }
            return true
        }
        return slots
    }

    /// Whether each slot holds a file now.
    func filled() -> [Bool] {
        var filled = [Bool](repeating: false, count: count)
        for n in listed() { filled[n] = true }
        return filled
    }

    /// A decimal slot name without leading zeros, or nil.
    static func slotNumber(_ name: UnsafeBufferPointer<UInt8>) -> Int? {
        guard !name.isEmpty, name.count <= 9, name[0] != UInt8(ascii: "0") || name.count == 1 else { return nil }
        var n = 0
        for c in name {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            n = n * 10 + Int(c - UInt8(ascii: "0"))
        }
        return n
    }

    /// Renames a spare into `path` (mess/ID, which must not exist) and opens it for writing.
    /// nil when there was none (or the spare was not ours to write, or the kernel cannot rename
    /// without replacing): the caller creates the file.
    public func take(as path: String, knowing known: inout Knowledge) -> Int32? {
        guard count > 0 else { return nil }
        var listed = false
        var missed = 0
        for _ in 0..<QueueSpares.tries {
            if known.slots.isEmpty {
                if listed { return nil }
                listed = true
                guard known.refill(pausingFor: QueueSpares.emptyPause, self.listed) else { return nil }
            }
            guard let slot = known.draw() else { return nil }
            guard FileIO.renameNoReplace(layout.spareFile(slot), path) else {
                guard errno == ENOENT else { return nil }  // EEXIST (the id: the caller picks another), EINVAL, ENOSYS
                // Another taker was first. An old listing is looked at again after a second
                // miss: with many takers most of it stays good for a while, and a failed
                // rename costs far less than listing a spare/ of a thousand names.
                missed += 1
                if !listed && missed >= 2 { known.slots.removeAll() }
                continue
            }
            // Ours to write (the mail_owner's), and with one link: after a power loss that kept
            // the runner's rename into spare/ but undid its unlink of incoming/ID, the runner
            // may have linked the file back as that message's mess/ID; writing would change it.
            // Its size does not matter: the commit cuts the file where the writing ended.
            let fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
            var st = stat()
            if fd >= 0, fstat(fd, &st) == 0, st.st_nlink == 1 { return fd }
            if fd >= 0 { close(fd) }
            unlink(path)
            return nil
        }
        return nil
    }

    /// Wipes the finished message file at `path` (`wipe`) and renames it into an empty slot.
    /// False when it is not a regular file of ours with one link, or no slot is empty: the
    /// caller unlinks it (a file wiped but not kept is unlinked all the same).
    public func keep(_ path: String, knowing known: inout Knowledge) -> Bool {
        guard count > 0 else { return false }
        guard known.refill(pausingFor: QueueSpares.fullPause, {
            let filled = filled()
            return filled.indices.reversed().filter { !filled[$0] }
        }) else { return false }
        guard let st = FileIO.linkStatus(path), (st.st_mode & S_IFMT) == S_IFREG, st.st_nlink == 1,
              st.st_uid == geteuid(), wipe(path, status: st) else { return false }
        while let slot = known.slots.popLast() {
            if FileIO.renameNoReplace(path, layout.spareFile(slot)) { return true }
            if errno != EEXIST { return false }  // EEXIST: not ours to fill (someone put it there)
        }
        return false
    }

    /// Makes the file at `path` read as zeros: its whole blocks zeroed in place, blocks kept,
    /// when it is no larger than `blockLimit` and the file system can (ZERO_RANGE); emptied
    /// (truncated to 0) otherwise.
    func wipe(_ path: String, status st: stat) -> Bool {
        let size = Int64(st.st_size)
        if size > 0 && size <= blockLimit {
            let fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            if fd >= 0 {
                defer { close(fd) }
                // Whole blocks: a part of one would be zeroed by writing it.
                let block = Int64(max(512, Int(st.st_blksize)))
                if FileIO.zeroKeepingBlocks(fd, length: (size + block - 1) / block * block) { return true }
                return ftruncate(fd, 0) == 0
            }
        }
        return truncate(path, 0) == 0
    }

    /// Names in spare/ that are not slots below `count` (left by a larger queue_spare_files, or
    /// not ours at all): cleanOrphans removes them.
    public func strays() -> [String] {
        var strays: [String] = []
        try? FileIO.forEachEntry(layout.spare) { name in
            if (QueueSpares.slotNumber(name).map { $0 >= count } ?? true) { strays.append(String(decoding: name, as: UTF8.self)) }
            return true
        }
        return strays
    }
}

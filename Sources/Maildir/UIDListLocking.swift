#if canImport(Glibc)
import Glibc
#endif
import MailSystem

extension UIDList {
    /// Runs `body` on the file under the lock, creating a fresh file (new UIDVALIDITY) when it
    /// is missing or damaged, and writes back what `body` changed: appended, or the whole file
    /// (see `updateTracked`).
    public func update<T>(_ body: (inout UIDListFile) throws -> T) throws -> T {
        try updateTracked(body).result
    }

    /// What `updateTracked` did: the body's result, the identity of the file before and after
    /// (nil: there was none), and the stamp the file has now.
    public struct UpdateOutcome<T> {
        public var result: T
        public var before: FileIdentity?
        public var after: FileIdentity?
        public var stamp: CurStamp?
    }

    /// `update`, telling which file it started from and which it left (both under the lock,
    /// so no other writer came between).
    public func updateTracked<T>(_ body: (inout UIDListFile) throws -> T) throws -> UpdateOutcome<T> {
        try FileLock.withLock(for: filePath, options: lockOptions) { _ in
            let original = try loadOrCreateLocked()
            var file = original.file
            // Exact: the list describes cur/ right now. Postamt changes cur/ only under this
            // lock and records every change in the list, so after `body` the list describes
            // cur/ at its new mtime (see the stamp in UIDListFile).
            let exact = file.curStamp?.holds(for: curTime()) == true
            let result = try body(&file)
            if !original.fresh && file.uidValidity == original.file.uidValidity {
                // Whatever removed them (EXPUNGE, MOVE, POP3, a scan finding files gone), the
                // UIDs that left are remembered with the modseq of their expunge (QRESYNC).
                let removed = file.removedUIDs(since: original.file)
                if !removed.isEmpty {
                    if file.highestModSeq == original.file.highestModSeq { file.highestModSeq += 1 } // RFC 7162 §3.2.10
                    file.recordExpunge(removed, modSeq: file.highestModSeq)
                    file.trimExpunges(limit: expungeHistoryLimit)
                }
            }
            if exact && file.curStamp == original.file.curStamp {
                let checked = FileTime.now()
                file.curStamp = curTime().map { CurStamp(modified: $0, checked: checked) }
            }
            var after = original.identity
            if file != original.file || original.fresh {
                // Most changes are a few entries: appended, without a new inode (see UIDListFile).
                // A batch that hands out UIDs is made durable (fsync; the file's name is
                // durable already); the others as the full write below would be.
                if !original.fresh, let layout = original.layout, !layout.hasTornTail,
                   let batch = file.encodedChanges(from: original.file),
                   layout.changeBytes + batch.count <= UIDList.changesLimit(baseBytes: layout.validLength - layout.changeBytes) {
                    let newUIDs = file.nextUID != original.file.nextUID
                    try appendChanges(batch, sync: newUIDs || ReplaceOrdering.of(folderPath) == .unknown)
                    after = identity()
                    memo.remember(after, file, UIDListFile.Layout(validLength: layout.validLength + batch.count,
                                                                  changeBytes: layout.changeBytes + batch.count, hasTornTail: false))
                } else {
                    // Only flags, modseqs or the stamp changed, or messages went (no UID came): the
                    // new list needs to be whole, not durable at once — a crash that keeps the old
                    // one loses nothing the names in cur/ do not say again (the flags; their modseqs
                    // are raised anew, see unrecordedChangeModSeqStep). Whole without an fsync where
                    // the file system writes a renamed file's data before the rename (ext4's
                    // defaults). UIDs handed out are made durable. (Removals need not be: the files
                    // are gone already, a kept old list only names them until the next scan drops
                    // them again.)
                    let flagsOnly = !original.fresh && file.uidValidity == original.file.uidValidity
                        && file.nextUID == original.file.nextUID && file.entries.count <= original.file.entries.count
                    let durability: FileIO.Durability = !flagsOnly ? .full
                        : ReplaceOrdering.of(folderPath) == .unknown ? .contents : .none
                    let bytes = file.encoded()
                    try mapSystemErrors { try FileIO.replace(filePath, bytes, mode: 0o600, durability: durability) }
                    // A list that became small has no image any more (one left would only be stale).
                    if bytes.count < UIDList.indexMinimumBytes { unlink(indexPath) }
                    after = identity()
                    memo.remember(after, file, UIDListFile.Layout(validLength: bytes.count, changeBytes: 0, hasTornTail: false))
                }
            }
            return UpdateOutcome(result: result, before: original.fresh ? nil : original.identity, after: after, stamp: file.curStamp)
        }
    }

    /// How many bytes of appended changes a file may carry before the next change writes it
    /// whole: a quarter of the base, at least 8 KiB (every writer and every reader of a
    /// changed file parses them).
    static func changesLimit(baseBytes: Int) -> Int { max(8 << 10, baseBytes / 4) }

    /// Appends a change batch with one write(2) (under the lock; see UIDListFile).
    func appendChanges(_ batch: [UInt8], sync: Bool) throws {
        try mapSystemErrors {
            let fd = try FileIO.open(filePath, O_WRONLY | O_APPEND | O_NOFOLLOW)
            try FileIO.writeAll(fd.raw, batch)
            if sync { try FileIO.fsync(fd.raw, "fsync \(filePath)") }
            try fd.closeChecked()
        }
    }

    func loadOrCreateLocked() throws -> (file: UIDListFile, fresh: Bool, identity: FileIdentity?, layout: UIDListFile.Layout?) {
        let found = try load(indexing: false)
        if let found, var parsed = found.parsed {
            // A writer compares and rewrites every entry: the names of an image are read now.
            parsed.file.entries.takeDeferredNames()
            return (parsed.file, false, found.identity, parsed.layout)
        }
        if found == nil, let adopted = try UIDListAdoption.adopt(folderPath: folderPath) { return (adopted, true, nil, nil) }
        var minimum: UInt32 = 1
        if let bytes = found?.bytes, let old = UIDListFile.salvageValidity(bytes), old < UInt32.max { minimum = old + 1 }
        let validity = try UIDValidityAllocator.next(root: rootPath, atLeast: minimum, lockOptions: lockOptions)
        return (UIDListFile(uidValidity: validity), true, nil, nil)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// How STORE changes flags (RFC 3501 §6.4.6: FLAGS, +FLAGS, -FLAGS).
public enum FlagChange: Sendable, Equatable {
    case replace(MaildirFlags)
    case add(MaildirFlags)
    case remove(MaildirFlags)

    public func applied(to flags: MaildirFlags) -> MaildirFlags {
        switch self {
        case .replace(let f): return f
        case .add(let f): return flags.union(f)
        case .remove(let f): return flags.subtracting(f)
        }
    }
}

/// What `MaildirMailbox.store` did.
public struct StoreResult: Sendable, Equatable {
    /// Messages whose flags are now as asked (changed or already so), with their modseq.
    public var updated: [MaildirMessage] = []
    /// RFC 7162 §3.1.3 UNCHANGEDSINCE: messages with a larger modseq, left alone.
    public var modifiedSince: [UInt32] = []
    /// Messages that were gone (expunged by another session).
    public var expunged: [UInt32] = []
}

/// One folder opened by a session (an IMAP SELECT, a POP3 login): its uid list, its messages,
/// their cache, and every change IMAP and POP3 make.
///
/// Not thread-safe: one per session. Several sessions (processes, hosts) may open the same
/// folder; they coordinate only through the file system (renames, links and the uid list lock).
public final class MaildirMailbox {
    public let maildir: Maildir
    public let uidList: UIDList
    /// The state after the last `synchronize` (and this session's own changes since).
    public private(set) var snapshot: MaildirSnapshot
    /// Counts changes of `snapshot` (a synchronisation that found news, this session's own
    /// STORE, EXPUNGE…), so a caller can skip comparing when nothing happened.
    public private(set) var generation = 0
    /// The uid list file and cur/ stamp the snapshot was taken from (see `UIDList.quickCheck`).
    var listIdentity: FileIdentity?
    var listStamp: CurStamp?
    /// new/'s mtime when it was last listed empty (see `UIDList.quickCheck`).
    var newStamp: CurStamp?
    var cache: MessageCache?
    /// UIDs whose cache entries this session added or changed since the last save.
    var cacheChanged: Set<UInt32> = []
    /// The cache file the cache was loaded from or last written to (appends go there).
    var cacheFile: MessageCache.FileLayout?

    public init(maildir: Maildir, rootPath: String? = nil, lockOptions: DotLock.Options = DotLock.Options(),
                expungeHistoryLimit: Int = UIDList.defaultExpungeHistoryLimit) {
        self.maildir = maildir
        var uidList = UIDList(folderPath: maildir.path, rootPath: rootPath, lockOptions: lockOptions)
        uidList.expungeHistoryLimit = max(0, expungeHistoryLimit)
        self.uidList = uidList
        self.snapshot = MaildirSnapshot(uidValidity: 0, nextUID: 1, highestModSeq: 0, messages: [])
    }

    public var path: String { maildir.path }

    /// Brings the snapshot up to date (see `UIDList.synchronize`).
    ///
    /// Costs two stat(2)s and one empty listing of new/ when nothing changed; reads the uid
    /// list alone when another session changed it and cur/ still has the list's stamp; moves
    /// and numbers new/'s messages without reading cur/ when the list was exact; scans the
    /// folder otherwise.
    @discardableResult
    public func synchronize(moveNew: Bool = true) throws -> MaildirSnapshot {
        switch try uidList.quickCheck(known: listIdentity, knownStamp: listStamp, newStamp: &newStamp) {
        case .unchanged:
            return snapshot
        case .current(let file, let identity):
            install(UIDList.SyncOutcome(snapshot: UIDList.snapshot(file), identity: identity, stamp: file.curStamp))
        case .newMessages where moveNew:
            guard let adopted = try uidList.adoptNew() else { fallthrough }
            install(adopted)
        case .newMessages, .needsScan:
            if !maildir.exists { try mapSystemErrors { try maildir.create() } }
            install(try uidList.synchronizeReportingIdentity(moveNew: moveNew))
        }
        return snapshot
    }

    /// Takes a synchronisation's snapshot, with the uid list it matches.
    func install(_ outcome: UIDList.SyncOutcome) {
        let new = outcome.snapshot
        listIdentity = outcome.identity
        listStamp = outcome.stamp
        if new.uidValidity != snapshot.uidValidity { cache = nil; cacheChanged = []; cacheFile = nil }
        let same = new.uidValidity == snapshot.uidValidity && new.nextUID == snapshot.nextUID
            && new.highestModSeq == snapshot.highestModSeq && new.messages.count == snapshot.messages.count
        snapshot = new
        if !same { generation += 1 }
    }

    /// The index of `uid` in `snapshot.messages` (ascending by uid: a binary search).
    func index(of uid: UInt32) -> Int? { snapshot.messages.index(ofUID: uid) }

    public func message(uid: UInt32) -> MaildirMessage? {
        index(of: uid).map { snapshot.messages[$0] }
    }

    // MARK: Finding files

    /// The current path of a message's file, rescanning when it moved; nil when it is gone.
    func locate(_ baseName: String, hint: String?) throws -> String? {
        if let hint, !hint.isEmpty, FileIO.exists("\(path)/\(hint)") { return hint }
        let scanned = try MaildirScanner.scan(path, moveNew: false)
        guard let m = scanned[baseName] else { return nil }
        refreshLocations(scanned)
        return m.relativePath
    }

    func refreshLocations(_ scanned: [String: ScannedMessage]) {
        let names = snapshot.messages.baseNames
        for i in names.indices {
            if let m = scanned[names[i]] { snapshot.messages[i].relativePath = m.relativePath }
        }
    }

    /// The absolute path of a message's file now; nil when it was expunged.
    public func filePath(uid: UInt32) throws -> String? {
        guard let m = message(uid: uid) else { return nil }
        return try locate(m.baseName, hint: m.relativePath).map { "\(path)/\($0)" }
    }

    /// Opens a message for reading, following renames by other sessions; nil when it was expunged.
    public func open(uid: UInt32) throws -> OwnedFD? {
        guard let m = message(uid: uid) else { return nil }
        var hint: String? = m.relativePath
        for _ in 0..<5 {
            guard let rel = try locate(m.baseName, hint: hint) else { return nil }
            let fd = Glibc.open("\(path)/\(rel)", O_RDONLY | O_CLOEXEC)
            if fd >= 0 { return OwnedFD(adopting: fd) }
            if errno != ENOENT { throw MaildirError.system(SystemError("open \(path)/\(rel)")) }
            hint = nil
        }
        return nil
    }

    /// The whole message; nil when it was expunged.
    public func read(uid: UInt32, limit: Int = 1 << 30) throws -> [UInt8]? {
        guard let fd = try open(uid: uid) else { return nil }
        return try mapSystemErrors { try FileIO.readAll(fd.raw, limit: limit) }
    }

    // MARK: Cached per-message data

    /// Size, CRLF size (computed when `crlfSize` is asked for), internal date and blob of a
    /// message, from the cache when it matches, else from the name and stat(2); nil when gone.
    public func info(uid: UInt32, crlfSize wantCRLF: Bool = false) throws -> MessageCacheEntry? {
        guard let m = message(uid: uid) else { return nil }
        if cache == nil { (cache, cacheFile) = MessageCache.loadWithLayout(folderPath: path, uidValidity: snapshot.uidValidity) }
        if var entry = cache!.entries[uid], entry.baseName == m.baseName {
            if wantCRLF && entry.crlfSize == nil {
                guard let rel = try locate(m.baseName, hint: m.relativePath),
                      let crlf = try MessageSize.crlfSize(fileAt: "\(path)/\(rel)") else { return nil }
                entry.crlfSize = crlf
                learn(uid, entry)
            }
            return entry
        }
        var hint: String? = m.relativePath
        for _ in 0..<5 {
            guard let rel = try locate(m.baseName, hint: hint) else { return nil }
            guard let st = FileIO.status("\(path)/\(rel)") else { hint = nil; continue }
            let name = MaildirFileName(parsing: FileIO.baseName(rel))
            var entry = MessageCacheEntry(baseName: m.baseName, size: name.size ?? Int(st.st_size),
                                          crlfSize: name.crlfSize, internalDate: Int64(st.st_mtim.tv_sec))
            if wantCRLF && entry.crlfSize == nil {
                guard let crlf = try MessageSize.crlfSize(fileAt: "\(path)/\(rel)") else { hint = nil; continue }
                entry.crlfSize = crlf
            }
            learn(uid, entry)
            return entry
        }
        return nil
    }

    /// Stores opaque data (ENVELOPE, BODYSTRUCTURE) for a message in the cache.
    public func setBlob(uid: UInt32, _ blob: [UInt8]) throws {
        guard blob.count <= MessageCache.maximumBlob else { throw MaildirError.tooLarge("cache blob") }
        guard var entry = try info(uid: uid) else { return }
        entry.blob = blob
        learn(uid, entry)
    }

    /// Puts what this session found out about a message into the cache (saved by `saveCache`).
    func learn(_ uid: UInt32, _ entry: MessageCacheEntry) {
        cache!.entries[uid] = entry
        cacheChanged.insert(uid)
    }

    /// Writes what the cache learnt: appended to the file it came from, or (when that file is
    /// gone or its records are many) the whole file, dropping entries of expunged messages.
    public func saveCache() throws {
        guard !cacheChanged.isEmpty, var cache else { return }
        let changed = cacheChanged.filter { index(of: $0) != nil }
        if let file = cacheFile, try cache.append(Array(changed), folderPath: path, layout: file) {
            cacheChanged = []
            return
        }
        cache.entries = cache.entries.filter { index(of: $0.key) != nil }
        cacheFile = try cache.save(folderPath: path)
        self.cache = cache
        cacheChanged = []
    }

    // MARK: Keywords

    /// The folder's keyword table as it is on disk now.
    public func keywords() throws -> MaildirKeywords { try MaildirKeywords.load(folderPath: path) }

    /// Flag letters for IMAP keywords, adding them to the folder's table when `create` (under the
    /// uid list lock). Unknown keywords are left out when not creating.
    public func keywordFlags(_ names: [String], create: Bool = true) throws -> MaildirFlags {
        var table = try keywords()
        let (flags, _) = try table.letters(for: names, create: false)
        let allKnown = names.allSatisfy { table.index(of: $0) != nil }
        if !create || allKnown { return flags }
        return try uidList.update { _ in try allocateKeywordsLocked(names) }
    }

    func allocateKeywordsLocked(_ names: [String]) throws -> MaildirFlags {
        var table = try keywords()
        let (flags, added) = try table.letters(for: names, create: true)
        if added {
            try mapSystemErrors { try FileIO.writeAtomically("\(path)/\(MaildirKeywords.fileName)", table.encoded(), mode: 0o600) }
        }
        return flags
    }

    // MARK: Flags

    /// Changes flags of `uids` by renaming their files in cur/ (a message still in new/ moves to
    /// cur/). A rename that fails because another session renamed the file first rescans and
    /// applies the change to the flags it finds; every changed message gets one new modseq
    /// (RFC 7162 §3.1.3), also recorded in the uid list.
    public func store(uids: [UInt32], _ change: FlagChange, unchangedSince: UInt64? = nil) throws -> StoreResult {
        var result = StoreResult()
        let outcome = try uidList.updateTracked { file in
            var newModSeq: UInt64?
            var steppedOver = false
            for uid in uids {
                guard let i = file.entries.index(ofUID: uid) else { result.expunged.append(uid); continue }
                var entry = file.entries[i]
                if let limit = unchangedSince, entry.modSeq > limit { result.modifiedSince.append(uid); continue }
                var hint: String? = message(uid: uid)?.relativePath
                var done = false
                for _ in 0..<10 {
                    guard let rel = try locate(entry.baseName, hint: hint) else { break }
                    let name = MaildirFileName(parsing: FileIO.baseName(rel))
                    let inCur = rel.hasPrefix("cur/")
                    let target = name.with(flags: change.applied(to: name.flags))
                    if inCur && entry.flags != name.flags && !steppedOver {
                        // A change the list did not record: another program's, or one of ours
                        // whose list update a crash took back — step over its modseqs.
                        file.highestModSeq += UIDList.unrecordedChangeModSeqStep
                        newModSeq = file.highestModSeq
                        steppedOver = true
                    }
                    if inCur && target.name == name.name {
                        if entry.flags != name.flags { // changed by someone else since we last looked
                            entry.flags = name.flags; entry.modSeq = newModSeq!
                        }
                        done = true; break
                    }
                    if rename("\(path)/\(rel)", "\(path)/cur/\(target.name)") == 0 {
                        if newModSeq == nil { file.highestModSeq += 1; newModSeq = file.highestModSeq }
                        entry.flags = target.flags; entry.modSeq = newModSeq!
                        done = true; break
                    }
                    if errno != ENOENT { throw MaildirError.system(SystemError("rename \(path)/\(rel)")) }
                    hint = nil // moved under us: look again
                }
                guard done else { result.expunged.append(uid); continue }
                file.entries[i] = entry
                let m = MaildirMessage(uid: uid, modSeq: entry.modSeq, baseName: entry.baseName,
                                       relativePath: "cur/\(MaildirFileName(baseName: entry.baseName, flags: entry.flags).name)",
                                       flags: entry.flags)
                result.updated.append(m)
                if let k = index(of: uid) { snapshot.messages[k] = m }
            }
            snapshot.highestModSeq = file.highestModSeq
            generation += 1
        }
        followOwnChange(outcome)
        return result
    }

    /// After this session's own change under the lock: when the file it started from was the
    /// one the snapshot came from, the snapshot (changed alongside) matches the file it left,
    /// so the next `synchronize` need not read it again.
    func followOwnChange<T>(_ outcome: UIDList.UpdateOutcome<T>) {
        guard outcome.before != nil, outcome.before == listIdentity else { return }
        listIdentity = outcome.after
        listStamp = outcome.stamp
    }

    // MARK: \Recent

    /// Takes IMAP's \Recent (RFC 3501 §2.3.2) for this session: under the uid list lock, the
    /// UIDs of the messages no session has yet been the first to see (from the list's
    /// `firstRecentUID` on), after which `firstRecentUID` is the next UID, so no other session
    /// gets them. The UIDs may include messages numbered after this session's snapshot; they are
    /// recent here when the session learns of them.
    public func claimRecent() throws -> [UInt32] {
        let outcome = try uidList.updateTracked { file -> [UInt32] in
            guard file.firstRecentUID < file.nextUID else { return [] }
            let start = file.entries.firstIndex(ofUIDAtLeast: file.firstRecentUID)
            let claimed = Array(file.entries.uids[start...])
            file.firstRecentUID = file.nextUID
            return claimed
        }
        // The snapshot came from the file the claim started from: it matches the file left.
        if outcome.before != nil, outcome.before == listIdentity { snapshot.firstRecentUID = snapshot.nextUID }
        followOwnChange(outcome)
        return outcome.result
    }

    // MARK: Expunge

    /// Deletes the files of messages flagged \Deleted (T), all of them or only those in `uids`
    /// (UID EXPUNGE, RFC 4315 §2.1). Returns the UIDs removed, ascending. A message whose file
    /// another session renamed is found again; one that lost \Deleted meanwhile stays.
    @discardableResult
    public func expunge(uids: [UInt32]? = nil) throws -> [UInt32] {
        let wanted = uids.map(Set.init)
        return try remove(where: { entries, i, flags in
            flags.contains(.trashed) && (wanted.map { $0.contains(entries.uids[i]) } ?? true)
        })
    }

    /// Deletes messages whatever their flags (MOVE's second half, POP3 DELE at QUIT).
    @discardableResult
    public func remove(uids: [UInt32]) throws -> [UInt32] {
        let set = Set(uids)
        return try remove(where: { entries, i, _ in set.contains(entries.uids[i]) })
    }

    /// Deletes messages by base name (POP3). Returns the UIDs removed.
    @discardableResult
    public func remove(baseNames: [String]) throws -> [UInt32] {
        let set = Set(baseNames)
        return try remove(where: { entries, i, _ in set.contains(entries.baseNames[i]) })
    }

    /// Deletes the messages `shouldRemove` picks, asked with the list's entries, an index in
    /// them and the message's flags (from the list when it is exact, else from the directory).
    func remove(where shouldRemove: (UIDListEntries, Int, MaildirFlags) -> Bool) throws -> [UInt32] {
        var removed: [UInt32] = []
        let outcome = try uidList.updateTracked { file in
            var gone = Set<UInt32>()
            // An exact list (cur/ still has its stamp) says where every file is; otherwise
            // the directory is listed once.
            let exact = file.curStamp?.holds(for: uidList.curTime()) == true
            let scanned = exact ? nil : try MaildirScanner.scan(path, moveNew: false)
            let entries = file.entries
            for i in entries.indices {
                let flags: MaildirFlags
                if let scanned {
                    guard let m = scanned[entries.baseNames[i]] else { gone.insert(entries.uids[i]); continue }
                    flags = m.directory == "cur" ? m.flags : []
                } else {
                    flags = entries.flags[i]
                }
                // Cheap test first: most messages are not to be removed.
                if !shouldRemove(entries, i, flags) { continue }
                let entry = entries[i]
                var hint = scanned?[entry.baseName]?.relativePath ?? "cur/\(entry.baseName):2,\(entry.flags.letters)"
                for _ in 0..<10 {
                    guard let rel = try locate(entry.baseName, hint: hint) else { gone.insert(entry.uid); break }
                    let flags = MaildirFileName(parsing: FileIO.baseName(rel)).flags
                    guard shouldRemove(entries, i, rel.hasPrefix("cur/") ? flags : []) else { break }
                    if unlink("\(path)/\(rel)") == 0 { gone.insert(entry.uid); removed.append(entry.uid); break }
                    if errno != ENOENT { throw MaildirError.system(SystemError("unlink \(path)/\(rel)")) }
                    hint = "" // renamed under us: look again
                }
            }
            guard !gone.isEmpty else { return }
            try mapSystemErrors { try FileIO.fsyncDirectory("\(path)/cur") }
            file.entries.remove(uids: gone)
            // RFC 7162 §3.2.10: expunges raise HIGHESTMODSEQ too; files that were gone before
            // we came are an unrecorded change (see UIDList.unrecordedChangeModSeqStep).
            file.highestModSeq += gone.count > removed.count ? UIDList.unrecordedChangeModSeqStep : 1
            snapshot.messages.remove(uids: gone)
            snapshot.highestModSeq = file.highestModSeq
            generation += 1
        }
        followOwnChange(outcome)
        return removed
    }

    // MARK: Append, copy, move

    /// Writes a new message into cur/ with `flags` and `internalDate` (seconds; the file's
    /// mtime, as Dovecot keeps it) and returns its UID for APPENDUID (RFC 4315 §3). The file is
    /// written and fsync'd in tmp/, then linked into cur/ and given its UID under the uid list
    /// lock, so no other session can number it first. This session's snapshot shows it after
    /// the next `synchronize` (with the rest of the news, as IMAP's EXISTS does).
    public func append(_ message: [UInt8], flags: MaildirFlags = [], internalDate: Int64? = nil) throws -> UInt32 {
        if !maildir.exists { try mapSystemErrors { try maildir.create() } }
        let base = MaildirName.unique(size: message.count) + ",W=\(MessageSize.crlfSize(of: message))"
        let tmp = "\(path)/tmp/\(base)"
        try writeDurably(tmp, internalDate: internalDate) { fd in try FileIO.writeAll(fd, message) }
        defer { unlink(tmp) }
        return try uidList.update { file in
            let name = try linkIntoCur(tmp, base: base, flags: flags)
            try mapSystemErrors { try FileIO.fsyncDirectory("\(path)/cur") }
            return assign(&file, baseName: name.baseName, flags: flags)
        }
    }

    func assign(_ file: inout UIDListFile, baseName: String, flags: MaildirFlags) -> UInt32 {
        file.highestModSeq += 1
        let uid = file.nextUID
        file.nextUID += 1
        file.entries.append(UIDListEntry(uid: uid, modSeq: file.highestModSeq, flags: flags, baseName: baseName))
        return uid
    }

    /// link(2) `source` to cur/<base>:2,<flags>; on a clash (never expected) a fresh base name.
    func linkIntoCur(_ source: String, base: String, flags: MaildirFlags) throws -> MaildirFileName {
        var name = MaildirFileName(baseName: base, flags: flags)
        for _ in 0..<10 {
            if link(source, "\(path)/cur/\(name.name)") == 0 { return name }
            if errno != EEXIST { throw MaildirError.system(SystemError("link \(path)/cur/\(name.name)")) }
            name.baseName = MaildirName.unique() + String(base[(base.firstIndex(of: ",") ?? base.endIndex)...])
        }
        throw MaildirError.system(SystemError("link \(path)/cur", errno: EEXIST))
    }

    /// Creates `path` exclusively, fills it, sets its mtime, fsyncs and closes it (checked).
    func writeDurably(_ file: String, internalDate: Int64?, _ fill: (Int32) throws -> Void) throws {
        try mapSystemErrors {
            let fd = try FileIO.open(file, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            do {
                try fill(fd.raw)
                if let internalDate { try setTimes(fd.raw, internalDate) }
                try FileIO.fsync(fd.raw, "fsync \(file)")
                try fd.closeChecked()
            } catch {
                unlink(file)
                throw error
            }
        }
    }

    func setTimes(_ fd: Int32, _ seconds: Int64) throws {
        var times = [timespec(tv_sec: Int(seconds), tv_nsec: 0), timespec(tv_sec: Int(seconds), tv_nsec: 0)]
        if futimens(fd, &times) != 0 { throw SystemError("futimens") }
    }

    /// Copies messages into `destination` (RFC 4315 COPYUID): a hard link when the file system
    /// allows it (the same inode, so size and internal date come along), else a byte copy
    /// written through destination's tmp/ and fsync'd. Flags are kept; keyword letters are
    /// translated through both folders' keyword tables. Messages expunged meanwhile are skipped.
    /// Returns (source uid, destination uid) pairs in source uid order.
    public func copy(uids: [UInt32], to destination: MaildirMailbox) throws -> [(source: UInt32, destination: UInt32)] {
        let sourceKeywords = try keywords()
        var pairs: [(source: UInt32, destination: UInt32)] = []
        if !destination.maildir.exists { try mapSystemErrors { try destination.maildir.create() } }
        try destination.uidList.update { file in
            var keywordMap: [Int: MaildirFlags] = [:]
            for uid in uids.sorted() {
                guard let m = message(uid: uid) else { continue }
                var hint: String? = m.relativePath
                for _ in 0..<10 {
                    guard let rel = try locate(m.baseName, hint: hint) else { break }
                    let sourcePath = "\(path)/\(rel)"
                    let sourceName = MaildirFileName(parsing: FileIO.baseName(rel))
                    var flags = rel.hasPrefix("cur/") ? sourceName.flags : []
                    for index in flags.keywordIndexes {
                        flags.remove(.keyword(index))
                        if keywordMap[index] == nil {
                            let names = sourceKeywords.names[index].map { [$0] } ?? []
                            keywordMap[index] = try destination.allocateKeywordsLocked(names)
                        }
                        flags.formUnion(keywordMap[index]!)
                    }
                    var fields = ""
                    if let s = sourceName.size { fields += ",S=\(s)" }
                    if let w = sourceName.crlfSize { fields += ",W=\(w)" }
                    // The copy keeps the original's EMAILID (RFC 8474 §5.1, MaildirObjectID).
                    fields += ",O=" + MaildirObjectID.emailID(baseName: m.baseName)
                    let base = MaildirName.unique() + fields
                    let name: MaildirFileName
                    do {
                        name = try destination.linkIntoCur(sourcePath, base: base, flags: flags)
                    } catch MaildirError.system(let e) where e.errno == ENOENT {
                        hint = nil; continue // renamed or expunged under us
                    } catch MaildirError.system(let e) where [EXDEV, EPERM, EMLINK, ENOTSUP].contains(e.errno) {
                        guard let copied = try destination.copyFile(sourcePath, base: base, flags: flags) else { hint = nil; continue }
                        name = copied
                    }
                    pairs.append((uid, destination.assign(&file, baseName: name.baseName, flags: flags)))
                    break
                }
            }
            if !pairs.isEmpty { try mapSystemErrors { try FileIO.fsyncDirectory("\(destination.path)/cur") } }
        }
        return pairs
    }

    /// A byte copy of `source` into cur/ (through tmp/), keeping its mtime; nil when it vanished.
    func copyFile(_ source: String, base: String, flags: MaildirFlags) throws -> MaildirFileName? {
        let raw = Glibc.open(source, O_RDONLY | O_CLOEXEC)
        if raw < 0 {
            if errno == ENOENT { return nil }
            throw MaildirError.system(SystemError("open \(source)"))
        }
        let input = OwnedFD(adopting: raw)
        var st = stat()
        fstat(input.raw, &st)
        let tmp = "\(path)/tmp/\(base)"
        try writeDurably(tmp, internalDate: nil) { fd in
            while true {
                let chunk = try FileIO.read(input.raw, max: 65536)
                if chunk.isEmpty { break }
                try FileIO.writeAll(fd, chunk)
            }
            try setTimes(fd, Int64(st.st_mtim.tv_sec))
        }
        defer { unlink(tmp) }
        return try linkIntoCur(tmp, base: base, flags: flags)
    }

    /// MOVE (RFC 6851): copy, then remove the originals. A crash in between leaves the message
    /// in both folders, never in neither (§4.1 allows that order).
    public func move(uids: [UInt32], to destination: MaildirMailbox) throws -> [(source: UInt32, destination: UInt32)] {
        let pairs = try copy(uids: uids, to: destination)
        try remove(uids: pairs.map(\.source))
        return pairs
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailSystem

extension UIDList {
    /// Moves the messages waiting in new/ into cur/ and numbers them without reading cur/,
    /// when the list describes cur/ exactly (cur/ has its stamp). nil when it does not, or on
    /// anything unusual (a base name already listed, UIDs running out): the caller scans.
    public func adoptNew() throws -> SyncOutcome? {
        var moved: [String] = []
        let outcome: UpdateOutcome<MaildirSnapshot?> = try updateTracked { file in
            guard file.curStamp?.holds(for: curTime()) == true else { return nil }
            let names = MaildirFileName.inDeliveryOrder(try MaildirScanner.listMessages("\(folderPath)/new"),
                                                        baseName: { String(MaildirName.baseName($0)) })
            guard UInt64(file.nextUID) + UInt64(names.count) < UInt64(UInt32.max) else { return nil }
            // A base name listed already, or twice in new/: a scan sorts it out.
            let targets = names.map { MaildirFileName(parsing: $0.contains(":") ? $0 : $0 + ":2,") }
            let fresh = Set(targets.map(\.baseName))
            guard fresh.count == targets.count, !file.entries.baseNames.containsAny(of: fresh) else { return nil }
            for (name, target) in zip(names, targets) {
                guard rename("\(folderPath)/new/\(name)", "\(folderPath)/cur/\(target.name)") == 0 else {
                    if errno == ENOENT { continue } // gone meanwhile (another program)
                    throw MaildirError.system(SystemError("rename \(folderPath)/new/\(name)"))
                }
                if moved.isEmpty { file.highestModSeq += 1 }
                moved.append(target.baseName)
                file.entries.append(UIDListEntry(uid: file.nextUID, modSeq: file.highestModSeq, flags: target.flags, baseName: target.baseName))
                file.nextUID += 1
            }
            return UIDList.snapshot(file)
        }
        return outcome.result.map { SyncOutcome(snapshot: $0, identity: outcome.after, stamp: outcome.stamp, movedFromNew: moved) }
    }

    /// Scans the folder and brings the uid list up to date: known messages keep their UIDs,
    /// new ones get the next UIDs in delivery order (the time in their names), vanished ones are
    /// dropped (their UIDs are never handed out again: `nextUID` only grows), and a flag change
    /// made by another program bumps the message's modseq. With `moveNew`, new/ is emptied into
    /// cur/ first (IMAP read-write sessions and POP3). Also returns the identity of the file
    /// the snapshot matches, when known.
    public func synchronize(moveNew: Bool = true) throws -> MaildirSnapshot {
        try synchronizeReportingIdentity(moveNew: moveNew).snapshot
    }

    /// A synchronisation's result: the snapshot, the identity and stamp of the uid list it
    /// matches (when known), and the base names this process moved from new/ to cur/.
    public struct SyncOutcome {
        public var snapshot: MaildirSnapshot
        public var identity: FileIdentity?
        public var stamp: CurStamp?
        public var movedFromNew: [String] = []
    }

    public func synchronizeReportingIdentity(moveNew: Bool = true) throws -> SyncOutcome {
        // Fastest path: the list checked against a listing of cur/ as bytes (no dictionary of
        // the folder's messages); when it describes the folder exactly, only the listing's
        // stamp is new, recorded under the lock if neither cur/ nor the list changed since.
        if let (file, identity) = try readWithIdentity(), let stamp = try UIDList.verifiedStamp(folderPath, file) {
            if file.curStamp?.holds(for: stamp.modified) == true {
                return SyncOutcome(snapshot: UIDList.snapshot(file), identity: identity, stamp: file.curStamp)
            }
            let outcome: UpdateOutcome<MaildirSnapshot?> = try updateTracked { locked in
                guard curTime() == stamp.modified, self.identity() == identity else { return nil }
                locked.curStamp = stamp
                return UIDList.snapshot(locked)
            }
            if let snapshot = outcome.result {
                return SyncOutcome(snapshot: snapshot, identity: outcome.after, stamp: outcome.stamp)
            }
        }
        // Fast path, no lock (and no moves: Postamt changes cur/ only under the lock): every
        // file already has its UID and nothing changed.
        let scanned = try MaildirScanner.scanStamped(folderPath, moveNew: false)
        let stamp = UIDList.stampable(scanned)
        let waitingInNew = scanned.messages.values.contains { $0.directory == "new" }
        if !(moveNew && waitingInNew), let (file, identity) = try readWithIdentity(), stamp == nil || file.curStamp?.holds(for: stamp!.modified) == true,
           let snapshot = UIDList.snapshotIfCurrent(file, scanned.messages) {
            return SyncOutcome(snapshot: snapshot, identity: identity, stamp: file.curStamp)
        }
        var moved: [String] = []
        let outcome = try updateTracked { file in
            var now = try MaildirScanner.scanStamped(folderPath, moveNew: moveNew)
            moved = now.movedFromNew
            let known = Set(file.entries.baseNames)
            if known.contains(where: { now.messages[$0] == nil }) {
                // Something looks expunged: make sure it is not a rename that readdir missed.
                // Drop only what is missing from both listings.
                var union = try MaildirScanner.scanStamped(folderPath, moveNew: moveNew)
                moved += union.movedFromNew
                for (base, m) in now.messages where union.messages[base] == nil && known.contains(base) { union.messages[base] = m }
                union.curTime = nil // two listings: no single moment to stamp
                now = union
            }
            try UIDList.merge(&file, now.messages, rootPath: rootPath, lockOptions: lockOptions)
            file.curStamp = UIDList.stampable(now)
            return UIDList.snapshot(file, now.messages)
        }
        return SyncOutcome(snapshot: outcome.result, identity: outcome.after, stamp: outcome.stamp, movedFromNew: moved)
    }

    /// cur/'s mtime from a scan when it may be stamped into the list: cur/ did not change
    /// during the listing and no listed message is left in new/ (one could vanish from there
    /// without cur/ noticing).
    static func stampable(_ scan: MaildirScanner.StampedScan) -> CurStamp? {
        guard let t = scan.curTime, !scan.messages.values.contains(where: { $0.directory == "new" }) else { return nil }
        return t
    }

    /// `file` brought up to date with `scanned` (see `synchronize`).
    static func merge(_ file: inout UIDListFile, _ scanned: [String: ScannedMessage], rootPath: String, lockOptions: DotLock.Options) throws {
        var kept: [UIDListEntry] = []
        kept.reserveCapacity(file.entries.count)
        var changed = false
        var dropped = false
        var known = Set<String>()
        known.reserveCapacity(file.entries.count)
        for var entry in file.entries {
            // A base name listed twice (a damaged list): the first UID keeps it.
            guard known.insert(entry.baseName).inserted, let m = scanned[entry.baseName] else { dropped = true; continue }
            if m.directory == "cur" && m.flags != entry.flags {
                if !changed { file.highestModSeq += UIDList.unrecordedChangeModSeqStep; changed = true }
                entry.flags = m.flags
                entry.modSeq = file.highestModSeq
            }
            kept.append(entry)
        }
        // RFC 7162 §3.2.10 (QRESYNC): an expunge also raises HIGHESTMODSEQ.
        // (An unrecorded expunge, like an unrecorded flag change, may be one a crash took back.)
        if dropped && !changed { file.highestModSeq += UIDList.unrecordedChangeModSeqStep }
        let fresh = MaildirFileName.inDeliveryOrder(scanned.keys.filter { !known.contains($0) })
        if !fresh.isEmpty {
            if UInt64(file.nextUID) + UInt64(fresh.count) >= UInt64(UInt32.max) {
                // UIDs exhausted: RFC 3501 §2.3.1.1 allows only a new UIDVALIDITY and renumbering.
                let validity = try UIDValidityAllocator.next(root: rootPath, atLeast: file.uidValidity &+ 1, lockOptions: lockOptions)
                let all = MaildirFileName.inDeliveryOrder(scanned.keys)
                file = UIDListFile(uidValidity: validity, nextUID: 1, highestModSeq: file.highestModSeq + 1)
                for base in all {
                    file.entries.append(UIDListEntry(uid: file.nextUID, modSeq: file.highestModSeq,
                                                     flags: scanned[base]!.flags, baseName: base))
                    file.nextUID += 1
                }
                return
            }
            file.highestModSeq += 1
            for base in fresh {
                kept.append(UIDListEntry(uid: file.nextUID, modSeq: file.highestModSeq, flags: scanned[base]!.flags, baseName: base))
                file.nextUID += 1
            }
        }
        file.entries = UIDListEntries(kept)
    }

    /// The snapshot of a list trusted without a scan (see `quickCheck`): the list's entries
    /// themselves, shared, not copied.
    public static func snapshot(_ file: UIDListFile) -> MaildirSnapshot {
        MaildirSnapshot(uidValidity: file.uidValidity, nextUID: file.nextUID, highestModSeq: file.highestModSeq,
                        messages: MaildirMessages(file.entries), firstRecentUID: file.firstRecentUID)
    }

    /// The snapshot when `file` already describes every scanned message exactly; else nil.
    static func snapshotIfCurrent(_ file: UIDListFile, _ scanned: [String: ScannedMessage]) -> MaildirSnapshot? {
        guard file.entries.count == scanned.count else { return nil }
        let names = file.entries.baseNames.resolved(), flags = file.entries.flags
        for i in names.indices {
            guard let m = scanned[names[i]] else { return nil }
            if m.directory == "cur" && m.flags != flags[i] { return nil }
        }
        return snapshot(file, scanned)
    }

    static func snapshot(_ file: UIDListFile, _ scanned: [String: ScannedMessage]) -> MaildirSnapshot {
        var entries = file.entries
        entries.takeDeferredNames()
        var unusual: [UInt32: String] = [:]
        let names = entries.baseNames
        for i in names.indices {
            let base = names[i]
            guard let m = scanned[base] else { continue }
            if m.directory == "cur" && m.flags != entries.flags[i] { entries.setFlags(m.flags, modSeq: entries.modSeqs[i], at: i) }
            if m.directory != "cur" || !MaildirFileName.isCanonical(m.fileName, baseName: base, flags: entries.flags[i]) {
                unusual[entries.uids[i]] = m.relativePath
            }
        }
        return MaildirSnapshot(uidValidity: file.uidValidity, nextUID: file.nextUID, highestModSeq: file.highestModSeq,
                               messages: MaildirMessages(entries, unusualPaths: unusual), firstRecentUID: file.firstRecentUID)
    }
}

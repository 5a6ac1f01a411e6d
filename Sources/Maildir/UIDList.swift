#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// One message as the uid list knows it.
public struct UIDListEntry: Hashable, Sendable {
    public var uid: UInt32
    /// RFC 7162 mod-sequence of the last change to this message's flags (or of its arrival).
    public var modSeq: UInt64
    /// The flags in the name when we last saw or set them; a difference to the name on disk
    /// means another program changed them, which bumps the mod-sequence.
    public var flags: MaildirFlags
    public var baseName: String

    public init(uid: UInt32, modSeq: UInt64, flags: MaildirFlags, baseName: String) {
        self.uid = uid; self.modSeq = modSeq; self.flags = flags; self.baseName = baseName
    }
}

/// The contents of a folder's `postamt-uidlist` (invariant 3 of DESIGN.md).
///
/// Format (text, one record per line, "\n" line ends; described in postamt-maildir(5)):
///
///     postamt-uidlist 1 V<uidvalidity> N<next uid> M<highest modseq>
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
public struct UIDListFile: Hashable, Sendable {
    public var uidValidity: UInt32
    public var nextUID: UInt32
    public var highestModSeq: UInt64
    /// Ascending by uid.
    public var entries: [UIDListEntry]

    public init(uidValidity: UInt32, nextUID: UInt32 = 1, highestModSeq: UInt64 = 1, entries: [UIDListEntry] = []) {
        self.uidValidity = uidValidity; self.nextUID = nextUID; self.highestModSeq = highestModSeq; self.entries = entries
    }

    static let magic = "postamt-uidlist"

    public func encoded() -> [UInt8] {
        var out = "\(UIDListFile.magic) 1 V\(uidValidity) N\(nextUID) M\(highestModSeq)\n"
        out.reserveCapacity(entries.count * 64 + 64)
        for e in entries { out += "\(e.uid) M\(e.modSeq) F\(e.flags.letters) :\(e.baseName)\n" }
        return Array(out.utf8)
    }

    /// Parses a file; nil when it is damaged in any way (never trusted halfway).
    public static func parse(_ bytes: [UInt8]) -> UIDListFile? {
        guard bytes.last == UInt8(ascii: "\n") else { return nil } // truncated
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
        guard let headerLine = lines.first,
              let header = parseHeader(headerLine) else { return nil }
        var file = UIDListFile(uidValidity: header.validity, nextUID: header.next, highestModSeq: header.modSeq)
        var seen = Set<String>()
        var lastUID: UInt32 = 0
        file.entries.reserveCapacity(lines.count)
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                  line[line.index(before: colon)] == UInt8(ascii: " ") else { return nil }
            let fields = line[..<line.index(before: colon)].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard fields.count == 3,
                  let uid = UInt32(String(decoding: fields[0], as: UTF8.self)), uid > lastUID, uid < file.nextUID,
                  fields[1].first == UInt8(ascii: "M"),
                  let modSeq = UInt64(String(decoding: fields[1].dropFirst(), as: UTF8.self)), modSeq <= file.highestModSeq,
                  fields[2].first == UInt8(ascii: "F") else { return nil }
            let letters = String(decoding: fields[2].dropFirst(), as: UTF8.self)
            let flags = MaildirFlags(letters: letters)
            guard flags.letters == letters else { return nil }
            let base = String(decoding: line[line.index(after: colon)...], as: UTF8.self)
            guard !base.isEmpty, !base.contains(":"), seen.insert(base).inserted else { return nil }
            lastUID = uid
            file.entries.append(UIDListEntry(uid: uid, modSeq: modSeq, flags: flags, baseName: base))
        }
        return file
    }

    static func parseHeader(_ line: ArraySlice<UInt8>) -> (validity: UInt32, next: UInt32, modSeq: UInt64)? {
        let f = line.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
        guard f.count == 5, f[0] == magic, f[1] == "1",
              f[2].hasPrefix("V"), let v = UInt32(f[2].dropFirst()), v > 0,
              f[3].hasPrefix("N"), let n = UInt32(f[3].dropFirst()), n > 0,
              f[4].hasPrefix("M"), let m = UInt64(f[4].dropFirst()) else { return nil }
        return (v, n, m)
    }

    /// The UIDVALIDITY of a damaged file whose first line is still readable.
    static func salvageValidity(_ bytes: [UInt8]) -> UInt32? {
        guard let end = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        return parseHeader(bytes[..<end])?.validity
    }
}

/// Hands out UIDVALIDITY values for the folders of one Maildir, from `postamt-uidvalidity` in
/// its root (Dovecot's dovecot-uidvalidity does the same): each value is the current time or,
/// if that is not larger, the last value + 1. So a folder whose uid list was lost gets a
/// UIDVALIDITY larger than before even within the same second, and clients drop their caches
/// (RFC 3501 §2.3.1.1: "the unique identifier validity value MUST be greater").
public enum UIDValidityAllocator {
    public static let fileName = "postamt-uidvalidity"

    public static func next(root: String, atLeast minimum: UInt32 = 1, lockOptions: DotLock.Options = DotLock.Options()) throws -> UInt32 {
        let path = "\(root)/\(fileName)"
        return try DotLock.withLock(for: path, options: lockOptions) { _ in
            var last: UInt32 = 0
            if let bytes = try? FileIO.readFile(path, limit: 64) {
                last = UInt32(String(decoding: bytes, as: UTF8.self).trimmingNewline) ?? 0
            }
            let now = UInt32(truncatingIfNeeded: max(1, min(Clock.seconds(), Int64(UInt32.max - 1))))
            var value = max(now, minimum)
            if last != UInt32.max && value <= last { value = last + 1 }
            try mapSystemErrors { try FileIO.writeAtomically(path, Array("\(value)\n".utf8), mode: 0o600) }
            return value
        }
    }
}

extension String {
    var trimmingNewline: String {
        var s = self
        // Unicode scalars, not Characters: "\r\n" is one Character.
        while let last = s.unicodeScalars.last, last == "\n" || last == "\r" { s.unicodeScalars.removeLast() }
        return s
    }
}

/// A message of a synchronised folder.
public struct MaildirMessage: Hashable, Sendable {
    public var uid: UInt32
    public var modSeq: UInt64
    public var baseName: String
    /// Where the file was at the last scan ("cur/<name>"); it may have moved since (flags
    /// changed by another session): lookups that fail with ENOENT rescan.
    public var relativePath: String
    public var flags: MaildirFlags
}

/// The folder's state after `UIDList.synchronize`.
public struct MaildirSnapshot: Sendable {
    public var uidValidity: UInt32
    public var nextUID: UInt32
    public var highestModSeq: UInt64
    /// Ascending by uid.
    public var messages: [MaildirMessage]
}

/// The uid list of one folder: reading, locking, and synchronising it with the directory.
///
/// All writers take the folder's dot lock (`postamt-uidlist.lock`) for the whole
/// read–scan–assign–write cycle, so UIDs are assigned once and in order whatever the number of
/// imapd/pop3d processes and hosts (NFS). Readers need no lock: the file is replaced by
/// rename(2), so a reader sees a whole old or whole new file.
public struct UIDList: Sendable {
    public static let fileName = "postamt-uidlist"

    public let folderPath: String
    /// The Maildir root whose `postamt-uidvalidity` allocates UIDVALIDITY values.
    public let rootPath: String
    public var lockOptions: DotLock.Options

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
    public func read() throws -> UIDListFile? {
        guard let bytes = try mapSystemErrors({ try FileIO.readFile(filePath, limit: 1 << 30) }) else { return nil }
        return UIDListFile.parse(bytes)
    }

    /// Runs `body` on the file under the lock, creating a fresh file (new UIDVALIDITY) when it
    /// is missing or damaged, and writes it back (temp file + fsync + rename + dir fsync) when
    /// `body` changed it.
    public func update<T>(_ body: (inout UIDListFile, DotLock) throws -> T) throws -> T {
        try DotLock.withLock(for: filePath, options: lockOptions) { lock in
            let original = try loadOrCreateLocked()
            var file = original.file
            let result = try body(&file, lock)
            if file != original.file || original.fresh {
                lock.refresh()
                try mapSystemErrors { try FileIO.writeAtomically(filePath, file.encoded(), mode: 0o600) }
            }
            return result
        }
    }

    func loadOrCreateLocked() throws -> (file: UIDListFile, fresh: Bool) {
        let bytes = try mapSystemErrors { try FileIO.readFile(filePath, limit: 1 << 30) }
        if let bytes, let file = UIDListFile.parse(bytes) { return (file, false) }
        var minimum: UInt32 = 1
        if let bytes, let old = UIDListFile.salvageValidity(bytes), old < UInt32.max { minimum = old + 1 }
        let validity = try UIDValidityAllocator.next(root: rootPath, atLeast: minimum, lockOptions: lockOptions)
        return (UIDListFile(uidValidity: validity), true)
    }

    /// Scans the folder and brings the uid list up to date: known messages keep their UIDs,
    /// new ones get the next UIDs in delivery order (the time in their names), vanished ones are
    /// dropped (their UIDs are never handed out again: `nextUID` only grows), and a flag change
    /// made by another program bumps the message's modseq. With `moveNew`, new/ is emptied into
    /// cur/ first (IMAP read-write sessions and POP3).
    public func synchronize(moveNew: Bool = true) throws -> MaildirSnapshot {
        // Fast path, no lock: every file already has its UID and nothing changed.
        let scanned = try MaildirScanner.scan(folderPath, moveNew: moveNew)
        if let file = try read(), let snapshot = UIDList.snapshotIfCurrent(file, scanned) {
            return snapshot
        }
        return try update { file, lock in
            var now = try MaildirScanner.scan(folderPath, moveNew: moveNew)
            let known = Set(file.entries.map(\.baseName))
            if known.contains(where: { now[$0] == nil }) {
                // Something looks expunged: make sure it is not a rename that readdir missed.
                lock.refresh()
                // Drop only what is missing from both listings.
                var union = try MaildirScanner.scan(folderPath, moveNew: moveNew)
                for (base, m) in now where union[base] == nil && known.contains(base) { union[base] = m }
                now = union
            }
            try UIDList.merge(&file, now, rootPath: rootPath, lockOptions: lockOptions)
            return UIDList.snapshot(file, now)
        }
    }

    /// `file` brought up to date with `scanned` (see `synchronize`).
    static func merge(_ file: inout UIDListFile, _ scanned: [String: ScannedMessage], rootPath: String, lockOptions: DotLock.Options) throws {
        var kept: [UIDListEntry] = []
        kept.reserveCapacity(file.entries.count)
        var changed = false
        var dropped = false
        var known = Set<String>()
        for var entry in file.entries {
            known.insert(entry.baseName)
            guard let m = scanned[entry.baseName] else { dropped = true; continue }
            if m.directory == "cur" && m.flags != entry.flags {
                if !changed { file.highestModSeq += 1; changed = true }
                entry.flags = m.flags
                entry.modSeq = file.highestModSeq
            }
            kept.append(entry)
        }
        // RFC 7162 §3.2.10 (QRESYNC): an expunge also raises HIGHESTMODSEQ.
        if dropped && !changed { file.highestModSeq += 1 }
        let fresh = scanned.keys.filter { !known.contains($0) }.sorted(by: MaildirFileName.deliveryOrder)
        if !fresh.isEmpty {
            if UInt64(file.nextUID) + UInt64(fresh.count) >= UInt64(UInt32.max) {
                // UIDs exhausted: RFC 3501 §2.3.1.1 allows only a new UIDVALIDITY and renumbering.
                let validity = try UIDValidityAllocator.next(root: rootPath, atLeast: file.uidValidity &+ 1, lockOptions: lockOptions)
                let all = scanned.keys.sorted(by: MaildirFileName.deliveryOrder)
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
        file.entries = kept
    }

    /// The snapshot when `file` already describes every scanned message exactly; else nil.
    static func snapshotIfCurrent(_ file: UIDListFile, _ scanned: [String: ScannedMessage]) -> MaildirSnapshot? {
        guard file.entries.count == scanned.count else { return nil }
        for e in file.entries {
            guard let m = scanned[e.baseName] else { return nil }
            if m.directory == "cur" && m.flags != e.flags { return nil }
        }
        return snapshot(file, scanned)
    }

    static func snapshot(_ file: UIDListFile, _ scanned: [String: ScannedMessage]) -> MaildirSnapshot {
        var messages: [MaildirMessage] = []
        messages.reserveCapacity(file.entries.count)
        for e in file.entries {
            let m = scanned[e.baseName]
            messages.append(MaildirMessage(uid: e.uid, modSeq: e.modSeq, baseName: e.baseName,
                                           relativePath: m?.relativePath ?? "cur/\(e.baseName):2,\(e.flags.letters)",
                                           flags: m?.directory == "cur" ? m!.flags : e.flags))
        }
        return MaildirSnapshot(uidValidity: file.uidValidity, nextUID: file.nextUID,
                               highestModSeq: file.highestModSeq, messages: messages)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// One message file found by a scan.
public struct ScannedMessage: Hashable, Sendable {
    /// "new" or "cur".
    public var directory: String
    /// The directory entry (base name plus info).
    public var fileName: String
    public let baseName: String
    public let flags: MaildirFlags

    public init(directory: String, fileName: String) {
        self.directory = directory
        self.fileName = fileName
        let parsed = MaildirFileName(parsing: fileName)
        baseName = parsed.baseName
        flags = parsed.flags
    }

    public var parsed: MaildirFileName { MaildirFileName(parsing: fileName) }
    /// The path relative to the folder, e.g. "cur/1700000000.M1P2.host:2,S".
    public var relativePath: String { "\(directory)/\(fileName)" }
}

/// Lists a Maildir folder's messages.
///
/// The specification: "a reader ... looks through the new directory ... (and) cur", skipping
/// names starting with a dot; tmp/ is never read. Another process may rename or unlink any file
/// at any moment, so a scan tolerates entries vanishing and rescans when cur/ changed while it
/// was being read: readdir(3) may miss an entry that is renamed during the listing (a flag
/// change by another session), and a missed entry would look expunged.
public enum MaildirScanner {
    /// Scans `folderPath`. With `moveNew`, files in new/ are first renamed into cur/ with ":2,"
    /// appended, which IMAP requires of a session that opens a folder read-write (RFC 3501
    /// \Recent semantics are the session's business; the move only records "seen by a client").
    public static func scan(_ folderPath: String, moveNew: Bool, attempts: Int = 5) throws -> [String: ScannedMessage] {
        try scanStamped(folderPath, moveNew: moveNew, attempts: attempts).messages
    }

    /// A scan and the mtime cur/ had all through its listing (nil when it kept changing).
    public struct StampedScan: Sendable {
        public var messages: [String: ScannedMessage]
        public var curTime: CurStamp?
        /// Base names this scan moved from new/ to cur/ (IMAP \Recent belongs to this session).
        public var movedFromNew: [String] = []
    }

    public static func scanStamped(_ folderPath: String, moveNew: Bool, attempts: Int = 5) throws -> StampedScan {
        var result: [String: ScannedMessage] = [:]
        var curTime: CurStamp?
        var moved: [String] = []
        for attempt in 0..<max(1, attempts) {
            result = [:]
            curTime = nil
            let newEntries = try listMessages("\(folderPath)/new")
            for name in newEntries {
                if moveNew {
                    let target = name.contains(":") ? name : name + ":2,"
                    if rename("\(folderPath)/new/\(name)", "\(folderPath)/cur/\(target)") == 0 {
                        moved.append(String(MaildirName.baseName(name)))
                        continue
                    }
                    // ENOENT: another session moved or expunged it; the cur/ listing below decides.
                    if errno == ENOENT { continue }
                    throw MaildirError.system(SystemError("rename \(folderPath)/new/\(name)"))
                }
                let m = ScannedMessage(directory: "new", fileName: name)
                result[m.baseName] = m
            }
            // After the moves: they change cur/'s mtime themselves.
            let checked = FileTime.now()
            let before = FileIO.status("\(folderPath)/cur")
            let curEntries = try listMessages("\(folderPath)/cur")
            result.reserveCapacity(result.count + curEntries.count)
            let after = FileIO.status("\(folderPath)/cur")
            var duplicates: [ScannedMessage] = []
            for name in curEntries {
                let m = ScannedMessage(directory: "cur", fileName: name)
                if let other = result[m.baseName], other.directory == "cur" {
                    duplicates.append(m)
                } else {
                    result[m.baseName] = m // cur wins over new (a move raced with us)
                }
            }
            if !duplicates.isEmpty {
                try resolveDuplicates(folderPath, duplicates, &result)
            }
            let unchanged = before != nil && after != nil
                && before!.st_mtim.tv_sec == after!.st_mtim.tv_sec && before!.st_mtim.tv_nsec == after!.st_mtim.tv_nsec
                && before!.st_ino == after!.st_ino
            if unchanged { curTime = CurStamp(modified: FileTime(before!.st_mtim), checked: checked) }
            if unchanged || attempt == attempts - 1 { break }
            // cur/ changed under us (mtime granularity permitting): the listing may have missed
            // a renamed entry; list again.
        }
        return StampedScan(messages: result, curTime: curTime, movedFromNew: moved)
    }

    /// Two names with one base name in cur/. Usually a rename that happened during readdir (the
    /// old name is gone by now); else a real duplicate (a crash in some client between link and
    /// unlink, or a backup restore). Dovecot renames real duplicates to a new unique name; we do
    /// the same, and drop one of two hard links to the same inode.
    static func resolveDuplicates(_ folderPath: String, _ duplicates: [ScannedMessage], _ result: inout [String: ScannedMessage]) throws {
        for dup in duplicates {
            guard let kept = result[dup.baseName] else { result[dup.baseName] = dup; continue }
            let keptStat = FileIO.status("\(folderPath)/\(kept.relativePath)")
            let dupStat = FileIO.status("\(folderPath)/\(dup.relativePath)")
            switch (keptStat, dupStat) {
            case (nil, nil): result[dup.baseName] = nil
            case (nil, _): result[dup.baseName] = dup
            case (_, nil): break
            case let (k?, d?):
                if k.st_ino == d.st_ino && k.st_dev == d.st_dev {
                    unlink("\(folderPath)/\(dup.relativePath)")
                } else {
                    var fresh = MaildirFileName(baseName: MaildirName.unique(size: Int(d.st_size)))
                    fresh.flags = dup.flags
                    let target = "\(folderPath)/cur/\(fresh.name)"
                    // link + unlink: never overwrite, never lose the file.
                    if link("\(folderPath)/\(dup.relativePath)", target) == 0 {
                        unlink("\(folderPath)/\(dup.relativePath)")
                        let m = ScannedMessage(directory: "cur", fileName: fresh.name)
                        result[m.baseName] = m
                    }
                }
            }
        }
    }

    /// Message names in one directory: no dot-files, nothing that cannot be a Maildir name
    /// (a newline would break the line-based uid list; such a file is left alone, not read).
    static func listMessages(_ dir: String) throws -> [String] {
        do {
            var names: [String] = []
            try FileIO.forEachEntry(dir) { name in
                if isMessageName(name) { names.append(String(decoding: name, as: UTF8.self)) }
                return true
            }
            return names
        } catch let e as SystemError {
            if e.errno == ENOENT { return [] }
            throw MaildirError.system(e)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// Taking over a folder that Dovecot or Courier-IMAP served: when a folder has no
/// `postamt-uidlist` yet but a `dovecot-uidlist` (or Courier's `courierimapuiddb`), the first
/// uid list Postamt writes keeps that file's UIDVALIDITY, every message's UID and the next UID,
/// so IMAP clients keep their caches and download nothing again. Dovecot's keyword table
/// (`dovecot-keywords`) has the format of `postamt-keywords` and the same letters in the file
/// names, so it is copied as it is.
///
/// Formats (Dovecot's maildir-uidlist.c; Courier's is Dovecot's version 1):
///
///     1 <uidvalidity> <next uid>                 version 1, and courierimapuiddb
///     <uid> <file name>
///
///     3 V<uidvalidity> N<next uid> G<guid> ...   version 3 (Dovecot 1.1 and later), fields in any order
///     <uid> [<key><value> ...] :<file name>
///
/// The file name may carry the flags of the time it was listed (":2,S"): only its base name
/// counts. Dovecot does not always rewrite N when it adds messages (its index holds the next
/// UID), so the next UID is also above the largest listed one.
public enum UIDListAdoption {
    public static let dovecotFileName = "dovecot-uidlist"
    public static let courierFileName = "courierimapuiddb"
    public static let dovecotKeywordsFileName = "dovecot-keywords"
    /// Written when a folder's list was adopted: a list lost later is not adopted again (the
    /// old file would bring back a UIDVALIDITY whose UIDs Postamt has handed out since), but
    /// numbered afresh with a new UIDVALIDITY, as any lost list is.
    public static let markerFileName = "postamt-adopted"

    public struct Foreign: Equatable, Sendable {
        public var uidValidity: UInt32
        public var nextUID: UInt32
        /// Ascending by uid; base names.
        public var entries: [(uid: UInt32, baseName: String)]

        public static func == (a: Foreign, b: Foreign) -> Bool {
            a.uidValidity == b.uidValidity && a.nextUID == b.nextUID
                && a.entries.map(\.uid) == b.entries.map(\.uid) && a.entries.map(\.baseName) == b.entries.map(\.baseName)
        }
    }

    /// Parses a dovecot-uidlist (version 1 or 3) or courierimapuiddb; nil when it is anything
    /// else or damaged (UIDs not ascending, a zero UIDVALIDITY, a line that does not parse).
    public static func parse(_ bytes: [UInt8]) -> Foreign? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasSuffix("\n") else { return nil } // cut short: not trusted
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()
        guard let header = lines.first else { return nil }
        let fields = header.split(separator: " ")
        var validity: UInt32 = 0, next: UInt32 = 1
        let version: Int
        switch fields.first {
        case "1":
            guard fields.count == 3, let v = UInt32(fields[1]), let n = UInt32(fields[2]) else { return nil }
            validity = v; next = n; version = 1
        case "3":
            for field in fields.dropFirst() {
                guard let key = field.first else { continue }
                if key == "V" { guard let v = UInt32(field.dropFirst()) else { return nil }; validity = v }
                if key == "N" { guard let n = UInt32(field.dropFirst()) else { return nil }; next = n }
            }
            version = 3
        default:
            return nil
        }
        guard validity != 0 else { return nil }
        var entries: [(uid: UInt32, baseName: String)] = []
        var names = Set<String>()
        for line in lines.dropFirst() {
            guard let space = line.firstIndex(of: " "), let uid = UInt32(line[..<space]), uid != 0 else { return nil }
            let rest = line[line.index(after: space)...]
            let name: Substring
            if version == 3 {
                // The file name follows the first " :" (or a ":" opening the rest).
                if rest.hasPrefix(":") { name = rest.dropFirst() }
                else if let r = rest.firstRange(of: " :") { name = rest[r.upperBound...] }
                else { return nil }
            } else {
                name = rest
            }
            let base = String(MaildirName.baseName(String(name)))
            guard !base.isEmpty, !base.contains("/"), entries.last.map({ $0.uid < uid }) ?? true,
                  names.insert(base).inserted else { return nil }
            entries.append((uid, base))
        }
        let largest = entries.last?.uid ?? 0
        guard largest < UInt32.max else { return nil }
        return Foreign(uidValidity: validity, nextUID: max(next, largest + 1), entries: entries)
    }

    /// The uid list a folder without one of its own starts from: Dovecot's, else Courier's,
    /// with the flags the files have now (messages whose files are gone are left out; the
    /// next scan numbers files the foreign list did not know, from its next UID). nil when
    /// there is neither, or it is damaged (the folder is then numbered afresh), or the folder
    /// was adopted before (`markerFileName`). Called under the uid list lock; also copies
    /// dovecot-keywords to postamt-keywords when that is missing.
    public static func adopt(folderPath: String) throws -> UIDListFile? {
        let marker = "\(folderPath)/\(markerFileName)"
        guard !FileIO.exists(marker) else { return nil }
        var foreign: Foreign?, source = ""
        for name in [dovecotFileName, courierFileName] {
            guard let bytes = try mapSystemErrors({ try FileIO.readFile("\(folderPath)/\(name)", limit: 1 << 30) }) else { continue }
            foreign = parse(bytes)
            source = name
            break
        }
        guard let foreign else { return nil }
        var flags: [String: MaildirFlags] = [:]
        for sub in ["cur", "new"] {
            for name in (try? FileIO.listDirectory("\(folderPath)/\(sub)")) ?? [] where !name.hasPrefix(".") {
                let parsed = MaildirFileName(parsing: name.contains(":") ? name : name + ":2,")
                flags[parsed.baseName] = parsed.flags
            }
        }
        let entries = foreign.entries.compactMap { e in
            flags[e.baseName].map { UIDListEntry(uid: e.uid, modSeq: 1, flags: $0, baseName: e.baseName) }
        }
        let keywords = "\(folderPath)/\(MaildirKeywords.fileName)"
        if !FileIO.exists(keywords),
           let bytes = try mapSystemErrors({ try FileIO.readFile("\(folderPath)/\(dovecotKeywordsFileName)", limit: 1 << 20) }) {
            try mapSystemErrors { try FileIO.replace(keywords, bytes, mode: 0o600, durability: .full) }
        }
        // The marker first: a crash before the list is written costs a fresh numbering, never
        // a second adoption.
        try mapSystemErrors { try FileIO.replace(marker, Array("\(source) V\(foreign.uidValidity) N\(foreign.nextUID)\n".utf8), mode: 0o600, durability: .full) }
        return UIDListFile(uidValidity: foreign.uidValidity, nextUID: foreign.nextUID, highestModSeq: 1, entries: UIDListEntries(entries))
    }
}

import IMAPProtocol
import Maildir
import MailSystem

/// RFC 6154 special uses of a user's folders. Sent, Drafts, Trash, Junk and Archive have theirs
/// by name (they are created at the first login); CREATE … (USE (…)) (CREATE-SPECIAL-USE, RFC
/// 6154 §3) gives another folder one, kept in the Maildir root's `postamt-specialuse`: one line
/// per folder, the attributes then a tab then the on-disk folder name (`\Sent\tSent Items`),
/// changed under a dot lock and replaced atomically. RENAME carries a folder's line along,
/// DELETE drops it.
struct IMAPSpecialUse {
    static let fileName = "postamt-specialuse"
    /// The uses CREATE may assign: the real-folder ones. \All and \Flagged name virtual
    /// mailboxes, which Postamt does not have.
    static let assignable: [IMAPMailboxAttribute] = [.archive, .drafts, .junk, .sent, .trash]

    let folders: MaildirFolders
    var path: String { "\(folders.root.path)/\(IMAPSpecialUse.fileName)" }

    /// The stored assignments: folder → attributes.
    func stored() -> [String: [IMAPMailboxAttribute]] {
        guard let bytes = (try? FileIO.readFile(path, limit: 1 << 20)) ?? nil else { return [:] }
        var result: [String: [IMAPMailboxAttribute]] = [:]
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard let tab = line.firstIndex(of: UInt8(ascii: "\t")) else { continue }
            let folder = String(decoding: line[(tab + 1)...], as: UTF8.self)
            let uses = String(decoding: line[..<tab], as: UTF8.self).split(separator: " ").map { IMAPMailboxAttribute(String($0)) }
            guard !folder.isEmpty else { continue }
            result[folder, default: []] += uses.filter { IMAPSpecialUse.assignable.contains($0) }
        }
        return result
    }

    /// A folder's attributes: those assigned with CREATE, and the one its name gives unless
    /// CREATE gave that use to another folder (the default folders come back at each login, see
    /// `IMAPMailStore.prepare`; the folder the user chose keeps the use).
    func attributes(_ folder: String, stored: [String: [IMAPMailboxAttribute]]) -> [IMAPMailboxAttribute] {
        var list: [IMAPMailboxAttribute] = []
        if let byName = IMAPMailStore.specialUse(folder),
           !stored.contains(where: { $0.key != folder && $0.value.contains(byName) && folders.exists($0.key) }) {
            list.append(byName)
        }
        for use in stored[folder] ?? [] where !list.contains(use) { list.append(use) }
        return list
    }

    /// The existing folder that already has `use`, if any.
    func holder(of use: IMAPMailboxAttribute, existing: [String]) -> String? {
        let table = stored()
        return existing.first { attributes($0, stored: table).contains(use) }
    }

    func assign(_ uses: [IMAPMailboxAttribute], to folder: String) throws {
        try change { table in table[folder] = uses }
    }

    func remove(_ folder: String) throws {
        try change { table in table[folder] = nil }
    }

    /// `old` became `new`, and so did its children (`old.x` → `new.x`).
    func rename(_ old: String, to new: String) throws {
        try change { table in
            for (folder, uses) in table where folder == old || folder.hasPrefix(old + ".") {
                table[folder] = nil
                table[new + folder.dropFirst(old.count)] = uses
            }
        }
    }

    private func change(_ update: (inout [String: [IMAPMailboxAttribute]]) -> Void) throws {
        try DotLock.withLock(for: path, options: folders.lockOptions) { _ in
            var table = stored()
            let before = table
            update(&table)
            guard table != before else { return }
            if table.isEmpty {
                try FileIO.unlinkIfPresent(path)
                return
            }
            let text = table.keys.sorted().compactMap { folder -> String? in
                guard let uses = table[folder], !uses.isEmpty else { return nil }
                return uses.map(\.name).joined(separator: " ") + "\t" + folder + "\n"
            }.joined()
            try FileIO.writeAtomically(path, Array(text.utf8), mode: 0o600)
        }
    }
}

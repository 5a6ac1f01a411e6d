#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// The Maildir++ folders of one Maildir (Courier's layout, which Dovecot's `LAYOUT=maildir++`
/// uses): the root is INBOX, and folder "Lists.Work" is the directory `.Lists.Work` beside
/// cur/, new/ and tmp/, holding the empty marker file `maildirfolder`. The hierarchy separator
/// is "."; a parent need not exist (IMAP shows it \Noselect).
///
/// Names here are on-disk names without the leading dot, already encoded by the IMAP server
/// (modified UTF-7 or Dovecot's UTF-8 with escapes): this layer only makes sure a name stays a
/// single directory entry inside the Maildir.
public struct MaildirFolders: Sendable {
    public let root: Maildir
    public var lockOptions: DotLock.Options

    /// RFC 6154 special-use folders, created on demand by `specialFolder(_:)`.
    public static let specialFolders = ["Sent", "Drafts", "Trash", "Junk", "Archive"]
    public static let subscriptionsFileName = "subscriptions"
    public static let markerFileName = "maildirfolder"

    public init(root: Maildir, lockOptions: DotLock.Options = DotLock.Options()) {
        self.root = root
        self.lockOptions = lockOptions
    }

    /// Refuses names that are not exactly one safe directory entry: empty, "/" (so no "..",
    /// absolute paths or "a/../../b"), NUL and other control characters, empty components
    /// (a leading, trailing or doubled "."), INBOX itself (the root), and names longer than a
    /// directory entry allows.
    public static func validate(_ name: String) throws {
        func bad(_ reason: String) -> MaildirError { .invalidFolderName(name, reason: reason) }
        if name.isEmpty { throw bad("empty") }
        if name.utf8.count > 254 { throw bad("longer than 254 bytes") }
        if name.utf8.contains(UInt8(ascii: "/")) { throw bad("contains \"/\"") }
        if name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { throw bad("contains a control character") }
        if name.hasPrefix(".") { throw bad("starts with \".\"") }
        if name.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            throw bad("has an empty hierarchy level")
        }
        if name.lowercased() == "inbox" { throw bad("INBOX is the Maildir root") }
    }

    /// The folder's Maildir (not created).
    public func maildir(for name: String) throws -> Maildir {
        try MaildirFolders.validate(name)
        return Maildir(path: "\(root.path)/.\(name)")
    }

    /// Folder names, sorted: every `.name` directory with a valid name (dot-files that are not
    /// directories, such as our temporary files, are not folders).
    public func list() throws -> [String] {
        let entries: [String]
        do { entries = try FileIO.listDirectory(root.path) } catch let e as SystemError {
            if e.errno == ENOENT { return [] }
            throw MaildirError.system(e)
        }
        return entries.compactMap { entry -> String? in
            guard entry.hasPrefix("."), entry.count > 1 else { return nil }
            let name = String(entry.dropFirst())
            guard (try? MaildirFolders.validate(name)) != nil, FileIO.isDirectory("\(root.path)/\(entry)") else { return nil }
            return name
        }.sorted()
    }

    public func exists(_ name: String) -> Bool {
        guard let m = try? maildir(for: name) else { return false }
        return FileIO.isDirectory(m.path)
    }

    /// Creates a folder (tmp/ new/ cur/ and the `maildirfolder` marker). Parents are not created:
    /// Maildir++ needs none.
    @discardableResult
    public func create(_ name: String) throws -> Maildir {
        let folder = try maildir(for: name)
        if !root.exists { try mapSystemErrors { try root.create() } }
        if mkdir(folder.path, 0o700) != 0 {
            if errno == EEXIST { throw MaildirError.folderExists(name) }
            throw MaildirError.system(SystemError("mkdir \(folder.path)"))
        }
        try mapSystemErrors {
            try folder.create()
            let marker = try FileIO.open("\(folder.path)/\(MaildirFolders.markerFileName)", O_WRONLY | O_CREAT, mode: 0o600)
            try marker.closeChecked()
            try FileIO.fsyncDirectory(root.path)
        }
        return folder
    }

    /// A special-use folder (Sent, Drafts, Trash, Junk, Archive), created when missing.
    public func specialFolder(_ name: String) throws -> Maildir {
        let folder = try maildir(for: name)
        if FileIO.isDirectory(folder.path) {
            if !folder.exists { try mapSystemErrors { try folder.create() } }
            return folder
        }
        do { return try create(name) } catch MaildirError.folderExists(_) { return folder }
    }

    /// Deletes one folder, not its children (RFC 3501 §6.3.4: inferiors stay). As Dovecot does,
    /// the directory is first renamed out of sight (into the root's tmp/, which no reader lists),
    /// so that other sessions see it vanish at once, then removed.
    public func delete(_ name: String) throws {
        let folder = try maildir(for: name)
        let aside = "\(root.path)/tmp/.postamt-deleted.\(MaildirName.unique())"
        if !FileIO.isDirectory("\(root.path)/tmp") { try mapSystemErrors { try root.create() } }
        if Glibc.rename(folder.path, aside) != 0 {
            if errno == ENOENT { throw MaildirError.folderMissing(name) }
            throw MaildirError.system(SystemError("rename \(folder.path)"))
        }
        try mapSystemErrors { try FileIO.fsyncDirectory(root.path) }
        try MaildirFolders.removeTree(aside)
    }

    /// Renames a folder and all its children (`A` → `B` takes `A.x` to `B.x`), refusing when a
    /// target exists or the new name lies inside the old one.
    public func rename(_ old: String, to new: String) throws {
        try MaildirFolders.validate(old)
        try MaildirFolders.validate(new)
        if new == old || new.hasPrefix(old + ".") {
            throw MaildirError.invalidFolderName(new, reason: "inside the folder being renamed")
        }
        guard exists(old) else { throw MaildirError.folderMissing(old) }
        let moving = try list().filter { $0 == old || $0.hasPrefix(old + ".") }
        let targets = moving.map { new + $0.dropFirst(old.count) }
        for t in targets {
            try MaildirFolders.validate(t)
            if exists(t) { throw MaildirError.folderExists(t) }
        }
        for (from, to) in zip(moving, targets) {
            if Glibc.rename("\(root.path)/.\(from)", "\(root.path)/.\(to)") != 0 {
                throw MaildirError.system(SystemError("rename .\(from)"))
            }
        }
        try mapSystemErrors { try FileIO.fsyncDirectory(root.path) }
    }

    // MARK: Subscriptions

    /// The `subscriptions` file: one folder name per line, as Courier and Dovecot write it for
    /// Maildir++ (names as the IMAP server chose to record them). Empty lines are ignored.
    public func subscriptions() throws -> [String] {
        guard let bytes = try mapSystemErrors({ try FileIO.readFile(subscriptionsPath, limit: 4 << 20) }) else { return [] }
        // Split bytes, not Characters: "\r\n" is one Character in Swift.
        var lines = bytes.split(separator: UInt8(ascii: "\n")).map { line in
            String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line, as: UTF8.self)
        }
        // Dovecot 2.2 and later: a "V\t2" header and a tab as the hierarchy separator.
        if lines.first == "V\t2" { lines = lines.dropFirst().map { $0.split(separator: "\t", omittingEmptySubsequences: false).joined(separator: ".") } }
        return lines.filter { !$0.isEmpty }
    }

    public func subscribe(_ name: String) throws {
        try changeSubscriptions { list in if !list.contains(name) { list.append(name) } }
    }

    public func unsubscribe(_ name: String) throws {
        try changeSubscriptions { list in list.removeAll { $0 == name } }
    }

    /// The root's `subscriptions` file (one folder name per line, as Dovecot and Courier keep it).
    public var subscriptionsPath: String { "\(root.path)/\(MaildirFolders.subscriptionsFileName)" }

    func changeSubscriptions(_ change: (inout [String]) -> Void) throws {
        if !root.exists { try mapSystemErrors { try root.create() } }
        try DotLock.withLock(for: subscriptionsPath, options: lockOptions) { _ in
            var list = try subscriptions()
            let before = list
            change(&list)
            if list.contains(where: { $0.contains("\n") || $0.contains("\0") }) {
                throw MaildirError.invalidFolderName(list.first { $0.contains("\n") || $0.contains("\0") }!, reason: "line break or NUL")
            }
            guard list != before else { return }
            let text = list.map { $0 + "\n" }.joined()
            try mapSystemErrors { try FileIO.writeAtomically(subscriptionsPath, Array(text.utf8), mode: 0o600) }
        }
    }

    /// rm -r without following symbolic links.
    static func removeTree(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for entry in (try? FileIO.listDirectory(path)) ?? [] { try removeTree("\(path)/\(entry)") }
            if rmdir(path) != 0 && errno != ENOENT { throw MaildirError.system(SystemError("rmdir \(path)")) }
        } else if unlink(path) != 0 && errno != ENOENT {
            throw MaildirError.system(SystemError("unlink \(path)"))
        }
    }
}

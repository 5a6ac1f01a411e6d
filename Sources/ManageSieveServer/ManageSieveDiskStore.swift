#if canImport(Glibc)
import Glibc
#endif
import MailSystem
import ManageSieveProtocol

/// A user's scripts where Pigeonhole keeps them: `NAME.sieve` files in the store directory
/// (~/sieve) and the active script as a symbolic link (~/.dovecot.sieve → sieve/NAME.sieve),
/// replaced atomically (a new link, then rename), so a delivery sees the old or the new script.
public final class ManageSieveDiskStore: ManageSieveStore {
    public let directory: String
    public let activeLink: String
    let maximumSize: Int
    let maximumScripts: Int

    public init(directory: String, activeLink: String, maximumSize: Int, maximumScripts: Int) {
        self.directory = directory
        self.activeLink = activeLink
        self.maximumSize = maximumSize
        self.maximumScripts = maximumScripts
    }

    /// RFC 5804 §1.6 names (no controls, no U+2028/2029), also no "/" and no leading ".".
    static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 200, !name.hasPrefix("."), !name.contains("/") else { return false }
        return !name.unicodeScalars.contains { $0.value < 0x20 || ($0.value >= 0x7F && $0.value <= 0x9F) || $0.value == 0x2028 || $0.value == 0x2029 }
    }

    func path(_ name: String) throws(ManageSieveStoreError) -> String {
        guard ManageSieveDiskStore.isValidName(name) else { throw .badName }
        return "\(directory)/\(name).sieve"
    }

    /// The name the active link points at, if it points into the store.
    func activeName() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(activeLink, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let target = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let base = FileIO.baseName(target)
        guard base.hasSuffix(".sieve") else { return nil }
        return String(base.dropLast(6))
    }

    public func list() throws(ManageSieveStoreError) -> [(name: String, active: Bool)] {
        let entries: [String]
        do { entries = try FileIO.listDirectory(directory) } catch let e as SystemError where e.errno == ENOENT { return [] } catch {
            throw .tryLater("\(error)")
        }
        let active = activeName()
        return entries.filter { $0.hasSuffix(".sieve") && !$0.hasPrefix(".") }.sorted().map {
            let name = String($0.dropLast(6))
            return (name, name == active)
        }
    }

    public func get(_ name: String) throws(ManageSieveStoreError) -> [UInt8] {
        let p = try path(name)
        do {
            guard let bytes = try FileIO.readFile(p, limit: max(maximumSize, 1 << 20) * 2) else { throw ManageSieveStoreError.nonexistent }
            return bytes
        } catch let e as ManageSieveStoreError { throw e } catch { throw .tryLater("\(error)") }
    }

    public func haveSpace(_ name: String, size: Int) throws(ManageSieveStoreError) {
        let p = try path(name)
        if size > maximumSize { throw .quota(code: "QUOTA/MAXSIZE", "Scripts may be at most \(maximumSize) bytes.") }
        if !FileIO.exists(p), try list().count >= maximumScripts {
            throw .quota(code: "QUOTA/MAXSCRIPTS", "At most \(maximumScripts) scripts.")
        }
    }

    public func put(_ name: String, _ script: [UInt8]) throws(ManageSieveStoreError) {
        try haveSpace(name, size: script.count)
        let p = try path(name)
        do {
            try FileIO.makeDirectories(directory, mode: 0o700)
            try FileIO.writeAtomically(p, script, mode: 0o600)
        } catch { throw .tryLater("\(error)") }
    }

    public func delete(_ name: String) throws(ManageSieveStoreError) {
        let p = try path(name)
        if activeName() == name { throw .active }
        if unlink(p) != 0 { throw errno == ENOENT ? .nonexistent : .tryLater("unlink \(p): errno \(errno)") }
    }

    public func rename(_ old: String, to new: String) throws(ManageSieveStoreError) {
        let from = try path(old), to = try path(new)
        guard FileIO.exists(from) else { throw .nonexistent }
        // link(2) then unlink: never replaces an existing script.
        if link(from, to) != 0 { throw errno == EEXIST ? .alreadyExists : .tryLater("link \(to): errno \(errno)") }
        if activeName() == old { try setActive(new) }
        unlink(from)
    }

    public func setActive(_ name: String?) throws(ManageSieveStoreError) {
        guard let name else {
            var st = stat()
            if lstat(activeLink, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK { unlink(activeLink) }
            return
        }
        let p = try path(name)
        guard FileIO.exists(p) else { throw .nonexistent }
        // A regular file left by hand (or by another tool) is kept in the store, not lost.
        var st = stat()
        if lstat(activeLink, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG {
            do { try FileIO.makeDirectories(directory, mode: 0o700) } catch { throw .tryLater("\(error)") }
            var n = 0
            var kept = "\(directory)/dovecot-sieve.sieve"
            while FileIO.exists(kept) { n += 1; kept = "\(directory)/dovecot-sieve-\(n).sieve" }
            if Glibc.rename(activeLink, kept) != 0 { throw .tryLater("rename \(activeLink): errno \(errno)") }
        }
        let linkDirectory = FileIO.directoryName(activeLink)
        let target = p.hasPrefix(linkDirectory + "/") ? String(p.dropFirst(linkDirectory.count + 1)) : p
        let temporary = "\(activeLink).postamt-new"
        unlink(temporary)
        guard symlink(target, temporary) == 0 else { throw .tryLater("symlink \(temporary): errno \(errno)") }
        guard Glibc.rename(temporary, activeLink) == 0 else { unlink(temporary); throw .tryLater("rename \(activeLink): errno \(errno)") }
    }
}

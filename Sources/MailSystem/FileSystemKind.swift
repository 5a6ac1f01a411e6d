#if canImport(Glibc)
import Glibc
#endif
import CSpawn

/// What the file system under a path promises about a file replaced by rename(2) without
/// fsync(2), to decide whether a replacement that must only never be torn needs an fsync.
public enum ReplaceOrdering: Sendable, Equatable {
    /// ext4 with its defaults (data=ordered, auto_da_alloc): "the data blocks of the new file are
    /// forced to disk before the rename() operation is committed" (the kernel's ext4 admin
    /// guide, auto_da_alloc), so a crash leaves the old file or the whole new one.
    case dataBeforeRename
    /// tmpfs/ramfs: nothing survives a crash anyway.
    case volatile
    /// Anything else (XFS, NFS, ext4 with data=writeback or noauto_da_alloc…): fsync the data.
    case unknown

    /// The ordering for the file system holding `path` (a directory), from statfs(2) and this
    /// process's /proc/self/mountinfo; cached per device.
    public static func of(_ path: String) -> ReplaceOrdering {
        var st = stat()
        guard stat(path, &st) == 0 else { return .unknown }
        let device = UInt64(st.st_dev)
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let known = cache[device] { return known }
        let found = detect(path, device: st.st_dev)
        cache[device] = found
        return found
    }

    nonisolated(unsafe) static var cache: [UInt64: ReplaceOrdering] = [:]
    static let cacheLock = Mutex()

    static func detect(_ path: String, device: dev_t) -> ReplaceOrdering {
        let type = postamt_fs_type(path)
        guard type != -1 else { return .unknown }
        switch UInt64(bitPattern: Int64(type)) {
        case 0x0102_1994, 0x8584_58f6: return .volatile // TMPFS_MAGIC, RAMFS_MAGIC
        case 0xEF53: break // EXT2/3/4_SUPER_MAGIC: which one, and how mounted, says mountinfo
        default: return .unknown
        }
        guard let bytes = try? FileIO.readFile("/proc/self/mountinfo", limit: 4 << 20) else { return .unknown }
        // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext4 /dev/root rw,errors=continue"
        // field 3 is major:minor; after " - " come the type, the source and the super options.
        // glibc's dev_t encoding (gnu_dev_major/gnu_dev_minor).
        let dev = UInt64(device)
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        let wanted = "\(major):\(minor)"
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[2] == wanted, let dash = fields.firstIndex(of: "-"),
                  fields.count > dash + 3 else { continue }
            let type = fields[dash + 1]
            let options = fields[dash + 3].split(separator: ",")
            guard type == "ext4" else { return .unknown }
            if options.contains("noauto_da_alloc") || options.contains("data=writeback") { return .unknown }
            return .dataBeforeRename
        }
        return .unknown
    }
}

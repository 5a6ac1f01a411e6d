import CSpawn

/// statfs(2)'s f_type ("magic", linux/magic.h) of the file system holding a path.
public enum FileSystemMagic {
    /// nil when statfs(2) fails.
    public static func of(_ path: String) -> UInt64? {
        let type = postamt_fs_type(path)
        guard type != -1 else { return nil }
        return UInt64(UInt32(truncatingIfNeeded: type))
    }

    /// f_type values (linux/magic.h and the file systems' own headers) of file systems whose
    /// changes may come from another host.
    public static let networkMagics: Set<UInt64> = [
        0x6969,        // NFS
        0x517B,        // SMB
        0xFF53_4D42,   // CIFS
        0xFE53_4D42,   // SMB2
        0x00C3_6400,   // CephFS
        0x6573_5546,   // FUSE (sshfs, GlusterFS, MooseFS, …)
        0x5346_414F,   // AFS
        0x6B41_4653,   // kAFS
        0x7375_7245,   // Coda
        0x0116_1970,   // GFS2
        0x7461_636F,   // OCFS2
        0x0102_1997,   // 9P
        0x0BD0_0BD0,   // Lustre
        0x4750_4653,   // GPFS
    ]

    /// Whether `path` is on a network or cluster file system (false when statfs(2) fails).
    public static func isNetwork(_ path: String) -> Bool {
        guard let magic = of(path) else { return false }
        return networkMagics.contains(magic)
    }
}

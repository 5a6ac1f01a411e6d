import CSpawn

/// statfs(2)'s f_type ("magic", linux/magic.h) of the file system holding a path.
public enum FileSystemMagic {
    /// nil when statfs(2) fails.
    public static func of(_ path: String) -> UInt64? {
        let type = postamt_fs_type(path)
        guard type != -1 else { return nil }
        return UInt64(UInt32(truncatingIfNeeded: type))
    }
}

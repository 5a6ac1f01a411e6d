#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// IDLE on shared storage. inotify reports only what this host's kernel does to a directory:
/// a delivery that another host makes on an NFS (or CIFS, CephFS…) mount is never reported.
/// A polling IDLE therefore also looks at the folder every `interval`: the modification times
/// of new/ and cur/ and the uid list's identity, size and time; when one changed, the session
/// synchronises as on an inotify event.
struct IMAPIdlePoll: Sendable {
    /// `only`: polling without inotify, for file systems whose inotify events mislead (and to
    /// test polling on a local disk, where inotify would see everything first).
    enum Mode: String, Sendable { case auto, yes, no, only }

    var mode: Mode = .auto
    var interval: Duration = .seconds(5)

    /// Whether a folder at `path` is polled: always for `yes`, never for `no`, and for `auto`
    /// when its file system is a network or cluster one.
    func polls(_ path: String) -> Bool {
        switch mode {
        case .yes, .only: return true
        case .no: return false
        case .auto: return IMAPIdlePoll.isNetworkFileSystem(path)
        }
    }

    /// statfs(2) f_type values (linux/magic.h and the file systems' own headers) of file
    /// systems whose changes may come from another host.
    static let networkMagics: Set<UInt64> = [
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

    static func isNetworkFileSystem(_ path: String) -> Bool {
        guard let magic = FileSystemMagic.of(path) else { return false }
        return networkMagics.contains(magic)
    }

    /// What a poll compares: the folder's new/ and cur/ and its uid list. Each is opened
    /// before fstat(2): on NFS, opening revalidates the attributes (close-to-open
    /// consistency), where a bare stat(2) may answer from the attribute cache.
    struct Fingerprint: Equatable {
        var values: [Int64] = []

        init(folder: String) {
            for (name, directory) in [("new", true), ("cur", true), ("postamt-uidlist", false)] {
                let fd = open("\(folder)/\(name)", O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0))
                guard fd >= 0 else {
                    values += [-1, -1, -1, -1]
                    continue
                }
                var st = stat()
                if fstat(fd, &st) == 0 {
                    values += [Int64(st.st_ino), Int64(st.st_size), Int64(st.st_mtim.tv_sec), Int64(st.st_mtim.tv_nsec)]
                } else {
                    values += [-1, -1, -1, -1]
                }
                close(fd)
            }
        }
    }
}

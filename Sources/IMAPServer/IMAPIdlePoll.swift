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
        case .auto: return FileSystemMagic.isNetwork(path)
        }
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

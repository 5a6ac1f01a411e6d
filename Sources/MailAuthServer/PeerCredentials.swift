#if canImport(Glibc)
import Glibc
#endif

/// Who is at the other end of a Unix socket, as the kernel saw it at connect(2) (SO_PEERCRED;
/// the supplementary groups through SO_PEERGROUPS, Linux 4.13).
public struct PeerCredentials: Equatable, Sendable, CustomStringConvertible {
    public let pid: pid_t
    public let uid: uid_t
    public let gid: gid_t
    public let groups: [gid_t]

    public init(pid: pid_t, uid: uid_t, gid: gid_t, groups: [gid_t]) {
        self.pid = pid; self.uid = uid; self.gid = gid; self.groups = groups
    }

    public static func of(socket fd: Int32) -> PeerCredentials? {
        // struct ucred needs _GNU_SOURCE, which Swift's Glibc lacks: its layout is pid, uid, gid.
        var words = [UInt32](repeating: 0, count: 3)
        var length = socklen_t(12)
        let rc = words.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, SO_PEERCRED, $0.baseAddress, &length) }
        guard rc == 0, length == 12 else { return nil }
        var groups = [gid_t](repeating: 0, count: 256)
        var groupsLength = socklen_t(groups.count * MemoryLayout<gid_t>.size)
        let soPeerGroups: Int32 = 59   // SO_PEERGROUPS, not in every Glibc module map
        let grc = groups.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, soPeerGroups, $0.baseAddress, &groupsLength) }
        let count = grc == 0 ? Int(groupsLength) / MemoryLayout<gid_t>.size : 0
        return PeerCredentials(pid: pid_t(bitPattern: words[0]), uid: words[1], gid: words[2], groups: Array(groups.prefix(count)))
    }

    /// Root, the server's own user, and members (primary or supplementary) of `group`.
    public func isAllowed(group: gid_t?, serverUID: uid_t) -> Bool {
        if uid == 0 || uid == serverUID { return true }
        guard let group else { return false }
        return gid == group || groups.contains(group)
    }

    public var description: String { "pid=\(pid) uid=\(uid) gid=\(gid)" }
}

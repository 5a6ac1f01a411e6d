#if canImport(Glibc)
import Glibc
#endif
import CSpawn

/// A system user from the passwd database (getpwnam_r), with the groups initgroups would give.
public struct SystemUser: Equatable, Sendable {
    public let name: String
    public let uid: uid_t
    public let gid: gid_t
    public let home: String
    public let shell: String

    public init(name: String, uid: uid_t, gid: gid_t, home: String, shell: String) {
        self.name = name; self.uid = uid; self.gid = gid; self.home = home; self.shell = shell
    }

    public static func named(_ name: String) -> SystemUser? {
        guard !name.isEmpty, !name.contains("\0") else { return nil }
        return PasswdCache.shared.user(.name(name)) {
            lookup { pwd, buf, len, result in getpwnam_r(name, pwd, buf, len, result) }
        }
    }

    public static func withID(_ uid: uid_t) -> SystemUser? {
        PasswdCache.shared.user(.id(uid)) {
            lookup { pwd, buf, len, result in getpwuid_r(uid, pwd, buf, len, result) }
        }
    }

    public static func current() -> SystemUser? { withID(geteuid()) }

    private static func lookup(_ call: (UnsafeMutablePointer<passwd>, UnsafeMutablePointer<CChar>, Int,
                                         UnsafeMutablePointer<UnsafeMutablePointer<passwd>?>) -> Int32) -> SystemUser? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        // Not zero-filled: the lookup writes what it returns (pages untouched stay unfaulted).
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: 16384)
        defer { buffer.deallocate() }
        let rc = call(&pwd, buffer, 16384, &result)
        guard rc == 0, result != nil else { return nil }
        return SystemUser(name: String(cString: pwd.pw_name), uid: pwd.pw_uid, gid: pwd.pw_gid,
                          home: String(cString: pwd.pw_dir), shell: String(cString: pwd.pw_shell))
    }

    /// The supplementary groups of this user (getgrouplist), including the primary group.
    public func groups() -> [gid_t] {
        var count: Int32 = 64
        while true {
            var list = [gid_t](repeating: 0, count: Int(count))
            var n = count
            if getgrouplist(name, gid, &list, &n) >= 0 {
                return Array(list[0..<Int(n)])
            }
            if n <= count { return [gid] }
            count = n
        }
    }
}

/// A group from the group database.
public func groupID(named name: String) -> gid_t? {
    var grp = group()
    var result: UnsafeMutablePointer<group>? = nil
    let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: 16384)
    defer { buffer.deallocate() }
    let rc = getgrnam_r(name, &grp, buffer, 16384, &result)
    guard rc == 0, result != nil else { return nil }
    return grp.gr_gid
}

public enum Privileges {
    /// Irrevocably becomes `user`: supplementary groups, then gid, then uid, then a check that
    /// root cannot come back (qmail's prot.c order; STYLE.md).
    public static func drop(to user: SystemUser) throws {
        try drop(to: user, groups: user.groups())
    }

    /// Becomes the daemon account `user` (mail_owner) with its primary group alone, as Postfix's
    /// set_ugid and qmail's prot_gid do: no supplementary groups to enumerate, so a program
    /// started per connection does not load every NSS module (libnss_systemd and its
    /// libraries) to look them up.
    public static func dropToDaemonAccount(_ user: SystemUser) throws {
        try drop(to: user, groups: [user.gid])
    }

    static func drop(to user: SystemUser, groups: [gid_t]) throws {
        var step: Int32 = 0
        let rc = groups.withUnsafeBufferPointer { g in
            postamt_drop_privileges(user.uid, user.gid, g.baseAddress, Int32(g.count), &step)
        }
        if rc != 0 { throw SystemError("drop privileges to \(user.name) (step \(step))") }
    }

    public static var isRoot: Bool { geteuid() == 0 }

    /// True when the program runs set-id: then the environment and arguments are not trusted
    /// for anything that chooses files (Postfix's postdrop.c).
    public static var isSetID: Bool { getuid() != geteuid() || getgid() != getegid() }
}

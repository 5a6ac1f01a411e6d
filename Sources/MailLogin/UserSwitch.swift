#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// Why a login could not become its user; the text is for the log, never for the client.
public struct LoginError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Becoming the user after a successful login (DESIGN.md, invariant 4): as root, irrevocably —
/// supplementary groups (initgroups' list), gid, uid, in qmail's prot.c order — then a check
/// that no id of the process is root any more and that root cannot come back. Not as root
/// (a test, `--preauth` from a shell), the process must already be that user.
public enum UserSwitch {
    /// Becomes `name` and changes to its home directory; returns the user. Root (uid 0) never
    /// logs in to a mail server.
    public static func become(_ name: String) throws(LoginError) -> SystemUser {
        guard let user = SystemUser.named(name) else { throw LoginError("no system user \(name)") }
        guard user.uid != 0 else { throw LoginError("\(name) has uid 0: root may not log in") }
        if getuid() == 0 || geteuid() == 0 {
            do {
                try Privileges.drop(to: user)
            } catch {
                throw LoginError("cannot become \(name): \(error)")
            }
            try verify(user)
        } else if getuid() != user.uid || geteuid() != user.uid {
            throw LoginError("running as uid \(getuid()), cannot become \(name) (uid \(user.uid)) without root")
        }
        _ = chdir(user.home)
        setenv("HOME", user.home, 1)
        setenv("USER", user.name, 1)
        setenv("LOGNAME", user.name, 1)
        return user
    }

    /// Real, effective and saved ids are the user's, the groups are the user's, and setuid(0)
    /// and setgid(0) fail.
    static func verify(_ user: SystemUser) throws(LoginError) {
        // Real, effective, saved and file-system ids, as the kernel reports them.
        let (uids, gids) = procStatusIDs()
        guard getuid() == user.uid, geteuid() == user.uid, uids.isEmpty || uids.allSatisfy({ $0 == user.uid }) else {
            throw LoginError("uids are \(uids) after dropping to \(user.uid)")
        }
        guard getgid() == user.gid, getegid() == user.gid, gids.isEmpty || gids.allSatisfy({ $0 == user.gid }) else {
            throw LoginError("gids are \(gids) after dropping to \(user.gid)")
        }
        let count = getgroups(0, nil)
        var groups = [gid_t](repeating: 0, count: Int(max(count, 0)))
        if count > 0 { _ = getgroups(count, &groups) }
        let expected = Set(user.groups())
        guard Set(groups).isSubset(of: expected.union([user.gid])) else {
            throw LoginError("supplementary groups \(groups) are not \(user.name)'s")
        }
        // An unprivileged process may setuid to its real or saved uid: failing proves neither is 0.
        if setuid(0) == 0 || seteuid(0) == 0 { throw LoginError("root came back after dropping to \(user.name)") }
        if user.gid != 0 && (setgid(0) == 0 || setegid(0) == 0) {
            throw LoginError("gid 0 came back after dropping to \(user.name)")
        }
    }

    /// The Uid: and Gid: lines of /proc/self/status (empty when /proc is not mounted).
    static func procStatusIDs() -> (uids: [UInt32], gids: [UInt32]) {
        guard let bytes = try? FileIO.readFile("/proc/self/status", limit: 1 << 16) else { return ([], []) }
        var uids: [UInt32] = [], gids: [UInt32] = []
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let name = fields.first else { continue }
            let values = fields.dropFirst().compactMap { UInt32($0) }
            if name == "Uid:" { uids = values } else if name == "Gid:" { gids = values }
        }
        return (uids, gids)
    }
}

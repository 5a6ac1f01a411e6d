#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// Per-user token databases (spam_database = per-user) and who writes them.
///
/// A user's database is `spam_database_directory/users/USER/tokens.db`. The directory belongs to
/// the user, group of the mail_owner, mode 2750: the learner, running as that user, can replace
/// the file by rename (which needs a directory it may write), postamt-spamcheck reads it as the
/// user (postamt-local) or as the mail_owner (queue mode, through the group), and set-gid makes
/// every file the user's learner creates there belong to that group. Nobody else can read it.
///
/// Only root makes the directory (`users/` is root's), and root never writes the database:
/// `postamt spam learn-queue` and `learn-folders` fork a child per user that becomes the user
/// (Privileges.drop) before it reads the Maildir or touches the database.
///
/// Databases of earlier versions lived at `users/USER.db` (made by root). `prepare` moves such a
/// file into the user's directory and gives it to the user, once, whenever a `postamt spam`
/// command run by root meets that user (postamt(8), SPAM DATABASES).
public enum UserSpamDatabase {
    /// The directory of `user`'s database.
    public static func directory(_ options: SpamCheckOptions, user: String) -> String {
        "\(options.databaseDirectory)/users/\(user)"
    }

    /// Makes (run by root) `users/` and `users/USER/` with their owners and modes, moves the
    /// database of the old layout into place and gives the files in the directory to the user.
    /// Symbolic links are never followed: the directory is the user's. Returns what it did, one
    /// line each, for the command to print.
    @discardableResult
    public static func prepare(_ options: SpamCheckOptions, user: SystemUser, group: gid_t) throws -> [String] {
        var notes: [String] = []
        let users = "\(options.databaseDirectory)/users"
        try FileIO.makeDirectories(users, mode: 0o755)
        let directory = directory(options, user: user.name)
        var st = stat()
        if lstat(directory, &st) != 0 {
            guard mkdir(directory, 0o750) == 0 || errno == EEXIST else { throw SystemError("mkdir \(directory)") }
            guard lstat(directory, &st) == 0 else { throw SystemError("stat \(directory)") }
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw SystemError("\(directory) is not a directory", errno: ENOTDIR) }
        if st.st_uid != user.uid || st.st_gid != group || st.st_mode & 0o7777 != 0o2750 {
            guard lchown(directory, user.uid, group) == 0 else { throw SystemError("chown \(directory)") }
            // chown clears set-gid; the mode comes after it.
            guard chmod(directory, 0o2750) == 0 else { throw SystemError("chmod \(directory)") }
        }
        let current = "\(directory)/tokens.db"
        let legacy = "\(users)/\(user.name).db"
        if lstat(legacy, &st) == 0, st.st_mode & S_IFMT == S_IFREG, lstat(current, &st) != 0 {
            guard rename(legacy, current) == 0 else { throw SystemError("rename \(legacy) to \(current)") }
            unlink(legacy + ".lock")
            unlink(legacy + ".tmp")
            notes.append("\(user.name): moved \(legacy) to \(current)")
        }
        // Files root left (a database moved here, or one root wrote before this layout) go to
        // the user; opened without following links, so a link planted here changes nothing else.
        for (name, mode) in [("tokens.db", mode_t(0o640)), ("tokens.db.lock", 0o660), ("tokens.db.tmp", 0o640)] {
            let path = "\(directory)/\(name)"
            let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            if st.st_uid != user.uid || st.st_gid != group {
                guard fchown(fd, user.uid, group) == 0 else { throw SystemError("chown \(path)") }
                _ = fchmod(fd, mode)
            }
        }
        return notes
    }

    /// The group the databases share with postamt-spamcheck's queue mode: the mail_owner's.
    public static func group(mailOwner: String) -> gid_t? {
        SystemUser.named(mailOwner)?.gid
    }

    /// Runs `body` in a child process that has irrevocably become `user`; true when it
    /// returned true. The child's output goes where the parent's goes, in order.
    public static func runAs(_ user: SystemUser, _ body: () throws -> Bool) -> Bool {
        fflush(stdout)
        fflush(stderr)
        let pid = fork()
        if pid < 0 {
            print("\(user.name): fork: \(String(cString: strerror(errno)))")
            return false
        }
        if pid == 0 {
            var ok = false
            do {
                try Privileges.drop(to: user)
                ok = try body()
            } catch {
                print("\(user.name): \(error)")
            }
            fflush(stdout)
            fflush(stderr)
            _exit(ok ? 0 : 1)
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED && WEXITSTATUS == 0
        return status == 0
    }
}

#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import MailSystem

/// The webmail's sessions, kept across requests and connections although every connection is
/// a process of its own that becomes the user and keeps no memory.
///
/// One file per login in a directory that root owns (mode 0711: nobody else can list it or
/// create anything in it). The file's name is the hex SHA-256 of the cookie, so the cookie
/// itself is stored nowhere; a copy of the directory gives no one a session. The file belongs
/// to the user (root creates it at login, then fchowns it) and its owner *is* the session's
/// identity: a user can change the contents and times of their own session files only, never
/// their owner, so no user can make a session for anyone else. That ownership also lets the
/// process, after it became the user, keep its own session alive (the file's mtime is the
/// last use) and end it at logout (truncating it to nothing) without root. Root removes
/// expired and ended files when it meets them. No database, no daemon, and it works on NFS.
///
/// The file holds `postamt-webmail-session 1`, `created <epoch seconds>`, `csrf <64 hex>`.
/// Beside it, root makes the session's file area at login (`<name>.files`, the user's, 0700):
/// attachments kept between two submissions of the compose form (UploadStore). It goes with the
/// session: emptied at logout, removed by root with the expired or ended session file.
public struct SessionStore: Sendable {
    public let directory: String
    public let idleSeconds: Int64
    public let lifetimeSeconds: Int64

    public init(directory: String, idleSeconds: Int64, lifetimeSeconds: Int64) {
        self.directory = directory; self.idleSeconds = idleSeconds; self.lifetimeSeconds = lifetimeSeconds
    }

    public struct Session: Sendable, Equatable {
        public let uid: uid_t
        /// The form token of this session (a second secret, sent only inside pages).
        public let csrfToken: String
        public let created: Int64
        /// The session file's path.
        public let path: String
    }

    public enum Lookup: Sendable, Equatable {
        /// No such session, or it expired or ended.
        case none
        case valid(Session)
        /// A session exists but this process may not read it: it belongs to another user.
        case otherUser
    }

    public struct StoreError: Error, CustomStringConvertible {
        public let description: String
    }

    /// 32 random bytes as 64 hex digits (getrandom(2) through SystemRandomNumberGenerator).
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// A cookie value we could have made: exactly 64 lower-case hex digits.
    public static func isWellFormed(_ token: String) -> Bool {
        token.utf8.count == 64 && token.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    public static func sha256Hex(_ text: String) -> String {
        let input = Array(text.utf8)
        var out = [UInt8](repeating: 0, count: 32)
        _ = input.withUnsafeBufferPointer { buffer in
            out.withUnsafeMutableBufferPointer { postamt_sha256(buffer.baseAddress, buffer.count, $0.baseAddress) }
        }
        return hex(out)
    }

    public func path(forCookie cookie: String) -> String { "\(directory)/\(SessionStore.sha256Hex(cookie))" }

    /// As root: the directory, root-owned with mode 0711 (made when missing; a directory that
    /// others could write to is refused).
    func prepareDirectory() throws(StoreError) {
        if !FileIO.isDirectory(directory) {
            do { try FileIO.makeDirectories(directory, mode: 0o711) } catch { throw StoreError(description: "cannot create \(directory): \(error)") }
            _ = chmod(directory, 0o711)
        }
        guard let st = FileIO.status(directory), st.st_uid == 0, st.st_mode & 0o022 == 0 else {
            throw StoreError(description: "\(directory) must be a directory owned by root and writable by no one else")
        }
    }

    /// As root, at login: a new session of `user`; returns the cookie.
    public func create(for user: SystemUser, now: Int64) throws(StoreError) -> (cookie: String, session: Session) {
        try prepareDirectory()
        removeExpired(now: now, budget: 64)
        let cookie = SessionStore.randomToken()
        let csrf = SessionStore.randomToken()
        let path = path(forCookie: cookie)
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(description: "cannot create a session file: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let text = "postamt-webmail-session 1\ncreated \(now)\ncsrf \(csrf)\n"
        do { try FileIO.writeAll(fd, text) } catch {
            _ = unlink(path)
            throw StoreError(description: "cannot write a session file: \(error)")
        }
        guard fchown(fd, user.uid, user.gid) == 0 else {
            _ = unlink(path)
            throw StoreError(description: "cannot give the session file to \(user.name): \(String(cString: strerror(errno)))")
        }
        // The session's file area (UploadStore): the user's, for attachments kept between forms.
        let files = SessionStore.filesDirectory(path)
        if mkdir(files, 0o700) == 0 {
            if chown(files, user.uid, user.gid) != 0 { SessionStore.removeFiles(files) }
        }
        return (cookie, Session(uid: user.uid, csrfToken: csrf, created: now, path: path))
    }

    /// The session of `cookie`, if it is current. As root, an expired or ended file is removed.
    public func lookup(cookie: String, now: Int64) -> Lookup {
        guard SessionStore.isWellFormed(cookie) else { return .none }
        let path = path(forCookie: cookie)
        let fd = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return errno == EACCES ? .otherUser : .none }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid != 0 else { return .none }
        let expired = st.st_size == 0 || st.st_size > 4096 || now - Int64(st.st_mtim.tv_sec) > idleSeconds
        guard !expired, let bytes = try? FileIO.readAll(fd, limit: 4096),
              let session = SessionStore.parse(bytes, uid: st.st_uid, path: path),
              now - session.created <= lifetimeSeconds, session.created <= now + 300 else {
            if geteuid() == 0 { _ = unlink(path); SessionStore.removeFiles(SessionStore.filesDirectory(path)) }
            return .none
        }
        return .valid(session)
    }

    static func parse(_ bytes: [UInt8], uid: uid_t, path: String) -> Session? {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        guard lines.count == 3, lines[0] == "postamt-webmail-session 1",
              lines[1].hasPrefix("created "), let created = Int64(lines[1].dropFirst(8)),
              lines[2].hasPrefix("csrf ") else { return nil }
        let csrf = String(lines[2].dropFirst(5))
        guard isWellFormed(csrf) else { return nil }
        return Session(uid: uid, csrfToken: csrf, created: created, path: path)
    }

    /// The session was used now (its mtime), as root or as its user.
    public func touch(_ session: Session) {
        _ = utimensat(AT_FDCWD, session.path, nil, AT_SYMLINK_NOFOLLOW)
    }

    /// Logout, as its user: the file is emptied (root removes it later), so the cookie is dead
    /// at once on every connection.
    public func end(_ session: Session) {
        let fd = Glibc.open(session.path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC)
        if fd >= 0 { close(fd) }
        UploadStore.empty(SessionStore.filesDirectory(session.path))
        if geteuid() == 0 {
            _ = unlink(session.path)
            SessionStore.removeFiles(SessionStore.filesDirectory(session.path))
        }
    }

    /// The session's file area: its file's path with `.files`.
    public static func filesDirectory(_ sessionPath: String) -> String { sessionPath + ".files" }

    /// Removes a session's file area (its files, then the directory; nothing deeper is made).
    static func removeFiles(_ directory: String) {
        guard let st = FileIO.status(directory), st.st_mode & S_IFMT == S_IFDIR else { return }
        if let names = try? FileIO.listDirectory(directory) {
            for name in names { _ = unlink("\(directory)/\(name)") }
        }
        _ = rmdir(directory)
    }

    /// As root: removes up to `budget` expired or ended session files.
    public func removeExpired(now: Int64, budget: Int) {
        guard geteuid() == 0, let names = try? FileIO.listDirectory(directory) else { return }
        var left = budget
        for name in names where name.utf8.count == 70 && name.hasSuffix(".files") && left > 0 {
            // A file area whose session is gone (ended, expired, or removed by hand).
            let session = "\(directory)/\(name.dropLast(6))"
            if FileIO.status(session) == nil {
                SessionStore.removeFiles("\(directory)/\(name)")
                left -= 1
            }
        }
        for name in names where name.utf8.count == 64 && left > 0 {
            let path = "\(directory)/\(name)"
            guard var st = FileIO.status(path) else { continue }
            _ = withUnsafeMutablePointer(to: &st) { lstat(path, $0) }
            let idle = now - Int64(st.st_mtim.tv_sec) > idleSeconds
            let old = now - Int64(st.st_ctim.tv_sec) > lifetimeSeconds + idleSeconds
            if st.st_size == 0 || idle || old {
                _ = unlink(path)
                SessionStore.removeFiles(SessionStore.filesDirectory(path))
                left -= 1
            }
        }
    }
}

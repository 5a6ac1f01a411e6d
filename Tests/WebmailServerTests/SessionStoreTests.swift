import Glibc
import Testing
@testable import WebmailServer
import MailSystem

@Suite struct SessionStoreTests {
    func directory() -> String {
        let path = makeTemporaryDirectory(prefix: "webmail-sessions")
        chmod(path, 0o711)
        return path
    }

    @Test func tokensAreRandomAndWellFormed() {
        let a = SessionStore.randomToken(), b = SessionStore.randomToken()
        #expect(a != b)
        #expect(SessionStore.isWellFormed(a))
        #expect(!SessionStore.isWellFormed(a.uppercased()))
        #expect(!SessionStore.isWellFormed("../../etc/passwd"))
        #expect(SessionStore.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func createLookupTouchAndEnd() throws {
        guard let me = SystemUser.current(), me.uid != 0 || geteuid() == 0 else { return }
        let dir = directory()
        defer { _ = try? FileIO.listDirectory(dir).forEach { SessionStore.removeFiles("\(dir)/\($0)"); unlink("\(dir)/\($0)") }; rmdir(dir) }
        // As root the file goes to a user; run with a real one so the owner check means something.
        let owner = SystemUser.named("nobody") ?? me
        let store = SessionStore(directory: dir, idleSeconds: 100, lifetimeSeconds: 1000)
        guard geteuid() == 0 else { return }
        let (cookie, session) = try store.create(for: owner, now: Int64(time(nil)))
        #expect(session.uid == owner.uid)
        let now = Int64(time(nil))
        #expect(store.lookup(cookie: cookie, now: now) == .valid(session))
        // The file is named by the cookie's hash; the cookie is stored nowhere.
        let names = try FileIO.listDirectory(dir).sorted()
        #expect(names == [SessionStore.sha256Hex(cookie), SessionStore.sha256Hex(cookie) + ".files"])
        // Beside it the session's file area, the user's own (attachments kept between forms).
        let files = SessionStore.filesDirectory(session.path)
        #expect(FileIO.status(files)!.st_uid == owner.uid && FileIO.status(files)!.st_mode & 0o777 == 0o700)
        let uploads = UploadStore(session: session)
        let id = try uploads.save(filename: "rapport ü.pdf", contentType: "application/pdf", content: Array("%PDF".utf8))
        #expect(uploads.load(id, limit: 100) == UploadStore.Upload(id: id, filename: "rapport ü.pdf", contentType: "application/pdf", content: Array("%PDF".utf8)))
        #expect(uploads.load("../" + id, limit: 100) == nil && uploads.load(SessionStore.randomToken(), limit: 100) == nil)
        let text = String(decoding: try FileIO.readFile("\(dir)/\(names[0])")!, as: UTF8.self)
        #expect(!text.contains(cookie))
        #expect(FileIO.status("\(dir)/\(names[0])")!.st_uid == owner.uid)
        // Idle too long, and past the lifetime: gone (and removed, as root). Idle counts from the
        // file's mtime, the real time of the last use, which may be a second past `now`.
        let lastUse = Int64(FileIO.status("\(dir)/\(names[0])")!.st_mtim.tv_sec)
        #expect(store.lookup(cookie: cookie, now: max(now, lastUse) + 101) == .none)
        #expect(try FileIO.listDirectory(dir).isEmpty)
        let (cookie2, session2) = try store.create(for: owner, now: now - 2000)
        #expect(store.lookup(cookie: cookie2, now: now) == .none)
        _ = session2
        // An unknown or malformed cookie.
        #expect(store.lookup(cookie: SessionStore.randomToken(), now: now) == .none)
        #expect(store.lookup(cookie: "x", now: now) == .none)
        // Logout ends it for every connection.
        let (cookie3, session3) = try store.create(for: owner, now: now)
        store.end(session3)
        #expect(store.lookup(cookie: cookie3, now: now) == .none)
        #expect(FileIO.status(SessionStore.filesDirectory(session3.path)) == nil)
        // A file area whose session file is gone is removed by root's sweep.
        let (_, session4) = try store.create(for: owner, now: now)
        unlink(session4.path)
        store.removeExpired(now: now, budget: 10)
        #expect(FileIO.status(SessionStore.filesDirectory(session4.path)) == nil)
    }

    @Test func aFileOwnedByRootIsNoSession() throws {
        guard geteuid() == 0 else { return }
        let dir = directory()
        defer { _ = try? FileIO.listDirectory(dir).forEach { SessionStore.removeFiles("\(dir)/\($0)"); unlink("\(dir)/\($0)") }; rmdir(dir) }
        let store = SessionStore(directory: dir, idleSeconds: 100, lifetimeSeconds: 1000)
        let cookie = SessionStore.randomToken()
        let now = Int64(time(nil))
        try FileIO.writeAtomically(store.path(forCookie: cookie), Array("postamt-webmail-session 1\ncreated \(now)\ncsrf \(SessionStore.randomToken())\n".utf8), mode: 0o600)
        #expect(store.lookup(cookie: cookie, now: now) == .none)
    }
}

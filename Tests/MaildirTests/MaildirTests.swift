import Testing
import Glibc
import MailSystem
@testable import Maildir

@Suite struct MaildirTests {
    /// Each test's own (a suite instance per test), removed when the test is done.
    let scratch = TemporaryDirectory(prefix: "maildir-test")
    func tempDir() -> String { scratch.path }

    @Test func uniqueNamesFollowTheConvention() {
        let a = MaildirName.unique(size: 42, host: "mx")
        let b = MaildirName.unique(size: 42, host: "mx")
        #expect(a != b)
        #expect(a.hasSuffix(".mx,S=42"))
        #expect(a.contains(".M") && a.contains("P\(getpid())Q"))
        #expect(MaildirName.size(a + ":2,S") == 42)
        #expect(MaildirName.baseName(a + ":2,RS") == Substring(a))
    }

    @Test func hostEscaping() {
        #expect(MaildirName.hostPart("a/b:c") == "a\\057b\\072c")
    }

    @Test func deliverCreatesAndCommits() throws {
        let dir = tempDir()
        let md = Maildir(path: "\(dir)/Maildir/")
        #expect(!md.exists)
        let name = try md.deliver([Array("A: 1\n".utf8)[...], Array("\nbody\n".utf8)[...]])
        #expect(md.exists)
        #expect(try FileIO.listDirectory("\(md.path)/new") == [name])
        #expect(try FileIO.listDirectory("\(md.path)/tmp").isEmpty)
        #expect(try FileIO.readFile("\(md.path)/new/\(name)") == Array("A: 1\n\nbody\n".utf8))
        #expect(MaildirName.size(name) == 11)
        let st = FileIO.status(md.path)!
        #expect(st.st_mode & 0o777 == 0o700)
    }

    /// What tmp/ saw (inotify) while `body` ran: names created, moved out, removed there.
    func tmpEvents(of md: Maildir, _ body: () throws -> Void) throws -> [String] {
        try md.create()
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(inotify_add_watch(fd, "\(md.path)/tmp", UInt32(IN_CREATE | IN_MOVED_FROM | IN_DELETE)) >= 0)
        try body()
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = read(fd, &buffer, buffer.count)
        var events: [String] = []
        var offset = 0
        while n > 0 && offset + 16 <= n {
            let mask = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self) }
            let length = Int(buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self) })
            events.append(mask & UInt32(IN_CREATE) != 0 ? "create" : mask & UInt32(IN_MOVED_FROM) != 0 ? "moved" : "delete")
            offset += 16 + length
        }
        return events
    }

    @Test func aNewMessageNeverHasANameInTmp() throws {
        let md = Maildir(path: "\(tempDir())/Maildir")
        var name = ""
        let events = try tmpEvents(of: md) { name = try md.deliver([Array("A: 1\n\nbody\n".utf8)[...]]) }
        // Written unnamed in tmp/'s file system and linked into new/ once whole and fsynced.
        #expect(events == [])
        #expect(try FileIO.listDirectory("\(md.path)/new") == [name])
        #expect(try FileIO.readFile("\(md.path)/new/\(name)") == Array("A: 1\n\nbody\n".utf8))
        let st = FileIO.status("\(md.path)/new/\(name)")!
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(st.st_nlink == 1)
    }

    @Test func theNamedWayStillDeliversThroughTmp() throws {
        let md = Maildir(path: "\(tempDir())/Maildir")
        let parts = [Array("A: 1\n\nbody\n".utf8)[...]]
        var name = ""
        let events = try tmpEvents(of: md) { name = try md.deliverNamed(parts, size: 12) }
        #expect(events == ["create", "moved"])
        #expect(try FileIO.listDirectory("\(md.path)/new") == [name])
        #expect(try FileIO.listDirectory("\(md.path)/tmp").isEmpty)
        #expect(try FileIO.readFile("\(md.path)/new/\(name)") == parts[0].map { $0 })
    }

    @Test func manyDeliveriesNeverCollide() throws {
        let md = Maildir(path: "\(tempDir())/Maildir")
        for _ in 0..<200 { try md.deliver([Array("x\n".utf8)[...]]) }
        #expect(try FileIO.listDirectory("\(md.path)/new").count == 200)
    }

    @Test func folderHasMarker() throws {
        let md = Maildir(path: "\(tempDir())/Maildir")
        try md.create()
        let junk = try md.folder("Junk")
        #expect(junk.path.hasSuffix("/.Junk"))
        #expect(FileIO.exists("\(junk.path)/maildirfolder"))
        #expect(junk.exists)
    }
}

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

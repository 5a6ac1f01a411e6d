import Foundation
import Testing
import MailCore
import MailSystem
@testable import MailDelivery

@Suite struct WarmUpTests {
    func warmUpDirectories() -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("postamt-warm-up-") })
    }

    /// The spawner's warm-up delivers its message through a user's default Maildir path and
    /// leaves nothing behind, whatever home_mailbox the installation has.
    @Test func theWarmUpDeliversAndLeavesNothing() {
        let before = warmUpDirectories()
        var configuration = Configuration(root: "")
        configuration.set("home_mailbox", "Mail/inbox")   // an mbox: the warm-up still uses a Maildir
        #expect(LocalDelivery.warmUp(configuration: configuration, log: Log(program: "test")))
        #expect(warmUpDirectories().subtracting(before).isEmpty)
    }

    @Test func removeTreeRemovesDirectoriesAndNeverFollowsLinks() throws {
        let base = NSTemporaryDirectory() + "postamt-tree-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let outside = base + "-outside"
        try FileIO.makeDirectories(base + "/a/b")
        try FileIO.makeDirectories(outside)
        try FileIO.writeAtomically(base + "/a/b/file", Array("x".utf8))
        try FileIO.writeAtomically(outside + "/kept", Array("y".utf8))
        #expect(symlink(outside, base + "/a/link") == 0)
        FileIO.removeTree(base)
        #expect(!FileIO.exists(base))
        #expect(FileIO.exists(outside + "/kept"))
        FileIO.removeTree(outside)
        #expect(!FileIO.exists(outside))
        FileIO.removeTree(base)   // nothing there: no error
    }
}

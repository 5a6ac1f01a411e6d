import Foundation
import Glibc
import Testing

/// The queue's spare files (queue_spare_files, QueueSpares) through the real programs: smtpd's
/// message file goes round (smtpd → runner → spare/ → the next smtpd session) instead of being
/// unlinked and created again, each message arrives whole, and a file a local user's
/// postamt-queue made is unlinked as before (the mail_owner could not reuse it).
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct QueueSpareTests {
    func spares(_ site: SMTPSite) -> [(name: String, inode: ino_t, size: Int, owner: uid_t)] {
        site.system.queueFiles("spare").sorted().compactMap { name in
            var st = stat()
            guard lstat("\(site.system.queue)/spare/\(name)", &st) == 0 else { return nil }
            return (name, st.st_ino, Int(st.st_size), st.st_uid)
        }
    }

    @Test func aDeliveredMessagesFileCarriesTheNextMessage() throws {
        let user = try TestUser()
        let site = try SMTPSite(config: "local_domains = localhost\nqueue_spare_files = 4", auth: false)
        let port = try site.start("mx")
        func send(_ n: Int) throws {
            let body = String(repeating: "line \(n) of the message body\\r\\n", count: 40 * (3 - n))
            let r = try site.python("""
                import smtplib
                s = smtplib.SMTP("127.0.0.1", \(port), timeout=60)
                s.sendmail("s@remote.example", ["\(user.name)@localhost"], b"Subject: spare-\(n)\\r\\n\\r\\n\(body)")
                s.quit()
                """)
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)\n\(site.log().suffix(2000))")
            try waitFor("message \(n) delivered and its file put back") {
                user.messages().count == n + 1 && site.system.queueIsEmpty && site.system.queueFiles("mess").isEmpty
            }
        }
        try send(0)
        let first = spares(site)
        #expect(first.count == 1, "\(first)")
        let mailOwner = getpwnam("postamt").pointee.pw_uid
        #expect(first.allSatisfy { $0.owner == mailOwner }, "\(first)")
        // Wiped (queue_spare_size: blocks kept, zeros read) or, where the file system cannot,
        // emptied: nothing of the delivered message is left to read.
        for spare in first {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(site.system.queue)/spare/\(spare.name)"))
            #expect(bytes.allSatisfy { $0 == 0 }, "spare \(spare.name) holds \(bytes.count) bytes, not all zero")
        }
        // The next two messages (shorter ones: nothing of a longer one may trail them) are
        // written into that same file, and it comes back again: still one spare, the same inode.
        try send(1)
        try send(2)
        let after = spares(site)
        #expect(after.count == 1 && after.first?.inode == first.first?.inode, "\(first) then \(after)")
        let texts = user.messages()
        for n in 0..<3 {
            let expected = String(repeating: "line \(n) of the message body\n", count: 40 * (3 - n))
            #expect(texts.filter { $0.contains("Subject: spare-\(n)\n") && $0.hasSuffix("\n\n" + expected) }.count == 1,
                    "message \(n): \(texts)")
        }
        #expect(!site.system.log().contains("corrupt"), "\(site.system.log().suffix(2000))")

        // A local user's submission: that file is the user's; it is unlinked, not kept.
        let queued = try site.system.queueInject(message: Data("Subject: from-the-user\n\nhello\n".utf8),
                                                 envelope: envelope(user.name, ["\(user.name)@localhost"]), as: user)
        #expect(queued.status == 0, "\(queued.stderr)")
        try waitFor("the user's message delivered") {
            user.messages().count == 4 && site.system.queueIsEmpty && site.system.queueFiles("mess").isEmpty
        }
        let end = spares(site)
        #expect(end.count == 1 && end.first?.inode == first.first?.inode, "\(end)")
    }

    /// A power loss that keeps the runner's wiping of a delivered message's file but undoes
    /// the unlink of its incoming/ID (the envelope record in the file's header): at start the
    /// runner finds a file of zeros there, moves it to corrupt/ and delivers nothing again.
    @Test func aWipedFileBackUnderItsEnvelopeNameGoesToCorrupt() throws {
        let site = try SMTPSite(config: "local_domains = localhost", runner: false, auth: false)
        try site.system.startRunner()
        site.system.stopRunner()
        let id = "6B16F0000000A1B2C"
        let message = "\(site.system.queue)/mess/\(id)"
        let mailOwner = getpwnam("postamt").pointee
        #expect(FileManager.default.createFile(atPath: message, contents: Data(count: 5000), attributes: [.posixPermissions: 0o640]))
        #expect(chown(message, mailOwner.pw_uid, mailOwner.pw_gid) == 0)
        #expect(link(message, "\(site.system.queue)/incoming/\(id)") == 0)
        try site.system.startRunner()
        try waitFor("moved to corrupt/") { site.system.queueFiles("corrupt").sorted() == ["\(id).envelope", "\(id).message"] }
        #expect(site.system.queueFiles("incoming").isEmpty && site.system.queueFiles("mess").isEmpty)
        #expect(site.system.log().contains("\(id): ") && !site.system.log().contains("status=sent"), "\(site.system.log().suffix(2000))")
    }

    @Test func turningReuseOffRemovesTheSpares() throws {
        let site = try SMTPSite(config: "local_domains = localhost\nqueue_spare_files = 2", runner: false, auth: false)
        try site.system.startRunner()
        site.system.stopRunner()
        for name in ["0", "1", "7", "junk"] {
            FileManager.default.createFile(atPath: "\(site.system.queue)/spare/\(name)", contents: Data())
        }
        try site.system.startRunner()
        try waitFor("the stray names removed") { site.system.queueFiles("spare").sorted() == ["0", "1"] }
        #expect(site.system.log().contains("removed spare/junk"), "\(site.system.log())")
        site.system.stopRunner()
        let conf = "\(site.system.root)/etc/postamt/postamt.conf"
        try (String(contentsOfFile: conf, encoding: .utf8) + "\nqueue_spare_files = 0\n").write(toFile: conf, atomically: true, encoding: .utf8)
        try site.system.startRunner()
        try waitFor("every spare removed") { site.system.queueFiles("spare").isEmpty }
    }
}

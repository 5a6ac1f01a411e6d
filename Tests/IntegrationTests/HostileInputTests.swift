import Foundation
import Glibc
import Testing

/// Invariant 5 for the queue: bad input gets its documented exit and changes nothing.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct HostileInputTests {
    func expectNothingQueued(_ system: Installation) {
        #expect(system.queueFiles("incoming").isEmpty)
        #expect(system.queueFiles("mess").isEmpty)
        #expect(system.queueFiles("tmp").isEmpty)
    }

    @Test func badEnvelopesAreRefusedAndLeaveNothing() throws {
        let system = try Installation()
        try system.startRunner()
        system.stopRunner()
        let cases: [(Data, Int32)] = [
            (Data("Fs@x\0Ta\rb@x\0\0".utf8), 91),
            (Data("Fs@x\0Ta\nb@x\0\0".utf8), 91),
            (Data("Fs@x\0Ta\0b@x\0\0".utf8), 91),
            (Data("Fs@x\0T\(String(repeating: "a", count: 600))@x\0\0".utf8), 11),
            (Data("Fs@x\0Tb@x\0".utf8), 91),
            (Data("Fs@x\0".utf8), 91),
            (Data(), 91),
            (Data("Fs@x\0Tb@x\0\0trailing".utf8), 91),
        ]
        for (env, code) in cases {
            let r = try system.queueInject(message: Data("Subject: x\n\nbody\n".utf8), envelope: env)
            #expect(r.status == code, "envelope \(env.map { $0 }) gave \(r.status): \(r.stderr)")
            #expect(r.stderr.contains("postamt/queue["), "a one-line reason on stderr")
            expectNothingQueued(system)
        }
    }

    @Test func oversizedMessageIsPermanentlyRefused() throws {
        let system = try Installation(config: "message_size_limit = 1M")
        try system.startRunner()
        let r = try system.queueInject(message: Data(repeating: 0x61, count: 2 << 20), envelope: envelope("s@x", ["u@x"]))
        #expect(r.status == 31)
        #expect(r.stderr.contains("message_size_limit"))
        expectNothingQueued(system)
    }

    @Test func emptyLFOnlyAndFiftyMegabyteMessagesArrive() throws {
        let user = try TestUser()
        let system = try Installation()
        try system.startRunner()
        let rcpt = ["\(user.name)@\(system.hostname)"]
        #expect(try system.queueInject(message: Data(), envelope: envelope("s@x", rcpt)).status == 0)
        let lfOnly = Data("Subject: lf\n\nline 1\nline 2\n\n.\n..\n".utf8)
        #expect(try system.queueInject(message: lfOnly, envelope: envelope("s@x", rcpt)).status == 0)
        var big = Data("Subject: big\n\n".utf8)
        let line = Data((String(repeating: "0123456789", count: 7) + "\n").utf8)
        while big.count + line.count <= 50_000_000 { big += line }
        #expect(try system.queueInject(message: big, envelope: envelope("s@x", rcpt)).status == 0)
        try waitFor("three deliveries", timeout: 120) { user.messageData().count == 3 && system.queueIsEmpty }
        let delivered = user.messageData()
        // Empty: only our headers. LF only: the body byte for byte. Big: whole.
        #expect(delivered.contains { String(decoding: $0, as: UTF8.self).hasSuffix("+0000\n") || $0.last == 0x0A && !String(decoding: $0, as: UTF8.self).contains("Subject") })
        #expect(delivered.contains { $0.suffix(lfOnly.count) == lfOnly })
        #expect(delivered.contains { $0.count > big.count && $0.suffix(big.count) == big })
    }

    @Test func fullQueueDiskFailsTemporarilyAndLeavesNothing() throws {
        let user = try TestUser()
        let system = try Installation()
        try FileManager.default.createDirectory(atPath: system.queue, withIntermediateDirectories: true)
        let m = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", system.queue])
        try #require(m.status == 0, "mount tmpfs: \(m.stderr)")
        defer { system.stopRunner(); _ = try? run("/bin/umount", ["-l", system.queue]) }
        try system.startRunner()
        let r = try system.queueInject(message: Data(repeating: 0x61, count: 2 << 20), envelope: envelope("s@x", ["\(user.name)@\(system.hostname)"]))
        #expect(r.status == 53, "\(r.stderr)")
        #expect(system.queueFiles("incoming").isEmpty && system.queueFiles("mess").isEmpty && system.queueFiles("tmp").isEmpty)
        // Space is there again for a small message.
        #expect(try system.queueInject(message: Data("Subject: small\n\nok\n".utf8), envelope: envelope("s@x", ["\(user.name)@\(system.hostname)"])).status == 0)
        try waitFor("small delivered") { user.messages().count == 1 }
    }

    @Test func fullMaildirDefersThenDelivers() throws {
        let user = try TestUser()
        let maildir = "\(user.home)/Maildir"
        try FileManager.default.createDirectory(atPath: maildir, withIntermediateDirectories: true)
        let m = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=256k,mode=0700,uid=\(user.uid)", "tmpfs", maildir])
        try #require(m.status == 0, "mount tmpfs: \(m.stderr)")
        let system = try Installation()
        defer { system.stopRunner(); _ = try? run("/bin/umount", ["-l", maildir]) }
        for sub in ["tmp", "new", "cur"] {
            try FileManager.default.createDirectory(atPath: "\(maildir)/\(sub)", withIntermediateDirectories: true)
            chown("\(maildir)/\(sub)", user.uid, getpwnam(user.name).pointee.pw_gid)
        }
        let filler = "\(maildir)/filler"
        FileManager.default.createFile(atPath: filler, contents: Data(repeating: 0, count: 240 * 1024))
        try system.startRunner()
        let r = try system.sendmail(["-i", user.name], "Subject: full\n\n" + String(repeating: "y", count: 64 * 1024) + "\n")
        #expect(r.status == 0)
        try waitFor("deferred on full disk") { system.log().contains("status=deferred (maildir") }
        #expect(user.messages().isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(maildir)/tmp")) ?? []).isEmpty, "the failed attempt left a tmp file")
        try FileManager.default.removeItem(atPath: filler)
        try waitFor("delivered once space returns") { user.messages().count == 1 && system.queueIsEmpty }
    }
}

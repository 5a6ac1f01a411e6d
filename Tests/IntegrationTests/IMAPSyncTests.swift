import Foundation
import Glibc
import Testing

/// mbsync (isync) against postamt-imapd through its Tunnel (`postamt-imapd --preauth`, the
/// ssh-tunnel mode), syncing both ways with a local Maildir.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/mbsync"),
                             "needs root (creates users) and mbsync (Debian package isync)"))
struct IMAPSyncTests {
    func files(_ dir: String) -> [String] {
        ["new", "cur"].flatMap { sub in
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(sub)")) ?? []).map { "\(sub)/\($0)" }
        }.sorted()
    }

    @Test func mbsyncBothWays() throws {
        let installation = try Installation()
        let user = try TestUser()
        try user.deliver("From: a@example.org\nSubject: one\n\nfirst\n")
        try user.deliver("From: b@example.org\nSubject: two\n\nsecond\n")
        let local = "\(installation.root)/local"
        try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
        let imapd = "\(installation.root)/bin/postamt-imapd"
        try? FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/postamt-imapd", toPath: imapd)
        let rc = mbsyncConfiguration(tunnel: "POSTAMT_ROOT=\(installation.root) \(imapd) --preauth \(user.name)", local: local)
        try rc.write(toFile: "\(installation.root)/mbsyncrc", atomically: true, encoding: .utf8)
        func sync() throws {
            let r = try run("/usr/bin/mbsync", ["-c", "\(installation.root)/mbsyncrc", "all"], timeout: 120)
            #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        }
        try sync()
        #expect(files("\(local)/INBOX").count == 2)
        #expect(FileManager.default.fileExists(atPath: "\(local)/Sent"))

        // Near side changes: a new message, a flag, a new folder with a message.
        try "From: c@example.org\nSubject: three\n\nthird\n".write(toFile: "\(local)/INBOX/new/1.local.test", atomically: true, encoding: .utf8)
        let first = try #require(files("\(local)/INBOX").first { $0.hasPrefix("cur/") || $0.hasPrefix("new/") })
        let flagged = first.hasPrefix("new/") ? "cur/" + first.dropFirst(4) + ":2,FS" : (first.contains(":2,") ? first + "F" : first + ":2,F")
        rename("\(local)/INBOX/\(first)", "\(local)/INBOX/\(flagged)")
        for sub in ["cur", "new", "tmp"] {
            try FileManager.default.createDirectory(atPath: "\(local)/Projects/\(sub)", withIntermediateDirectories: true)
        }
        try "From: d@example.org\nSubject: four\n\nfourth\n".write(toFile: "\(local)/Projects/new/2.local.test", atomically: true, encoding: .utf8)
        try sync()
        let server = "\(user.home)/Maildir"
        let serverFiles = files(server)
        #expect(serverFiles.count == 3, "\(serverFiles)")
        #expect(serverFiles.contains { $0.hasSuffix(",F") || $0.contains(":2,F") }, "\(serverFiles)")
        #expect(files("\(server)/.Projects").count == 1)

        // A far side change (a delivery), synced back.
        try user.deliver("From: e@example.org\nSubject: five\n\nfifth\n")
        try sync()
        #expect(files("\(local)/INBOX").count == 4)
    }
}

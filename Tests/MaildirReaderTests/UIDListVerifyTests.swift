import Foundation
import Testing
import MailSystem
@testable import Maildir

/// The check of a list against a listing of cur/ as bytes (`UIDList.verifiedStamp`): a stamp
/// only when the list describes the folder exactly, and a synchronisation that takes that way
/// gives what a full scan gives.
struct UIDListVerifyTests {
    func synchronized(_ dir: TemporaryDirectory, _ count: Int) throws -> (Maildir, MaildirMailbox) {
        let (md, box) = try makeMailbox(in: dir, messages: count)
        try box.synchronize()
        return (md, box)
    }

    @Test func exactFolderIsVerified() throws {
        let dir = TemporaryDirectory()
        let (md, box) = try synchronized(dir, 5)
        let file = try #require(try box.uidList.read())
        let stamp = try #require(try UIDList.verifiedStamp(md.path, file))
        #expect(stamp.modified == FileTime(FileIO.status("\(md.path)/cur")!.st_mtim))
        // Hidden files and files in tmp/ are no messages.
        try writeFile("\(md.path)/cur/.hidden", "x")
        try writeFile("\(md.path)/tmp/incoming", "x")
        #expect(try UIDList.verifiedStamp(md.path, file) != nil)
    }

    @Test func anyDifferenceIsLeftToTheScan() throws {
        let dir = TemporaryDirectory()
        let (md, box) = try synchronized(dir, 4)
        let file = try #require(try box.uidList.read())
        let cur = "\(md.path)/cur"
        let m = box.snapshot.messages[1]
        func refused(_ what: String, _ change: () throws -> Void, undo: () throws -> Void) throws {
            try change()
            #expect(try UIDList.verifiedStamp(md.path, file) == nil, "\(what)")
            try undo()
            #expect(try UIDList.verifiedStamp(md.path, file) != nil, "\(what): undone")
        }
        try refused("an extra file", { try writeFile("\(cur)/1.M1P1.extra:2,", "x\n") },
                    undo: { unlink("\(cur)/1.M1P1.extra:2,") })
        try refused("a file gone", { #expect(rename("\(md.path)/\(m.relativePath)", "\(md.path)/tmp/aside") == 0) },
                    undo: { #expect(rename("\(md.path)/tmp/aside", "\(md.path)/\(m.relativePath)") == 0) })
        try refused("other flags", { #expect(rename("\(md.path)/\(m.relativePath)", "\(cur)/\(m.baseName):2,S") == 0) },
                    undo: { #expect(rename("\(cur)/\(m.baseName):2,S", "\(md.path)/\(m.relativePath)") == 0) })
        try refused("no info", { #expect(rename("\(md.path)/\(m.relativePath)", "\(cur)/\(m.baseName)") == 0) },
                    undo: { #expect(rename("\(cur)/\(m.baseName)", "\(md.path)/\(m.relativePath)") == 0) })
        try refused("letters out of order", {
            var flagged = try #require(try box.uidList.read())
            flagged.entries.setFlags([.seen, .flagged], modSeq: 9, at: 1)
            try FileIO.writeAtomically(box.uidList.filePath, flagged.encoded(), mode: 0o600)
            #expect(rename("\(md.path)/\(m.relativePath)", "\(cur)/\(m.baseName):2,SF") == 0)
            #expect(try UIDList.verifiedStamp(md.path, flagged) == nil)
            #expect(rename("\(cur)/\(m.baseName):2,SF", "\(cur)/\(m.baseName):2,FS") == 0)
            #expect(try UIDList.verifiedStamp(md.path, flagged) != nil)
            #expect(rename("\(cur)/\(m.baseName):2,FS", "\(cur)/\(m.baseName):2,SF") == 0)
        }, undo: { #expect(rename("\(cur)/\(m.baseName):2,SF", "\(md.path)/\(m.relativePath)") == 0) })
        try refused("mail in new/", { try deliver(md, "new\n") }, undo: {
            for name in names(in: "\(md.path)/new") { unlink("\(md.path)/new/\(name)") }
        })
    }

    @Test func verifiedSynchronisationGivesWhatAScanGives() throws {
        let dir = TemporaryDirectory()
        let (md, box) = try synchronized(dir, 6)
        // A flag change by Postamt leaves a stamp too fresh to trust; once it is older than the
        // settle time (simulated by ageing cur/ and the stamp), the next session checks cur/.
        _ = try box.store(uids: [2], .replace([.seen, .replied]))
        let cur = "\(md.path)/cur"
        let old = FileTime(seconds: FileTime.now().seconds - 3, nanoseconds: 0)
        var file = try #require(try box.uidList.read())
        file.curStamp = CurStamp(modified: old, checked: FileTime(seconds: old.seconds, nanoseconds: 1_000))
        try FileIO.writeAtomically(box.uidList.filePath, file.encoded(), mode: 0o600)
        var times = [timespec(tv_sec: Int(old.seconds), tv_nsec: 0), timespec(tv_sec: Int(old.seconds), tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, cur, &times, 0) == 0)
        let verified = try UIDList(folderPath: md.path).synchronizeReportingIdentity(moveNew: true)
        // The list now carries the listing's settled stamp, and says what a full scan says.
        let stamp = try #require(try box.uidList.read()?.curStamp)
        #expect(stamp.modified == old && stamp.checked.seconds >= old.seconds + 2)
        let scanned = try MaildirScanner.scan(md.path, moveNew: false)
        #expect(verified.snapshot.messages.count == scanned.count)
        for m in verified.snapshot.messages {
            #expect(scanned[m.baseName]?.flags == m.flags)
            #expect(FileIO.exists("\(md.path)/\(m.relativePath)"))
        }
        #expect(verified.snapshot.messages.first { $0.uid == 2 }?.flags == [.seen, .replied])
    }
}

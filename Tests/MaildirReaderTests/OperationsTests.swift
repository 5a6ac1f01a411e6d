import Foundation
import Testing
import MailSystem
@testable import Maildir

struct OperationsTests {
    func inbox() throws -> (TemporaryDirectory, MaildirMailbox) {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        try md.create()
        return (dir, MaildirMailbox(maildir: md))
    }

    @Test func storeRenamesAndBumpsModSeq() throws {
        let (dir, box) = try inbox()
        defer { withExtendedLifetime(dir) {} }  // the Maildir lives in it: removed only at the end
        try deliver(box.maildir, "a\n"); try deliver(box.maildir, "b\n")
        try box.synchronize()
        let before = box.snapshot.highestModSeq
        let r = try box.store(uids: [1], .add([.seen, .flagged]))
        #expect(r.updated.map(\.uid) == [1])
        #expect(r.updated[0].flags == [.flagged, .seen])
        #expect(r.updated[0].modSeq == before + 1)
        #expect(names(in: "\(box.path)/cur").contains("\(r.updated[0].baseName):2,FS"))
        // UNCHANGEDSINCE (RFC 7162): message 1 changed after `before`, message 2 did not.
        let conditional = try box.store(uids: [1, 2], .add(.replied), unchangedSince: before)
        #expect(conditional.modifiedSince == [1])
        #expect(conditional.updated.map(\.uid) == [2])
        let removed = try box.store(uids: [1], .remove(.flagged))
        #expect(removed.updated[0].flags == .seen)
        let replaced = try box.store(uids: [1], .replace(.draft))
        #expect(replaced.updated[0].flags == .draft)
        // A new session sees the same flags and modseqs from the uid list.
        let other = try MaildirMailbox(maildir: box.maildir).synchronize()
        #expect(other.messages == box.snapshot.messages)
        #expect(other.highestModSeq == box.snapshot.highestModSeq)
        #expect(try box.store(uids: [99], .add(.seen)).expunged == [99])
    }

    @Test func storeFollowsRenameByAnotherSession() throws {
        let (dir, box) = try inbox()
        defer { withExtendedLifetime(dir) {} }  // the Maildir lives in it: removed only at the end
        let base = try deliver(box.maildir, "a\n")
        try box.synchronize()
        // Someone else sets \Flagged after our scan; our +\Seen must keep it.
        #expect(rename("\(box.path)/cur/\(base):2,", "\(box.path)/cur/\(base):2,F") == 0)
        let r = try box.store(uids: [1], .add(.seen))
        #expect(r.updated.first?.flags == [.flagged, .seen])
        #expect(names(in: "\(box.path)/cur") == ["\(base):2,FS"])
        // Expunged by someone else: reported, nothing invented.
        #expect(unlink("\(box.path)/cur/\(base):2,FS") == 0)
        #expect(try box.store(uids: [1], .add(.draft)).expunged == [1])
        #expect(names(in: "\(box.path)/cur").isEmpty)
    }

    @Test func storeMovesMessageStillInNew() throws {
        let (dir, box) = try inbox()
        defer { withExtendedLifetime(dir) {} }  // the Maildir lives in it: removed only at the end
        let base = try deliver(box.maildir, "a\n")
        try box.synchronize(moveNew: false)
        #expect(box.snapshot.messages[0].relativePath == "new/\(base)")
        _ = try box.store(uids: [1], .add(.seen))
        #expect(names(in: "\(box.path)/new").isEmpty)
        #expect(names(in: "\(box.path)/cur") == ["\(base):2,S"])
    }

    @Test func keywordsMapToLetters() throws {
        let (dir, box) = try inbox()
        defer { withExtendedLifetime(dir) {} }  // the Maildir lives in it: removed only at the end
        try deliver(box.maildir, "a\n")
        try box.synchronize()
        let flags = try box.keywordFlags(["$Forwarded", "Work"])
        #expect(flags.letters == "ab")
        #expect(try box.keywordFlags(["work"], create: false).letters == "b")
        #expect(try box.keywordFlags(["unknown"], create: false).isEmpty)
        _ = try box.store(uids: [1], .add(flags.union(.seen)))
        #expect(try box.keywords().keywords(in: box.message(uid: 1)!.flags) == ["$Forwarded", "Work"])
        #expect(readText("\(box.path)/\(MaildirKeywords.fileName)") == "0 $Forwarded\n1 Work\n")
    }

    @Test func expungeRemovesOnlyDeleted() throws {
        let (dir, box) = try inbox()
        defer { withExtendedLifetime(dir) {} }  // the Maildir lives in it: removed only at the end
        for i in 0..<4 { try deliver(box.maildir, "m\(i)\n") }
        try box.synchronize()
        _ = try box.store(uids: [1, 2, 3], .add(.trashed))
        // UID EXPUNGE restricted to 2 and 4: 4 is not \Deleted.
        #expect(try box.expunge(uids: [2, 4]) == [2])
        // Another session removed \Deleted from 3 meanwhile: it stays.
        let three = box.message(uid: 3)!
        #expect(rename("\(box.path)/\(three.relativePath)", "\(box.path)/cur/\(three.baseName):2,") == 0)
        #expect(try box.expunge() == [1])
        #expect(box.snapshot.messages.map(\.uid) == [3, 4])
        #expect(names(in: "\(box.path)/cur").count == 2)
        let again = try MaildirMailbox(maildir: box.maildir).synchronize()
        #expect(again.messages.map(\.uid) == [3, 4])
        try deliver(box.maildir, "new\n")
        #expect(try box.synchronize().messages.map(\.uid) == [3, 4, 5])
    }

    @Test func appendReturnsUIDAndKeepsInternalDate() throws {
        let (dir, box) = try inbox()
        defer { withExtendedLifetime(dir) {} }  // the Maildir lives in it: removed only at the end
        try deliver(box.maildir, "first\n")
        try box.synchronize()
        let text = Array("Subject: hi\n\nbody\n".utf8)
        let uid = try box.append(text, flags: [.seen, .draft], internalDate: 1_000_000_000)
        #expect(uid == 2)
        #expect(box.message(uid: 2) == nil) // sessions see appends at their next synchronize
        try box.synchronize()
        let message = try #require(box.message(uid: 2))
        #expect(message.flags == [.draft, .seen])
        #expect(try box.read(uid: 2) == text)
        let info = try #require(try box.info(uid: 2, crlfSize: true))
        #expect(info.internalDate == 1_000_000_000)
        #expect(info.size == text.count)
        #expect(info.crlfSize == text.count + 3)
        #expect(MaildirFileName(parsing: message.relativePath).crlfSize == text.count + 3)
        #expect(names(in: "\(box.path)/tmp").isEmpty)
        // A delivery that arrived before the append still gets a larger UID: UIDs follow assignment.
        try deliver(box.maildir, "later\n")
        #expect(try box.synchronize().messages.map(\.uid) == [1, 2, 3])
    }

    @Test func copyAndMoveBetweenFolders() throws {
        let (dir, box) = try inbox()
        let folders = MaildirFolders(root: box.maildir)
        let archive = MaildirMailbox(maildir: try folders.specialFolder("Archive"))
        try deliver(archive.maildir, "already there\n")
        try archive.synchronize()
        for i in 0..<3 { try deliver(box.maildir, "m\(i)\n") }
        try box.synchronize()
        // A keyword in the source must arrive as the same keyword, whatever its letter there.
        _ = try archive.keywordFlags(["Other"])
        let work = try box.keywordFlags(["Work"])
        _ = try box.store(uids: [2], .add(work.union(.seen)))
        let copied = try box.copy(uids: [2, 3, 77], to: archive)
        #expect(copied.map(\.source) == [2, 3])
        #expect(copied.map(\.destination) == [2, 3])
        try archive.synchronize()
        #expect(archive.snapshot.messages.map(\.uid) == [1, 2, 3])
        let copy = try #require(archive.message(uid: 2))
        #expect(try archive.keywords().keywords(in: copy.flags) == ["Work"])
        #expect(copy.flags.withoutKeywords == .seen)
        #expect(try archive.read(uid: 2) == Array("m1\n".utf8))
        // Hard link: same inode, same internal date.
        let pathA = try #require(try box.filePath(uid: 2))
        let pathB = try #require(try archive.filePath(uid: 2))
        let a = try #require(FileIO.status(pathA))
        let b = try #require(FileIO.status(pathB))
        #expect(a.st_ino == b.st_ino)
        // The copy has its own identity: changing its flags leaves the original alone.
        _ = try archive.store(uids: [2], .add(.flagged))
        #expect(try box.synchronize().messages.first { $0.uid == 2 }?.flags.contains(.flagged) == false)

        let moved = try box.move(uids: [1], to: archive)
        #expect(moved.map(\.destination) == [4])
        #expect(box.snapshot.messages.map(\.uid) == [2, 3])
        #expect(try archive.synchronize().messages.map(\.uid) == [1, 2, 3, 4])
        #expect(try archive.read(uid: 4) == Array("m0\n".utf8))
        _ = dir
    }

    @Test func byteCopyWhenLinkIsImpossible() throws {
        let (dir, box) = try inbox()
        defer { withExtendedLifetime(dir) {} }  // the Maildir lives in it: removed only at the end
        let target = MaildirMailbox(maildir: try MaildirFolders(root: box.maildir).create("Copies"))
        let tmp = "\(box.path)/tmp/x"
        try writeFile(tmp, "hello\n")
        var times = [timespec(tv_sec: 123456789, tv_nsec: 0), timespec(tv_sec: 123456789, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, tmp, &times, 0) == 0)
        let name = try #require(try target.copyFile(tmp, base: "1.M1P1.test,S=6", flags: .seen))
        #expect(name.name == "1.M1P1.test,S=6:2,S")
        let st = try #require(FileIO.status("\(target.path)/cur/\(name.name)"))
        #expect(st.st_mtim.tv_sec == 123456789)
        #expect(readText("\(target.path)/cur/\(name.name)") == "hello\n")
        #expect(try target.copyFile("\(box.path)/tmp/missing", base: "2.M1P1.test", flags: []) == nil)
    }
}

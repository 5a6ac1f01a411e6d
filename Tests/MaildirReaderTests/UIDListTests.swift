import Foundation
import Testing
import MailSystem
@testable import Maildir

struct UIDListTests {
    @Test func scanMovesNewToCurAndSkipsDotFilesAndTmp() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        try md.create()
        let a = try deliver(md, "a\n")
        try writeFile("\(md.path)/new/.hidden", "x")
        try writeFile("\(md.path)/tmp/incomplete", "x")
        let scanned = try MaildirScanner.scan(md.path, moveNew: true)
        #expect(Array(scanned.keys) == [a])
        #expect(scanned[a]?.relativePath == "cur/\(a):2,")
        #expect(names(in: "\(md.path)/new").isEmpty)
        #expect(names(in: "\(md.path)/cur") == ["\(a):2,"])
        // Read-only sessions leave new/ alone.
        let b = try deliver(md, "b\n")
        let readOnly = try MaildirScanner.scan(md.path, moveNew: false)
        #expect(readOnly[b]?.relativePath == "new/\(b)")
        #expect(names(in: "\(md.path)/new") == [b])
    }

    @Test func uidsStableAcrossRescansAndRestarts() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        let names = try (0..<5).map { try deliver(md, "message \($0)\n") }
        let first = try UIDList(folderPath: md.path).synchronize()
        #expect(first.messages.map(\.uid) == [1, 2, 3, 4, 5])
        #expect(first.messages.map(\.baseName) == names) // delivery order
        #expect(first.nextUID == 6)
        let again = try UIDList(folderPath: md.path).synchronize()
        #expect(again.messages == first.messages)
        #expect(again.uidValidity == first.uidValidity)
        // A "restart": a new mailbox object, messages renamed with flags by another program.
        let cur = "\(md.path)/cur"
        #expect(rename("\(cur)/\(names[2]):2,", "\(cur)/\(names[2]):2,FS") == 0)
        let restarted = try MaildirMailbox(maildir: md).synchronize()
        #expect(restarted.messages.map(\.uid) == [1, 2, 3, 4, 5])
        #expect(restarted.messages[2].flags == [.flagged, .seen])
        // The external change bumped the message's modseq above everyone else's.
        #expect(restarted.messages[2].modSeq == restarted.highestModSeq)
        #expect(restarted.messages[1].modSeq < restarted.highestModSeq)
    }

    @Test func uidsAscendAndAreNeverReusedAfterExpunge() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        let box = MaildirMailbox(maildir: md)
        try deliver(md, "1\n"); try deliver(md, "2\n"); try deliver(md, "3\n")
        try box.synchronize()
        // Another process expunges the newest message directly.
        let last = box.snapshot.messages.last!
        #expect(unlink("\(md.path)/\(last.relativePath)") == 0)
        try box.synchronize()
        #expect(box.snapshot.messages.map(\.uid) == [1, 2])
        try deliver(md, "4\n")
        try box.synchronize()
        #expect(box.snapshot.messages.map(\.uid) == [1, 2, 4])
        #expect(box.snapshot.nextUID == 5)
        let file = try #require(try box.uidList.read())
        #expect(file.entries.map(\.uid) == [1, 2, 4])
    }

    @Test func lostUIDListGetsLargerUIDValidity() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        try deliver(md, "a\n")
        let old = try UIDList(folderPath: md.path).synchronize()
        #expect(unlink("\(md.path)/\(UIDList.fileName)") == 0)
        let new = try UIDList(folderPath: md.path).synchronize()
        #expect(new.uidValidity > old.uidValidity) // even within the same second
        // A damaged file is treated as lost too, and its readable header is honoured.
        try writeFile("\(md.path)/\(UIDList.fileName)", "postamt-uidlist 1 V4000000000 N9 M3\n1 garbage\n")
        let afterDamage = try UIDList(folderPath: md.path).synchronize()
        #expect(afterDamage.uidValidity > 4_000_000_000)
        #expect(afterDamage.messages.map(\.uid) == [1])
    }

    @Test func folderUIDValidityComesFromRoot() throws {
        let dir = TemporaryDirectory()
        let root = Maildir(path: dir.path)
        try root.create()
        let folders = MaildirFolders(root: root)
        let sent = try folders.create("Sent")
        let a = try UIDList(folderPath: sent.path).synchronize()
        let b = try UIDList(folderPath: root.path).synchronize()
        #expect(b.uidValidity > a.uidValidity)
        #expect(FileIO.exists("\(root.path)/\(UIDValidityAllocator.fileName)"))
        #expect(!FileIO.exists("\(sent.path)/\(UIDValidityAllocator.fileName)"))
    }

    @Test func fileFormatRoundTripAndDamage() throws {
        let file = UIDListFile(uidValidity: 1764441600, nextUID: 8, highestModSeq: 9, entries: [
            UIDListEntry(uid: 3, modSeq: 2, flags: [], baseName: "1.M1P1.host,S=10"),
            UIDListEntry(uid: 7, modSeq: 9, flags: [.seen, .keyword(0)], baseName: "2.M1P1.host name"),
        ])
        let text = String(decoding: file.encoded(), as: UTF8.self)
        #expect(text == "postamt-uidlist 1 V1764441600 N8 M9\n3 M2 F :1.M1P1.host,S=10\n7 M9 FSa :2.M1P1.host name\n")
        #expect(UIDListFile.parse(file.encoded()) == file)
        let damaged = [
            "postamt-uidlist 1 V1 N8 M9\n3 M2 F :a\n",                  // fine (control)
            "postamt-uidlist 2 V1 N8 M9\n",                             // unknown version
            "postamt-uidlist 1 V0 N8 M9\n",                             // UIDVALIDITY 0
            "postamt-uidlist 1 V1 N8 M9\n8 M2 F :a\n",                  // uid not below N
            "postamt-uidlist 1 V1 N8 M9\n3 M2 F :a\n3 M2 F :b\n",       // not ascending
            "postamt-uidlist 1 V1 N8 M9\n3 M10 F :a\n",                 // modseq above highest
            "postamt-uidlist 1 V1 N8 M9\n3 M2 FSD :a\n",                // flags not in order
            "postamt-uidlist 1 V1 N8 M9\n3 M2 F :\n",                   // empty name
            "postamt-uidlist 1 V1 N8 M9\n3 F :a\n",                     // missing field
            "postamt-uidlist 1 V1 N8 M9 C5\n",                          // stamp without nanoseconds
            "postamt-uidlist 1 V1 N8 M9 C5.1\n",                        // stamp without the check time
            "postamt-uidlist 1 V1 N8 M9 C5.1000000000,6.0\n",           // nanoseconds out of range
            "postamt-uidlist 1 V1 N8 M9 X5.1,6.0\n",                    // unknown field
        ]
        #expect(UIDListFile.parse(Array(damaged[0].utf8)) != nil)
        for text in damaged.dropFirst() { #expect(UIDListFile.parse(Array(text.utf8)) == nil, "\(text)") }
        // A last line without its line end is an append cut short: ignored, and said so.
        let torn = UIDListFile.parseWithLayout(Array("postamt-uidlist 1 V1 N8 M9\n3 M2 F :a\n7 M2 F :b".utf8))
        #expect(torn?.file.entries.map(\.uid) == [3])
        #expect(torn?.layout == UIDListFile.Layout(validLength: 37, changeBytes: 0, hasTornTail: true))
    }

    @Test func appendedChangeBatches() throws {
        let base = "postamt-uidlist 1 V7 N4 M5\n1 M2 F :a\n2 M3 FS :b\n3 M5 F :c\n"
        func parse(_ text: String) -> UIDListFile? { UIDListFile.parse(Array(text.utf8)) }
        // Replace 2, remove 1, add 4 and 6; the "=" line sets N, M and the stamp.
        let changed = parse(base + "+2 M6 FRS :b\n-1\n+4 M7 F :d\n+6 M7 FT :e\n=N7 M7 C5.1,6.2\n")
        // A batch without "R" leaves \Recent's first UID as the base had it (none: N of the base).
        #expect(changed == UIDListFile(uidValidity: 7, nextUID: 7, highestModSeq: 7, firstRecentUID: 4,
                                       curStamp: CurStamp(modified: FileTime(seconds: 5, nanoseconds: 1), checked: FileTime(seconds: 6, nanoseconds: 2)),
                                       entries: [UIDListEntry(uid: 2, modSeq: 6, flags: [.replied, .seen], baseName: "b"),
                                                 UIDListEntry(uid: 3, modSeq: 5, flags: [], baseName: "c"),
                                                 UIDListEntry(uid: 4, modSeq: 7, flags: [], baseName: "d"),
                                                 UIDListEntry(uid: 6, modSeq: 7, flags: [.trashed], baseName: "e")]))
        // A batch without its "=" line (an append cut short, or one being written) does not count.
        let open = base + "+2 M6 FRS :b\n=N4 M6\n"
        #expect(parse(open + "-3\n+4 M7 F :d\n")?.entries.map(\.uid) == [1, 2, 3])
        #expect(parse(open + "-3\n=N4 M")?.entries.map(\.uid) == [1, 2, 3])
        #expect(UIDListFile.parseWithLayout(Array((open + "-3\n=N4 M").utf8))?.layout ==
                UIDListFile.Layout(validLength: open.utf8.count, changeBytes: open.utf8.count - base.utf8.count, hasTornTail: true))
        // Damage in a complete line makes the whole file damaged, as in the base.
        for bad in ["+4 M6 F :d\n=N4 M6\n",        // a new entry not below N
                    "+2 M9 F :b\n=N4 M6\n",        // a modseq above M
                    "=N3 M6\n",                     // N lowered
                    "=N4 M4\n",                     // M lowered
                    "=N4\n",                        // M missing
                    "=N4 M6 C1\n",                  // a broken stamp
                    "+2 M6 FSR :b\n=N4 M6\n",      // flags out of order
                    "-x\n=N4 M6\n",                // not a UID
                    "*2\n=N4 M6\n",                // unknown record
                    "=N4 M6\n1 M2 F :a\n"] {       // a base entry after a batch
            #expect(parse(base + bad) == nil, "\(bad)")
        }
    }

    @Test func encodedChangesReplayToTheSameFile() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var file = UIDListFile(uidValidity: 3, nextUID: 1, highestModSeq: 1)
            var bytes = file.encoded()
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let old = file
                for _ in 0..<Int.random(in: 0...5, using: &rng) {
                    switch Int.random(in: 0..<5, using: &rng) {
                    case 0:
                        file.highestModSeq += 1
                        file.entries.append(UIDListEntry(uid: file.nextUID, modSeq: file.highestModSeq, flags: [.seen], baseName: "m\(file.nextUID)"))
                        file.nextUID += 1
                    case 1 where !file.entries.isEmpty:
                        // As `UIDList.updateTracked` does: an expunge is remembered at its modseq.
                        // (One added in this same batch never was in the file: nothing to remember.)
                        let gone = file.entries.remove(at: Int.random(in: 0..<file.entries.count, using: &rng))
                        guard gone.uid < old.nextUID else { break }
                        file.highestModSeq += 1
                        file.recordExpunge([gone.uid], modSeq: file.highestModSeq)
                        if Int.random(in: 0..<4, using: &rng) == 0 { file.trimExpunges(limit: Int.random(in: 0...3, using: &rng)) }
                    case 2 where !file.entries.isEmpty:
                        file.highestModSeq += 1
                        let k = Int.random(in: 0..<file.entries.count, using: &rng)
                        file.entries[k].flags = MaildirFlags(rawValue: UInt64.random(in: 0..<64, using: &rng))
                        file.entries[k].modSeq = file.highestModSeq
                    case 3:
                        file.firstRecentUID = UInt32.random(in: file.firstRecentUID...file.nextUID, using: &rng)
                    default:
                        file.curStamp = Bool.random(using: &rng) ? nil : CurStamp(modified: .now(), checked: .now())
                    }
                }
                bytes += try #require(file.encodedChanges(from: old))
                #expect(UIDListFile.parse(bytes) == file)
            }
        }
        // Only a full write can change the UIDVALIDITY or lower N.
        let file = UIDListFile(uidValidity: 3, nextUID: 5, highestModSeq: 2)
        #expect(UIDListFile(uidValidity: 4, nextUID: 5, highestModSeq: 2).encodedChanges(from: file) == nil)
        #expect(UIDListFile(uidValidity: 3, nextUID: 4, highestModSeq: 2).encodedChanges(from: file) == nil)
        // Nor lower \Recent's first UID.
        let recent = UIDListFile(uidValidity: 3, nextUID: 5, highestModSeq: 2, firstRecentUID: 3)
        #expect(UIDListFile(uidValidity: 3, nextUID: 5, highestModSeq: 2, firstRecentUID: 2).encodedChanges(from: recent) == nil)
    }

    /// `claimRecent`: each message goes to exactly one taker, whichever way it came.
    @Test func recentIsClaimedOnce() throws {
        let dir = TemporaryDirectory()
        let (md, a) = try makeMailbox(in: dir, messages: 2)
        let b = MaildirMailbox(maildir: md)
        try a.synchronize()
        #expect(a.snapshot.firstRecentUID == 1) // a new list: everything is recent
        try b.synchronize(moveNew: false)
        #expect(try a.claimRecent() == [1, 2])
        #expect(a.snapshot.firstRecentUID == 3)
        #expect(try b.claimRecent() == [])
        // An APPEND (and a delivery) after that: recent again, for the next taker only.
        let appended = try b.append(Array("Subject: x\n\nx\n".utf8))
        try deliver(md, "late\n")
        #expect(try b.synchronize(moveNew: false).firstRecentUID == appended)
        // A copy within the folder is a new message too.
        let copied = try a.copy(uids: [1], to: a).map(\.destination)
        #expect(try b.claimRecent() == [appended, appended + 1] + copied)
        #expect(try a.claimRecent() == [])
        #expect(try UIDList(folderPath: md.path).read()?.firstRecentUID == copied[0] + 1)
    }

    /// The R field (IMAP's \Recent, see postamt-maildir(5)): written only while it is below N,
    /// absent in files written before it (none recent), carried by "=" lines only when changed.
    @Test func recentField() throws {
        func parse(_ text: String) -> UIDListFile? { UIDListFile.parse(Array(text.utf8)) }
        let old = try #require(parse("postamt-uidlist 1 V7 N4 M5\n1 M2 F :a\n3 M5 F :c\n"))
        #expect(old.firstRecentUID == 4)
        let fresh = try #require(parse("postamt-uidlist 1 V7 N4 M5 R2 C5.1,6.2\n1 M2 F :a\n3 M5 F :c\n"))
        #expect(fresh.firstRecentUID == 2)
        #expect(fresh.curStamp != nil)
        #expect(String(decoding: fresh.encoded(), as: UTF8.self).hasPrefix("postamt-uidlist 1 V7 N4 M5 R2 C5.1,6.2\n"))
        var claimed = fresh
        claimed.firstRecentUID = 4
        #expect(String(decoding: claimed.encoded(), as: UTF8.self) == "postamt-uidlist 1 V7 N4 M5 C5.1,6.2\n1 M2 F :a\n3 M5 F :c\n")
        #expect(String(decoding: try #require(claimed.encodedChanges(from: fresh)), as: UTF8.self) == "=N4 M5 R4 C5.1,6.2\n")
        var flagged = claimed
        flagged.entries[0].flags = [.seen]
        #expect(String(decoding: try #require(flagged.encodedChanges(from: claimed)), as: UTF8.self) == "+1 M2 FS :a\n=N4 M5 C5.1,6.2\n")
        // A batch moves it up, never down, and never past N.
        let base = "postamt-uidlist 1 V7 N4 M5 R2\n1 M2 F :a\n"
        #expect(parse(base + "=N4 M5 R3\n")?.firstRecentUID == 3)
        #expect(parse(base + "=N5 M5\n")?.firstRecentUID == 2)
        for bad in ["=N4 M5 R1\n", "=N4 M5 R5\n", "=N4 M5 R\n", "=N4 M5 R0\n", "=N4 M5 C5.1,6.2 R3\n"] {
            #expect(parse(base + bad) == nil, "\(bad)")
        }
        for bad in ["postamt-uidlist 1 V7 N4 M5 R5\n", "postamt-uidlist 1 V7 N4 M5 R0\n", "postamt-uidlist 1 V7 N4 M5 \n"] {
            #expect(parse(bad) == nil, "\(bad)")
        }
    }

    @Test func changesAreAppendedAndFoldedIntoAFullWrite() throws {
        let dir = TemporaryDirectory()
        let (md, mailbox) = try makeMailbox(in: dir, messages: 3, prefix: "message ")
        try mailbox.synchronize()
        let list = mailbox.uidList
        let inode = try #require(list.identity()).inode
        // Flag changes append: the same file, longer.
        var sizes: [Int64] = []
        for k in 0..<20 {
            _ = try mailbox.store(uids: [1 + UInt32(k % 3)], k % 2 == 0 ? .add([.flagged]) : .remove([.flagged]))
            let now = try #require(list.identity())
            #expect(now.inode == inode)
            sizes.append(now.size)
        }
        #expect(sizes == sizes.sorted())
        // Another session reads the same state from the appended file.
        let other = MaildirMailbox(maildir: md)
        #expect(try other.synchronize().messages.map(\.flags) == mailbox.snapshot.messages.map(\.flags))
        // Past the limit the next change writes the file whole (a new inode, no "=" lines).
        var k = 0
        while try #require(list.identity()).inode == inode {
            _ = try mailbox.store(uids: [2], k % 2 == 0 ? .add([.flagged]) : .remove([.flagged]))
            k += 1
        }
        #expect(k > 50)
        let text = String(decoding: try #require(try FileIO.readFile(list.filePath, limit: 1 << 20)), as: UTF8.self)
        #expect(!text.contains("\n="))
        #expect(try other.synchronize().messages.map(\.flags) == mailbox.snapshot.messages.map(\.flags))
        // A torn tail (a crash in an append) is ignored and the next writer writes the file whole.
        let fd = open(list.filePath, O_WRONLY | O_APPEND)
        #expect(write(fd, "+1 M99 FS :torn", 15) == 15)
        close(fd)
        #expect(try list.read()?.entries.count == 3)
        _ = try mailbox.store(uids: [3], .add([.seen]))
        let after = String(decoding: try #require(try FileIO.readFile(list.filePath, limit: 1 << 20)), as: UTF8.self)
        #expect(!after.contains("torn"))
        #expect(try MaildirMailbox(maildir: md).synchronize().messages.map(\.flags) == mailbox.snapshot.messages.map(\.flags))
    }

    @Test func garbageNeverTraps() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let n = Int.random(in: 0..<200, using: &rng)
            var bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if Bool.random() { bytes = Array("postamt-uidlist 1 V1 N9 M9\n".utf8) + bytes.map { $0 % 3 == 0 ? 10 : $0 } }
            _ = UIDListFile.parse(bytes)
            _ = MessageCache.decode(bytes)
            _ = MaildirKeywords(parsing: bytes)
            _ = MaildirFileName(parsing: String(decoding: bytes, as: UTF8.self)).name
        }
    }

    @Test func realDuplicateIsRenamedAndHardLinkDropped() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        let a = try deliver(md, "a\n")
        try MaildirMailbox(maildir: md).synchronize()
        let cur = "\(md.path)/cur"
        // Two different files with one base name: both messages must survive.
        try writeFile("\(cur)/\(a):2,S", "copy\n")
        let box = MaildirMailbox(maildir: md)
        try box.synchronize()
        #expect(box.snapshot.messages.count == 2)
        #expect(names(in: cur).count == 2)
        // A hard link with another flag set is the same message: one entry is dropped.
        let b = try deliver(md, "b\n")
        try box.synchronize()
        #expect(link("\(cur)/\(b):2,", "\(cur)/\(b):2,F") == 0)
        try box.synchronize()
        #expect(box.snapshot.messages.count == 3)
        #expect(names(in: cur).filter { $0.hasPrefix(b) }.count == 1)
    }
}

import Foundation
import Testing
import MailSystem
@testable import Maildir

/// The expunge history of the uid list (QRESYNC, RFC 7162 §3.2.5; postamt-maildir(5)).
struct UIDListExpungeTests {
    func parse(_ text: String) -> UIDListFile? { UIDListFile.parse(Array(text.utf8)) }

    @Test func formatRoundTripAndDamage() throws {
        var file = UIDListFile(uidValidity: 9, nextUID: 12, highestModSeq: 20, entries: [
            UIDListEntry(uid: 1, modSeq: 2, flags: [], baseName: "a"),
            UIDListEntry(uid: 11, modSeq: 20, flags: [.seen], baseName: "k"),
        ], expungeFloor: 4)
        file.recordExpunge([2, 3, 4, 7], modSeq: 6)
        file.recordExpunge([8], modSeq: 9)
        let text = String(decoding: file.encoded(), as: UTF8.self)
        #expect(text == "postamt-uidlist 1 V9 N12 M20 E4\n1 M2 F :a\n11 M20 FS :k\nX2:4 M6\nX7 M6\nX8 M9\n")
        #expect(parse(text) == file)
        #expect(file.expunged(since: 6).map { $0.map { [$0.lowerBound, $0.upperBound] } } == [[8, 8]])
        #expect(file.expunged(since: 4)?.count == 3)
        #expect(file.expunged(since: 3) == nil) // older than the history
        // A file that never recorded an expunge has no E and reads as knowing nothing before M.
        let old = try #require(parse("postamt-uidlist 1 V9 N12 M20\n1 M2 F :a\n"))
        #expect(old.expungeFloor == 20 && old.expunged.isEmpty)
        #expect(old.expunged(since: 20) == [] && old.expunged(since: 19) == nil)
        #expect(String(decoding: old.encoded(), as: UTF8.self) == "postamt-uidlist 1 V9 N12 M20\n1 M2 F :a\n")
        let base = "postamt-uidlist 1 V9 N12 M20 E4\n1 M2 F :a\n"
        #expect(parse(base + "X2:4 M6\n") != nil) // control
        for bad in ["X2:4 M4\n",           // at or below the floor
                    "X2:4 M21\n",          // above M
                    "X2:12 M6\n",          // not below N
                    "X4:2 M6\n",           // a backwards range
                    "X0 M6\n",             // UID 0
                    "X2 M9\nX3 M6\n",      // not ascending by modseq
                    "X2 M6\n3 M2 F :c\n",  // an entry after the history
                    "X2\n"] {              // no modseq
            #expect(parse(base + bad) == nil, "\(bad)")
        }
        #expect(parse("postamt-uidlist 1 V9 N12 M20 E21\n") == nil) // E above M
        #expect(parse("postamt-uidlist 1 V9 N12 M20 R3 E4 C5.1,6.2\n")?.expungeFloor == 4) // field order
    }

    @Test func batchesRecordRemovalsAndMoveTheFloor() throws {
        let base = "postamt-uidlist 1 V9 N5 M8 E2\n1 M2 F :a\n2 M3 F :b\n3 M4 F :c\n4 M8 F :d\nX9 M0\n"
        #expect(parse(base) == nil) // (the base's history is checked too)
        let good = "postamt-uidlist 1 V9 N5 M8 E2\n1 M2 F :a\n2 M3 F :b\n3 M4 F :c\n4 M8 F :d\n"
        // Removals with M extend the history.
        let a = try #require(parse(good + "-2 M9\n-3 M9\n=N5 M9\n"))
        #expect(a.expunged == [UIDListExpunge(first: 2, last: 3, modSeq: 9)] && a.expungeFloor == 2)
        // An older writer's removal (no M) is an expunge the history missed: complete only from now.
        let b = try #require(parse(good + "-2\n=N5 M9\n"))
        #expect(b.expunged.isEmpty && b.expungeFloor == 9)
        // E in an "=" line raises the floor and drops what it covers.
        let c = try #require(parse(good + "-2 M9\n=N5 M9\n-3 M10\n=N5 M10 E9\n"))
        #expect(c.expunged == [UIDListExpunge(first: 3, last: 3, modSeq: 10)] && c.expungeFloor == 9)
        for bad in ["-2 M8\n=N5 M9\n",    // not above the M before the batch
                    "-2 M10\n=N5 M9\n",   // above the batch's M
                    "-2 M\n=N5 M9\n",     // no number
                    "=N5 M9 E10\n",      // E above M
                    "-0 M9\n=N5 M9\n",    // UID 0 (found by fuzz-uidlist: recorded as "X0", unreadable once written)
                    "-0\n=N5 M9\n"] {
            #expect(parse(good + bad) == nil, "\(bad)")
        }
    }

    @Test func expungesAreRememberedWhateverRemovedThem() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        for i in 1...6 { _ = try deliver(md, "message \(i)\n") }
        let box = MaildirMailbox(maildir: md)
        try box.synchronize()
        let start = box.snapshot.highestModSeq
        // EXPUNGE in this session.
        _ = try box.store(uids: [2, 3], .add(.trashed))
        try box.expunge()
        var file = try #require(try box.uidList.read())
        let afterExpunge = file.highestModSeq
        #expect(file.expunged(since: start)?.flatMap { Array($0) } == [2, 3])
        #expect(file.expunged(since: afterExpunge) == [])
        // Another program deletes a file: the next scan finds it gone and remembers that too.
        #expect(unlink("\(md.path)/\(box.snapshot.messages.last!.relativePath)") == 0)
        let other = MaildirMailbox(maildir: md)
        try other.synchronize()
        file = try #require(try other.uidList.read())
        #expect(file.expunged(since: afterExpunge)?.flatMap { Array($0) } == [6])
        #expect(file.expunged(since: start)?.flatMap { Array($0) } == [2, 3, 6])
        // MOVE's second half (remove) too.
        _ = try other.remove(uids: [1])
        file = try #require(try UIDList(folderPath: md.path).read())
        #expect(file.expunged(since: start)?.flatMap { Array($0) } == [2, 3, 6, 1])
    }

    @Test func historyIsBounded() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        for i in 1...8 { _ = try deliver(md, "message \(i)\n") }
        let box = MaildirMailbox(maildir: md, expungeHistoryLimit: 3)
        try box.synchronize()
        let start = box.snapshot.highestModSeq
        _ = try box.remove(uids: [1, 2])
        let second = try #require(try box.uidList.read()).highestModSeq
        _ = try box.remove(uids: [5])
        var file = try #require(try box.uidList.read())
        #expect(file.expunged(since: start)?.flatMap { Array($0) } == [1, 2, 5])
        // A fourth UID: the oldest expunge (1 and 2, together) is forgotten, and the floor says so.
        _ = try box.remove(uids: [7])
        file = try #require(try box.uidList.read())
        #expect(file.expungeFloor == second)
        #expect(file.expunged(since: start) == nil)
        #expect(file.expunged(since: second)?.flatMap { Array($0) } == [5, 7])
        // What is read back from disk is what was written (appended batches included).
        #expect(UIDListFile.parse(try #require(try FileIO.readFile(box.uidList.filePath, limit: 1 << 20))) == file)
        // Limit 0: nothing is kept, every expunge raises the floor to M.
        let none = MaildirMailbox(maildir: md, expungeHistoryLimit: 0)
        try none.synchronize()
        _ = try none.remove(uids: [8])
        file = try #require(try none.uidList.read())
        #expect(file.expunged.isEmpty && file.expungeFloor == file.highestModSeq)
    }
}

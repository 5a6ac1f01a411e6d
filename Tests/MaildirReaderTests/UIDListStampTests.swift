import Foundation
import Testing
import MailSystem
@testable import Maildir

/// The cur/ stamp in the uid list (UIDListFile.curStamp): when the list is trusted without
/// reading cur/, and that changes by others are still seen.
struct UIDListStampTests {
    func setMTime(_ path: String, _ t: FileTime) {
        var times = [timespec(tv_sec: Int(t.seconds), tv_nsec: Int(t.nanoseconds)),
                     timespec(tv_sec: Int(t.seconds), tv_nsec: Int(t.nanoseconds))]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
    }

    func mtime(_ path: String) -> FileTime { FileTime(FileIO.status(path)!.st_mtim) }

    @Test func stampRoundTrips() throws {
        let stamp = CurStamp(modified: FileTime(seconds: 1_700_000_000, nanoseconds: 5), checked: FileTime(seconds: 1_700_000_003, nanoseconds: 999_999_999))
        let file = UIDListFile(uidValidity: 9, nextUID: 2, highestModSeq: 3, curStamp: stamp, entries: [
            UIDListEntry(uid: 1, modSeq: 3, flags: [.seen], baseName: "1.M1P1.h")])
        let text = String(decoding: file.encoded(), as: UTF8.self)
        #expect(text == "postamt-uidlist 1 V9 N2 M3 C1700000000.5,1700000003.999999999\n1 M3 FS :1.M1P1.h\n")
        #expect(UIDListFile.parse(file.encoded()) == file)
    }

    @Test func dirtyStampHoldsOnlyForTheSettleTime() {
        let m = FileTime(seconds: 100, nanoseconds: 0)
        let clean = CurStamp(modified: m, checked: FileTime(seconds: 103, nanoseconds: 0))
        let dirty = CurStamp(modified: m, checked: FileTime(seconds: 100, nanoseconds: 500))
        #expect(clean.holds(for: m, at: FileTime(seconds: 1000, nanoseconds: 0)))
        #expect(!clean.holds(for: FileTime(seconds: 100, nanoseconds: 1)))
        #expect(!clean.holds(for: nil))
        #expect(dirty.holds(for: m, at: FileTime(seconds: 101, nanoseconds: 0)))
        #expect(!dirty.holds(for: m, at: FileTime(seconds: 102, nanoseconds: 500)))
        #expect(!dirty.holds(for: m, at: FileTime(seconds: 99, nanoseconds: 0))) // clock set back
    }

    @Test func duplicateBaseNameInTheListKeepsTheFirstUID() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        let a = try deliver(md, "a\n")
        try MaildirMailbox(maildir: md).synchronize()
        // A damaged list naming one file twice: the first UID keeps it, the second is dropped.
        try writeFile("\(md.path)/postamt-uidlist", "postamt-uidlist 1 V7 N9 M4\n3 M2 F :\(a)\n5 M2 F :\(a)\n")
        let box = MaildirMailbox(maildir: md)
        try box.synchronize()
        #expect(box.snapshot.messages.map(\.uid) == [3])
        #expect(box.snapshot.uidValidity == 7)
        #expect(try box.uidList.read()?.entries.map(\.uid) == [3])
    }

    @Test func aDeliveryWithAListedBaseNameIsLeftToTheScan() throws {
        let dir = TemporaryDirectory()
        let (md, box) = try makeMailbox(in: dir, messages: 2)
        try box.synchronize()
        setMTime("\(md.path)/cur", FileTime(seconds: FileTime.now().seconds - 60, nanoseconds: 0))
        try box.synchronize() // a clean stamp: new/ could be adopted without a scan
        let listed = box.snapshot.messages[0].baseName
        try writeFile("\(md.path)/new/\(listed)", "a second file of that name\n")
        let fresh = try deliver(md, "fresh\n")
        #expect(try box.uidList.adoptNew() == nil) // nothing moved, nothing numbered
        #expect(names(in: "\(md.path)/new").sorted() == [listed, fresh].sorted())
        #expect(try box.uidList.read()?.nextUID == 3)
    }

    @Test func trustedListIsReadWithoutAScanAndNewMailIsAdopted() throws {
        let dir = TemporaryDirectory()
        let (md, box) = try makeMailbox(in: dir, messages: 3)
        try box.synchronize()
        let cur = "\(md.path)/cur"
        // An old, settled cur/: the next scan writes a clean stamp.
        setMTime(cur, FileTime(seconds: FileTime.now().seconds - 60, nanoseconds: 0))
        try box.synchronize()
        let stamped = try #require(try box.uidList.read()?.curStamp)
        #expect(stamped.modified == mtime(cur))
        #expect(stamped.holds(for: mtime(cur)))
        // While the stamp holds, a second session trusts the list without reading cur/: a file
        // smuggled in with cur/'s mtime put back is not seen (a real change moves the mtime).
        try writeFile("\(cur)/9.M9P9.sneaky:2,", "x\n")
        setMTime(cur, stamped.modified)
        let other = MaildirMailbox(maildir: md)
        #expect(try other.synchronize().messages.count == 3)
        // Deliveries are adopted from new/ without a scan of cur/, numbered in order.
        let d1 = try deliver(md, "d1\n"), d2 = try deliver(md, "d2\n")
        let after = try other.synchronize()
        #expect(after.messages.map(\.uid) == [1, 2, 3, 4, 5])
        #expect(after.messages.suffix(2).map(\.baseName) == [d1, d2])
        #expect(names(in: "\(md.path)/new").isEmpty)
        #expect(FileIO.exists("\(cur)/\(d1):2,") && FileIO.exists("\(cur)/\(d2):2,"))
        // The list followed its own change: still exact, its stamp is cur/'s new mtime.
        let advanced = try #require(try box.uidList.read()?.curStamp)
        #expect(advanced.modified == mtime(cur))
        // The first session sees the same without a scan.
        #expect(try box.synchronize().messages.map(\.uid) == [1, 2, 3, 4, 5])
        // Once cur/ changes for real (the sneaky file is renamed), a scan finds it.
        #expect(rename("\(cur)/9.M9P9.sneaky:2,", "\(cur)/9.M9P9.sneaky:2,S") == 0)
        #expect(try box.synchronize().messages.map(\.uid) == [1, 2, 3, 4, 5, 6])
    }

    @Test func changeInTheStampedTickIsFoundAfterTheSettleTime() throws {
        let dir = TemporaryDirectory()
        let (md, box) = try makeMailbox(in: dir, messages: 2)
        try box.synchronize()
        try box.synchronize() // a dirty stamp: cur/ changed just now (the moves from new/)
        let cur = "\(md.path)/cur"
        var file = try #require(try box.uidList.read())
        let stamp = try #require(file.curStamp)
        #expect(stamp.holds(for: mtime(cur)))
        // Another program renames a file within the same timestamp tick (simulated: the
        // mtime is put back): not seen while the dirty stamp holds…
        let first = box.snapshot.messages[0]
        #expect(rename("\(md.path)/\(first.relativePath)", "\(cur)/\(first.baseName):2,F") == 0)
        setMTime(cur, stamp.modified)
        #expect(try box.synchronize().messages[0].flags == [])
        // …and seen once it is older than the settle time (simulated by ageing the change and
        // the check: 3 s ago, checked 1 ms after).
        let old = FileTime(seconds: FileTime.now().seconds - 3, nanoseconds: 0)
        setMTime(cur, old)
        file.curStamp = CurStamp(modified: old, checked: FileTime(seconds: old.seconds, nanoseconds: 1_000_000))
        try FileIO.writeAtomically(box.uidList.filePath, file.encoded(), mode: 0o600)
        #expect(try box.synchronize().messages[0].flags == [.flagged])
        // The rescan left a clean stamp.
        let clean = try #require(try box.uidList.read()?.curStamp)
        #expect(clean.holds(for: mtime(cur), at: FileTime(seconds: FileTime.now().seconds + 3600, nanoseconds: 0)))
    }

    @Test func ownStoreAndExpungeKeepTheListExact() throws {
        let dir = TemporaryDirectory()
        let (md, box) = try makeMailbox(in: dir, messages: 4)
        try box.synchronize()
        try box.synchronize()
        _ = try box.store(uids: [1, 2], .add([.seen, .trashed]))
        let afterStore = try #require(try box.uidList.read())
        #expect(afterStore.curStamp?.holds(for: mtime("\(md.path)/cur")) == true)
        // Another session reads the list alone and sees the flags.
        let other = MaildirMailbox(maildir: md)
        #expect(try other.synchronize().messages.map(\.flags) == [[.seen, .trashed], [.seen, .trashed], [], []])
        #expect(try box.expunge() == [1, 2])
        #expect(try other.synchronize().messages.map(\.uid) == [3, 4])
        #expect(try box.uidList.read()?.curStamp?.holds(for: mtime("\(md.path)/cur")) == true)
    }

    @Test func unrecordedFlagChangeStepsOverModSeqs() throws {
        let dir = TemporaryDirectory()
        let (md, box) = try makeMailbox(in: dir, messages: 3)
        let before = try box.synchronize().highestModSeq
        // Another program (or a crash that took back our list) set \Seen on message 1: a scan
        // finds it and the modseqs jump over anything that could have been handed out.
        let first = box.snapshot.messages[0]
        let cur = "\(md.path)/cur"
        #expect(rename("\(md.path)/\(first.relativePath)", "\(cur)/\(first.baseName):2,S") == 0)
        let after = try MaildirMailbox(maildir: md).synchronize()
        #expect(after.messages[0].flags == [.seen])
        #expect(after.highestModSeq >= before + UIDList.unrecordedChangeModSeqStep)
        #expect(after.messages[0].modSeq == after.highestModSeq)
        // The same through a STORE that meets the unrecorded change itself: the session's
        // snapshot predates the rename.
        let fresh = MaildirMailbox(maildir: md)
        _ = try fresh.synchronize()
        let highest = try #require(try fresh.uidList.read()).highestModSeq
        let second = fresh.snapshot.messages[1]
        #expect(rename("\(md.path)/\(second.relativePath)", "\(cur)/\(second.baseName):2,F") == 0)
        let result = try fresh.store(uids: [second.uid], .add([.seen]))
        #expect(result.updated.first?.flags == [.flagged, .seen])
        #expect(result.updated.first.map { $0.modSeq >= highest + UIDList.unrecordedChangeModSeqStep } == true)
    }

    @Test func emptyNewIsKnownFromItsMTimeUnderTheSettleRule() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        try deliver(md, "first\n")
        let box = MaildirMailbox(maildir: md)
        try box.synchronize()
        try box.synchronize() // new/ listed empty: its mtime is remembered
        let new = "\(md.path)/new"
        let stamp = try #require(box.newStamp)
        #expect(stamp.modified == mtime(new))
        // A delivery within the same timestamp tick (simulated: the mtime put back) is not seen
        // while the (dirty) stamp holds…
        let now = FileTime.now()
        box.newStamp = CurStamp(modified: FileTime(seconds: now.seconds - 1, nanoseconds: 0), checked: now)
        setMTime(new, box.newStamp!.modified)
        try deliver(md, "second\n")
        setMTime(new, box.newStamp!.modified)
        #expect(try box.synchronize().messages.count == 1)
        // …and is once the check is older than the settle time.
        box.newStamp!.checked = FileTime(seconds: now.seconds - 3, nanoseconds: 0)
        box.newStamp!.modified = FileTime(seconds: now.seconds - 4, nanoseconds: 0)
        setMTime(new, box.newStamp!.modified)
        #expect(try box.synchronize().messages.count == 2)
    }

    @Test func unrecordedExpungeStepsOverModSeqs() throws {
        let dir = TemporaryDirectory()
        let (md, box) = try makeMailbox(in: dir, messages: 3)
        let before = try box.synchronize().highestModSeq
        // Our own expunge: one step.
        _ = try box.store(uids: [1], .add([.trashed]))
        let afterStore = box.snapshot.highestModSeq
        #expect(try box.expunge() == [1])
        #expect(box.snapshot.highestModSeq == afterStore + 1)
        // A file another program removed (or whose expunge a crash took back): a big step.
        let last = box.snapshot.messages.last!
        #expect(unlink("\(md.path)/\(last.relativePath)") == 0)
        let after = try MaildirMailbox(maildir: md).synchronize()
        #expect(after.messages.map(\.uid) == [2])
        #expect(after.highestModSeq >= before + UIDList.unrecordedChangeModSeqStep)
    }
}

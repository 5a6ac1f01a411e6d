import Foundation
import Testing
import MailSystem
@testable import Maildir

/// The uid list's binary image (postamt-uidlist.index, `UIDListIndex`): read instead of the
/// text only when it was made from the very file there now, never when stale or damaged; its
/// names read later; new/ known empty from it. (One at a time: a test counts the process's
/// descriptors held by deferred names.)
@Suite(.serialized)
struct UIDListIndexTests {
    /// A list big enough to get an image (`UIDList.indexMinimumBytes`), with every kind of field.
    func bigList(_ n: Int = 8000, curStamp: CurStamp? = nil) -> UIDListFile {
        var file = UIDListFile(uidValidity: 77, nextUID: UInt32(n + 10), highestModSeq: 500, firstRecentUID: UInt32(n - 5),
                               curStamp: curStamp, expungeFloor: 300)
        for i in 1...n {
            file.entries.append(UIDListEntry(uid: UInt32(i), modSeq: UInt64(i % 500), flags: i % 3 == 0 ? [.seen] : i % 7 == 0 ? [.flagged, .replied] : [],
                                             baseName: "17644\(100_000 + i).M\(i)P77Q1.host.example.org,S=\(1000 + i)"))
        }
        file.expunged = [UIDListExpunge(first: UInt32(n + 1), last: UInt32(n + 3), modSeq: 400),
                         UIDListExpunge(first: UInt32(n + 5), last: UInt32(n + 5), modSeq: 450)]
        return file
    }

    func identity(_ path: String) -> FileIdentity { FileIdentity(FileIO.status(path)!) }

    func imageBytes(_ list: UIDList) throws -> [UInt8] {
        try #require(try FileIO.readFile(list.indexPath))
    }

    func setMTime(_ path: String, _ t: FileTime) {
        var times = [timespec(tv_sec: Int(t.seconds), tv_nsec: Int(t.nanoseconds)),
                     timespec(tv_sec: Int(t.seconds), tv_nsec: Int(t.nanoseconds))]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
    }

    @Test func imageReadsAsTheListItWasMadeOf() throws {
        let file = bigList(300)
        let layout = UIDListFile.Layout(validLength: 1234, changeBytes: 34, hasTornTail: true)
        var st = stat()
        st.st_ino = 42; st.st_size = 2000; st.st_mtim.tv_sec = 1_700_000_000; st.st_ctim.tv_nsec = 7
        let stamp = CurStamp(modified: FileTime(seconds: 5, nanoseconds: 6), checked: FileTime(seconds: 9, nanoseconds: 1))
        let image = UIDListIndex.encode(file, layout: layout, identity: FileIdentity(st), newStamp: stamp)
        let decoded = try #require(UIDListIndex.decode(image, identity: FileIdentity(st)))
        #expect(decoded.file == file)
        #expect(decoded.layout == layout)
        #expect(decoded.newStamp == stamp)
        #expect(decoded.file.encoded() == file.encoded())
        // Made from another file (an append, a rewrite, an editor): not this list's image.
        let changes: [(inout stat) -> Void] = [{ $0.st_size += 1 }, { $0.st_ino += 1 }, { $0.st_mtim.tv_nsec += 1 }, { $0.st_ctim.tv_sec += 1 }]
        for change in changes {
            var other = st
            change(&other)
            #expect(UIDListIndex.decode(image, identity: FileIdentity(other)) == nil)
        }
        // The device is not part of the key: NFS clients number it differently.
        var elsewhere = st
        elsewhere.st_dev += 1
        #expect(UIDListIndex.decode(image, identity: FileIdentity(elsewhere)) != nil)
        // An empty list too.
        let empty = UIDListFile(uidValidity: 3)
        #expect(UIDListIndex.decode(UIDListIndex.encode(empty, layout: layout, identity: FileIdentity(st)), identity: nil)?.file == empty)
    }

    @Test func damagedImagesAreRefused() throws {
        let n = 100
        let file = bigList(n)
        let image = UIDListIndex.encode(file, layout: UIDListFile.Layout(validLength: 0, changeBytes: 0, hasTornTail: false),
                                        identity: FileIdentity(stat()))
        #expect(UIDListIndex.decode(image, identity: nil) != nil)
        let h = UIDListIndex.headerSize
        let uids = h, modSeqs = h + UIDListIndex.padded(n * 4), flags = modSeqs + 8 * n
        let expunges = flags + 8 * n, spans = expunges + 16 * file.expunged.count, names = spans + 8 * n
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
            withUnsafeBytes(of: value) { for (k, b) in $0.enumerated() { bytes[offset + k] = b } }
        }
        var cases: [(String, [UInt8])] = []
        func damaged(_ what: String, _ change: (inout [UInt8]) -> Void) {
            var bytes = image
            change(&bytes)
            cases.append((what, bytes))
        }
        damaged("cut short") { $0.removeLast() }
        damaged("longer") { $0.append(contentsOf: [UInt8](repeating: 0, count: 8)) }
        damaged("no trailer") { $0[$0.count - 1] ^= 1 }
        damaged("magic") { $0[0] = UInt8(ascii: "X") }
        damaged("byte order") { put(UInt32(0x0403_0201), at: 8, in: &$0) }
        damaged("UIDs not ascending") { put(UInt32(5), at: uids + 4 * 9, in: &$0) }
        damaged("UID 0") { put(UInt32(0), at: uids, in: &$0) }
        damaged("UID not below N") { put(UInt32(n + 10), at: uids + 4 * (n - 1), in: &$0) }
        damaged("modseq above M") { put(UInt64(501), at: modSeqs + 8 * 3, in: &$0) }
        damaged("unknown flag bits") { put(UInt64(1) << 62, at: flags + 8 * 4, in: &$0) }
        damaged("expunges out of order") { put(UInt64(460), at: expunges + 8, in: &$0) }
        damaged("expunge at or below the floor") { put(UInt64(300), at: expunges + 8, in: &$0) }
        damaged("a gap between names") { put(UInt32(1), at: spans + 8 * 2, in: &$0) }
        damaged("an empty name") { put(UInt32(0), at: spans + 8 * 2 + 4, in: &$0) }
        damaged("a colon in a name") { $0[names + 3] = UInt8(ascii: ":") }
        damaged("a line end in a name") { $0[names + 3] = 0x0A }
        damaged("a negative stamp") { put(UInt32(1), at: 84, in: &$0); put(Int64(-1), at: 88, in: &$0) }
        for (what, bytes) in cases {
            #expect(UIDListIndex.decode(bytes, identity: nil) == nil, "\(what)")
        }
    }

    @Test func bigListIsReadFromItsImageOnlyWhileItIsTheSameFile() throws {
        let dir = TemporaryDirectory()
        let list = UIDList(folderPath: dir.path)
        var file = bigList()
        try FileIO.writeAtomically(list.filePath, file.encoded(), mode: 0o600)
        #expect(file.encoded().count >= UIDList.indexMinimumBytes)
        // A reader parses the text and leaves an image of it.
        #expect(try list.read() == file)
        let image = try imageBytes(list)
        #expect(UIDListIndex.decode(image, identity: identity(list.filePath))?.file == file)
        // The image is what a fresh process reads: one made (for the test) with another flag
        // but this list's key is believed…
        var changed = file
        changed.entries.setFlags([.draft], modSeq: 1, at: 0) // UID 1
        try UIDListIndex.write(changed, layout: UIDListFile.Layout(validLength: file.encoded().count, changeBytes: 0, hasTornTail: false),
                               identity: identity(list.filePath), newStamp: nil, folderPath: dir.path)
        #expect(try UIDList(folderPath: dir.path).read() == changed)
        // … and while the list only grew since (batches appended, same inode), with the
        // batches applied on top of it, without writing a new image.
        let imageInode = FileIO.status(list.indexPath)!.st_ino
        let text = try #require(try FileIO.readFile(list.filePath))
        let before = try #require(UIDListFile.parse(text))
        file.entries.setFlags([.seen], modSeq: 501, at: 1)
        file.entries.remove(uids: [5])
        file.entries.append(UIDListEntry(uid: 8008, modSeq: 502, flags: [.draft], baseName: "1764441600.M8008P7.new"))
        file.highestModSeq = 502
        file.recordExpunge([5], modSeq: 502)
        let batch = try #require(file.encodedChanges(from: before))
        try UIDList(folderPath: dir.path).appendChanges(batch, sync: false)
        var grown = changed
        grown.entries.setFlags([.seen], modSeq: 501, at: 1)
        grown.entries.remove(uids: [5])
        grown.entries.append(UIDListEntry(uid: 8008, modSeq: 502, flags: [.draft], baseName: "1764441600.M8008P7.new"))
        grown.highestModSeq = 502
        grown.recordExpunge([5], modSeq: 502)
        #expect(try UIDList(folderPath: dir.path).read() == grown)
        let stampOnly = Array("=N8010 M502 R7995 E300 C1.2,3.4\n".utf8)
        try UIDList(folderPath: dir.path).appendChanges(stampOnly, sync: false)
        grown.curStamp = CurStamp(modified: FileTime(seconds: 1, nanoseconds: 2), checked: FileTime(seconds: 3, nanoseconds: 4))
        let fromImage = try #require(try UIDList(folderPath: dir.path).read())
        #expect(fromImage == grown)
        #expect(fromImage.entries.last?.baseName == "1764441600.M8008P7.new")
        #expect(FileIO.status(list.indexPath)!.st_ino == imageInode)
        // A list written anew (another inode) is read from its text, and gets its image.
        file.curStamp = grown.curStamp
        #expect(UIDListFile.parse(try #require(try FileIO.readFile(list.filePath))) == file)
        try FileIO.writeAtomically(list.filePath, file.encoded(), mode: 0o600)
        #expect(try UIDList(folderPath: dir.path).read() == file)
        #expect(UIDListIndex.decode(try imageBytes(list), identity: identity(list.filePath))?.file == file)
        // One rewritten in place into a longer file (same inode, another first line) is too.
        var other = file
        other.nextUID = 9000
        other.entries.append(UIDListEntry(uid: 8500, modSeq: 1, flags: [], baseName: "1764441601.M1P1.other"))
        let fd = open(list.filePath, O_WRONLY | O_TRUNC)
        try FileIO.writeAll(fd, other.encoded())
        close(fd)
        #expect(try UIDList(folderPath: dir.path).read() == other)
        #expect(try UIDList(folderPath: dir.path).read() == other)
        // A damaged image is passed over (and replaced).
        var bytes = try imageBytes(list)
        bytes[UIDListIndex.headerSize + 4] = 0
        try FileIO.writeAtomically(list.indexPath, bytes, mode: 0o600)
        #expect(try UIDList(folderPath: dir.path).read() == other)
        #expect(UIDListIndex.decode(try imageBytes(list), identity: identity(list.filePath))?.file == other)
    }

    @Test func namesComeLaterFromTheImageTheListWasReadFrom() throws {
        let dir = TemporaryDirectory()
        let file = bigList()
        let path = "\(dir.path)/\(UIDList.fileName)"
        try FileIO.writeAtomically(path, file.encoded(), mode: 0o600)
        _ = try UIDList(folderPath: dir.path).read() // leaves the image
        // A newer image renamed over it: the names still come from the one read.
        let fromImage = try #require(try UIDList(folderPath: dir.path).read())
        try FileIO.writeAtomically("\(dir.path)/\(UIDListIndex.fileName)", [UInt8](repeating: 7, count: 4096), mode: 0o600)
        #expect(fromImage.entries.baseNames == file.entries.baseNames)
        #expect(fromImage.entries[17].baseName == file.entries[17].baseName)
        // The image cut short in place before the names were read: they come from the list,
        // which is still the file the image was made of.
        _ = try UIDList(folderPath: dir.path).read() // a good image again
        let second = try #require(try UIDList(folderPath: dir.path).read())
        #expect(truncate("\(dir.path)/\(UIDListIndex.fileName)", UIDListIndex.headerSize) == 0)
        #expect(second.entries[7999].baseName == file.entries[7999].baseName)
        #expect(second == file)
        // Cut short, and the list written anew without UID 2 meanwhile: each UID's name comes
        // from the list as it is now, the one it lost reads as gone (an empty name).
        _ = try UIDList(folderPath: dir.path).read() // a good image again
        let third = try #require(try UIDList(folderPath: dir.path).read())
        #expect(truncate("\(dir.path)/\(UIDListIndex.fileName)", 100) == 0)
        var smaller = file
        smaller.entries.remove(uids: [2])
        try FileIO.writeAtomically(path, smaller.encoded(), mode: 0o600)
        #expect(third.entries[0].baseName == file.entries[0].baseName)
        #expect(third.entries[1].baseName == "")
        #expect(third.entries[2].baseName == file.entries[2].baseName)
    }

    @Test func deferredNamesHoldAtMostTheirShareOfDescriptors() throws {
        let dir = TemporaryDirectory()
        let file = bigList()
        try FileIO.writeAtomically("\(dir.path)/\(UIDList.fileName)", file.encoded(), mode: 0o600)
        _ = try UIDList(folderPath: dir.path).read() // leaves the image
        // Many lists read from images and kept (a session asking STATUS of many big folders):
        // beyond the limit, names are read at once rather than kept behind a descriptor.
        let before = DeferredNames.descriptorsOpen
        var kept: [UIDListFile] = []
        for _ in 0..<(DeferredNames.openLimit + 6) { kept.append(try #require(try UIDList(folderPath: dir.path).read())) }
        #expect(DeferredNames.descriptorsOpen <= DeferredNames.openLimit)
        #expect(DeferredNames.descriptorsOpen > before)
        #expect(kept.allSatisfy { $0 == file })
        // Read names give their descriptor back.
        #expect(DeferredNames.descriptorsOpen == before)
        kept.removeAll()
        #expect(DeferredNames.descriptorsOpen == before)
    }

    @Test func writerOnAnImageReadListKeepsEveryName() throws {
        let dir = TemporaryDirectory()
        let file = bigList(7000)
        let list = UIDList(folderPath: dir.path)
        try FileIO.writeAtomically(list.filePath, file.encoded(), mode: 0o600)
        _ = try list.read() // leaves the image
        let fresh = UIDList(folderPath: dir.path)
        #expect(try fresh.read() == file)
        _ = try fresh.updateTracked { $0.entries.setFlags([.trashed], modSeq: 500, at: 3) }
        var expected = file
        expected.entries.setFlags([.trashed], modSeq: 500, at: 3)
        #expect(UIDListFile.parse(try #require(try FileIO.readFile(list.filePath))) == expected)
        // A list written small (whole: another UIDVALIDITY) loses its image.
        _ = try fresh.updateTracked { f in
            f = UIDListFile(uidValidity: 78, nextUID: 20, highestModSeq: 600, entries: UIDListEntries(f.entries.prefix(10)))
        }
        #expect(!FileIO.exists(list.indexPath))
        #expect(try UIDList(folderPath: dir.path).read()?.entries.count == 10)
    }

    @Test func imageKnowsNewEmptyForTheNextProcess() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        try md.create()
        let old = FileTime(seconds: FileTime.now().seconds - 100, nanoseconds: 0)
        setMTime("\(md.path)/new", old)
        setMTime("\(md.path)/cur", old)
        let curStamp = CurStamp(modified: old, checked: FileTime(seconds: old.seconds + 50, nanoseconds: 0))
        let list = UIDList(folderPath: md.path)
        try FileIO.writeAtomically(list.filePath, bigList(curStamp: curStamp).encoded(), mode: 0o600)
        // The first process lists new/ and leaves an image that knows it empty at this mtime.
        var stamp: CurStamp?
        guard case .current = try list.quickCheck(known: nil, knownStamp: nil, newStamp: &stamp) else {
            Issue.record("the list with its stamp should describe the folder"); return
        }
        let image = try #require(UIDListIndex.decode(try imageBytes(list), identity: identity(list.filePath)))
        #expect(image.newStamp?.modified == old)
        // The next process takes new/ as empty from one stat while its mtime stays: shown
        // here by a file the mtime does not tell of (which no real delivery can do).
        try writeFile("\(md.path)/new/1764441600.M1P1.host", "x\n")
        setMTime("\(md.path)/new", old)
        var fresh: CurStamp?
        guard case .current = try UIDList(folderPath: md.path).quickCheck(known: nil, knownStamp: nil, newStamp: &fresh) else {
            Issue.record("the image's stamp of new/ should have been trusted"); return
        }
        // A delivery changes new/'s mtime: the next process lists it.
        setMTime("\(md.path)/new", FileTime.now())
        var third: CurStamp?
        guard case .newMessages = try UIDList(folderPath: md.path).quickCheck(known: nil, knownStamp: nil, newStamp: &third) else {
            Issue.record("a changed new/ must be listed"); return
        }
    }
}

import Foundation
import Testing
import MailCore
import MailSystem
import TestSupport
@testable import MailQueueStore

/// The runner's wiped message files and the injections that take them (QueueSpares): no file
/// is ever wiped or written while another name links it, a full or empty set of slots falls
/// back to unlinking and creating, what goes into a slot reads as zeros (its blocks kept up to
/// the block limit, emptied above it), and a message written into a spare is exactly that
/// message, however large the spare was.
@Suite struct QueueSparesTests {
    func queue(spareFiles: Int = 4) throws -> (QueueInjector, String) {
        let root = makeTemporaryDirectory(prefix: "postamt-spares")
        let layout = QueueLayout(root: "\(root)/queue")
        try layout.create()
        return (QueueInjector(layout: layout, messageSizeLimit: 1 << 20, addressLengthLimit: 64, recipientLimit: 3,
                              log: Log(program: "postamt-queue-test"), spareFiles: spareFiles), root)
    }

    func names(_ layout: QueueLayout, _ sub: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(layout.root)/\(sub)")) ?? []).sorted()
    }

    func status(_ path: String) -> stat? { FileIO.linkStatus(path) }

    /// A finished message file as the runner finds it after unlinking incoming/ID.
    func finished(_ layout: QueueLayout, _ id: String, _ text: String = "old message\n") throws -> ino_t {
        let fd = try FileIO.open(layout.message(id), O_WRONLY | O_CREAT | O_EXCL, mode: 0o640)
        try FileIO.writeAll(fd.raw, Array(text.utf8))
        return try #require(status(layout.message(id))).st_ino
    }

    func commitOne(_ injector: QueueInjector, _ body: String) throws -> String {
        let pending = try injector.begin(received: "Received: (test)\n")
        try FileIO.writeAll(pending.fd, Array(body.utf8))
        return try injector.commit(pending, envelope: Envelope(sender: try EnvelopeAddress("s@x"), recipients: [try EnvelopeAddress("a@x")]))
    }

    @Test func aFinishedFileIsKeptEmptyAndTheNextMessageIsWrittenIntoIt() throws {
        let (injector, root) = try queue()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = injector.layout
        let inode = try finished(layout, "OLD1")
        var known = QueueSpares.Knowledge()
        #expect(injector.spares.keep(layout.message("OLD1"), knowing: &known))
        #expect(names(layout, "mess").isEmpty)
        let slots = names(layout, "spare")
        #expect(slots.count == 1)
        let spare = try #require(status("\(layout.spare)/\(slots[0])"))
        #expect(spare.st_ino == inode && spare.st_size == 0 && spare.st_nlink == 1)

        let id = try commitOne(injector, "Subject: new\n\nnew body\n")
        #expect(names(layout, "spare").isEmpty)
        #expect(try #require(status(layout.message(id))).st_ino == inode)
        // The whole file is the new message: nothing of the old one, the size recorded right.
        #expect(try QueueFile.readMessage(layout.message(id)) == Array("Received: (test)\nSubject: new\n\nnew body\n".utf8))
        let record = try QueueEnvelope.decode(try #require(try QueueFile.readEnvelope(layout.envelope(id))).record)
        #expect(record.size == QueueFile.messageSize(layout.message(id)))
        // With no spare left, the next message gets a file of its own.
        let next = try commitOne(injector, "Subject: next\n\nbody\n")
        #expect(try #require(status(layout.message(next))).st_ino != inode)
    }

    /// Whether the file system under `dir` zeroes a range while keeping its blocks (ext4 and
    /// xfs do; tmpfs does not, and there a spare is emptied instead).
    func zeroRangeKeepsBlocks(_ dir: String) throws -> Bool {
        let fd = try FileIO.open("\(dir)/probe", O_RDWR | O_CREAT | O_EXCL, mode: 0o600)
        defer { unlink("\(dir)/probe") }
        try FileIO.writeAll(fd.raw, [UInt8](repeating: 1, count: 4096))
        return FileIO.zeroKeepingBlocks(fd.raw, length: 4096)
    }

    @Test func aSmallFileIsWipedInPlaceALargeOneEmptiedAndTheNextMessageIsCutToItsLength() throws {
        let (injector, root) = try queue()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = injector.layout
        let keepsBlocks = try zeroRangeKeepsBlocks(root)
        let spares = QueueSpares(layout: layout, count: 4, blockLimit: 8192)
        var known = QueueSpares.Knowledge()
        let small = try finished(layout, "W1", String(repeating: "confidential line\n", count: 300))
        #expect(spares.keep(layout.message("W1"), knowing: &known))
        let large = try finished(layout, "W2", String(repeating: "x", count: 9000))
        #expect(spares.keep(layout.message("W2"), knowing: &known))
        #expect(names(layout, "mess").isEmpty)
        var kept: [ino_t: stat] = [:]
        for name in names(layout, "spare") {
            let st = try #require(status("\(layout.spare)/\(name)"))
            kept[st.st_ino] = st
            // Nothing of the delivered message can be read back from a spare.
            #expect(try #require(try FileIO.readFile("\(layout.spare)/\(name)")).allSatisfy { $0 == 0 })
        }
        let wiped = try #require(kept[small]), emptied = try #require(kept[large])
        if keepsBlocks {
            #expect(wiped.st_size == 5400 && wiped.st_blocks > 0, "size \(wiped.st_size), blocks \(wiped.st_blocks)")
        } else {
            #expect(wiped.st_size == 0)  // the file system cannot: emptied as above the limit
        }
        #expect(emptied.st_size == 0)

        // Both spares carry a message again, each exactly that message and its recorded size.
        for n in 0..<2 {
            let body = "Received: (test)\nSubject: \(n)\n\nbody \(n)\n"
            let id = try commitOne(injector, String(body.dropFirst("Received: (test)\n".count)))
            #expect(kept[try #require(status(layout.message(id))).st_ino] != nil)
            #expect(try QueueFile.readMessage(layout.message(id)) == Array(body.utf8))
            let record = try QueueEnvelope.decode(try #require(try QueueFile.readEnvelope(layout.envelope(id))).record)
            #expect(record.size == Int64(body.utf8.count) && record.size == QueueFile.messageSize(layout.message(id)))
        }
        #expect(names(layout, "spare").isEmpty)
    }

    @Test func aFileWithASecondLinkIsNeitherEmptiedNorWritten() throws {
        let (injector, root) = try queue()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = injector.layout
        // The runner's side: incoming/ID still links the file (its unlink failed): not kept.
        _ = try finished(layout, "OLD2", "still queued\n")
        #expect(link(layout.message("OLD2"), layout.envelope("OLD2")) == 0)
        var known = QueueSpares.Knowledge()
        #expect(!injector.spares.keep(layout.message("OLD2"), knowing: &known))
        #expect(try FileIO.readFile(layout.message("OLD2")) == Array("still queued\n".utf8))
        #expect(names(layout, "spare").isEmpty)
        // The taker's side: a spare that another name links (a crash undid an unlink) is left
        // to that name, untouched, and the message gets a file of its own.
        _ = try finished(layout, "OLD3", "linked elsewhere\n")
        #expect(rename(layout.message("OLD3"), layout.spareFile(0)) == 0)
        #expect(link(layout.spareFile(0), layout.envelope("OLD3")) == 0)
        let id = try commitOne(injector, "Subject: new\n\nbody\n")
        #expect(try FileIO.readFile(layout.envelope("OLD3")) == Array("linked elsewhere\n".utf8))
        #expect(try #require(status(layout.message(id))).st_ino != (try #require(status(layout.envelope("OLD3")))).st_ino)
        #expect(names(layout, "spare").isEmpty)
    }

    @Test func aFileLeftFullByACrashIsCutToTheNewMessageWhenTaken() throws {
        let (injector, root) = try queue()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = injector.layout
        _ = try finished(layout, "OLD4", String(repeating: "left over\n", count: 500))
        #expect(rename(layout.message("OLD4"), layout.spareFile(3)) == 0)
        let id = try commitOne(injector, "Subject: s\n\nshort\n")
        #expect(try QueueFile.readMessage(layout.message(id)) == Array("Received: (test)\nSubject: s\n\nshort\n".utf8))
    }

    @Test func withEverySlotFullTheFileIsUnlinkedAndTheSlotsAreNotListedForAWhile() throws {
        let (injector, root) = try queue(spareFiles: 2)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = injector.layout
        var known = QueueSpares.Knowledge()
        for i in 0..<2 {
            _ = try finished(layout, "F\(i)")
            #expect(injector.spares.keep(layout.message("F\(i)"), knowing: &known))
        }
        #expect(names(layout, "spare") == ["0", "1"])
        _ = try finished(layout, "F2", "kept as it was\n")
        #expect(!injector.spares.keep(layout.message("F2"), knowing: &known))
        // Not emptied: the caller unlinks it as before.
        #expect(try FileIO.readFile(layout.message("F2")) == Array("kept as it was\n".utf8))
        // A slot frees; the runner looks again only after QueueSpares.fullPause removals.
        #expect(unlink(layout.spareFile(1)) == 0)
        for _ in 0..<QueueSpares.fullPause { #expect(!injector.spares.keep(layout.message("F2"), knowing: &known)) }
        #expect(injector.spares.keep(layout.message("F2"), knowing: &known))
        #expect(names(layout, "spare") == ["0", "1"] && names(layout, "mess").isEmpty)
    }

    @Test func withNoSpareTheTakersCreateAndDoNotListForAWhile() throws {
        let (injector, root) = try queue(spareFiles: 2)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = injector.layout
        var known = QueueSpares.Knowledge()
        #expect(injector.spares.take(as: layout.message("T0"), knowing: &known) == nil)
        // A spare arrives; the takers look again only after QueueSpares.emptyPause takes.
        var keeper = QueueSpares.Knowledge()
        let inode = try finished(layout, "F0")
        #expect(injector.spares.keep(layout.message("F0"), knowing: &keeper))
        for i in 0..<QueueSpares.emptyPause {
            #expect(injector.spares.take(as: layout.message("T\(i + 1)"), knowing: &known) == nil)
        }
        #expect(names(layout, "spare") == ["0"] && names(layout, "mess").isEmpty)
        let fd = try #require(injector.spares.take(as: layout.message("T99"), knowing: &known))
        close(fd)
        #expect(names(layout, "spare").isEmpty && status(layout.message("T99"))?.st_ino == inode)
    }

    @Test func noSparesMeansFilesAreCreatedAndUnlinkedAsBefore() throws {
        // Reuse off (queue_spare_files = 0), and a queue made before spare/ existed.
        let (off, root) = try queue(spareFiles: 0)
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try finished(off.layout, "G0")
        var known = QueueSpares.Knowledge()
        #expect(!off.spares.keep(off.layout.message("G0"), knowing: &known))
        #expect(try FileIO.readFile(off.layout.message("G0")) == Array("old message\n".utf8))
        #expect(rmdir(off.layout.spare) == 0)
        #expect(off.layout.isComplete)
        let on = QueueInjector(layout: off.layout, messageSizeLimit: 1 << 20, addressLengthLimit: 64, recipientLimit: 3,
                               log: Log(program: "postamt-queue-test"), spareFiles: 4)
        #expect(!on.spares.keep(on.layout.message("G0"), knowing: &known))
        let id = try commitOne(on, "Subject: x\n\ny\n")
        #expect(names(on.layout, "incoming") == [id])
    }

    @Test func onlySlotNamesBelowTheCountAreSlots() throws {
        let (injector, root) = try queue(spareFiles: 4)
        defer { try? FileManager.default.removeItem(atPath: root) }
        for name in ["0", "3", "4", "10", "01", "x", "-1", ""] where !name.isEmpty {
            #expect(FileManager.default.createFile(atPath: "\(injector.layout.spare)/\(name)", contents: Data()))
        }
        #expect(injector.spares.strays().sorted() == ["-1", "01", "10", "4", "x"])
        #expect(injector.spares.filled() == [true, false, false, true])
        // A mistyped setting does not size the bookkeeping by it.
        #expect(QueueSpares(layout: injector.layout, count: Int.max).count == QueueSpares.maximumCount)
        #expect(QueueSpares(layout: injector.layout, count: -1).count == 0)
    }
}

import Foundation
import Testing
import MailCore
import MailSystem
import TestSupport
@testable import MailQueueStore

/// The runner's emptied message files and the injections that take them (QueueSpares): no
/// file is ever emptied or written while another name links it, a full or empty set of slots
/// falls back to unlinking and creating, and what comes out of a slot is an empty file of ours.
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

    @Test func aFileLeftFullByACrashIsEmptiedWhenTaken() throws {
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

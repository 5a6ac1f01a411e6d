import Foundation
import Testing
import MailCore
import MailSystem
import TestSupport
@testable import MailQueueStore

/// QueueInjector's two halves (begin, commit) as smtpd runs them itself: the same files, the
/// same refusals and nothing left behind, as postamt-queue's whole run.
@Suite struct QueueInjectorTests {
    func queue(sizeLimit: Int64 = 1 << 20, addressLengthLimit: Int = 64, recipientLimit: Int = 3) throws -> (QueueInjector, String) {
        let root = makeTemporaryDirectory(prefix: "postamt-injector")
        let layout = QueueLayout(root: "\(root)/queue")
        try layout.create()
        return (QueueInjector(layout: layout, messageSizeLimit: sizeLimit, addressLengthLimit: addressLengthLimit,
                              recipientLimit: recipientLimit, log: Log(program: "postamt-queue-test")), root)
    }

    func files(_ injector: QueueInjector, _ sub: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(injector.layout.root)/\(sub)")) ?? []).sorted()
    }

    func envelope(_ recipients: [String] = ["a@x"]) throws -> Envelope {
        Envelope(sender: try EnvelopeAddress("s@x"), recipients: try recipients.map { try EnvelopeAddress($0) })
    }

    @Test func beginWriteCommitQueuesTheMessageWithItsEnvelope() throws {
        let (injector, root) = try queue()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let pending = try injector.begin(received: "Received: (test)\n")
        // Written as mess/ID, invisible to the runner (which reads incoming/) until the commit.
        #expect(files(injector, "tmp").isEmpty && files(injector, "incoming").isEmpty && files(injector, "mess") == [pending.id])
        try FileIO.writeAll(pending.fd, Array("Subject: hi\n\nbody\n".utf8))
        let id = try injector.commit(pending, envelope: envelope(["a@x", "b@y"]), submitter: "alice",
                                     dsn: (transaction: "RET=HDRS ENVID=E1", recipients: "NOTIFY=SUCCESS\n-"))
        #expect(id == pending.id)
        #expect(files(injector, "tmp").isEmpty && files(injector, "incoming") == [id] && files(injector, "mess") == [id])
        let message = try #require(try QueueFile.readMessage(injector.layout.message(id)))
        #expect(String(decoding: message, as: UTF8.self) == "Received: (test)\nSubject: hi\n\nbody\n")
        // One file: the envelope record in its header, incoming/ID a second link to it.
        var incoming = stat(), mess = stat()
        #expect(stat(injector.layout.envelope(id), &incoming) == 0 && stat(injector.layout.message(id), &mess) == 0)
        #expect(incoming.st_ino == mess.st_ino && mess.st_nlink == 2)
        #expect(Int64(mess.st_size) == Int64(QueueFile.headerSize + message.count))
        let stored = try #require(try QueueFile.readEnvelope(injector.layout.envelope(id)))
        #expect(stored.holdsMessage && stored.messageSize == Int64(message.count))
        let record = try QueueEnvelope.decode(stored.record)
        #expect(record.size == Int64(message.count))
        #expect(record.envelope == (try envelope(["a@x", "b@y"])))
        #expect(record.submitter == "alice")
        #expect(record.dsn.envid == "E1" && record.dsn.ret == "HDRS" && record.dsn.recipients.count == 2)
        // Modes as postamt-queue makes them, whatever the caller's umask.
        var st = stat()
        #expect(stat(injector.layout.message(id), &st) == 0 && st.st_mode & 0o777 == 0o640)
        // A pending message committed cannot be committed or abandoned into anything else.
        pending.abandon()
        #expect(files(injector, "mess") == [id])
    }

    @Test func aRecordTooBigForTheHeaderIsAFileOfItsOwn() throws {
        let (injector, root) = try queue(addressLengthLimit: 200, recipientLimit: 50)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = injector.layout
        let recipients = (0..<40).map { "recipient-with-a-long-name-\($0)@example.org" }
        let pending = try injector.begin(received: "Received: (test)\n")
        try FileIO.writeAll(pending.fd, Array("Subject: many\n\nbody\n".utf8))
        let id = try injector.commit(pending, envelope: envelope(recipients))
        var incoming = stat(), mess = stat()
        #expect(stat(layout.envelope(id), &incoming) == 0 && stat(layout.message(id), &mess) == 0)
        #expect(incoming.st_ino != mess.st_ino && mess.st_nlink == 1)
        let stored = try #require(try QueueFile.readEnvelope(layout.envelope(id)))
        #expect(!stored.holdsMessage && stored.messageSize == nil)
        let record = try QueueEnvelope.decode(stored.record)
        #expect(record.envelope.recipients.count == 40)
        #expect(record.size == QueueFile.messageSize(layout.message(id)))
        #expect(try QueueFile.readMessage(layout.message(id)) == Array("Received: (test)\nSubject: many\n\nbody\n".utf8))
        #expect(files(injector, "tmp").isEmpty)
    }

    @Test func filesWithoutAHeaderAreReadAsOlderVersionsWroteThem() throws {
        let root = makeTemporaryDirectory(prefix: "postamt-queuefile")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let message = Array("Received: (old)\nSubject: x\n\nbody\n".utf8)
        try FileIO.writeAtomically("\(root)/m", message)
        #expect(try QueueFile.readMessage("\(root)/m") == message)
        #expect(QueueFile.messageSize("\(root)/m") == Int64(message.count))
        let record = QueueEnvelope(id: "A1", arrival: 1, size: Int64(message.count),
                                   envelope: try envelope()).encoded()
        try FileIO.writeAtomically("\(root)/e", record)
        let stored = try #require(try QueueFile.readEnvelope("\(root)/e"))
        #expect(stored.record == record && !stored.holdsMessage)
        #expect(try QueueFile.readEnvelope("\(root)/missing") == nil)
        #expect(try QueueFile.readMessage("\(root)/missing") == nil)
        // A damaged header is an error, not a message.
        for bad in ["POSTAMT-QUEUE 1 99999999\n", "POSTAMT-QUEUE 2 1024\n", "POSTAMT-QUEUE 1 5\n", "POSTAMT-QUEUE 1 1024"] {
            try FileIO.writeAtomically("\(root)/bad", Array(bad.utf8))
            #expect(throws: QueueFile.Invalid.self, "\(bad)") { _ = try QueueFile.readMessage("\(root)/bad") }
            #expect(throws: QueueFile.Invalid.self, "\(bad)") { _ = try QueueFile.readEnvelope("\(root)/bad") }
        }
        // A header without its record (an interrupted commit's file) has no envelope.
        try FileIO.writeAtomically("\(root)/blank", QueueFile.blankHeader() + message)
        #expect(throws: QueueFile.Invalid.self) { _ = try QueueFile.readEnvelope("\(root)/blank") }
        #expect(try QueueFile.readMessage("\(root)/blank") == message)
    }

    @Test func theRecordEndsAtItsFirstEndLine() {
        func end(_ text: String, from start: Int = 0) -> Int? {
            let bytes = Array(text.utf8)
            return QueueFile.endOfRecord(bytes[start...]).map { $0 - start }
        }
        #expect(end("H\nend\n") == 6)
        #expect(end("H\nend\nR\nend\n") == 6)
        #expect(end("\nend\n") == 5)
        #expect(end("H\nend") == nil)
        #expect(end("Hend\n") == nil)
        #expect(end("H\nEND\n") == nil)
        #expect(end("") == nil)
        // A slice keeps its indices: the end is counted from the array's start.
        #expect(end("xxH\nend\n\n\n", from: 2) == 6)
    }

    @Test func abandonedOrDroppedMessagesLeaveNothing() throws {
        let (injector, root) = try queue()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let pending = try injector.begin(received: "Received: x\n")
        try FileIO.writeAll(pending.fd, Array("half a message".utf8))
        pending.abandon()
        #expect(files(injector, "tmp").isEmpty)
        do {
            let dropped = try injector.begin(received: "Received: x\n")
            try FileIO.writeAll(dropped.fd, Array("never committed".utf8))
        }
        #expect(files(injector, "tmp").isEmpty)
        #expect(throws: QueueInjector.Failure.self) { try injector.commit(pending, envelope: try envelope()) }
        #expect(files(injector, "incoming").isEmpty && files(injector, "mess").isEmpty)
    }

    /// A queue directory without mess/ (nothing can start), without incoming/ (found at the
    /// commit) or without tmp/ (found when a record needs a file of its own there): exit 62
    /// with the queue named, and nothing left behind.
    @Test(arguments: ["mess", "incoming", "tmp"])
    func aMissingQueueDirectoryIsSaidAsSuch(missing: String) throws {
        let (injector, root) = try queue(addressLengthLimit: 200, recipientLimit: 50)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = injector.layout
        try FileManager.default.removeItem(atPath: "\(layout.root)/\(missing)")
        let failure: QueueInjector.Failure?
        if missing == "mess" {
            failure = #expect(throws: QueueInjector.Failure.self) { _ = try injector.begin(received: "Received: x\n") }
        } else {
            let pending = try injector.begin(received: "Received: x\n")
            try FileIO.writeAll(pending.fd, Array("Subject: x\n\nbody\n".utf8))
            // Forty long recipients: a record too big for the header, in tmp/ID.env.
            let recipients = missing == "tmp" ? (0..<40).map { "recipient-with-a-long-name-\($0)@example.org" } : ["a@x"]
            failure = #expect(throws: QueueInjector.Failure.self) { _ = try injector.commit(pending, envelope: try envelope(recipients)) }
        }
        #expect(failure?.exit == .queueDirectory)
        #expect(failure?.reason == "queue directory \(layout.root) is missing or incomplete")
        for sub in ["tmp", "mess", "incoming"] where sub != missing { #expect(files(injector, sub).isEmpty, "\(sub)") }
    }

    @Test func refusalsAreThoseOfPostamtQueueAndLeaveNothing() throws {
        let (injector, root) = try queue(sizeLimit: 10)
        defer { try? FileManager.default.removeItem(atPath: root) }
        // message_size_limit counts the message, not the Received: line before it.
        let fits = try injector.begin(received: "Received: a line longer than the limit\n")
        try FileIO.writeAll(fits.fd, Array("0123456789".utf8))
        #expect(throws: Never.self) { _ = try injector.commit(fits, envelope: try envelope()) }
        let tooBig = try injector.begin(received: "Received: x\n")
        try FileIO.writeAll(tooBig.fd, Array("0123456789A".utf8))
        let size = #expect(throws: QueueInjector.Failure.self) { _ = try injector.commit(tooBig, envelope: try envelope()) }
        #expect(size?.exit == .permanentRefusal && size?.reason.contains("(#5.3.4)") == true)
        let tooMany = try injector.begin(received: "Received: x\n")
        let recipients = #expect(throws: QueueInjector.Failure.self) {
            _ = try injector.commit(tooMany, envelope: try envelope(["a@x", "b@x", "c@x", "d@x"]))
        }
        #expect(recipients?.exit == .envelopeFormat)
        let longAddress = try injector.begin(received: "Received: x\n")
        let long = #expect(throws: QueueInjector.Failure.self) {
            _ = try injector.commit(longAddress, envelope: try envelope([String(repeating: "a", count: 70) + "@x"]))
        }
        #expect(long?.exit == .addressTooLong)
        #expect(files(injector, "tmp").isEmpty, "\(files(injector, "tmp"))")
        #expect(files(injector, "incoming").count == 1 && files(injector, "mess").count == 1)
    }

    @Test func theCallersWordCountsOnlyFromRootOrTheMailOwner() throws {
        let root = QueueInjector.Caller(uid: 0, mailOwner: "nobody")
        let owner = QueueInjector.Caller(uid: try #require(SystemUser.named("nobody")).uid, mailOwner: "nobody")
        let other = QueueInjector.Caller(uid: try #require(SystemUser.named("daemon")).uid, mailOwner: "nobody")
        #expect(owner.isMailOwner && !other.isMailOwner && !root.isMailOwner)
        #expect(QueueInjector.peer(claimed: ["not an address", "192.0.2.1"], caller: owner) == "192.0.2.1")
        #expect(QueueInjector.peer(claimed: ["192.0.2.1"], caller: other) == nil)
        let dsn = (transaction: "RET=FULL REQUIRETLS", recipients: Optional("NOTIFY=NEVER"))
        #expect(QueueInjector.dsn(claimed: dsn, caller: root)?.transaction == "RET=FULL REQUIRETLS")
        #expect(QueueInjector.dsn(claimed: dsn, caller: other)?.transaction == "REQUIRETLS")
        #expect(QueueInjector.dsn(claimed: dsn, caller: other)?.recipients == nil)
        #expect(QueueInjector.submitter(named: "alice", caller: owner) == "alice")
        #expect(QueueInjector.submitter(named: nil, caller: owner) == nil)
        #expect(QueueInjector.submitter(named: nil, caller: root) == "root")
        #expect(QueueInjector.submitter(named: "alice", caller: other) == "daemon")
        #expect(QueueInjector.submitter(named: "bad:name", caller: root) == "root")
    }
}

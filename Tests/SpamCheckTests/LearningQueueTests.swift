import Foundation
import Testing
import SpamFilter
@testable import SpamCheck

struct LearningQueueTests {
    func entry(_ queue: SpamLearningQueue, _ name: String, _ text: String, sub: String = "new") throws {
        try FileManager.default.createDirectory(atPath: "\(queue.path)/\(sub)", withIntermediateDirectories: true)
        try text.write(toFile: "\(queue.path)/\(sub)/\(name)", atomically: true, encoding: .utf8)
    }

    @Test func entriesApplyInOrderAndLeaveTheQueue() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let queue = SpamLearningQueue(maildir: "\(directory)/Maildir/")
        let spam = "Message-ID: <a@x>\nSubject: cheap pills\n\nbuy cheap pills now\n"
        let other = "Message-ID: <b@x>\nSubject: replica watches\n\nswiss replica watches\n"
        // Into Junk, then back out: the later entry wins. An unknown ending is left alone.
        try entry(queue, "100.M1P1Q1.host,spam", spam)
        try entry(queue, "101.M1P1Q2.host,spam", other)
        try entry(queue, "102.M1P1Q3.host,ham", spam)
        try entry(queue, "103.M1P1Q4.host,maybe", other)
        // A tmp/ leftover of a failed COPY: removed once older than 36 hours.
        try entry(queue, "99.M1P1Q0.host,spam", spam, sub: "tmp")
        let old = Date(timeIntervalSinceNow: -37 * 3600)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: "\(queue.path)/tmp/99.M1P1Q0.host,spam")
        try entry(queue, "98.M1P1Q0.host,spam", spam, sub: "tmp")

        let database = TokenDatabase(path: "\(directory)/db/tokens.db")
        let result = try queue.apply(SpamTraining(database: database))
        #expect(result == SpamLearningQueue.Result(spam: 2, ham: 1, skipped: 0))
        let snapshot = try database.snapshot()
        #expect(snapshot.spamMessageCount == 1 && snapshot.hamMessageCount == 1)
        #expect(snapshot.learntClass(ofMessage: SpamDocument.messageKey(messageID: "<a@x>")) == .ham)
        #expect(snapshot.learntClass(ofMessage: SpamDocument.messageKey(messageID: "<b@x>")) == .spam)
        let left = try FileManager.default.contentsOfDirectory(atPath: "\(queue.path)/new")
        #expect(left == ["103.M1P1Q4.host,maybe"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(queue.path)/tmp") == ["98.M1P1Q0.host,spam"])
        // Nothing waiting: nothing changes.
        #expect(try queue.apply(SpamTraining(database: database)) == SpamLearningQueue.Result())
    }
}

import Foundation
import Synchronization
import Testing
@testable import SpamFilter

func doc(_ text: String, id: String? = nil) -> LearnableMessage {
    LearnableMessage(SpamDocument(headers: id.map { [(name: "Message-ID", value: $0)] } ?? [], textParts: [text]))
}

func hash(_ token: String) -> UInt64 { TokenHasher.hash(token.utf8) }

@Suite struct TokenDatabaseTests {
    @Test func createLearnReopenForget() throws {
        let directory = TemporaryDirectory()
        let database = TokenDatabase(path: directory.path + "/tokens.db")
        #expect(throws: TokenDatabaseError.notFound(path: database.path)) { try database.snapshot() }
        try database.createIfMissing()
        #expect(try database.snapshot().spamMessageCount == 0)

        let spam1 = doc("cheap pills now", id: "<s1@x>"), spam2 = doc("cheap watches now", id: "<s2@x>")
        let ham = doc("lunch meeting now", id: "<h1@x>")
        #expect(try database.learn([spam1, spam2], as: .spam).learnt == 2)
        #expect(try database.learn([ham], as: .ham).learnt == 1)

        let reopened = try TokenDatabase(path: database.path).snapshot(verifyContents: true)
        #expect(reopened.spamMessageCount == 2 && reopened.hamMessageCount == 1)
        #expect(reopened.counts(for: hash("cheap")) == TokenCounts(spam: 2, ham: 0))
        #expect(reopened.counts(for: hash("now")) == TokenCounts(spam: 2, ham: 1))
        #expect(reopened.counts(for: hash("absent")) == .zero)
        #expect(reopened.learntClass(ofMessage: spam1.key) == .spam)
        #expect(reopened.learntClass(ofMessage: ham.key) == .ham)

        let summary = try database.forget([spam2, doc("never learnt", id: "<n@x>")])
        #expect(summary.forgotten == 1 && summary.unknown == 1)
        let after = try database.snapshot(verifyContents: true)
        #expect(after.spamMessageCount == 1)
        #expect(after.counts(for: hash("watches")) == .zero)
        #expect(after.counts(for: hash("cheap")) == TokenCounts(spam: 1, ham: 0))
        #expect(after.tokenCount == reopened.tokenCount - 1)  // "watches" is gone entirely
        #expect(after.learntClass(ofMessage: spam2.key) == nil)
        #expect(after.generation > reopened.generation)
    }

    @Test func trainOnErrorSkipsWhatIsAlreadyScoredRight() throws {
        let directory = TemporaryDirectory()
        let database = TokenDatabase(path: directory.path + "/tokens.db")
        let onError = TrainOnError(margin: 0.01)
        // Until both classes are present everything is learnt.
        let spam = (0..<20).map { doc("cheap pills viagra casino offer \($0)", id: "<s\($0)@x>") }
        #expect(try database.learn(spam, as: .spam, onError: onError).learnt == 20)
        let ham = (0..<20).map { doc("lunch meeting agenda minutes project \($0)", id: "<h\($0)@x>") }
        let first = try database.learn(ham, as: .ham, onError: onError)
        #expect(first.learnt >= 1 && first.learnt + first.confident == 20)
        // A spam message the counts already call spam is skipped and not remembered.
        let obvious = doc("cheap pills viagra casino offer", id: "<obvious@x>")
        let skipped = try database.learn([obvious], as: .spam, onError: onError)
        #expect(skipped.confident == 1 && skipped.learnt == 0)
        #expect(try database.snapshot().learntClass(ofMessage: obvious.key) == nil)
        // One the counts get wrong is learnt; without `onError` everything is.
        let hard = doc("project lunch cheap pills", id: "<hard@x>")
        #expect(try database.learn([hard], as: .spam, onError: onError).learnt == 1)
        #expect(try database.learn([obvious], as: .spam).learnt == 1)
    }

    @Test func learningTheSameMessageTwiceCountsOnce() throws {
        let directory = TemporaryDirectory()
        let database = TokenDatabase(path: directory.path + "/tokens.db")
        let message = doc("win a prize", id: "<same@x>")
        #expect(try database.learn([message, message], as: .spam) == { var s = LearnSummary(); s.learnt = 1; s.alreadyKnown = 1; return s }())
        #expect(try database.learn([doc("different body, same id", id: "<same@x>")], as: .spam).alreadyKnown == 1)
        var snapshot = try database.snapshot()
        #expect(snapshot.spamMessageCount == 1)
        #expect(snapshot.counts(for: hash("prize")) == TokenCounts(spam: 1, ham: 0))

        // Learning it as the other class moves it rather than counting it twice.
        #expect(try database.learn([message], as: .ham).reclassified == 1)
        snapshot = try database.snapshot()
        #expect(snapshot.spamMessageCount == 0 && snapshot.hamMessageCount == 1)
        #expect(snapshot.counts(for: hash("prize")) == TokenCounts(spam: 0, ham: 1))

        // Without a Message-ID the body is the key.
        let decodedA = LearnableMessage(SpamDocument.decode(rawMessage: Array("Subject: a\r\n\r\nsame body".utf8)))
        let decodedB = LearnableMessage(SpamDocument.decode(rawMessage: Array("Subject: b\r\n\r\nsame body".utf8)))
        #expect(try database.learn([decodedA], as: .spam).learnt == 1)
        #expect(try database.learn([decodedB], as: .spam).alreadyKnown == 1)
    }

    @Test func concurrentWritersKeepCountsExact() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/tokens.db"
        let perWriter = 15
        let done = DispatchSemaphore(value: 0)
        let failures = Mutex<[String]>([])
        for writer in 0..<2 {
            let thread = Thread {
                // Each writer has its own lock file descriptor, as separate processes would:
                // flock(2) locks belong to the open file description.
                let database = TokenDatabase(path: path)
                for i in 0..<perWriter {
                    do {
                        try database.learn([doc("shared w\(writer)x\(i)", id: "<\(writer).\(i)@x>")], as: writer == 0 ? .spam : .ham)
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
                done.signal()
            }
            thread.start()
        }
        done.wait()
        done.wait()
        #expect(failures.withLock { $0 }.isEmpty)
        let snapshot = try TokenDatabase(path: path).snapshot(verifyContents: true)
        #expect(snapshot.spamMessageCount == UInt64(perWriter) && snapshot.hamMessageCount == UInt64(perWriter))
        #expect(snapshot.counts(for: hash("shared")) == TokenCounts(spam: UInt32(perWriter), ham: UInt32(perWriter)))
        #expect(snapshot.messageIDCount == 2 * perWriter)
    }

    @Test func aTornTemporaryFileNeverReplacesTheDatabase() throws {
        let directory = TemporaryDirectory()
        let database = TokenDatabase(path: directory.path + "/tokens.db")
        try database.learn([doc("first message", id: "<1@x>")], as: .spam)
        let before = try Data(contentsOf: URL(fileURLWithPath: database.path))

        var dying = database
        dying.crashAfterWritingBytes = 100
        #expect(throws: TokenDatabaseError.simulatedCrash) { try dying.learn([doc("second message", id: "<2@x>")], as: .spam) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: database.path)) == before)
        #expect((try FileManager.default.attributesOfItem(atPath: database.path + ".tmp")[.size] as? Int) == 100)
        let snapshot = try database.snapshot(verifyContents: true)
        #expect(snapshot.spamMessageCount == 1)
        #expect(snapshot.counts(for: hash("second")) == .zero)

        // The next writer overwrites the leftover and commits normally.
        try database.learn([doc("second message", id: "<2@x>")], as: .spam)
        #expect(try database.snapshot(verifyContents: true).spamMessageCount == 2)

        // Even if a torn file were put in place (e.g. by a copy gone wrong), readers refuse it.
        let full = try Data(contentsOf: URL(fileURLWithPath: database.path))
        try full.prefix(full.count - 16).write(to: URL(fileURLWithPath: database.path))
        #expect(throws: TokenDatabaseError.self) { try database.snapshot() }
    }

    @Test func aSnapshotSurvivesReplacement() throws {
        let directory = TemporaryDirectory()
        let database = TokenDatabase(path: directory.path + "/tokens.db")
        try database.learn([doc("alpha", id: "<a@x>")], as: .spam)
        let old = try database.snapshot()
        try database.learn((0..<200).map { doc("token\($0) alpha", id: "<\($0)@x>") }, as: .ham)
        #expect(old.counts(for: hash("alpha")) == TokenCounts(spam: 1, ham: 0))
        let new = try database.snapshot(verifyContents: true)
        #expect(new.counts(for: hash("alpha")) == TokenCounts(spam: 1, ham: 200))
        for i in 0..<200 { #expect(new.counts(for: hash("token\(i)")) == TokenCounts(spam: 0, ham: 1)) }
    }

    enum Damage: String, CaseIterable {
        case empty, garbage, truncated, headerByte, tableByte, version
    }

    @Test(arguments: Damage.allCases)
    func aCorruptFileGivesAClearError(damage: Damage) throws {
        let directory = TemporaryDirectory()
        let database = TokenDatabase(path: directory.path + "/tokens.db")
        try database.learn([doc("some words here", id: "<1@x>")], as: .spam)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: database.path)))
        switch damage {
        case .empty: bytes = []
        case .garbage: bytes = Array("this is not a database at all, just text that is long enough ......".utf8) + [UInt8](repeating: 7, count: 200)
        case .truncated: bytes.removeLast(16)
        case .headerByte: bytes[20] ^= 1
        case .tableByte: bytes[bytes.count - 300] ^= 0x40
        case .version:
            bytes[8] = 3
        }
        try Data(bytes).write(to: URL(fileURLWithPath: database.path))
        if damage == .tableByte {
            // Only a full check reads the tables; a filter's quick open does not.
            _ = try database.snapshot()
        }
        let error = #expect(throws: TokenDatabaseError.self) { try database.snapshot(verifyContents: true) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.hasPrefix(database.path + ": "))
        switch damage {
        case .version: #expect(text.contains("version 3 is not supported"))
        case .garbage: #expect(text.contains("bad magic"))
        case .empty: #expect(text.contains("shorter than the header"))
        case .truncated: #expect(text.contains("the header says"))
        case .headerByte: #expect(text.contains("header checksum"))
        case .tableByte: #expect(text.contains("table checksum"))
        }
        // A writer refuses to build on a damaged file rather than silently starting over.
        #expect(throws: TokenDatabaseError.self) { try database.learn([doc("more", id: "<2@x>")], as: .ham) }
    }

    @Test func classifiesFromTheDatabase() throws {
        let directory = TemporaryDirectory()
        let database = TokenDatabase(path: directory.path + "/tokens.db")
        var rng = SplitMix(state: 3)
        try database.learn((0..<20).map { _ in LearnableMessage(syntheticDocument(spam: true, using: &rng)) }, as: .spam)
        try database.learn((0..<20).map { _ in LearnableMessage(syntheticDocument(spam: false, using: &rng)) }, as: .ham)
        let snapshot = try database.snapshot()
        let verdict = SpamClassifier().classify(SpamTokenizer().tokenize(syntheticDocument(spam: true, using: &rng)), using: snapshot)
        #expect(verdict.score > 0.9)
    }
}

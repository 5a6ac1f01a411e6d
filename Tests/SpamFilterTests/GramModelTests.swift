import Foundation
import Testing
@testable import SpamFilter

/// A raw synthetic message (headers and body) in the style of `syntheticDocument`.
func syntheticRawMessage(spam: Bool, id: Int, using rng: inout SplitMix) -> [UInt8] {
    let document = syntheticDocument(spam: spam, using: &rng)
    let from = spam ? "From: \"Prize Desk\" <win@offers.example>" : "From: Ann <ann@lists.example.org>"
    return Array("""
        Message-ID: <\(spam ? "s" : "h")\(id)@x>
        \(from)
        Subject: \(document.headers[0].value)

        \(document.textParts[0])

        """.utf8)
}

@Suite struct GramModelTests {
    @Test func gramsAreTheDistinctFourByteWindowsOfThePrefix() {
        #expect(ByteGrams.hashes(Array("abc".utf8)).isEmpty)
        #expect(ByteGrams.hashes(Array("abcd".utf8)).count == 1)
        // "abcdabcd": abcd, bcda, cdab, dabc, then abcd again.
        #expect(ByteGrams.hashes(Array("abcdabcd".utf8)).count == 4)
        #expect(ByteGrams.hashes(Array("abcdabcd".utf8)) == ByteGrams.hashes(Array("abcdabcdabcd".utf8)))
        // Bytes past the prefix do not count.
        let long = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        #expect(ByteGrams.hashes(long) == ByteGrams.hashes(Array(long.prefix(ByteGrams.prefix))))
        #expect(ByteGrams.hashes(long, prefix: 100).count <= 97)
        // A different byte anywhere in the prefix changes the set.
        #expect(ByteGrams.hashes(Array("Subject: hello".utf8)) != ByteGrams.hashes(Array("Subject: hellO".utf8)))
    }

    @Test func gramsComeOutInFirstSeenOrderWhateverTheBytes() {
        // Against the plain definition (a Set of the windows), on bytes with many repeats,
        // runs of NULs (the gram 0) and every length up to past the prefix.
        var rng = SplitMix(state: 31)
        for round in 0..<200 {
            let count = round < 100 ? round : 2_000 + Int(rng.next() % 2_000)
            let alphabet = 1 + Int(rng.next() % 6)
            let raw = (0..<count).map { _ in UInt8(rng.next() % UInt64(alphabet)) * 37 }
            var seen = Set<UInt32>()
            var expected: [UInt64] = []
            let end = min(raw.count, ByteGrams.prefix)
            if end >= 4 {
                for i in 3..<end {
                    let gram = UInt32(raw[i - 3]) << 24 | UInt32(raw[i - 2]) << 16 | UInt32(raw[i - 1]) << 8 | UInt32(raw[i])
                    if seen.insert(gram).inserted { expected.append(ByteGrams.mix(gram)) }
                }
            }
            #expect(ByteGrams.hashes(raw) == expected, "round \(round)")
        }
    }

    @Test func theModelIsUsedOnlyOnceItHasLearntEnoughOfBothClasses() {
        #expect(GramModel.weight(spam: 0, ham: 0) == 0)
        #expect(GramModel.weight(spam: 10_000, ham: GramModel.minimumLearnt - 1) == 0)
        #expect(GramModel.weight(spam: GramModel.minimumLearnt, ham: 10_000) > 0)
        #expect(GramModel.weight(spam: GramModel.fullyTrained, ham: GramModel.fullyTrained) == 1)
        #expect(GramModel.combined(bayes: 0.9, gram: nil) == 0.9)
        #expect(GramModel.combined(bayes: 0.9, gram: 0.1, weight: 0) == 0.9)
        #expect(abs(GramModel.combined(bayes: 0.9, gram: 0.1, weight: 1) - 0.5) < 1e-12)
        #expect(abs(GramModel.combined(bayes: 0.9, gram: 0.1, weight: 0.5) - 0.7) < 1e-12)
    }

    /// Learns `count` messages of each class in a mixed order from raw bytes.
    func learnMixed(_ database: TokenDatabase, count: Int, seed: UInt64 = 11) throws -> ClassSummaries {
        var rng = SplitMix(state: seed)
        var messages: [(LearnableMessage, SpamClass)] = []
        for i in 0..<count {
            messages.append((LearnableMessage(rawMessage: syntheticRawMessage(spam: true, id: i, using: &rng)), .spam))
            messages.append((LearnableMessage(rawMessage: syntheticRawMessage(spam: false, id: i, using: &rng)), .ham))
        }
        return try database.learn(messages)
    }

    @Test func learntFromRawMessagesTheModelSeparatesNewOnes() throws {
        let directory = TemporaryDirectory()
        let database = TokenDatabase(path: directory.path + "/tokens.db")
        let summaries = try learnMixed(database, count: 60)
        #expect(summaries.spam.learnt == 60 && summaries.ham.learnt == 60)
        let snapshot = try database.snapshot(verifyContents: true)
        #expect(snapshot.gramBits == GramModel.bits && snapshot.gramSpamCount == 60 && snapshot.gramHamCount == 60)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: database.path))
        #expect(bytes[8] == 2)
        var rng = SplitMix(state: 99)
        for i in 0..<10 {
            let spam = syntheticRawMessage(spam: true, id: 1000 + i, using: &rng)
            let ham = syntheticRawMessage(spam: false, id: 1000 + i, using: &rng)
            let pSpam = try #require(snapshot.gramProbability(ByteGrams.hashes(spam)))
            let pHam = try #require(snapshot.gramProbability(ByteGrams.hashes(ham)))
            #expect(pSpam > 0.5 && pHam < 0.5, "spam \(pSpam) ham \(pHam)")
            // The filter's verdict names both parts and scores their weighted mean.
            let verdict = SpamClassifier().classify(SpamTokenizer().tokenize(SpamDocument.decode(rawMessage: spam)),
                                                    rawMessage: spam, using: snapshot)
            let parts = try #require(verdict.parts)
            #expect(abs(verdict.score - GramModel.combined(bayes: parts.bayes, gram: parts.grams, weight: snapshot.gramWeight)) < 1e-12)
            #expect(verdict.explanation().contains(" grams("))
        }
    }

    @Test func theWeightsSurviveARewriteAndKnownMessagesTakeNoStep() throws {
        let directory = TemporaryDirectory()
        let database = TokenDatabase(path: directory.path + "/tokens.db")
        _ = try learnMixed(database, count: 60)
        let probe = ByteGrams.hashes(Array("Subject: cheap pills casino\n\nwinner".utf8))
        let before = try #require(try database.snapshot().gramProbability(probe))
        // The same messages again: known already, the model does not move.
        let again = try learnMixed(database, count: 60)
        #expect(again.spam.alreadyKnown == 60 && again.ham.alreadyKnown == 60)
        let same = try database.snapshot(verifyContents: true)
        #expect(same.gramSpamCount == 60 && same.gramProbability(probe) == before)
        // A write that learns only words (no raw bytes) keeps the model as it was.
        try database.learn([doc("plain words", id: "<w@x>")], as: .ham)
        #expect(try database.snapshot(verifyContents: true).gramProbability(probe) == before)
        // Moved to the other class: one step towards it.
        var rng = SplitMix(state: 11)
        let first = LearnableMessage(rawMessage: syntheticRawMessage(spam: true, id: 0, using: &rng))
        let moved = try database.learn([first], as: .ham)
        #expect(moved.reclassified == 1)
        let after = try database.snapshot(verifyContents: true)
        #expect(after.gramHamCount == 61)
        #expect(try #require(after.gramProbability(first.grams)) < (try #require(same.gramProbability(first.grams))))
        // Forgetting leaves the model alone (it cannot take a step back exactly).
        try database.forget([first])
        #expect(try database.snapshot().gramProbability(first.grams) == after.gramProbability(first.grams))
    }

    /// Train on error leaves confident messages out of the counts and does not remember them as
    /// learnt; the gram model did learn them, and must not again when they come back (the
    /// nightly learn-folders reads the whole inbox every time).
    @Test func messagesTrainOnErrorLeftOutTakeOneGramStepOnly() throws {
        let directory = TemporaryDirectory()
        let database = TokenDatabase(path: directory.path + "/tokens.db")
        _ = try learnMixed(database, count: 60)
        var rng = SplitMix(state: 5)
        let more = (0..<40).map { i in
            (LearnableMessage(rawMessage: syntheticRawMessage(spam: false, id: 500 + i, using: &rng)), SpamClass.ham)
        }
        let first = try database.learn(more, onError: TrainOnError(margin: 0.01))
        #expect(first.ham.confident > 0 && first.ham.confident + first.ham.learnt == 40, "\(first)")
        let after = try database.snapshot(verifyContents: true)
        #expect(after.gramHamCount == 100)
        #expect(after.hamMessageCount == UInt64(60 + first.ham.learnt))
        let confident = more.first { after.learntClass(ofMessage: $0.0.key) == nil }!.0
        let probe = try #require(after.gramProbability(confident.grams))
        // The same messages again: the counts check them again, the gram model stays.
        let again = try database.learn(more, onError: TrainOnError(margin: 0.01))
        #expect(again.ham.alreadyKnown == first.ham.learnt)
        let same = try database.snapshot(verifyContents: true)
        #expect(same.gramHamCount == 100 && same.gramProbability(confident.grams) == probe)
        #expect(same.hamMessageCount == after.hamMessageCount + UInt64(again.ham.learnt))
        // Learnt as spam after all: one step, and its mark goes.
        try database.learn([confident], as: .spam)
        let moved = try database.snapshot(verifyContents: true)
        #expect(moved.gramSpamCount == 61 && moved.learntClass(ofMessage: confident.key) == .spam)
        #expect(try #require(moved.gramProbability(confident.grams)) > probe)
    }

    @Test func aDatabaseWithoutGramsStaysVersionOneAndGrowsTheModelOnItsFirstRawMessage() throws {
        let directory = TemporaryDirectory()
        let database = TokenDatabase(path: directory.path + "/tokens.db")
        try database.learn([doc("alpha beta", id: "<1@x>")], as: .spam)
        let old = try Data(contentsOf: URL(fileURLWithPath: database.path))
        #expect(old[8] == 1 && old.count == TokenDatabaseFormat.headerSize + 32 * TokenDatabaseFormat.slotSize)
        let snapshot = try database.snapshot(verifyContents: true)
        #expect(snapshot.gramBits == 0 && snapshot.gramProbability(ByteGrams.hashes(Array("anything".utf8))) == nil)
        _ = try learnMixed(database, count: 2)
        let grown = try database.snapshot(verifyContents: true)
        #expect(grown.gramBits == GramModel.bits && grown.gramSpamCount == 2)
        #expect(grown.counts(for: hash("alpha")).spam == 1)
        // Too young to count yet.
        #expect(grown.gramWeight == 0 && grown.gramProbability(ByteGrams.hashes(Array("anything".utf8))) == nil)
    }

    @Test func aDamagedGramSizeIsRefused() throws {
        let directory = TemporaryDirectory()
        let database = TokenDatabase(path: directory.path + "/tokens.db")
        _ = try learnMixed(database, count: 1)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: database.path)))
        // Writes `bytes` with the header checksum made right, so that only the damage is wrong.
        func writeSealed() throws {
            let checksum = bytes.withUnsafeBytes { headerChecksum(UnsafeRawBufferPointer(rebasing: $0[0..<120])) }
            withUnsafeBytes(of: checksum.littleEndian) { for (i, b) in $0.enumerated() { bytes[120 + i] = b } }
            try Data(bytes).write(to: URL(fileURLWithPath: database.path))
        }
        bytes[80] = 40
        try writeSealed()
        let error = #expect(throws: TokenDatabaseError.self) { try database.snapshot() }
        #expect("\(error.map { "\($0)" } ?? "")".contains("impossible gram model size"))
        bytes[80] = UInt8(GramModel.bits)
        bytes.removeLast(4)
        try writeSealed()
        let short = #expect(throws: TokenDatabaseError.self) { try database.snapshot() }
        #expect("\(short.map { "\($0)" } ?? "")".contains("the header says"))
    }
}

import Testing
@testable import SpamFilter

/// spam_token_limit: the tokens seen once go first, then counts are halved, until three quarters
/// of the limit are left.
@Suite struct TokenAgingTests {
    @Test func theTokensSeenOnceGoFirstThenCountsAreHalved() {
        let start: [UInt64: TokenCounts] = [1: .init(spam: 1, ham: 0), 2: .init(spam: 0, ham: 1), 3: .init(spam: 9, ham: 3),
                                            4: .init(spam: 2, ham: 1), 5: .init(spam: 1, ham: 1), 6: .init(spam: 0, ham: 2)]
        var tokens = start
        var spam: UInt64 = 11, ham: UInt64 = 3
        // Dropping the two hapaxes is enough: nothing else changes.
        #expect(TokenAging.age(&tokens, spamMessages: &spam, hamMessages: &ham, toAtMost: 4) == 2)
        #expect(tokens == start.filter { $0.key > 2 } && spam == 11 && ham == 3)
        // Not enough: halved (rounding down, zeros dropped) until small enough: (9,3) (2,1) (1,1)
        // (0,2) become (4,1) (1,0) (0,1), still three, then (2,0).
        #expect(TokenAging.age(&tokens, spamMessages: &spam, hamMessages: &ham, toAtMost: 2) == 3)
        #expect(tokens == [3: .init(spam: 2, ham: 0)])
        // Message counts round up: a class learnt stays learnt.
        #expect(spam == 3 && ham == 1)
        // Small enough already: nothing happens.
        #expect(TokenAging.age(&tokens, spamMessages: &spam, hamMessages: &ham, toAtMost: 2) == 0)
        #expect(tokens.count == 1 && spam == 3)
        // As often as it takes.
        #expect(TokenAging.age(&tokens, spamMessages: &spam, hamMessages: &ham, toAtMost: 0) == 1)
        #expect(tokens.isEmpty && spam == 1 && ham == 1)
        #expect(TokenAging.target(forLimit: 150_000) == 112_500)
    }

    @Test func learningPastTheLimitAgesTheDatabase() throws {
        let directory = TemporaryDirectory()
        let database = TokenDatabase(path: directory.path + "/tokens.db")
        var spam: [LearnableMessage] = []
        for i in 0..<6 { spam.append(doc("cheap pills offer\(i) unique\(i)x unique\(i)y", id: "<s\(i)@x>")) }
        let ham = [doc("lunch meeting agenda notes", id: "<h1@x>"), doc("lunch meeting minutes", id: "<h2@x>")]
        #expect(try database.learn(ham, as: .ham).expired == 0)
        let before = try database.snapshot()
        let limit = before.tokenCount + 10
        let summary = try database.learn(spam, as: .spam, tokenLimit: limit)
        #expect(summary.learnt == 6 && summary.expired > 0)
        let after = try database.snapshot(verifyContents: true)
        #expect(after.tokenCount <= TokenAging.target(forLimit: limit))
        // Seen in every spam, or in both ham: kept. Seen once: gone.
        #expect(after.counts(for: hash("cheap")).spam > 0)
        #expect(after.counts(for: hash("lunch")).ham > 0)
        #expect(after.counts(for: hash("unique0x")) == .zero)
        #expect(after.spamMessageCount > 0 && after.hamMessageCount > 0)
        // Still remembered as learnt: learning a message again counts it once.
        #expect(after.learntClass(ofMessage: spam[0].key) == .spam)
        #expect(try database.learn([spam[0]], as: .spam, tokenLimit: 1_000).alreadyKnown == 1)
        // No limit (0): nothing ages.
        #expect(try database.learn([doc("one two three four five six seven", id: "<n@x>")], as: .ham, tokenLimit: 0).expired == 0)
    }
}

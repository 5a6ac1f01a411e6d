import Testing
@testable import SpamFilter

let spamWords = ["viagra", "winner", "lottery", "cheap", "pills", "casino", "unsubscribe", "prize", "million", "offer",
                 "bonus", "credit", "mortgage", "guaranteed", "limited", "click", "rolex", "discount", "urgent", "cash"]
let hamWords = ["meeting", "patch", "kernel", "lunch", "review", "compiler", "thanks", "agenda", "release", "branch",
                "commit", "tests", "minutes", "draft", "schedule", "build", "config", "notes", "question", "debugger"]
let commonWords = ["the", "and", "you", "this", "for", "with", "have", "are", "from", "your"]

/// A synthetic message: fifteen words of its own class, ten shared ones, and in one message out of
/// three a word of the other class.
func syntheticDocument(spam: Bool, using rng: inout SplitMix) -> SpamDocument {
    let own = spam ? spamWords : hamWords, other = spam ? hamWords : spamWords
    var words = (0..<15).map { _ in own.randomElement(using: &rng)! } + (0..<10).map { _ in commonWords.randomElement(using: &rng)! }
    if Int.random(in: 0..<3, using: &rng) == 0 { words.append(other.randomElement(using: &rng)!) }
    words.shuffle(using: &rng)
    return SpamDocument(headers: [(name: "Subject", value: words.prefix(3).joined(separator: " "))],
                        textParts: [words.joined(separator: " ")])
}

func trainedTable(messages: Int = 40) -> TokenCountTable {
    var rng = SplitMix(state: 7)
    var table = TokenCountTable()
    let tokenizer = SpamTokenizer()
    for i in 0..<messages {
        let spam = i % 2 == 0
        table.learn(tokenizer.tokenize(syntheticDocument(spam: spam, using: &rng)).hashes, as: spam ? .spam : .ham)
    }
    return table
}

@Suite struct ClassifierTests {
    @Test func separatesSyntheticClasses() {
        let table = trainedTable()
        var rng = SplitMix(state: 99)
        let classifier = SpamClassifier()
        for i in 0..<20 {
            let spam = i % 2 == 0
            let verdict = classifier.classify(SpamTokenizer().tokenize(syntheticDocument(spam: spam, using: &rng)), using: table)
            // Chi-square combining stays cautious with only ~10 clues per message.
            if spam { #expect(verdict.score > 0.9) } else { #expect(verdict.score < 0.1) }
            #expect(verdict.isSpam(threshold: 0.5) == spam)
        }
    }

    @Test func unknownWordsGiveHalf() {
        let verdict = SpamClassifier().classify(SpamTokenizer().tokenize(SpamDocument(headers: [], textParts: ["zebra quokka axolotl"])),
                                                using: trainedTable())
        #expect(verdict.score == 0.5)
        #expect(verdict.tokensUsed == 0)
        #expect(verdict.strongestTokens.isEmpty)
        #expect(SpamClassifier().classify(TokenList(), using: TokenCountTable()).score == 0.5)
    }

    @Test func strongestTokensExplainTheVerdict() {
        let document = SpamDocument(headers: [], textParts: ["viagra lottery the zebra"])
        let verdict = SpamClassifier().classify(SpamTokenizer().tokenize(document), using: trainedTable())
        let named = verdict.strongestTokens.map(\.token)
        #expect(Set(named.prefix(2)) == ["viagra", "lottery"])
        #expect(!named.contains("zebra"))
        #expect(verdict.strongestTokens.allSatisfy { $0.probability > 0.6 || $0.probability < 0.4 })
        let explanation = verdict.explanation(maxTokens: 2)
        #expect(verdict.score > 0.8)
        #expect(explanation.hasPrefix(formatFixed(verdict.score, digits: 4) + " "))
        #expect(explanation.contains("viagra(") && explanation.contains("lottery("))
    }

    @Test func tokenProbabilityFollowsRobinson() {
        let classifier = SpamClassifier()
        // Seen once in spam, never in ham, with equal message counts: (0.45·0.5 + 1·1) / 1.45.
        let f = classifier.tokenProbability(TokenCounts(spam: 1, ham: 0), spamMessages: 10, hamMessages: 10)
        #expect(abs(f - 1.225 / 1.45) < 1e-12)
        // Ratios, not raw counts: 5/10 spam vs 10/20 ham is neutral.
        #expect(abs(classifier.tokenProbability(TokenCounts(spam: 5, ham: 10), spamMessages: 10, hamMessages: 20) - 0.5) < 1e-12)
        #expect(classifier.tokenProbability(.zero, spamMessages: 0, hamMessages: 0) == 0.5)
    }

    @Test(arguments: [(0.0, 2, 1.0), (2.0, 2, 0.36787944117144233), (4.0, 4, 0.40600584970983811), (1000.0, 4, 0.0)])
    func chiSquareSurvivalValues(x: Double, v: Int, expected: Double) {
        #expect(abs(chiSquareSurvival(x, degreesOfFreedom: v) - expected) < 1e-12)
    }

    @Test func truncationIsReported() {
        let verdict = SpamClassifier().classify(SpamTokenizer().tokenize(SpamDocument(headers: [], textParts: ["x"], truncation: [.mimeDepth])),
                                                using: TokenCountTable())
        #expect(verdict.truncation == [.mimeDepth])
        #expect(verdict.explanation().hasSuffix("partial"))
    }

    @Test func multinomialBayesAlsoSeparates() {
        let table = trainedTable()
        var rng = SplitMix(state: 5)
        let spam = SpamTokenizer().tokenize(syntheticDocument(spam: true, using: &rng))
        let ham = SpamTokenizer().tokenize(syntheticDocument(spam: false, using: &rng))
        let nb = MultinomialBayesClassifier()
        let total = Double(table.table.values.reduce(0) { $0 + Int($1.spam) + Int($1.ham) })
        #expect(nb.score(spam, using: table, spamTokenTotal: total / 2, hamTokenTotal: total / 2, vocabulary: Double(table.table.count)) > 0.5)
        #expect(nb.score(ham, using: table, spamTokenTotal: total / 2, hamTokenTotal: total / 2, vocabulary: Double(table.table.count)) < 0.5)
    }
}

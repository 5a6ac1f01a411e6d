/// The fuzzing entry point: decodes, tokenises and scores arbitrary bytes. Must never trap,
/// whatever the input; used by the garbage test and by a libFuzzer driver later.
public enum SpamFilterFuzzing {
    /// Returns the number of tokens found (so the work cannot be optimised away).
    @discardableResult
    public static func run(_ bytes: [UInt8], decodeLimits: SpamDecodeLimits = SpamDecodeLimits(),
                           tokenizerLimits: SpamTokenizerLimits = SpamTokenizerLimits()) -> Int {
        let document = SpamDocument.decode(rawMessage: bytes, limits: decodeLimits)
        let tokens = SpamTokenizer(limits: tokenizerLimits).tokenize(document)
        var table = TokenCountTable()
        table.learn(Array(tokens.hashes.prefix(10)), as: .spam)
        let verdict = SpamClassifier().classify(tokens, using: table)
        precondition(verdict.score >= 0 && verdict.score <= 1)
        _ = verdict.explanation()
        return tokens.count
    }
}

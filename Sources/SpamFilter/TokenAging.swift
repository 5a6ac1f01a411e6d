/// Token aging (`spam_token_limit`), so that a database learnt from for years stays small and
/// follows the mail of now. When a write leaves more tokens than the limit, first the tokens
/// seen only once (in either class: the hapaxes, most of a database) go; if that is not enough,
/// every count and both message counts are halved, again until at most three quarters of the
/// limit are left. Halving rounds counts down, so what becomes a hapax is dropped by the next
/// round, and message counts up, so a class learnt stays learnt; what was learnt before a
/// halving counts half as much as what comes after it, the way exponential decay forgets, so
/// recent mail weighs more. (Per-token last-seen days, as SpamAssassin expires by, would need a
/// bigger slot in the file; this needs none.)
///
/// Measured with `spam-classify --cross-validate limit=N` (the counts aged whenever learning
/// passes N) on ../shared/corpus, whose whole training set is ~94,000 tokens: FN at FP <= 0.1 %
/// 4.44 % without a limit, 6.66 % at 60,000, 8.24 % at 30,000 and 9.10 % at 15,000 (halving
/// alone, without dropping the hapaxes first: 7.88, 10.24 and 18.62 %). A limit costs accuracy
/// on a corpus learnt at once; the default (150,000, SpamAssassin's) leaves this one alone, and
/// `spam_train_on_error` keeps a database small at no cost (43,000 tokens, FN 3.4 %).
///
/// The messages learnt stay remembered (a message learnt again still counts once); forgetting
/// one after an aging takes off a whole count again, as much of it as is left.
public enum TokenAging {
    /// Ages `tokens` and the message counts until at most `target` tokens remain; returns how
    /// many tokens went.
    @discardableResult
    public static func age(_ tokens: inout [UInt64: TokenCounts], spamMessages: inout UInt64, hamMessages: inout UInt64,
                           toAtMost target: Int) -> Int {
        let before = tokens.count
        let target = max(0, target)
        if tokens.count > target {
            tokens = tokens.filter { UInt64($0.value.spam) + UInt64($0.value.ham) > 1 }
        }
        while tokens.count > target {
            var halved: [UInt64: TokenCounts] = [:]
            halved.reserveCapacity(tokens.count / 2)
            for (token, counts) in tokens {
                let half = TokenCounts(spam: counts.spam >> 1, ham: counts.ham >> 1)
                if half != .zero { halved[token] = half }
            }
            tokens = halved
            spamMessages = (spamMessages + 1) / 2
            hamMessages = (hamMessages + 1) / 2
        }
        return before - tokens.count
    }

    /// The size an aging leaves: three quarters of the limit.
    public static func target(forLimit limit: Int) -> Int { limit - limit / 4 }
}

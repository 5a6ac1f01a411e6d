// spam-classify --cross-validate: k-fold cross-validation of the classifier on a corpus
// (ham/ and spam/, one message per file), for the accuracy experiments (scripts/bench spam).
#if canImport(Glibc)
import Glibc
#endif
import SpamFilter

/// Counts that can be added and taken away again (training folds in and out).
struct FoldCounts: TokenCountSource {
    var spamMessageCount: UInt64 = 0
    var hamMessageCount: UInt64 = 0
    var table: [UInt64: TokenCounts] = [:]

    func counts(for token: UInt64) -> TokenCounts { table[token] ?? .zero }

    mutating func add(_ hashes: [UInt64], spam: Bool, delta: Int32) {
        if spam { spamMessageCount = UInt64(Int64(spamMessageCount) + Int64(delta)) }
        else { hamMessageCount = UInt64(Int64(hamMessageCount) + Int64(delta)) }
        for hash in hashes {
            var entry = table[hash] ?? .zero
            if spam { entry.spam = UInt32(Int32(entry.spam) + delta) } else { entry.ham = UInt32(Int32(entry.ham) + delta) }
            table[hash] = entry
        }
    }
}

struct Sample {
    var name: String
    var spam: Bool
    var fold: Int
    var tokens: TokenList
}

func fnv1a32(_ text: String) -> UInt32 {
    var h: UInt32 = 0x811c9dc5
    for byte in text.utf8 { h = (h ^ UInt32(byte)) &* 0x01000193 }
    return h
}

/// The lowest threshold at which at most `rate` of `hamScores` reach it (a score ≥ threshold is spam).
func threshold(hamScores: [Double], rate: Double) -> Double {
    let sorted = hamScores.sorted(by: >)
    let allowed = Int(Double(sorted.count) * rate)
    guard allowed < sorted.count else { return 0 }
    // Just above the (allowed+1)-th highest ham score.
    return sorted[allowed].nextUp
}

/// 1 − AUC: the fraction of (ham, spam) pairs the scores order wrongly (ties count half).
func oneMinusAUC(_ scores: [(Double, Bool)]) -> Double {
    let sorted = scores.sorted { $0.0 < $1.0 }
    var rankSum = 0.0, i = 0
    let nSpam = Double(scores.filter(\.1).count), nHam = Double(scores.count) - nSpam
    while i < sorted.count {
        var j = i
        while j < sorted.count && sorted[j].0 == sorted[i].0 { j += 1 }
        let rank = Double(i + j + 1) / 2
        for k in i..<j where sorted[k].1 { rankSum += rank }
        i = j
    }
    let auc = (rankSum - nSpam * (nSpam + 1) / 2) / (nSpam * nHam)
    return 1 - auc
}

func crossValidate(corpus: String, folds: Int, classifier: SpamClassifier, tokenizer: SpamTokenizer, targetFP: Double) {
    var samples: [Sample] = []
    for (folder, spam) in [("ham", false), ("spam", true)] {
        guard let directory = opendir("\(corpus)/\(folder)") else { complain("spam-classify: no \(corpus)/\(folder)"); exit(2) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if !name.hasPrefix(".") { names.append(name) }
        }
        closedir(directory)
        for name in names.sorted() {
            guard let bytes = readFile("\(corpus)/\(folder)/\(name)") else { continue }
            let tokens = tokenizer.tokenize(SpamDocument.decode(rawMessage: bytes))
            samples.append(Sample(name: name, spam: spam, fold: Int(fnv1a32(name) % UInt32(folds)), tokens: tokens))
        }
    }
    var all = FoldCounts()
    for s in samples { all.add(s.tokens.hashes, spam: s.spam, delta: 1) }
    var pooled: [(Double, Bool)] = []
    var fp = 0, fn = 0, fpFixed = 0, fnFixed = 0
    var thresholds: [Double] = []
    for f in 0..<folds {
        var train = all
        for s in samples where s.fold == f { train.add(s.tokens.hashes, spam: s.spam, delta: -1) }
        // The threshold from the training folds only: inner cross-validation over them.
        var innerHam: [Double] = []
        for g in 0..<folds where g != f {
            var inner = train
            for s in samples where s.fold == g { inner.add(s.tokens.hashes, spam: s.spam, delta: -1) }
            for s in samples where s.fold == g && !s.spam { innerHam.append(classifier.classify(s.tokens, using: inner).score) }
        }
        let t = threshold(hamScores: innerHam, rate: targetFP)
        thresholds.append(t)
        for s in samples where s.fold == f {
            let score = classifier.classify(s.tokens, using: train).score
            pooled.append((score, s.spam))
            if s.spam && score < t { fn += 1 }
            if !s.spam && score >= t { fp += 1 }
            if s.spam && score < classifier.spamThreshold { fnFixed += 1 }
            if !s.spam && score >= classifier.spamThreshold { fpFixed += 1 }
        }
    }
    let nSpam = samples.filter(\.spam).count, nHam = samples.count - nSpam
    func pct(_ a: Int, _ b: Int) -> String { formatPercent(100 * Double(a) / Double(max(b, 1))) }
    print("\(folds)-fold: \(nHam) ham, \(nSpam) spam, \(all.table.count) tokens")
    print("at FP <= \(formatPercent(100 * targetFP)) % (threshold from the training folds, \(thresholds.map { formatPercent($0 * 100) }.joined(separator: "/")) %): FP \(fp)/\(nHam) = \(pct(fp, nHam)) %  FN \(fn)/\(nSpam) = \(pct(fn, nSpam)) %")
    print("at the default \(classifier.spamThreshold): FP \(fpFixed)/\(nHam) = \(pct(fpFixed, nHam)) %  FN \(fnFixed)/\(nSpam) = \(pct(fnFixed, nSpam)) %")
    print("1-AUC: \(formatPercent(100 * oneMinusAUC(pooled), digits: 3)) %")
}

func formatPercent(_ value: Double, digits: Int = 2) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    var fraction = String(scaled % Int(scale))
    while fraction.count < digits { fraction = "0" + fraction }
    return "\(scaled / Int(scale)).\(fraction)"
}

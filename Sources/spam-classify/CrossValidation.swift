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
    /// Which samples were learnt (train-on-error learns some of them).
    var learnt: Set<Int> = []

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

    /// TokenAging once the table passes `limit` (0: never), as a database write does.
    mutating func age(limit: Int) {
        guard limit > 0, table.count > limit else { return }
        TokenAging.age(&table, spamMessages: &spamMessageCount, hamMessages: &hamMessageCount,
                       toAtMost: TokenAging.target(forLimit: limit))
    }
}

struct Sample {
    var name: String
    var spam: Bool
    var fold: Int
    var tokens: TokenList
    /// Hashes of the distinct byte 4-grams of the raw message's first bytes (the grams models).
    var grams: [UInt64] = []
    /// The Date: field as YYYYMMDDhhmmss (nil when it does not parse).
    var date: Int? = nil
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

/// What the cross-validation trains and scores with (the experiments' knobs).
struct Experiment {
    var classifier = SpamClassifier()
    var tokenizer = SpamTokenizer()
    var folds = 5
    /// Another partition into folds (and training order) than the default 0.
    var seed = 0
    /// Print every test message's score and its fold's threshold (to read the misses).
    var dumpScores = false
    var targetFP = 0.001
    /// Train on error or unsure only (TOE), `toePasses` passes over the training messages.
    var trainOnError = false
    var toePasses = 2
    /// A message is learnt unless its score is within `toeMargin` of its class's end.
    var toeMargin = 0.01
    /// Train all spam, then all ham (as `postamt spam learn --spam DIR; … --ham DIR` does).
    var spamFirst = false
    /// This many messages of `burstClass` (1 spam, 0 ham) learnt last, in one run.
    var burst = 0
    var burstClass = 1
    /// spam_token_limit: the counts age (TokenAging) whenever learning passes it; 0: never.
    var tokenLimit = 0
    /// Which score is judged: "bg" (the filter's: the mean of Bayes and the byte-gram model,
    /// `GramModel`), "bayes", "g" (the gram model alone), "bgl" (their logits summed, the gram
    /// model's times gweight), "bgmax"/"bgmin", "lr" (`LogisticModel` over Bayes's tokens) or
    /// "both" (its mean with Bayes).
    var model = "bg"
    var logistic = LogisticModel()
    /// The byte-gram logistic model (models "g", "bg", "bgl"): its own rate and passes.
    var grams = GramModel.empty()
    var gramPrefix = ByteGrams.prefix
    /// How much the gram model's logit counts beside Bayes's in "bgl".
    var gramWeight = 1.0
    /// Thick-threshold training of the gram model: a message whose score is within this of its class's end is not learnt.
    var gramMargin = 0.0
    /// With train on error: the gram model learns only what Bayes learnt.
    var gramsFollowTOE = false
}

func logit(_ p: Double) -> Double {
    let q = min(max(p, 1e-12), 1 - 1e-12)
    return log(q / (1 - q))
}

/// One trained model: Bayes counts, plus the logistic model when the experiment uses it.
struct TrainedModel {
    var counts = FoldCounts()
    var logistic: LogisticModel
    var grams: LogisticModel

    func score(_ tokens: TokenList, _ experiment: Experiment) -> Double {
        switch experiment.model {
        case "lr": return logistic.probability(tokens.hashes)
        case "both": return (experiment.classifier.classify(tokens, using: counts).score + logistic.probability(tokens.hashes)) / 2
        default: return experiment.classifier.classify(tokens, using: counts).score
        }
    }

    func score(_ sample: Sample, _ experiment: Experiment) -> Double {
        switch experiment.model {
        case "g": return grams.probability(sample.grams)
        case "bg":
            // The filter's score (a training set here is past GramModel.fullyTrained: full weight).
            return GramModel.combined(bayes: experiment.classifier.classify(sample.tokens, using: counts).score,
                                      gram: grams.probability(sample.grams))
        case "bgl":
            let b = logit(experiment.classifier.classify(sample.tokens, using: counts).score)
            let g = Double(grams.margin(sample.grams))
            return 1 / (1 + exp(-(b + experiment.gramWeight * g)))
        case "bgmax":
            return max(experiment.classifier.classify(sample.tokens, using: counts).score, grams.probability(sample.grams))
        case "bgmin":
            return min(experiment.classifier.classify(sample.tokens, using: counts).score, grams.probability(sample.grams))
        default: return score(sample.tokens, experiment)
        }
    }
}

func train(_ samples: [Sample], where include: (Sample) -> Bool, _ experiment: Experiment) -> TrainedModel {
    var model = TrainedModel(logistic: experiment.logistic, grams: experiment.grams)
    // A fixed pseudo-random order (as mail arrives mixed), the same for every fold.
    let salt = experiment.seed == 0 ? "o" : "o\(experiment.seed)"
    var order = samples.indices.filter { include(samples[$0]) }.sorted { fnv1a32(salt + samples[$0].name) < fnv1a32(salt + samples[$1].name) }
    if experiment.spamFirst { order = order.filter { samples[$0].spam } + order.filter { !samples[$0].spam } }
    if experiment.burst > 0 {
        // The last `burst` messages of one class learnt in one run at the end (a user sorting a pile at once).
        let ofClass = order.filter { samples[$0].spam == (experiment.burstClass == 1) }
        let tail = Set(ofClass.suffix(experiment.burst))
        order = order.filter { !tail.contains($0) } + order.filter { tail.contains($0) }
    }
    if experiment.trainOnError {
        for _ in 0..<experiment.toePasses {
            for i in order {
                let s = samples[i]
                let score = model.counts.spamMessageCount > 0 && model.counts.hamMessageCount > 0
                    ? experiment.classifier.classify(s.tokens, using: model.counts).score : 0.5
                let known = model.counts.learnt.contains(i)
                if !known, s.spam ? score < 1 - experiment.toeMargin : score > experiment.toeMargin {
                    model.counts.add(s.tokens.hashes, spam: s.spam, delta: 1)
                    model.counts.learnt.insert(i)
                    model.counts.age(limit: experiment.tokenLimit)
                }
            }
        }
    } else {
        for i in order {
            model.counts.add(samples[i].tokens.hashes, spam: samples[i].spam, delta: 1)
            model.counts.age(limit: experiment.tokenLimit)
        }
    }
    if experiment.model.hasPrefix("g") || experiment.model.hasPrefix("bg") {
        for _ in 0..<experiment.grams.passes {
            for i in order {
                if experiment.gramsFollowTOE, experiment.trainOnError, !model.counts.learnt.contains(i) { continue }
                if experiment.gramMargin > 0 {
                    let p = model.grams.probability(samples[i].grams)
                    if samples[i].spam ? p >= 1 - experiment.gramMargin : p <= experiment.gramMargin { continue }
                }
                model.grams.learn(samples[i].grams, spam: samples[i].spam)
            }
        }
    } else if experiment.model != "bayes" {
        for _ in 0..<experiment.logistic.passes {
            for i in order { model.logistic.learn(samples[i].tokens.hashes, spam: samples[i].spam) }
        }
    }
    return model
}

/// Reads ham/ and spam/ of a corpus and tokenises every message once.
func loadCorpus(_ corpus: String, _ experiment: Experiment) -> [Sample] {
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
            let document = SpamDocument.decode(rawMessage: bytes, structure: experiment.tokenizer.options.structure)
            let tokens = experiment.tokenizer.tokenize(document)
            let date = document.headers.first { $0.name.lowercased() == "date" }.flatMap { sortableDate($0.value) }
            let grams = experiment.model.hasPrefix("g") || experiment.model.hasPrefix("bg")
                ? ByteGrams.hashes(bytes, prefix: experiment.gramPrefix) : []
            samples.append(Sample(name: name, spam: spam, fold: Int(fnv1a32(experiment.seed == 0 ? name : "\(experiment.seed)" + name) % UInt32(experiment.folds)), tokens: tokens, grams: grams, date: date))
        }
    }
    return samples
}

func crossValidate(corpus: String, experiment: Experiment) {
    let folds = experiment.folds
    let samples = loadCorpus(corpus, experiment)
    var pooled: [(Double, Bool)] = []
    var fp = 0, fn = 0, fpFixed = 0, fnFixed = 0
    var thresholds: [Double] = []
    var tokenCounts: [Int] = []
    for f in 0..<folds {
        let model = train(samples, where: { $0.fold != f }, experiment)
        tokenCounts.append(model.counts.table.count)
        // The threshold from the training folds only: inner cross-validation over them.
        var innerHam: [Double] = []
        for g in 0..<folds where g != f {
            let inner = train(samples, where: { $0.fold != f && $0.fold != g }, experiment)
            for s in samples where s.fold == g && !s.spam { innerHam.append(inner.score(s, experiment)) }
        }
        let t = threshold(hamScores: innerHam, rate: experiment.targetFP)
        thresholds.append(t)
        for s in samples where s.fold == f {
            let score = model.score(s, experiment)
            pooled.append((score, s.spam))
            if s.spam && score < t { fn += 1 }
            if !s.spam && score >= t { fp += 1 }
            if experiment.dumpScores { print("score \(s.spam ? "spam" : "ham") \(score) threshold \(t) \(s.name)") }
            if s.spam && score < experiment.classifier.spamThreshold { fnFixed += 1 }
            if !s.spam && score >= experiment.classifier.spamThreshold { fpFixed += 1 }
        }
    }
    let nSpam = samples.filter(\.spam).count, nHam = samples.count - nSpam
    func pct(_ a: Int, _ b: Int) -> String { formatPercent(100 * Double(a) / Double(max(b, 1))) }
    print("\(folds)-fold: \(nHam) ham, \(nSpam) spam, \(tokenCounts.reduce(0, +) / max(tokenCounts.count, 1)) tokens per training set")
    print("at FP <= \(formatPercent(100 * experiment.targetFP)) % (threshold from the training folds, \(thresholds.map { formatPercent($0 * 100) }.joined(separator: "/")) %): FP \(fp)/\(nHam) = \(pct(fp, nHam)) %  FN \(fn)/\(nSpam) = \(pct(fn, nSpam)) %")
    print("at the default \(experiment.classifier.spamThreshold): FP \(fpFixed)/\(nHam) = \(pct(fpFixed, nHam)) %  FN \(fnFixed)/\(nSpam) = \(pct(fnFixed, nSpam)) %")
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

/// RFC 5322 §3.3 date-time, leniently: "[Day,] DD Mon YYYY hh:mm[:ss] …" as YYYYMMDDhhmmss
/// (the zone is ignored: a few hours do not matter for an old/new split).
func sortableDate(_ value: String) -> Int? {
    let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    let words = value.lowercased().split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" })
    guard let m = words.firstIndex(where: { months.contains(String($0.prefix(3))) }), m > words.startIndex, m + 2 < words.endIndex,
          let day = Int(words[m - 1]), var year = Int(words[m + 1]) else { return nil }
    if year < 100 { year += year < 50 ? 2000 : 1900 }
    let month = months.firstIndex(of: String(words[m].prefix(3)))! + 1
    let time = words[m + 2].split(separator: ":").compactMap { Int($0) }
    guard time.count >= 2 else { return nil }
    let seconds = time.count > 2 ? time[2] : 0
    return ((((year * 100 + month) * 100 + day) * 100 + time[0]) * 100 + time[1]) * 100 + seconds
}

/// Trains on `trainSet`, picks the threshold for `targetFP` by cross-validation inside
/// `trainSet` only, and reports FN/FP and 1-AUC on `testSet` (the drift test's splits).
func heldOut(_ label: String, _ samples: [Sample], train trainSet: (Sample) -> Bool, test testSet: (Sample) -> Bool,
             _ experiment: Experiment) {
    let folds = experiment.folds
    let model = train(samples, where: trainSet, experiment)
    var innerHam: [Double] = []
    for g in 0..<folds {
        let inner = train(samples, where: { trainSet($0) && $0.fold != g }, experiment)
        for s in samples where trainSet(s) && s.fold == g && !s.spam { innerHam.append(inner.score(s, experiment)) }
    }
    let t = threshold(hamScores: innerHam, rate: experiment.targetFP)
    var scores: [(Double, Bool)] = []
    var fp = 0, fn = 0, nHam = 0, nSpam = 0
    for s in samples where testSet(s) {
        let score = model.score(s, experiment)
        scores.append((score, s.spam))
        if s.spam { nSpam += 1; if score < t { fn += 1 } } else { nHam += 1; if score >= t { fp += 1 } }
    }
    let trained = samples.filter(trainSet)
    func pct(_ a: Int, _ b: Int) -> String { formatPercent(100 * Double(a) / Double(max(b, 1))) }
    print("\(label): trained on \(trained.filter { !$0.spam }.count) ham + \(trained.filter(\.spam).count) spam, tested on \(nHam) ham + \(nSpam) spam")
    print("  at FP <= \(formatPercent(100 * experiment.targetFP)) % (threshold \(formatPercent(100 * t)) % from the training set): FP \(fp)/\(nHam) = \(pct(fp, nHam)) %  FN \(fn)/\(nSpam) = \(pct(fn, nSpam)) %  1-AUC \(formatPercent(100 * oneMinusAUC(scores), digits: 3)) %")
}

/// `--drift`: what the corpus allows of "trained on one source, tested on another". All of it
/// is the SpamAssassin public corpus; its spam comes from one folder (spam_2), so only the ham
/// side has distinct sources (easy_ham, hard_ham). Two splits: ham sources, and time.
func drift(corpus: String, experiment: Experiment) {
    let samples = loadCorpus(corpus, experiment)
    // File names are <source>__<folder>__<original name> (the corpus README).
    func folder(_ s: Sample) -> Substring {
        // The folder is between the first "__" and the next.
        guard let first = s.name.firstRange(of: "__"), let second = s.name[first.upperBound...].firstRange(of: "__") else { return "" }
        return s.name[first.upperBound..<second.lowerBound]
    }
    func half(_ s: Sample) -> Bool { fnv1a32("h" + s.name) % 2 == 0 }
    // Ham from a source never trained on: easy_ham (mailing lists, personal mail) trains;
    // hard_ham (newsletters and commercial mail that looks like spam) is tested. Spam: halves.
    heldOut("ham source drift (train easy_ham, test hard_ham; spam in halves)", samples,
            train: { $0.spam ? half($0) : folder($0) == "easy_ham" },
            test: { $0.spam ? !half($0) : folder($0).hasPrefix("hard_ham") }, experiment)
    // Time: the older half of each class (by Date:) trains, the newer half is tested.
    let dated = samples.filter { $0.date != nil }
    func median(_ spam: Bool) -> Int {
        let dates = dated.filter { $0.spam == spam }.map { $0.date! }.sorted()
        return dates.isEmpty ? 0 : dates[dates.count / 2]
    }
    let hamMedian = median(false), spamMedian = median(true)
    func older(_ s: Sample) -> Bool { s.date! < (s.spam ? spamMedian : hamMedian) }
    heldOut("time drift (train the older half of each class by Date:, test the newer; \(samples.count - dated.count) undated left out)",
            dated, train: older, test: { !older($0) }, experiment)
}

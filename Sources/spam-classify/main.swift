// spam-classify DATABASE FILE...: the benchmark's bulk classifier (scripts/bench spam).
// spam-classify --cross-validate CORPUS [KEY=VALUE...]: k-fold cross-validation (FN at FP ≤ fp with
//   the threshold from the training folds only, 1-AUC); knobs: folds, fp, strength, x, deviation,
//   clues, mincount, bigrams, headers, structure, deob, ngrams, minword, maxword, toe, toepasses,
//   toemargin, spamfirst, burst, burstclass, limit (spam_token_limit), model=bg|bayes|g|bgl|bgmax|bgmin|lr|both, rate, passes,
//   normalize, grate, gpasses, gbits, gprefix, gweight, gmargin, gnormalize, gtoe, seed, dump (see CrossValidation.swift).
// spam-classify --drift CORPUS [KEY=VALUE...]: the drift splits the corpus allows (ham source, time).
// Prints "<score> <file>" per message: decode + tokenise + classify (Bayes and the byte-gram model)
// against the mapped token database, the same code postamt-spamcheck runs for its Bayes rules. Not installed.
#if canImport(Glibc)
import Glibc
#endif
import SpamFilter

func complain(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        if count <= 0 { break }
        data.append(contentsOf: chunk[0..<count])
    }
    return data
}

let arguments = CommandLine.arguments
if arguments.count >= 2, arguments[1] == "--cross-validate" || arguments[1] == "--drift" {
    // spam-classify --cross-validate CORPUS [folds=5] [KEY=VALUE...]: the experiments' knobs.
    var experiment = Experiment()
    var thresholdGiven = false
    for setting in arguments.dropFirst(3) {
        let pair = setting.split(separator: "=", maxSplits: 1).map(String.init)
        guard pair.count == 2 else { complain("spam-classify: bad setting \(setting)"); exit(2) }
        if pair[0] == "model" { experiment.model = pair[1]; continue }
        guard let value = Double(pair[1]) else { complain("spam-classify: bad setting \(setting)"); exit(2) }
        switch pair[0] {
        case "folds": experiment.folds = Int(value)
        case "seed": experiment.seed = Int(value)
        case "dump": experiment.dumpScores = value != 0
        case "normalize": experiment.logistic.normalized = value != 0
        case "fp": experiment.targetFP = value
        case "strength": experiment.classifier.unknownTokenStrength = value
        case "x": experiment.classifier.unknownTokenProbability = value
        case "deviation": experiment.classifier.minimumDeviation = value
        case "clues": experiment.classifier.maxClues = Int(value)
        case "threshold": experiment.classifier.spamThreshold = value; thresholdGiven = true
        case "mincount": experiment.classifier.minimumTokenCount = UInt32(value)
        case "bigrams": experiment.tokenizer.options.bigrams = value != 0
        case "headers": experiment.tokenizer.options.otherHeaders = value != 0
        case "structure": experiment.tokenizer.options.structure = value != 0
        case "deob": experiment.tokenizer.options.deobfuscate = value != 0
        case "ngrams": experiment.tokenizer.options.scriptBigrams = value != 0
        case "minword": experiment.tokenizer.limits.minWordLength = Int(value)
        case "maxword": experiment.tokenizer.limits.maxWordLength = Int(value)
        case "toe": experiment.trainOnError = value != 0
        case "toepasses": experiment.toePasses = Int(value)
        case "toemargin": experiment.toeMargin = value
        case "spamfirst": experiment.spamFirst = value != 0
        case "burst": experiment.burst = Int(value)
        case "burstclass": experiment.burstClass = Int(value)
        case "limit": experiment.tokenLimit = Int(value)
        case "rate": experiment.logistic.rate = Float(value)
        case "passes": experiment.logistic.passes = Int(value)
        case "gbits":
            let (rate, passes) = (experiment.grams.rate, experiment.grams.passes)
            experiment.grams = LogisticModel(bits: Int(value))
            experiment.grams.rate = rate; experiment.grams.passes = passes
        case "grate": experiment.grams.rate = Float(value)
        case "gpasses": experiment.grams.passes = Int(value)
        case "gprefix": experiment.gramPrefix = Int(value)
        case "gmargin": experiment.gramMargin = value
        case "gtoe": experiment.gramsFollowTOE = value != 0
        case "gweight": experiment.gramWeight = value
        case "gnormalize": experiment.grams.normalized = value != 0
        default: complain("spam-classify: unknown setting \(pair[0])"); exit(2)
        }
    }
    // The filter's own fixed threshold: BAYES_80 for the mean of both models (SpamChecker.bayesRule).
    if !thresholdGiven && experiment.model == "bg" { experiment.classifier.spamThreshold = 0.8 }
    guard arguments.count >= 3 else { complain("usage: spam-classify --cross-validate CORPUS [KEY=VALUE...]"); exit(2) }
    if arguments[1] == "--drift" {
        drift(corpus: arguments[2], experiment: experiment)
    } else {
        crossValidate(corpus: arguments[2], experiment: experiment)
    }
    exit(0)
}
guard arguments.count >= 3 else {
    complain("usage: spam-classify DATABASE FILE... | spam-classify --cross-validate|--drift CORPUS [KEY=VALUE...]")
    exit(2)
}
do {
    let database = try TokenDatabase(path: arguments[1]).snapshot()
    let classifier = SpamClassifier()
    let tokenizer = SpamTokenizer()
    var output = ""
    for path in arguments.dropFirst(2) {
        guard let message = readFile(path) else { complain("spam-classify: cannot read \(path)"); continue }
        let verdict = classifier.classify(tokenizer.tokenize(SpamDocument.decode(rawMessage: message)), rawMessage: message, using: database)
        output += "\(verdict.score) \(path)\n"
    }
    print(output, terminator: "")
} catch {
    complain("spam-classify: \(error)")
    exit(2)
}

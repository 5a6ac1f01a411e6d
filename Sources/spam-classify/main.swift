// spam-classify DATABASE FILE...: the benchmark's bulk classifier (scripts/bench spam).
// Prints "<score> <file>" per message: decode + tokenise + classify against the mapped token
// database, the same code postamt-spamcheck runs for its Bayes rules. Not installed.
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
if arguments.count >= 2, arguments[1] == "--cross-validate" {
    // spam-classify --cross-validate CORPUS [folds=5] [KEY=VALUE...]: the experiments' knobs.
    var classifier = SpamClassifier()
    var tokenizer = SpamTokenizer()
    var folds = 5, targetFP = 0.001
    for setting in arguments.dropFirst(3) {
        let pair = setting.split(separator: "=", maxSplits: 1).map(String.init)
        guard pair.count == 2, let value = Double(pair[1]) else { complain("spam-classify: bad setting \(setting)"); exit(2) }
        switch pair[0] {
        case "folds": folds = Int(value)
        case "fp": targetFP = value
        case "strength": classifier.unknownTokenStrength = value
        case "deviation": classifier.minimumDeviation = value
        case "clues": classifier.maxClues = Int(value)
        case "bigrams": tokenizer.options.bigrams = value != 0
        case "headers": tokenizer.options.otherHeaders = value != 0
        case "minword": tokenizer.limits.minWordLength = Int(value)
        case "maxword": tokenizer.limits.maxWordLength = Int(value)
        default: complain("spam-classify: unknown setting \(pair[0])"); exit(2)
        }
    }
    guard arguments.count >= 3 else { complain("usage: spam-classify --cross-validate CORPUS [KEY=VALUE...]"); exit(2) }
    crossValidate(corpus: arguments[2], folds: folds, classifier: classifier, tokenizer: tokenizer, targetFP: targetFP)
    exit(0)
}
guard arguments.count >= 3 else {
    complain("usage: spam-classify DATABASE FILE... | spam-classify --cross-validate CORPUS [KEY=VALUE...]")
    exit(2)
}
do {
    let database = try TokenDatabase(path: arguments[1]).snapshot()
    let classifier = SpamClassifier()
    let tokenizer = SpamTokenizer()
    var output = ""
    for path in arguments.dropFirst(2) {
        guard let message = readFile(path) else { complain("spam-classify: cannot read \(path)"); continue }
        let verdict = classifier.classify(tokenizer.tokenize(SpamDocument.decode(rawMessage: message)), using: database)
        output += "\(verdict.score) \(path)\n"
    }
    print(output, terminator: "")
} catch {
    complain("spam-classify: \(error)")
    exit(2)
}

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
guard arguments.count >= 3 else {
    complain("usage: spam-classify DATABASE FILE...")
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

#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// The administrator's own rules (postamt-spam-rules(5)), a small cousin of SpamAssassin's
/// local.cf: one rule a line,
///
///     header NAME FIELD /REGEX/[i] SCORE     # any field of that name matches
///     body   NAME /REGEX/[i] SCORE           # the decoded text (Subject: included)
///
/// REGEX is a POSIX extended regular expression (regcomp(3), no back-references in ERE, so
/// matching time grows linearly with the text); `i` ignores case. Limits keep a rule file from
/// costing much per message: at most `maxRules` rules, patterns of at most `maxPatternBytes`,
/// and a body rule sees at most `maxBodyBytes` of text. A rule that fires adds SCORE and appears
/// by NAME in X-Spam-Status like the built-in rules. A file with any error is refused whole,
/// with every error by line (postamt check), and postamt-spamcheck then runs without it.
public final class LocalRules: @unchecked Sendable {
    // @unchecked: the compiled regex_t values are only read (regexec) after init.
    public static let maxRules = 500
    public static let maxPatternBytes = 1_000
    public static let maxBodyBytes = 256 << 10

    public enum Target: Sendable, Equatable {
        case header(String)
        case body
    }

    public struct Rule: Sendable, Equatable {
        public var name: String
        public var target: Target
        public var pattern: String
        public var ignoreCase: Bool
        public var score: Double
    }

    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var problems: [String]
        public var description: String { problems.joined(separator: "; ") }
    }

    public let rules: [Rule]
    private var compiled: [UnsafeMutablePointer<regex_t>] = []

    /// Parses and compiles `text`; `file` names it in errors.
    public init(text: String, file: String = "spam rules") throws(Failure) {
        var rules: [Rule] = []
        var problems: [String] = []
        var names = Set<String>()
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingASCIISpace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            func problem(_ text: String) { problems.append("\(file):\(number + 1): \(text)") }
            do {
                let rule = try LocalRules.parse(line)
                if names.contains(rule.name) { problem("rule \(rule.name) is defined twice"); continue }
                names.insert(rule.name)
                rules.append(rule)
            } catch {
                problem(error.message)
            }
        }
        if rules.count > LocalRules.maxRules { problems.append("\(file): \(rules.count) rules, more than \(LocalRules.maxRules)") }
        for rule in rules where problems.isEmpty {
            let regex = UnsafeMutablePointer<regex_t>.allocate(capacity: 1)
            let flags = REG_EXTENDED | REG_NOSUB | (rule.ignoreCase ? REG_ICASE : 0)
            let status = regcomp(regex, rule.pattern, flags)
            if status != 0 {
                var buffer = [CChar](repeating: 0, count: 256)
                regerror(status, regex, &buffer, buffer.count)
                problems.append("\(file): rule \(rule.name): bad regular expression: \(String(cString: buffer))")
                regex.deallocate()
                continue
            }
            compiled.append(regex)
        }
        self.rules = rules
        if !problems.isEmpty {
            for regex in compiled { regfree(regex); regex.deallocate() }
            compiled = []
            throw Failure(problems: problems)
        }
    }

    /// Reads the rules file at `path`; nil when there is none.
    public static func load(path: String) throws(Failure) -> LocalRules? {
        let bytes: [UInt8]?
        do { bytes = try FileIO.readFile(path, limit: 1 << 20) } catch { throw Failure(problems: ["\(path): \(error)"]) }
        guard let bytes else { return nil }
        return try LocalRules(text: String(decoding: bytes, as: UTF8.self), file: path)
    }

    deinit {
        for regex in compiled { regfree(regex); regex.deallocate() }
    }

    struct LineError: Error { var message: String }

    static func parse(_ line: Substring) throws(LineError) -> Rule {
        var rest = line
        func word() -> Substring? {
            rest = rest.trimmingASCIISpace()
            guard !rest.isEmpty else { return nil }
            let end = rest.firstIndex(where: { $0 == " " || $0 == "\t" }) ?? rest.endIndex
            defer { rest = rest[end...] }
            return rest[..<end]
        }
        guard let kind = word() else { throw LineError(message: "empty rule") }
        guard kind == "header" || kind == "body" else { throw LineError(message: "'\(kind)' is not header or body") }
        guard let name = word(), !name.isEmpty, name.count <= 40,
              name.allSatisfy({ ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }) else {
            throw LineError(message: "a rule name is 1 to 40 of A-Z, 0-9 and _")
        }
        var target = Target.body
        if kind == "header" {
            guard let field = word(), field.allSatisfy({ $0.isASCII && $0 != ":" && !$0.isWhitespace }) else {
                throw LineError(message: "rule \(name): header rules name a field")
            }
            target = .header(field.lowercased())
        }
        rest = rest.trimmingASCIISpace()
        guard rest.hasPrefix("/"), let close = rest.lastIndex(of: "/"), close != rest.startIndex else {
            throw LineError(message: "rule \(name): the pattern goes between slashes, /like this/")
        }
        let pattern = String(rest[rest.index(after: rest.startIndex)..<close])
        guard !pattern.isEmpty, pattern.utf8.count <= maxPatternBytes else {
            throw LineError(message: "rule \(name): the pattern is empty or longer than \(maxPatternBytes) bytes")
        }
        rest = rest[rest.index(after: close)...]
        var ignoreCase = false
        if rest.first == "i" { ignoreCase = true; rest = rest.dropFirst() }
        guard rest.first == " " || rest.first == "\t" else { throw LineError(message: "rule \(name): a score follows the pattern") }
        guard let scoreText = word(), let score = Double(scoreText), score.isFinite, abs(score) <= 100 else {
            throw LineError(message: "rule \(name): the score is a number from -100 to 100")
        }
        guard word() == nil else { throw LineError(message: "rule \(name): text after the score") }
        return Rule(name: String(name), target: target, pattern: pattern, ignoreCase: ignoreCase, score: score)
    }

    /// The rules that match: header rules against every field of their name (unfolded value),
    /// body rules against the decoded text.
    public func matches(headers: [(name: String, value: String)], body: [String]) -> [Rule] {
        var hits: [Rule] = []
        var bodyText: String? = nil
        for (index, rule) in rules.enumerated() {
            switch rule.target {
            case .header(let field):
                if headers.contains(where: { $0.name.lowercased() == field && matches(index, $0.value) }) { hits.append(rule) }
            case .body:
                if bodyText == nil {
                    var text = ""
                    for part in body {
                        text += part
                        text += "\n"
                        if text.utf8.count >= LocalRules.maxBodyBytes { break }
                    }
                    bodyText = String(decoding: text.utf8.prefix(LocalRules.maxBodyBytes), as: UTF8.self)
                }
                if matches(index, bodyText!) { hits.append(rule) }
            }
        }
        return hits
    }

    private func matches(_ index: Int, _ text: String) -> Bool {
        // Field values may carry line breaks (folding); NULs would end the C string early.
        let cleaned = text.utf8.contains(0) ? String(decoding: text.utf8.map { $0 == 0 ? 32 : $0 }, as: UTF8.self) : text
        return regexec(compiled[index], cleaned, 0, nil, 0) == 0
    }
}

extension Substring {
    func trimmingASCIISpace() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" || c == "\r" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s = s.dropLast() }
        return s
    }
}

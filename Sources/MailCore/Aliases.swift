/// One right-hand-side item of an aliases(5) entry.
public enum AliasTarget: Equatable, Sendable {
    /// An address: a local name (expanded again) or a remote address.
    case address(String)
    /// `\name`: the user's own mailbox, no further alias expansion (sendmail's convention).
    case mailbox(String)
    /// `|command`: run with /bin/sh -c as default_privs (aliases(5)).
    case command(String)
    /// `/path`: appended to the file (a Maildir when it ends in "/").
    case file(String)
    /// `:include:/path`: more targets, read from that file.
    case include(String)
}

/// The alias table: `/etc/aliases` in the usual syntax.
///
/// `name: target, target, …`; lines starting with white space continue the previous entry;
/// `#` starts a comment line; names are case-insensitive; `"…"` quotes a target that contains
/// commas or spaces (`"|/usr/bin/procmail -a x"`). The first definition of a name wins, as in
/// Postfix, and a later one is reported.
public struct AliasTable: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let targets: [AliasTarget]
        public let line: Int
    }

    public private(set) var entries: [String: Entry] = [:]
    public private(set) var problems: [ConfigProblem] = []

    public init() {}

    public init(text: String, file: String = "aliases") {
        var logical: [(line: Int, text: String)] = []
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.hasPrefix("#") { continue }
            if line.trimmingSpaces().isEmpty { continue }
            if let first = line.first, first == " " || first == "\t" {
                if logical.isEmpty {
                    problems.append(ConfigProblem(file: file, line: number, message: "continuation line without an entry"))
                } else {
                    logical[logical.count - 1].text += " " + line.trimmingSpaces()
                }
                continue
            }
            logical.append((number, line))
        }
        for (line, text) in logical {
            guard let colon = AliasTable.nameColon(in: text) else {
                problems.append(ConfigProblem(file: file, line: line, message: "expected 'name: target, …'"))
                continue
            }
            var name = String(text[..<colon]).trimmingSpaces()
            if name.hasPrefix("\"") && name.hasSuffix("\"") && name.count >= 2 { name = String(name.dropFirst().dropLast()) }
            name = name.lowercased()
            if name.isEmpty {
                problems.append(ConfigProblem(file: file, line: line, message: "empty alias name"))
                continue
            }
            let rest = String(text[text.index(after: colon)...])
            let parsed = AliasTable.parseTargets(rest)
            switch parsed {
            case .failure(let why):
                problems.append(ConfigProblem(file: file, line: line, message: "\(name): \(why.why)"))
            case .success(let targets):
                if targets.isEmpty {
                    problems.append(ConfigProblem(file: file, line: line, message: "\(name): no targets"))
                } else if let earlier = entries[name] {
                    problems.append(ConfigProblem(file: file, line: line, message: "\(name): duplicate entry, the one on line \(earlier.line) is used"))
                } else {
                    entries[name] = Entry(name: name, targets: targets, line: line)
                }
            }
        }
    }

    public func lookup(_ name: String) -> [AliasTarget]? { entries[name.lowercased()]?.targets }

    /// The colon ending the name: the first one outside quotes.
    static func nameColon(in text: String) -> String.Index? {
        var quoted = false
        for i in text.indices {
            let c = text[i]
            if c == "\"" { quoted.toggle() }
            if c == ":" && !quoted { return i }
        }
        return nil
    }

    public struct ParseFailure: Error { public let why: String }

    /// Splits a right-hand side (or an :include: file) into targets. Commas and newlines separate.
    public static func parseTargets(_ text: String) -> Result<[AliasTarget], ParseFailure> {
        var items: [String] = []
        var current = ""
        var quoted = false
        var angle = false
        for c in text {
            if c == "\"" { quoted.toggle(); current.append(c); continue }
            if !quoted && c == "<" { angle = true }
            if !quoted && c == ">" { angle = false }
            if !quoted && !angle && (c == "," || c == "\n") {
                items.append(current)
                current = ""
                continue
            }
            current.append(c)
        }
        if quoted { return .failure(ParseFailure(why: "unbalanced quote")) }
        items.append(current)
        var targets: [AliasTarget] = []
        for item in items {
            var t = item.trimmingSpaces()
            if t.isEmpty { continue }
            if t.hasPrefix("\"") && t.hasSuffix("\"") && t.count >= 2 { t = String(t.dropFirst().dropLast()) }
            if t.hasPrefix("|") {
                let command = String(t.dropFirst()).trimmingSpaces()
                if command.isEmpty { return .failure(ParseFailure(why: "empty command")) }
                targets.append(.command(command))
            } else if t.hasPrefix("/") {
                targets.append(.file(t))
            } else if t.lowercased().hasPrefix(":include:") {
                let path = String(t.dropFirst(9)).trimmingSpaces()
                if !path.hasPrefix("/") { return .failure(ParseFailure(why: ":include: needs an absolute path")) }
                targets.append(.include(path))
            } else if t.hasPrefix("\\") {
                let name = String(t.dropFirst())
                if name.isEmpty { return .failure(ParseFailure(why: "empty \\user")) }
                targets.append(.mailbox(name))
            } else {
                if t.hasPrefix("<") && t.hasSuffix(">") { t = String(t.dropFirst().dropLast()) }
                if t.contains(where: { $0 == " " || $0 == "\t" || $0.asciiValue.map { $0 < 0x20 } == true }) {
                    return .failure(ParseFailure(why: "'\(t)' is not an address"))
                }
                targets.append(.address(t))
            }
        }
        return .success(targets)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// Edits one of the line-oriented tables (the alias file, the virtual table, the sender table,
/// the domains file) the way an administrator would by hand, but safely: under an flock(2) on
/// FILE.lock, keeping comments and every other line as they are, refusing an edit that makes
/// the table worse (a new problem, reported with file:line), keeping the old version as
/// FILE.bak, and replacing the file through a temporary file, fsync and rename, so a reader
/// sees the old table or the new one.
public struct TableEditor {
    /// The table's shape.
    public enum Format: Sendable {
        /// `name: target, target` (aliases(5)).
        case aliases
        /// `key  value, value` (postamt-virtual(5), postamt-senders(5)).
        case keyed
        /// `domain [kind]` (postamt-domains(5)).
        case domains
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    public let path: String
    public let format: Format
    /// The table's problems for a text (its parser), to refuse an edit that adds one.
    public let problems: (String) -> [ConfigProblem]

    public init(path: String, format: Format, problems: @escaping (String) -> [ConfigProblem]) {
        self.path = path
        self.format = format
        self.problems = problems
    }

    /// One entry as the file has it: the lines it spans (continuations included) and its values.
    struct Block {
        var key: String
        var lines: Range<Int>
        var values: [String]
    }

    /// The entries of `lines`; comment and blank lines belong to none.
    func blocks(_ lines: [String]) -> [Block] {
        var result: [Block] = []
        for (i, line) in lines.enumerated() {
            let trimmed = line.trimmingSpaces()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if let first = line.first, first == " " || first == "\t" {
                if format != .domains, !result.isEmpty, result[result.count - 1].lines.upperBound == i {
                    result[result.count - 1].lines = result[result.count - 1].lines.lowerBound..<(i + 1)
                    result[result.count - 1].values += TableEditor.split(trimmed, atSpaces: format == .keyed)
                }
                continue
            }
            switch format {
            case .aliases:
                guard let colon = AliasTable.nameColon(in: line) else { continue }
                var key = String(line[..<colon]).trimmingSpaces()
                if key.hasPrefix("\"") && key.hasSuffix("\"") && key.count >= 2 { key = String(key.dropFirst().dropLast()) }
                result.append(Block(key: key.lowercased(), lines: i..<(i + 1), values: TableEditor.split(String(line[line.index(after: colon)...]), atSpaces: false)))
            case .keyed, .domains:
                let words = trimmed.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" })
                let rest = words.count > 1 ? String(words[1]) : ""
                result.append(Block(key: String(words[0]).lowercased(), lines: i..<(i + 1),
                                    values: format == .domains ? [rest.trimmingSpaces()].filter { !$0.isEmpty } : TableEditor.split(rest, atSpaces: true)))
            }
        }
        return result
    }

    /// Items separated by commas (and, in keyed tables, white space), quotes kept together.
    static func split(_ text: String, atSpaces: Bool) -> [String] {
        var items: [String] = []
        var current = ""
        var quoted = false
        for c in text {
            if c == "\"" { quoted.toggle() }
            if !quoted && (c == "," || (atSpaces && (c == " " || c == "\t"))) {
                items.append(current)
                current = ""
                continue
            }
            current.append(c)
        }
        items.append(current)
        return items.map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    }

    func render(_ key: String, _ values: [String]) -> String {
        switch format {
        case .aliases: return "\(key): \(values.joined(separator: ", "))"
        case .keyed: return "\(key)\t\(values.joined(separator: ", "))"
        case .domains: return values.isEmpty ? key : "\(key)\t\(values[0])"
        }
    }

    /// The entries as (key, values), in file order.
    public func entries() throws -> [(key: String, values: [String])] {
        blocks(try readLines()).map { ($0.key, $0.values) }
    }

    /// Adds `values` to the entry `key` (made when missing). Returns what the entry holds now.
    @discardableResult
    public func add(_ key: String, _ values: [String]) throws -> [String] {
        var result: [String] = []
        try edit { lines in
            let key = key.lowercased()
            if let block = blocks(lines).first(where: { $0.key == key }) {
                if format == .domains { throw Failure("\(key) is already listed in \(path)") }
                var merged = block.values
                for v in values where !merged.contains(v) { merged.append(v) }
                if merged == block.values { throw Failure("\(key) already has \(values.joined(separator: ", ")) in \(path)") }
                lines.replaceSubrange(block.lines, with: [render(key, merged)])
                result = merged
            } else {
                lines.append(render(key, values))
                result = values
            }
        }
        return result
    }

    /// Removes `values` from the entry `key`, or the whole entry when `values` is empty (or
    /// when nothing is left). Returns what the entry still holds.
    @discardableResult
    public func remove(_ key: String, _ values: [String] = []) throws -> [String] {
        var result: [String] = []
        try edit { lines in
            let key = key.lowercased()
            guard let block = blocks(lines).first(where: { $0.key == key }) else { throw Failure("\(key) is not in \(path)") }
            let missing = values.filter { !block.values.contains($0) }
            if !missing.isEmpty { throw Failure("\(key) has no \(missing.joined(separator: ", ")) in \(path)") }
            let left = values.isEmpty ? [] : block.values.filter { !values.contains($0) }
            lines.replaceSubrange(block.lines, with: left.isEmpty ? [] : [render(key, left)])
            result = left
        }
        return result
    }

    func readLines() throws -> [String] {
        guard let bytes = try FileIO.readFile(path, limit: 256 << 20) else { return [] }
        var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// Lock, read, change, check, back up, replace, unlock.
    func edit(_ change: (inout [String]) throws -> Void) throws {
        let lockPath = path + ".lock"
        let lock = try FileIO.open(lockPath, O_RDWR | O_CREAT, mode: 0o600)
        while flock(lock.raw, LOCK_EX) != 0 {
            if errno != EINTR { throw SystemError("flock \(lockPath)", errno: errno) }
        }
        defer { _ = flock(lock.raw, LOCK_UN) }
        let old = try readLines()
        var new = old
        try change(&new)
        let oldText = old.isEmpty ? "" : old.joined(separator: "\n") + "\n"
        let newText = new.isEmpty ? "" : new.joined(separator: "\n") + "\n"
        let before = Set(problems(oldText).map(\.message))
        if let added = problems(newText).first(where: { !before.contains($0.message) }) {
            throw Failure("not changed: the edit would make \(added)")
        }
        let mode = FileIO.status(path).map { $0.st_mode & 0o7777 } ?? 0o644
        if FileIO.exists(path) { try FileIO.writeAtomically(path + ".bak", Array(oldText.utf8), mode: mode) }
        try FileIO.writeAtomically(path, Array(newText.utf8), mode: mode)
    }
}

extension TableEditor {
    public static func aliases(_ configuration: Configuration) -> TableEditor {
        let path = configuration.string("alias_file")
        return TableEditor(path: path, format: .aliases) { AliasTable(text: $0, file: path).problems }
    }

    public static func virtual(_ configuration: Configuration) -> TableEditor {
        let path = configuration.string("virtual_alias_file")
        return TableEditor(path: path, format: .keyed) { TextTable.virtual(text: $0, file: path).problems }
    }

    public static func senders(_ configuration: Configuration) -> TableEditor {
        let path = configuration.string("sender_file")
        return TableEditor(path: path, format: .keyed) { TextTable.senders(text: $0, file: path).problems }
    }

    public static func domains(_ configuration: Configuration) -> TableEditor {
        let path = configuration.string("domains_file")
        return TableEditor(path: path, format: .domains) { DomainTable(text: $0, file: path).problems }
    }
}

extension AddressBook {
    /// Compiles the virtual table into FILE.cdb when the .cdb is missing or older than the text.
    /// Returns a line for the administrator, nil when there was nothing to do.
    public static func compileVirtualTable(_ configuration: Configuration) throws -> String? {
        let path = configuration.string("virtual_alias_file")
        guard !path.isEmpty, let st = FileIO.status(path) else { return nil }
        let compiled = compiledPath(path)
        if CompiledTable(file: path, compiledPath: compiled) != nil { return nil }
        guard let bytes = try FileIO.readFile(path, limit: 256 << 20) else { return nil }
        let table = TextTable.virtual(text: String(decoding: bytes, as: UTF8.self), file: path)
        try table.compile(source: st).write(to: compiled, mode: 0o644)
        return "\(compiled): compiled from \(path) (\(table.keys.count) entries)"
    }

    /// Every problem of the address tables, with file:line, for `postamt check`.
    public static func check(_ configuration: Configuration) -> [String] {
        let book = AddressBook(configuration: configuration)
        var problems = book.problems.map(\.description) + book.unavailable.map { "cannot read \($0)" }
        let mode = configuration.string("sendmail_sender_check")
        if !["refuse", "warn", "no"].contains(mode) {
            problems.append("\(configuration.file): sendmail_sender_check: '\(mode)' is not refuse, warn or no")
        }
        let resolver = book.resolver
        // Re-read the text tables for what only a whole-table view shows.
        let virtualPath = configuration.string("virtual_alias_file")
        if let bytes = try? FileIO.readFile(virtualPath, limit: 256 << 20) {
            let table = TextTable.virtual(text: String(decoding: bytes, as: UTF8.self), file: virtualPath)
            var reported = Set<String>()
            for key in table.keys {
                let domain = AddressResolver.domain(of: key)
                if !resolver.virtualDomains.contains(domain) && reported.insert(domain).inserted {
                    let line = table.entries[key]!.line
                    problems.append("\(virtualPath):\(line): \(domain) is not a virtual domain (postamt domain add \(domain)), so its entries are not used")
                }
            }
        }
        let sendersPath = configuration.string("sender_file")
        if let bytes = try? FileIO.readFile(sendersPath, limit: 256 << 20) {
            let table = TextTable.senders(text: String(decoding: bytes, as: UTF8.self), file: sendersPath)
            for key in table.keys {
                let entry = table.entries[key]!
                for user in entry.values where resolver.lookupUser(user) == nil {
                    problems.append("\(sendersPath):\(entry.line): \(user) is not a system user")
                }
            }
        }
        return problems
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// One entry of a lookup table: its values and where it was written.
public struct TableEntry: Equatable, Sendable {
    public let values: [String]
    public let line: Int
    public init(values: [String], line: Int) { self.values = values; self.line = line }
}

/// A table an address is looked up in: the virtual table (address → targets) and the sender
/// table (address → users who may send as it). Keys are lower case.
public protocol AddressMap: Sendable {
    /// The file the entries come from (for explanations and errors).
    var file: String { get }
    func lookup(_ key: String) -> TableEntry?
}

/// A Postfix-style table in text: `key  value, value, …` a line (virtual(5)); `#` starts a
/// comment line; a line that starts with white space continues the previous entry's values;
/// keys are case-insensitive; the first entry for a key wins and a later one is reported.
public struct TextTable: AddressMap {
    public let file: String
    public private(set) var entries: [String: TableEntry] = [:]
    public private(set) var problems: [ConfigProblem] = []
    /// Keys in file order (for listing and compiling).
    public private(set) var keys: [String] = []

    /// `checkKey`/`checkValue` return why an item is wrong, nil when it is fine.
    public init(text: String, file: String, checkKey: (String) -> String?, checkValue: (String) -> String?) {
        self.file = file
        var logical: [(line: Int, text: String)] = []
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : String(raw)
            let trimmed = line.trimmingSpaces()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if let first = line.first, first == " " || first == "\t" {
                if logical.isEmpty {
                    problems.append(ConfigProblem(file: file, line: number, message: "continuation line without an entry"))
                } else {
                    logical[logical.count - 1].text += ", " + trimmed
                }
                continue
            }
            logical.append((number, line))
        }
        entryLoop: for (line, text) in logical {
            guard let gap = text.firstIndex(where: { $0 == " " || $0 == "\t" }) else {
                problems.append(ConfigProblem(file: file, line: line, message: "expected 'key  value, value…'"))
                continue
            }
            let key = String(text[..<gap]).lowercased()
            if let why = checkKey(key) {
                problems.append(ConfigProblem(file: file, line: line, message: "\(key): \(why)"))
                continue
            }
            var values: [String] = []
            for item in text[gap...].split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
                let value = String(item)
                if let why = checkValue(value) {
                    problems.append(ConfigProblem(file: file, line: line, message: "\(key): '\(value)': \(why)"))
                    continue entryLoop
                }
                if !values.contains(value) { values.append(value) }
            }
            if values.isEmpty {
                problems.append(ConfigProblem(file: file, line: line, message: "\(key): no values"))
            } else if let earlier = entries[key] {
                problems.append(ConfigProblem(file: file, line: line, message: "\(key): duplicate entry, the one on line \(earlier.line) is used"))
            } else {
                entries[key] = TableEntry(values: values, line: line)
                keys.append(key)
            }
        }
    }

    public func lookup(_ key: String) -> TableEntry? { entries[key] }

    /// The compiled form: a constant database of `key → "LINE\0value\0value…"`, with the text
    /// file's identity under the key "\0source" so a reader can tell a stale one.
    public func compile(source: stat) throws -> ConstantDatabase.Builder {
        var builder = ConstantDatabase.Builder()
        try builder.add(key: CompiledTable.sourceKey, data: Array(CompiledTable.identity(source).utf8))
        for key in keys {
            let entry = entries[key]!
            try builder.add(key: key, data: Array(([String(entry.line)] + entry.values).joined(separator: "\0").utf8))
        }
        return builder
    }
}

/// A table read through its compiled constant database: O(1) lookups for any size, nothing
/// parsed at start. Lookups that fail to read (a damaged file) find nothing and are counted,
/// so callers can answer "try later" rather than "unknown".
public final class CompiledTable: AddressMap, @unchecked Sendable {
    static let sourceKey = "\0source"
    public let file: String
    let database: ConstantDatabase

    /// Opens `compiledPath` when it was made from `file` as it is now; nil when it is missing
    /// or stale (then the text is read instead).
    public init?(file: String, compiledPath: String) {
        guard let source = FileIO.status(file),
              let database = try? ConstantDatabase(path: compiledPath),
              let stamp = try? database.find(CompiledTable.sourceKey),
              String(decoding: stamp, as: UTF8.self) == CompiledTable.identity(source)
        else { return nil }
        self.file = file
        self.database = database
    }

    public func lookup(_ key: String) -> TableEntry? {
        guard !key.hasPrefix("\0"), let data = try? database.find(key) else { return nil }
        let parts = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard parts.count >= 2, let line = Int(parts[0]) else { return nil }
        return TableEntry(values: Array(parts.dropFirst()), line: line)
    }

    /// Device, inode, size and modification time: what changes when the text is edited.
    static func identity(_ st: stat) -> String {
        "\(st.st_dev) \(st.st_ino) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }
}

/// The domains file (postamt-domains(5)): `domain [virtual|local]` a line.
public struct DomainTable: Sendable {
    public enum Kind: String, Sendable { case virtual, local }
    public private(set) var domains: [(name: String, kind: Kind, line: Int)] = []
    public private(set) var problems: [ConfigProblem] = []

    public init() {}

    public init(text: String, file: String) {
        var number = 0
        var seen: [String: Int] = [:]
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            let name = words[0].lowercased()
            guard words.count <= 2, let kind = words.count == 2 ? Kind(rawValue: words[1].lowercased()) : .virtual else {
                problems.append(ConfigProblem(file: file, line: number, message: "expected 'domain [virtual|local]'"))
                continue
            }
            if let why = AddressSyntax.domainProblem(name) {
                problems.append(ConfigProblem(file: file, line: number, message: "\(name): \(why)"))
                continue
            }
            if let earlier = seen[name] {
                problems.append(ConfigProblem(file: file, line: number, message: "\(name): already listed on line \(earlier)"))
                continue
            }
            seen[name] = number
            domains.append((name, kind, number))
        }
    }

    public var virtualDomains: Set<String> { Set(domains.filter { $0.kind == .virtual }.map(\.name)) }
    public var localDomains: Set<String> { Set(domains.filter { $0.kind == .local }.map(\.name)) }
}

/// What the table files accept as keys and values.
public enum AddressSyntax {
    /// A domain name: letters, digits, hyphens and dots, no empty label.
    public static func domainProblem(_ domain: String) -> String? {
        guard !domain.isEmpty, domain.utf8.count <= 253 else { return "not a domain name" }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 63,
                  label.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 >= 0x80 }) else {
                return "not a domain name"
            }
        }
        return nil
    }

    /// `local@domain` or `@domain` (a whole domain).
    public static func addressKeyProblem(_ key: String) -> String? {
        guard let at = key.lastIndex(of: "@") else { return "expected user@domain or @domain" }
        let local = key[..<at]
        if let why = domainProblem(String(key[key.index(after: at)...])) { return why }
        return local.isEmpty ? nil : localPartProblem(String(local))
    }

    /// A local part that is safe in a queue record, a file name and a log line.
    public static func localPartProblem(_ local: String) -> String? {
        guard local.utf8.count <= 64 else { return "local part longer than 64 bytes" }
        for b in local.utf8 where b < 0x21 || b == 0x7F || "\"\\|`$;&<>(){}/,:@".utf8.contains(b) {
            return "local part contains '\(Character(Unicode.Scalar(b)))'"
        }
        return nil
    }

    /// A virtual table target: a local user or alias name, or an address.
    public static func targetProblem(_ target: String) -> String? {
        if target.hasPrefix("|") || target.hasPrefix("/") || target.hasPrefix(":include:") {
            return "commands, files and :include: belong in the alias file, not the virtual table"
        }
        if let at = target.lastIndex(of: "@") {
            if at == target.startIndex { return "a target needs a local part" }
            return addressKeyProblem(target)
        }
        return localPartProblem(target)
    }

    /// A login name as useradd(8) makes them.
    public static func userNameProblem(_ name: String) -> String? {
        guard !name.isEmpty, name.utf8.count <= 32,
              name.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }),
              name.first != "-" else { return "not a user name" }
        return nil
    }

    static func isAlphanumeric(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }
}

extension TextTable {
    /// The virtual table (postamt-virtual(5)).
    public static func virtual(text: String, file: String) -> TextTable {
        TextTable(text: text, file: file, checkKey: AddressSyntax.addressKeyProblem, checkValue: AddressSyntax.targetProblem)
    }

    /// The sender table (postamt-senders(5)): address or @domain → user names.
    public static func senders(text: String, file: String) -> TextTable {
        TextTable(text: text, file: file, checkKey: AddressSyntax.addressKeyProblem, checkValue: AddressSyntax.userNameProblem)
    }
}

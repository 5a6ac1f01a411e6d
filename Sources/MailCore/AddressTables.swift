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
    /// The text is read as bytes (a table of 100,000 lines parses in a fraction of a second;
    /// Character by Character it took seconds).
    public init(text: String, file: String, checkKey: (String) -> String?, checkValue: (String) -> String?) {
        self.file = file
        var pending: (key: String, line: Int, values: [String])? = nil
        func finish() {
            guard let entry = pending else { return }
            pending = nil
            if let why = checkKey(entry.key) {
                problems.append(ConfigProblem(file: file, line: entry.line, message: "\(entry.key): \(why)"))
                return
            }
            var values: [String] = []
            for value in entry.values {
                if let why = checkValue(value) {
                    problems.append(ConfigProblem(file: file, line: entry.line, message: "\(entry.key): '\(value)': \(why)"))
                    return
                }
                if !values.contains(value) { values.append(value) }
            }
            if values.isEmpty {
                problems.append(ConfigProblem(file: file, line: entry.line, message: "\(entry.key): no values"))
            } else if let earlier = entries[entry.key] {
                problems.append(ConfigProblem(file: file, line: entry.line, message: "\(entry.key): duplicate entry, the one on line \(earlier.line) is used"))
            } else {
                entries[entry.key] = TableEntry(values: values, line: entry.line)
                keys.append(entry.key)
            }
        }
        func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }
        func items(_ bytes: ArraySlice<UInt8>) -> [String] {
            bytes.split(whereSeparator: { $0 == 0x2C || $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }).map { String(decoding: $0, as: UTF8.self) }
        }
        let bytes = Array(text.utf8)
        var number = 0
        var position = 0
        while position < bytes.count {
            number += 1
            let end = bytes[position...].firstIndex(of: 0x0A) ?? bytes.count
            let line = bytes[position..<end]
            position = end + 1
            guard let first = line.firstIndex(where: { !isBlank($0) }), line[first] != 0x23 else { continue }
            if first != line.startIndex {
                if pending == nil {
                    problems.append(ConfigProblem(file: file, line: number, message: "continuation line without an entry"))
                } else {
                    pending!.values += items(line)
                }
                continue
            }
            finish()
            guard let gap = line.firstIndex(where: { $0 == 0x20 || $0 == 0x09 }) else {
                problems.append(ConfigProblem(file: file, line: number, message: "expected 'key  value, value…'"))
                continue
            }
            let key = String(decoding: line[..<gap].map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
            pending = (key, number, items(line[gap...]))
        }
        finish()
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
        let bytes = domain.utf8
        guard !bytes.isEmpty, bytes.count <= 253 else { return "not a domain name" }
        var label = 0
        for b in bytes {
            if b == UInt8(ascii: ".") {
                if label == 0 { return "not a domain name" }
                label = 0
            } else if isAlphanumeric(b) || b == UInt8(ascii: "-") || b >= 0x80 {
                label += 1
                if label > 63 { return "not a domain name" }
            } else {
                return "not a domain name"
            }
        }
        return label == 0 ? "not a domain name" : nil
    }

    /// `local@domain` or `@domain` (a whole domain).
    public static func addressKeyProblem(_ key: String) -> String? {
        guard let at = key.utf8.lastIndex(of: UInt8(ascii: "@")) else { return "expected user@domain or @domain" }
        if let why = domainProblem(String(key[key.utf8.index(after: at)...])) { return why }
        return at == key.startIndex ? nil : localPartProblem(String(key[..<at]))
    }

    /// A local part that is safe in a queue record, a file name and a log line.
    public static func localPartProblem(_ local: String) -> String? {
        guard local.utf8.count <= 64 else { return "local part longer than 64 bytes" }
        for b in local.utf8 where b < 0x21 || b == 0x7F || AddressSyntax.unsafeInLocalPart[Int(b)] {
            return "local part contains '\(Character(Unicode.Scalar(b)))'"
        }
        return nil
    }

    /// A virtual table target: a local user or alias name, or an address.
    public static func targetProblem(_ target: String) -> String? {
        if target.hasPrefix("|") || target.hasPrefix("/") || target.hasPrefix(":include:") {
            return "commands, files and :include: belong in the alias file, not the virtual table"
        }
        if let at = target.utf8.lastIndex(of: UInt8(ascii: "@")) {
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

    static let unsafeInLocalPart: [Bool] = (0..<256).map { b in "\"\\|`$;&<>(){}/,:@".utf8.contains(UInt8(b)) }

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

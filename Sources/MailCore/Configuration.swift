#if canImport(Glibc)
import Glibc
#endif
import MailSystem
import Synchronization

/// One problem in a configuration file or table, with where it is.
public struct ConfigProblem: Error, Equatable, CustomStringConvertible, Sendable {
    public let file: String
    public let line: Int
    public let message: String
    public init(file: String, line: Int, message: String) { self.file = file; self.line = line; self.message = message }
    public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}

/// The kinds of values a setting takes.
public enum SettingKind: Sendable {
    case text, path, list, count, duration, size, boolean
}

/// A setting of postamt.conf(5): its name, kind, default and one line of documentation.
public struct Setting: Sendable {
    public let name: String
    public let kind: SettingKind
    /// The default; `$myhostname` is expanded, and for paths `{root}` is the installation root.
    public let defaultValue: String
    public let summary: String
}

/// Every key postamt.conf knows. postamt.conf(5) documents each one; `postamt config` prints them.
/// Each area keeps its own list in a file of its own (Settings+Area.swift).
public let knownSettings: [Setting] = settingGroups.flatMap { $0 }

/// The areas' lists as they are (each a statically initialised array): lookups go through
/// these, so no program pays for copying ~400 settings into one list at its start.
let settingGroups: [[Setting]] = [coreSettings, authSettings, smtpSettings, pop3Settings, imapSettings, imapSyncSettings,
    remoteSettings, spamSettings, domainSettings, sieveSettings, manageSieveSettings, quotaSettings, webmailSettings,
    imapModernSettings, imapIdlePollSettings]

/// The settings by name: a lookup per `string(_:)` call, not a scan of the whole list (a
/// per-connection program reads dozens of settings at start).
let settingsByName = SettingTable(settingGroups)

/// `knownSettings` by name: open addressing over FNV-1a of the name, built at a program's first
/// lookup. (A `[String: Setting]` made from the concatenated list, with SipHash and generic
/// metadata made at run time, cost about 0.15 ms of every program's start: perf over
/// postamt-spamcheck.)
struct SettingTable: Sendable {
    /// The lists the table indexes (arrays: kept by reference, not copied).
    let groups: [[Setting]]
    /// Group << 10 | index into it, UInt16.max for an empty slot; at most half the slots are used.
    private var slots: [UInt16]
    private let mask: Int
    private static let empty = UInt16.max

    init(_ groups: [[Setting]]) {
        self.groups = groups
        let count = groups.reduce(0) { $0 + $1.count }
        precondition(groups.count < 63 && groups.allSatisfy { $0.count < 1024 })
        var size = 64
        while size < 2 * count { size <<= 1 }
        mask = size - 1
        slots = [UInt16](repeating: SettingTable.empty, count: size)
        for g in groups.indices {
            for i in groups[g].indices {
                var slot = SettingTable.hash(groups[g][i].name) & mask
                while slots[slot] != SettingTable.empty && name(at: slots[slot]) != groups[g][i].name {
                    slot = (slot + 1) & mask
                }
                // The first of a name wins.
                if slots[slot] == SettingTable.empty { slots[slot] = UInt16(g << 10 | i) }
            }
        }
    }

    private func name(at packed: UInt16) -> String { groups[Int(packed >> 10)][Int(packed & 1023)].name }

    static func hash(_ name: String) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// Where the setting `name` is in `groups` (an index, not a copy of the setting: an
    /// optional `Setting` would need its type metadata made at run time).
    func find(_ name: String) -> (group: Int, index: Int)? {
        var slot = SettingTable.hash(name) & mask
        while slots[slot] != SettingTable.empty {
            let packed = slots[slot]
            if self.name(at: packed) == name { return (Int(packed >> 10), Int(packed & 1023)) }
            slot = (slot + 1) & mask
        }
        return nil
    }
}

let coreSettings: [Setting] = [
    Setting(name: "myhostname", kind: .text, defaultValue: "", summary: "this host's name, used in Received:, Message-ID: and bounces (default: gethostname)"),
    Setting(name: "local_domains", kind: .list, defaultValue: "$myhostname, localhost, localhost.localdomain", summary: "domains delivered on this machine"),
    Setting(name: "queue_directory", kind: .path, defaultValue: "{root}/var/spool/postamt", summary: "the queue"),
    Setting(name: "state_directory", kind: .path, defaultValue: "{root}/var/lib/postamt", summary: "state such as the spam database"),
    Setting(name: "program_directory", kind: .path, defaultValue: "", summary: "where postamt-queue, postamt-local and the others are (default: the directory of the running program)"),
    Setting(name: "alias_file", kind: .path, defaultValue: "{root}/etc/aliases", summary: "the aliases(5) table"),
    Setting(name: "mail_owner", kind: .text, defaultValue: "postamt", summary: "the unprivileged user the runner and smtpd run as"),
    Setting(name: "default_privs", kind: .text, defaultValue: "nobody", summary: "the user that runs commands and file deliveries named in the alias file"),
    Setting(name: "recipient_delimiter", kind: .text, defaultValue: "+", summary: "characters that separate a user from an address extension (user+ext)"),
    Setting(name: "home_mailbox", kind: .text, defaultValue: "Maildir/", summary: "the mailbox below each home directory (a Maildir: ends in /)"),
    Setting(name: "postmaster", kind: .text, defaultValue: "postmaster", summary: "who receives bounces that cannot be delivered"),
    Setting(name: "delivery_concurrency", kind: .count, defaultValue: "20", summary: "local deliveries the runner runs at once"),
    Setting(name: "minimal_backoff", kind: .duration, defaultValue: "300s", summary: "first retry delay after a temporary failure"),
    Setting(name: "maximal_backoff", kind: .duration, defaultValue: "4000s", summary: "the longest delay between retries"),
    Setting(name: "queue_lifetime", kind: .duration, defaultValue: "5d", summary: "how long a message is retried before it bounces"),
    Setting(name: "dsn_full_message_limit", kind: .size, defaultValue: "1M", summary: "the largest original a RET=FULL notice returns whole (bytes); bigger ones are returned as headers only"),
    Setting(name: "bounce_lifetime", kind: .duration, defaultValue: "5d", summary: "how long a bounce is retried before it is given up"),
    Setting(name: "message_size_limit", kind: .size, defaultValue: "50M", summary: "the largest message the queue accepts (bytes; k, M, G suffixes)"),
    Setting(name: "address_length_limit", kind: .count, defaultValue: "512", summary: "the longest envelope address, in bytes"),
    Setting(name: "recipient_limit", kind: .count, defaultValue: "10000", summary: "recipients one queued message may have"),
    Setting(name: "header_size_limit", kind: .size, defaultValue: "1M", summary: "header bytes sendmail reads to find To:, Cc:, Bcc:"),
    Setting(name: "orphan_age", kind: .duration, defaultValue: "1d", summary: "age after which leftovers of interrupted injections are removed"),
    Setting(name: "queue_spare_files", kind: .count, defaultValue: "5000", summary: "wiped files of delivered messages the queue keeps for the next ones, so that the file system neither frees nor allocates an inode per message (0: none kept)"),
    Setting(name: "queue_spare_size", kind: .size, defaultValue: "64k", summary: "the largest delivered message file a spare keeps its disk blocks for, wiped to zeros, so that the next message is written into them (larger ones are emptied; 0: every spare empty)"),
    Setting(name: "command_time_limit", kind: .duration, defaultValue: "1000s", summary: "how long a delivery to a |command may run"),
    Setting(name: "delivery_time_limit", kind: .duration, defaultValue: "1h", summary: "how long one postamt-local run may take before the runner kills it"),
    Setting(name: "runner_local_batch", kind: .count, defaultValue: "16", summary: "local deliveries to one user that one forked child of the spawner runs one after the other when they wait together (at most 20; 1: a child per delivery)"),
    Setting(name: "runner_local_max_use", kind: .count, defaultValue: "100", summary: "local deliveries one forked child of the spawner runs, in groups and one group after another, before it exits (1: a child for every group)"),
    Setting(name: "runner_local_max_idle", kind: .duration, defaultValue: "2s", summary: "how long a forked delivery child that has finished waits for more deliveries to its user before it exits (0: it exits at once)"),
    Setting(name: "runner_local_idle_limit", kind: .count, defaultValue: "20", summary: "forked delivery children kept waiting for more deliveries at most; beyond it the longest waiting exit"),
    Setting(name: "runner_batch_scheduling", kind: .boolean, defaultValue: "yes", summary: "yes: the runner, its spawner, the delivery children and the programs they start run with the scheduling policy SCHED_BATCH, so that a delivery woken with work does not preempt smtpd answering a client on that CPU (fewer context switches a message); no: the system's default policy"),
    Setting(name: "runner_exec_local", kind: .boolean, defaultValue: "no", summary: "yes: the runner's spawner starts postamt-local from program_directory for each delivery; no: it forks and delivers in the child, as the recipient, without starting a program"),
    Setting(name: "passwd_cache_time", kind: .duration, defaultValue: "60s", summary: "how long the runner, its delivery children and smtpd --serve keep a user they looked up in the passwd database; a change to /etc/passwd ends it at once (0: every lookup asks the database)"),
    Setting(name: "alias_expansion_limit", kind: .count, defaultValue: "1000", summary: "addresses one alias may expand to, nested aliases and :include: files included"),
    Setting(name: "hop_count_limit", kind: .count, defaultValue: "50", summary: "Received:/Delivered-To: headers after which a message is taken as looping"),
]

/// The effective configuration: postamt.conf over the defaults, with the root applied.
public struct Configuration: Sendable {
    public private(set) var values: [String: String] = [:]
    /// Keys that were set in the file (others are defaults).
    public private(set) var explicitKeys: Set<String> = []
    public let root: String
    public let file: String

    /// The installation root: `--root DIR` wins, then POSTAMT_ROOT, else "" (the real system).
    /// A set-id program (postamt-queue) belongs to its caller's environment only as far as it
    /// is safe: it takes a root from the environment or arguments only when the configuration
    /// there is trusted (owned by root and writable by nobody else, and so are the directories
    /// above it), so a user cannot point it at a configuration of their own.
    public static func installationRoot(argument: String? = nil) -> String {
        var candidate: String? = nil
        if let argument, !argument.isEmpty { candidate = trimmedRoot(argument) }
        else if let env = getenv("POSTAMT_ROOT") { candidate = trimmedRoot(String(cString: env)) }
        guard let root = candidate else { return "" }
        if Privileges.isSetID && !isTrustedRoot(root) { return "" }
        return root
    }

    /// root/etc/postamt/postamt.conf and every directory above it are owned by root and not
    /// writable by group or others.
    public static func isTrustedRoot(_ root: String) -> Bool {
        var path = configurationFile(root: root)
        while true {
            var st = stat()
            // A sticky directory (like /tmp) owned by root is fine: nobody else can replace our entry.
            guard lstat(path, &st) == 0, st.st_uid == 0, st.st_mode & 0o022 == 0 || st.st_mode & S_ISVTX != 0 else {
                return false
            }
            if path == "/" || path.isEmpty { return true }
            path = FileIO.directoryName(path)
        }
    }

    private static func trimmedRoot(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p == "/" ? "" : p
    }

    public static func configurationFile(root: String) -> String { "\(root)/etc/postamt/postamt.conf" }

    /// Loads the configuration. A missing file means "all defaults"; problems are thrown
    /// together so `postamt check` can print every one.
    public static func load(root: String = installationRoot()) throws(ConfigErrors) -> Configuration {
        let file = configurationFile(root: root)
        // The same file, unchanged since this process (or the one it was forked from) read it:
        // smtpd's queue child and the spawner's delivery child take their parent's copy.
        let stamp = FileIO.stamp([file])
        if let last = lastLoaded.withLock({ $0 }), last.file == file, last.stamp == stamp { return last.configuration }
        var config = Configuration(root: root, file: file)
        let bytes: [UInt8]?
        do {
            bytes = try FileIO.readFile(file, limit: 1 << 20)
        } catch {
            throw ConfigErrors(problems: [ConfigProblem(file: file, line: 0, message: "\(error)")])
        }
        var problems: [ConfigProblem] = []
        if let bytes { problems = config.apply(text: String(decoding: bytes, as: UTF8.self)) }
        if !problems.isEmpty { throw ConfigErrors(problems: problems) }
        // Stamped before the read: a file changed in between is read again next time.
        lastLoaded.withLock { $0 = (file, stamp, config) }
        return config
    }

    /// The last configuration `load` read, with its file's stamp (identity, size, mtime).
    private static let lastLoaded = Mutex<(file: String, stamp: [Int], configuration: Configuration)?>(nil)

    public init(root: String, file: String = "(built-in)") {
        self.root = root
        self.file = file
    }

    /// Applies `key = value` lines; returns the problems found (the valid lines still apply).
    @discardableResult
    public mutating func apply(text: String) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "=") else {
                problems.append(ConfigProblem(file: file, line: lineNumber, message: "expected 'key = value'"))
                continue
            }
            let key = String(line[..<eq]).trimmingSpaces()
            var value = String(line[line.index(after: eq)...]).trimmingSpaces()
            // A "#" after white space starts a comment, as at the start of a line.
            if value.hasPrefix("#") {
                value = ""
            } else if let comment = Configuration.commentStart(value) {
                value = String(value[..<comment]).trimmingSpaces()
            }
            guard let found = settingsByName.find(key) else {
                problems.append(ConfigProblem(file: file, line: lineNumber, message: "unknown setting '\(key)'"))
                continue
            }
            if let why = Configuration.validate(value, as: settingsByName.groups[found.group][found.index].kind) {
                problems.append(ConfigProblem(file: file, line: lineNumber, message: "\(key): \(why)"))
                continue
            }
            values[key] = value
            explicitKeys.insert(key)
        }
        return problems
    }

    /// Where a comment starts in a value: the space or tab before the first "#" that follows one.
    static func commentStart(_ value: String) -> String.Index? {
        let bytes = value.utf8
        var previous = bytes.startIndex
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == UInt8(ascii: "#"), i > bytes.startIndex, bytes[previous] == 0x20 || bytes[previous] == 0x09 {
                return previous
            }
            previous = i
            bytes.formIndex(after: &i)
        }
        return nil
    }

    public mutating func set(_ key: String, _ value: String) {
        values[key] = value
        explicitKeys.insert(key)
    }

    public static func validate(_ value: String, as kind: SettingKind) -> String? {
        switch kind {
        case .count: return UInt64(value) == nil ? "'\(value)' is not a whole number" : nil
        case .duration: return parseDuration(value) == nil ? "'\(value)' is not a duration (e.g. 300s, 5m, 4h, 5d)" : nil
        case .size: return parseSize(value) == nil ? "'\(value)' is not a size (e.g. 10240000, 50M)" : nil
        case .path: return value.isEmpty || value.hasPrefix("/") ? nil : "'\(value)' is not an absolute path"
        case .boolean: return value == "yes" || value == "no" || value == "true" || value == "false" ? nil : "'\(value)' is not yes or no"
        case .text, .list: return value.utf8.contains(0) ? "contains NUL" : nil
        }
    }

    /// The value as written (or the default), with `$myhostname` and `{root}` expanded.
    public func string(_ key: String) -> String {
        guard let found = settingsByName.find(key) else { preconditionFailure("unknown setting \(key)") }
        if key == "myhostname" {
            // Never expanded: $myhostname in its own value would recurse.
            if let v = values[key], !v.isEmpty { return v }
            return Configuration.systemHostname()
        }
        if let v = values[key], !(v.isEmpty && key == "program_directory") { return expand(v) }
        var d = settingsByName.groups[found.group][found.index].defaultValue
        if key == "program_directory" && d.isEmpty { return FileIO.executableDirectory() }
        if d.hasPrefix("{root}") { d = root + d.dropFirst(6) }
        return expand(d)
    }

    /// (replacingAll looks for the target first and asks for the host name only when it is there.)
    private func expand(_ value: String) -> String {
        value.replacingAll("$myhostname", with: string("myhostname"))
    }

    public func list(_ key: String) -> [String] {
        string(key).split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }).map(String.init)
    }

    public func count(_ key: String) -> Int { Int(string(key)) ?? 0 }
    /// A boolean setting: "yes" or "true".
    public func bool(_ key: String) -> Bool {
        let value = string(key)
        return value == "yes" || value == "true"
    }
    public func duration(_ key: String) -> Int64 { Configuration.parseDuration(string(key)) ?? 0 }
    public func size(_ key: String) -> Int64 { Configuration.parseSize(string(key)) ?? 0 }

    /// "300", "300s", "5m", "4h", "5d", "1w".
    public static func parseDuration(_ text: String) -> Int64? {
        guard let last = text.utf8.last else { return nil }
        let unit: Int64? = switch last {
        case UInt8(ascii: "s"): 1
        case UInt8(ascii: "m"): 60
        case UInt8(ascii: "h"): 3600
        case UInt8(ascii: "d"): 86400
        case UInt8(ascii: "w"): 604800
        default: nil
        }
        if let unit {
            guard let n = Int64(text.dropLast()), n >= 0 else { return nil }
            return n * unit
        }
        guard let n = Int64(text), n >= 0 else { return nil }
        return n
    }

    /// "1024", "64k", "50M", "2G" (powers of 1024).
    public static func parseSize(_ text: String) -> Int64? {
        guard let last = text.utf8.last else { return nil }
        let unit: Int64? = switch last {
        case UInt8(ascii: "k"), UInt8(ascii: "K"): 1 << 10
        case UInt8(ascii: "m"), UInt8(ascii: "M"): 1 << 20
        case UInt8(ascii: "g"), UInt8(ascii: "G"): 1 << 30
        default: nil
        }
        if let unit {
            guard let n = Int64(text.dropLast()), n >= 0, n < Int64.max / unit else { return nil }
            return n * unit
        }
        guard let n = Int64(text), n >= 0 else { return nil }
        return n
    }

    public static func systemHostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(cString: buffer)
        return name.isEmpty ? "localhost" : name
    }

    // Convenience accessors used across programs.
    public var hostname: String { string("myhostname") }
    public var queueDirectory: String { string("queue_directory") }
    public var programDirectory: String { string("program_directory") }
    public var localDomains: Set<String> { Set(list("local_domains").map { $0.lowercased() }) }

    public func program(_ name: String) -> String { "\(programDirectory)/\(name)" }

    /// True when `domain` (or an address without a domain) is delivered here.
    public func isLocal(domain: String) -> Bool {
        domain.isEmpty || localDomains.contains(domain.lowercased())
    }
}

/// Several configuration problems at once.
public struct ConfigErrors: Error, CustomStringConvertible {
    public let problems: [ConfigProblem]
    public init(problems: [ConfigProblem]) { self.problems = problems }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (and a trailing CR).
    public func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}

extension String {
    /// Every occurrence of `target` replaced (Foundation-free).
    /// Matched byte for byte (UTF-8), so a target is found even where it is followed by a
    /// combining mark, unlike a Character search.
    public func replacingAll(_ target: String, with replacement: @autoclosure () -> String) -> String {
        guard !target.isEmpty, containsBytes(target) else { return self }
        let source = Array(utf8), pattern = Array(target.utf8), insert = Array(replacement().utf8)
        var result: [UInt8] = []
        result.reserveCapacity(source.count)
        var i = 0
        while i < source.count {
            if source[i] == pattern[0], i + pattern.count <= source.count, source[i..<i + pattern.count].elementsEqual(pattern) {
                result.append(contentsOf: insert)
                i += pattern.count
            } else {
                result.append(source[i])
                i += 1
            }
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// Whether the UTF-8 bytes of `target` occur in this string's (no String-processing
    /// generics, which a program pays for in type metadata at its first use).
    public func containsBytes(_ target: String) -> Bool {
        var found = false
        var this = self, other = target
        this.withUTF8 { haystack in
            other.withUTF8 { needle in
                guard !needle.isEmpty, needle.count <= haystack.count else { found = needle.isEmpty; return }
                let first = needle[0]
                for i in 0...(haystack.count - needle.count) where haystack[i] == first {
                    if memcmp(haystack.baseAddress! + i, needle.baseAddress!, needle.count) == 0 { found = true; return }
                }
            }
        }
        return found
    }
}

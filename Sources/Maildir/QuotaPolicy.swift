#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem

/// Which quota applies to a user: `quota` and `quota_messages` from postamt.conf, unless the
/// quota file has a line for the user (postamt.conf(5)).
///
/// Quota file format: `user  size [messages]` a line, `#` comments; a size as in postamt.conf
/// ("500M", "2G", bytes), `0` or `none` for no limit of that kind; a user missing a messages
/// column gets `quota_messages`.
public struct QuotaTable: Sendable {
    public private(set) var limits: [String: (bytes: Int64, messages: Int64?)] = [:]
    public private(set) var problems: [ConfigProblem] = []
    /// The users whose line is damaged: their deliveries wait (a clear error, nothing lost)
    /// instead of running without the limit the administrator meant.
    public private(set) var damaged: [String: ConfigProblem] = [:]

    public init(text: String, file: String) {
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            func value(_ w: String, _ parse: (String) -> Int64?) -> Int64? { w == "none" ? 0 : parse(w) }
            let bytes = words.count >= 2 ? value(words[1], Configuration.parseSize) : nil
            let messages = words.count >= 3 ? value(words[2], { UInt64($0).map { Int64(clamping: $0) } }) : nil
            guard words.count <= 3, let bytes, words.count < 3 || messages != nil else {
                let problem = ConfigProblem(file: file, line: number, message: "expected 'user  size [messages]' (a size like 500M, 0 or none)")
                problems.append(problem)
                if let user = words.first { damaged[user] = problem }
                continue
            }
            if limits[words[0]] != nil {
                problems.append(ConfigProblem(file: file, line: number, message: "\(words[0]) is listed twice; the first line counts"))
                continue
            }
            limits[words[0]] = (bytes, messages)
        }
    }

    public static func load(configuration: Configuration) throws -> QuotaTable {
        let path = configuration.string("quota_file")
        guard let bytes = try FileIO.readFile(path, limit: 16 << 20) else { return QuotaTable(text: "", file: path) }
        return QuotaTable(text: String(decoding: bytes, as: UTF8.self), file: path)
    }

    /// The user's limit, or the problem that keeps it from being known.
    public func limit(for user: String, configuration: Configuration) -> Result<QuotaLimit, ConfigProblem> {
        if let problem = damaged[user], limits[user] == nil { return .failure(problem) }
        let messages = Int64(configuration.count("quota_messages"))
        if let own = limits[user] { return .success(QuotaLimit(bytes: own.bytes, messages: own.messages ?? messages)) }
        return .success(QuotaLimit(bytes: configuration.size("quota"), messages: messages))
    }

    /// The user's limit read from the configuration and the quota file (missing: none).
    public static func limit(for user: String, configuration: Configuration) -> Result<QuotaLimit, ConfigProblem> {
        do {
            return try load(configuration: configuration).limit(for: user, configuration: configuration)
        } catch {
            return .failure(ConfigProblem(file: configuration.string("quota_file"), line: 0, message: "cannot read: \(error)"))
        }
    }

    /// `quota_warning_thresholds` as percentages (1–100), ascending; words that are not one
    /// are left out (`postamt check` names them).
    public static func warningThresholds(configuration: Configuration) -> [Int] {
        Array(Set(configuration.list("quota_warning_thresholds").compactMap(warningThresholds))).sorted()
    }

    /// One word of `quota_warning_thresholds` ("80" or "80%"); nil when it is not 1–100.
    public static func warningThresholds(_ word: String) -> Int? {
        guard let n = Int(word.hasSuffix("%") ? String(word.dropLast()) : word), n > 0, n <= 100 else { return nil }
        return n
    }
}

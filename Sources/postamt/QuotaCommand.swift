// postamt quota: a user's Maildir++ quota (postamt(8)).
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem
import Maildir

struct Quota: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quota",
        abstract: "Recalculate users' Maildir usage (maildirsize) and print it against their quota.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Users.") var users: [String]

    func run() throws {
        let configuration = try global.configuration()
        let table: QuotaTable
        do { table = try QuotaTable.load(configuration: configuration) } catch { throw fail("cannot read the quota file: \(error)") }
        for problem in table.problems { print("warning: \(problem)") }
        let mailbox = configuration.string("home_mailbox")
        var failed = false
        for name in users {
            guard let user = SystemUser.named(name) else { print("\(name): no such user"); failed = true; continue }
            guard mailbox.hasSuffix("/") else { print("\(name): home_mailbox is not a Maildir; no quota"); continue }
            let root = mailbox.hasPrefix("/") ? mailbox : "\(user.home)/\(mailbox)"
            switch table.limit(for: name, configuration: configuration) {
            case .failure(let problem):
                print("\(name): \(problem)"); failed = true
            case .success(let limit):
                do {
                    let usage = try MaildirQuota(root: root, limit: limit).recalculate()
                    print("\(name): \(Quota.describe(usage, limit))")
                } catch {
                    print("\(name): cannot count \(root): \(error)"); failed = true
                }
            }
        }
        if failed { throw ExitCode(1) }
    }

    /// The quota settings' problems, for `postamt check`: values that are not one of the
    /// choices, and lines of the quota file that do not parse.
    static func check(_ configuration: Configuration) -> [String] {
        var problems: [String] = []
        for (key, choices) in [("quota_exceeded", ["defer", "bounce"]), ("pop3_uidl_format", ["basename", "dovecot"])] {
            let value = configuration.string(key)
            if !choices.contains(value) {
                problems.append("\(configuration.file): \(key): '\(value)' is not \(choices.joined(separator: " or "))")
            }
        }
        for word in configuration.list("quota_warning_thresholds") where QuotaTable.warningThresholds(word) == nil {
            problems.append("\(configuration.file): quota_warning_thresholds: '\(word)' is not a percentage from 1 to 100")
        }
        do {
            problems += try QuotaTable.load(configuration: configuration).problems.map(\.description)
        } catch {
            problems.append("\(configuration.string("quota_file")): cannot read: \(error)")
        }
        return problems
    }

    /// "5012 bytes of 6144 (81%), 3 messages (no limit)".
    static func describe(_ usage: QuotaUsage, _ limit: QuotaLimit) -> String {
        func part(_ used: Int64, _ max: Int64?, _ unit: String) -> String {
            guard let max else { return "\(used) \(unit) (no limit)" }
            return "\(used) \(unit) of \(max) (\(used * 100 / max)%)"
        }
        return part(usage.bytes, limit.bytes, "bytes") + ", " + part(usage.messages, limit.messages, "messages")
    }
}

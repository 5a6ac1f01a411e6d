#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// Per-user sending limits at submission (postamt-smtpd(8), SENDING LIMITS): messages and
/// recipients an authenticated user may send per hour, so a stolen password sends a few
/// hundred messages rather than a million. The counts are kept per user in a small file that
/// every smtpd process shares, one line per minute of the last hour: `MINUTE MESSAGES
/// RECIPIENTS` (MINUTE: Unix time / 60), so the hour slides by the minute and the file stays
/// under 61 lines. A message counts once the queue accepted it.
///
/// postamt-webmail shares the counts (its sends are submissions too): it opens the user's file
/// as root before it becomes the user (`SendingCountFile`), since the directory is the
/// mail_owner's, and counts through that open file.
public struct SendingLimits: Sendable {
    /// `state_directory/smtpd/rates`.
    let directory: String
    /// 0: no limit.
    public let messagesPerHour: Int
    public let recipientsPerHour: Int

    public struct Usage: Equatable, Sendable {
        public var messages = 0
        public var recipients = 0
    }

    init(directory: String, messagesPerHour: Int, recipientsPerHour: Int) {
        self.directory = directory; self.messagesPerHour = messagesPerHour; self.recipientsPerHour = recipientsPerHour
    }

    /// smtpd's limits as postamt.conf sets them.
    public init(_ settings: ScreeningSettings) {
        self.init(directory: settings.ratesDirectory, messagesPerHour: settings.messagesPerHour, recipientsPerHour: settings.recipientsPerHour)
    }

    public var isActive: Bool { messagesPerHour > 0 || recipientsPerHour > 0 }

    /// What `user` sent in the hour before `now` (Unix seconds).
    func usage(of user: String, now: Int64) throws -> Usage {
        try usage(in: LockedStateFile(path: path(for: user)), now: now)
    }

    /// Counts one accepted message with `recipients` recipients.
    func record(user: String, recipients: Int, now: Int64) throws {
        try record(in: LockedStateFile(path: path(for: user)), recipients: recipients, now: now)
    }

    /// What a message of `recipients` recipients more would exceed, as smtpd words it; nil
    /// when it may go. The counts are `usage` (nil: unreadable, not applied).
    public func refusal(user: String, usage: Usage?, recipients: Int) -> String? {
        guard let usage else { return nil }
        if messagesPerHour > 0 && usage.messages >= messagesPerHour {
            return "too much mail from \(user): \(messagesPerHour) messages per hour, try again later"
        }
        if recipientsPerHour > 0 && usage.recipients + recipients > recipientsPerHour {
            return "too many recipients from \(user): \(recipientsPerHour) per hour, try again later"
        }
        return nil
    }

    /// The counts in the (locked) `file`.
    func usage(in file: borrowing LockedStateFile, now: Int64) throws -> Usage {
        SendingLimits.total(SendingLimits.parse(try file.read(at: 0, count: 4096)), now: now)
    }

    func record(in file: borrowing LockedStateFile, recipients: Int, now: Int64) throws {
        let minute = now / 60
        var buckets = SendingLimits.parse(try file.read(at: 0, count: 4096)).filter { $0.minute > minute - 60 && $0.minute <= minute }
        if let index = buckets.firstIndex(where: { $0.minute == minute }) {
            buckets[index].usage.messages += 1
            buckets[index].usage.recipients += recipients
        } else {
            buckets.append((minute, Usage(messages: 1, recipients: recipients)))
        }
        let text = buckets.map { "\($0.minute) \($0.usage.messages) \($0.usage.recipients)\n" }.joined()
        try file.truncate(to: 0)
        try file.write(Array(text.utf8), at: 0)
    }

    func path(for user: String) -> String { "\(directory)/\(SendingLimits.fileName(for: user))" }

    /// The user name as a file name: letters, digits, `-` and `_` as they are, every other
    /// byte as `%XX` — so `../x`, `a/b` or a name with dots cannot leave the directory.
    static func fileName(for user: String) -> String {
        var name = ""
        for byte in user.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                name.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                name.unicodeScalars.append("%")
                name.unicodeScalars.append(hex[Int(byte >> 4)])
                name.unicodeScalars.append(hex[Int(byte & 15)])
            }
        }
        return name
    }

    /// Lines that do not parse (a write cut short) are skipped: the counts are soft state.
    static func parse(_ bytes: [UInt8]) -> [(minute: Int64, usage: Usage)] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 3, let minute = Int64(fields[0]), let messages = Int(fields[1]), let recipients = Int(fields[2]),
                  messages >= 0, recipients >= 0 else { return nil }
            return (minute, Usage(messages: messages, recipients: recipients))
        }
    }

    static func total(_ buckets: [(minute: Int64, usage: Usage)], now: Int64) -> Usage {
        let minute = now / 60
        return buckets.filter { $0.minute > minute - 60 && $0.minute <= minute }.reduce(into: Usage()) {
            $0.messages += $1.usage.messages
            $0.recipients += $1.usage.recipients
        }
    }
}

/// One user's counts file, opened as root before the process becomes the user (postamt-webmail:
/// the rates directory is the mail_owner's, mode 0700) and used through that open file after the
/// drop. A file root creates is given to the mail_owner, so smtpd can go on using it.
public final class SendingCountFile {
    let path: String
    let fd: OwnedFD
    let limits: SendingLimits

    /// As root: makes the state directories when missing (as smtpd does), then opens the file.
    public init(limits: SendingLimits, settings: ScreeningSettings, user: String, mailOwner: SystemUser) throws {
        ScreeningPolicy.prepareStateDirectory(settings, owner: mailOwner)
        path = limits.path(for: user)
        fd = try FileIO.open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode: 0o600)
        var status = stat()
        if fstat(fd.raw, &status) == 0, status.st_uid == 0, fchown(fd.raw, mailOwner.uid, mailOwner.gid) != 0 {
            throw SystemError("chown \(path)")
        }
        self.limits = limits
    }

    public func usage(now: Int64) throws -> SendingLimits.Usage {
        try limits.usage(in: LockedStateFile(sharing: fd.raw, path: path), now: now)
    }

    public func record(recipients: Int, now: Int64) throws {
        try limits.record(in: LockedStateFile(sharing: fd.raw, path: path), recipients: recipients, now: now)
    }
}

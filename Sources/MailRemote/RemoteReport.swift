/// postamt-remote's output, qmail-remote's format byte for byte: per recipient `r` (accepted),
/// `h` (permanent failure) or `s` (temporary failure), then one `K` (delivered to the accepted
/// recipients), `Z` (temporary) or `D` (permanent) for the message; each a text ending in NUL.
/// A message report alone (no recipient reports) applies to every recipient.
public struct RemoteReport: Sendable, Equatable {
    public enum RecipientResult: Character, Sendable { case accepted = "r", permanent = "h", temporary = "s" }
    public enum MessageResult: Character, Sendable { case delivered = "K", temporary = "Z", permanent = "D" }

    public var recipients: [(RecipientResult, String)] = []
    public var message: (MessageResult, String)

    public init(recipients: [(RecipientResult, String)] = [], message: (MessageResult, String)) {
        self.recipients = recipients
        self.message = message
    }

    public static func == (a: RemoteReport, b: RemoteReport) -> Bool {
        a.recipients.map { "\($0.0.rawValue)\($0.1)" } == b.recipients.map { "\($0.0.rawValue)\($0.1)" }
            && a.message.0 == b.message.0 && a.message.1 == b.message.1
    }

    /// The bytes for fd 1. NULs in texts (from a hostile server) become spaces.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        func add(_ c: Character, _ text: String) {
            out += Array(String(c).utf8)
            out += text.utf8.map { $0 == 0 ? 0x20 : $0 }
            out.append(0)
        }
        for (r, text) in recipients { add(r.rawValue, text) }
        add(message.0.rawValue, message.1)
        return out
    }
}

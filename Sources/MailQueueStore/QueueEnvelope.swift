import MailCore

/// The envelope file postamt-queue commits into incoming/ID. Text, one field a line, so that
/// `cat` shows it; addresses cannot contain line ends (EnvelopeAddress guarantees it).
/// The final `end` line makes the file self-validating: a truncated file is never taken for a
/// message, and `size` must match the message file.
public struct QueueEnvelope: Equatable, Sendable {
    public var id: String
    public var arrival: Int64
    public var size: Int64
    public var envelope: Envelope
    /// The real uid that ran postamt-queue (Postfix's pickup logs it too).
    public var uid: UInt32?

    public init(id: String, arrival: Int64, size: Int64, envelope: Envelope, uid: UInt32? = nil) {
        self.id = id; self.arrival = arrival; self.size = size; self.envelope = envelope; self.uid = uid
    }

    static let magic = "POSTAMT-ENVELOPE 1"

    public func encoded() -> [UInt8] {
        var text = "\(QueueEnvelope.magic)\nid \(id)\narrival \(arrival)\nsize \(size)\n"
        if let uid { text += "uid \(uid)\n" }
        text += "sender \(envelope.sender.text)\n"
        for r in envelope.recipients { text += "rcpt \(r.text)\n" }
        text += "end\n"
        return Array(text.utf8)
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let why: String
        public init(why: String) { self.why = why }
        public var description: String { "invalid envelope file: \(why)" }
    }

    public static func decode(_ bytes: [UInt8]) throws(Invalid) -> QueueEnvelope {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw Invalid(why: "not UTF-8") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.last == "" else { throw Invalid(why: "no final line end") }
        lines.removeLast()
        guard lines.first == Substring(magic) else { throw Invalid(why: "bad magic") }
        guard lines.last == "end" else { throw Invalid(why: "truncated (no end line)") }
        var id: String?, arrival: Int64?, size: Int64?, sender: EnvelopeAddress?, uid: UInt32?
        var recipients: [EnvelopeAddress] = []
        for line in lines.dropFirst().dropLast() {
            guard let space = line.firstIndex(of: " ") else { throw Invalid(why: "bad line '\(line)'") }
            let key = line[..<space]
            let value = String(line[line.index(after: space)...])
            switch key {
            case "id": id = value
            case "arrival": arrival = Int64(value)
            case "size": size = Int64(value)
            case "uid": uid = UInt32(value)
            case "sender":
                do { sender = try EnvelopeAddress(value, allowEmpty: true, lengthLimit: 4096) } catch { throw Invalid(why: "sender: \(error)") }
            case "rcpt":
                do { recipients.append(try EnvelopeAddress(value, lengthLimit: 4096)) } catch { throw Invalid(why: "rcpt: \(error)") }
            default: throw Invalid(why: "unknown field '\(key)'")
            }
        }
        guard let id, let arrival, let size, let sender, !recipients.isEmpty else { throw Invalid(why: "missing fields") }
        return QueueEnvelope(id: id, arrival: arrival, size: size, envelope: Envelope(sender: sender, recipients: recipients), uid: uid)
    }
}

/// The envelope of one message: sender and recipients, as qmail-queue takes it on fd 1:
/// `F<sender>\0T<rcpt>\0T<rcpt>\0\0` (qmail-queue(8)). Byte-compatible, so that any
/// qmail-queue wrapper works in front of postamt-queue.
public struct Envelope: Equatable, Sendable {
    public var sender: EnvelopeAddress
    public var recipients: [EnvelopeAddress]

    public init(sender: EnvelopeAddress, recipients: [EnvelopeAddress]) {
        self.sender = sender
        self.recipients = recipients
    }

    public enum FormatError: Error, Equatable, CustomStringConvertible {
        case missingSender
        case badRecord(offset: Int)
        case truncated
        case trailingBytes
        case noRecipients
        case tooManyRecipients(limit: Int)
        case addressTooLong(limit: Int)
        case badAddress(String)

        public var description: String {
            switch self {
            case .missingSender: return "envelope does not start with an F record"
            case .badRecord(let offset): return "envelope record at byte \(offset) is neither T nor the end"
            case .truncated: return "envelope is truncated (no final NUL)"
            case .trailingBytes: return "bytes after the end of the envelope"
            case .noRecipients: return "envelope has no recipients"
            case .tooManyRecipients(let limit): return "envelope has more than \(limit) recipients"
            case .addressTooLong(let limit): return "envelope address longer than \(limit) bytes"
            case .badAddress(let why): return "bad envelope address: \(why)"
            }
        }
    }

    /// Parses qmail-queue's envelope strictly: a leftover byte is an error (OpenSMTPD's m_end).
    public static func parse(qmailBytes bytes: [UInt8], recipientLimit: Int = 10_000,
                             addressLimit: Int = EnvelopeAddress.defaultLengthLimit) throws(FormatError) -> Envelope {
        var index = 0
        func field() throws(FormatError) -> EnvelopeAddress {
            let start = index
            while index < bytes.count && bytes[index] != 0 {
                index += 1
                if index - start > addressLimit { throw .addressTooLong(limit: addressLimit) }
            }
            if index >= bytes.count { throw .truncated }
            let raw = bytes[start..<index]
            index += 1
            do {
                return try EnvelopeAddress(bytes: raw, allowEmpty: true, lengthLimit: addressLimit)
            } catch {
                throw .badAddress(error.description)
            }
        }
        guard index < bytes.count else { throw .truncated }
        guard bytes[index] == UInt8(ascii: "F") else { throw .missingSender }
        index += 1
        let sender = try field()
        var recipients: [EnvelopeAddress] = []
        while true {
            guard index < bytes.count else { throw .truncated }
            let kind = bytes[index]
            if kind == 0 { index += 1; break }
            guard kind == UInt8(ascii: "T") else { throw .badRecord(offset: index) }
            index += 1
            let rcpt = try field()
            if rcpt.isNull { throw .badAddress("empty recipient") }
            recipients.append(rcpt)
            if recipients.count > recipientLimit { throw .tooManyRecipients(limit: recipientLimit) }
        }
        if index != bytes.count { throw .trailingBytes }
        if recipients.isEmpty { throw .noRecipients }
        return Envelope(sender: sender, recipients: recipients)
    }

    public var qmailBytes: [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "F")]
        out += sender.text.utf8
        out.append(0)
        for r in recipients {
            out.append(UInt8(ascii: "T"))
            out += r.text.utf8
            out.append(0)
        }
        out.append(0)
        return out
    }
}

/// An envelope address as the queue carries it: validated, never containing bytes that could
/// break a queue record, a header line or a log line.
///
/// The empty address `<>` is valid as a sender only (RFC 5321 §4.5.5, bounces).
public struct EnvelopeAddress: Hashable, Sendable, CustomStringConvertible {
    public let text: String

    public enum Invalid: Error, Equatable, CustomStringConvertible {
        case controlCharacter
        case tooLong(limit: Int)
        case empty
        case malformedUTF8

        public var description: String {
            switch self {
            case .controlCharacter: return "address contains a control character"
            case .tooLong(let limit): return "address longer than \(limit) bytes"
            case .empty: return "empty address"
            case .malformedUTF8: return "address is not valid UTF-8"
            }
        }
    }

    public static let defaultLengthLimit = 512

    /// Validates raw bytes: no C0 controls (CR, LF and NUL included), no DEL, valid UTF-8.
    public init(bytes: some Collection<UInt8>, allowEmpty: Bool = false,
                lengthLimit: Int = EnvelopeAddress.defaultLengthLimit) throws(Invalid) {
        if bytes.count > lengthLimit { throw .tooLong(limit: lengthLimit) }
        if bytes.isEmpty && !allowEmpty { throw .empty }
        for b in bytes where b < 0x20 || b == 0x7F { throw .controlCharacter }
        guard let text = String(validating: Array(bytes), as: UTF8.self) else { throw .malformedUTF8 }
        self.text = text
    }

    public init(_ text: String, allowEmpty: Bool = false,
                lengthLimit: Int = EnvelopeAddress.defaultLengthLimit) throws(Invalid) {
        try self.init(bytes: Array(text.utf8), allowEmpty: allowEmpty, lengthLimit: lengthLimit)
    }

    public static let null = try! EnvelopeAddress("", allowEmpty: true)

    public var isNull: Bool { text.isEmpty }

    /// The part before the last "@" (the whole address when there is none).
    public var localPart: String {
        guard let at = text.lastIndex(of: "@") else { return text }
        return String(text[..<at])
    }

    /// The domain, lowercased; empty when the address has no "@".
    public var domain: String {
        guard let at = text.lastIndex(of: "@") else { return "" }
        return String(text[text.index(after: at)...]).lowercased()
    }

    public var description: String { text }
}

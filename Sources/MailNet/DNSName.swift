/// A domain name as a list of labels (raw bytes). Compares and hashes ASCII case-insensitively
/// (RFC 4343). Text form: labels joined by ".", without the trailing dot; the root is ".".
public struct DNSName: Sendable, Hashable, CustomStringConvertible {
    /// Longest name on the wire, length bytes and root included (RFC 1035 §3.1).
    public static let maxWireLength = 255
    /// Longest label (RFC 1035 §2.3.4).
    public static let maxLabelLength = 63

    public let labels: [[UInt8]]

    /// The root name ".", the exchange of a null MX (RFC 7505).
    public static let root = DNSName(uncheckedLabels: [])

    init(uncheckedLabels labels: [[UInt8]]) {
        self.labels = labels
    }

    /// Validates label and name lengths; no empty labels.
    public init?(labels: [[UInt8]]) {
        guard labels.allSatisfy({ !$0.isEmpty && $0.count <= DNSName.maxLabelLength }) else { return nil }
        guard labels.reduce(1, { $0 + $1.count + 1 }) <= DNSName.maxWireLength else { return nil }
        self.labels = labels
    }

    /// Parses dotted text ("mx.example.org", with or without a final dot; "." is the root).
    /// No escapes: every byte but "." is label content.
    public init?(_ text: String) {
        var bytes = Array(text.utf8)
        if bytes == [0x2E] || bytes.isEmpty { self = .root; return }
        if bytes.last == 0x2E { bytes.removeLast() }
        let labels = bytes.split(separator: 0x2E, omittingEmptySubsequences: false).map(Array.init)
        self.init(labels: labels)
    }

    public var isRoot: Bool { labels.isEmpty }

    /// Bytes this name takes on the wire without compression.
    public var wireLength: Int { labels.reduce(1) { $0 + $1.count + 1 } }

    /// Dotted text; "." and "\" inside labels and bytes outside printable ASCII are escaped as in
    /// master files (RFC 1035 §5.1: "\.", "\\", "\DDD").
    public var description: String {
        if labels.isEmpty { return "." }
        var text = ""
        for (position, label) in labels.enumerated() {
            if position > 0 { text += "." }
            for byte in label {
                switch byte {
                case 0x2E, 0x5C: text += "\\" + String(UnicodeScalar(byte))
                case 0x21...0x7E: text.unicodeScalars.append(UnicodeScalar(byte))
                default:
                    let digits = String(byte)
                    text += "\\" + String(repeating: "0", count: 3 - digits.count) + digits
                }
            }
        }
        return text
    }

    /// Labels folded to lower case (ASCII only).
    var lowercasedLabels: [[UInt8]] {
        labels.map { $0.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 } }
    }

    public static func == (lhs: DNSName, rhs: DNSName) -> Bool {
        lhs.labels.count == rhs.labels.count && lhs.lowercasedLabels == rhs.lowercasedLabels
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(lowercasedLabels)
    }
}

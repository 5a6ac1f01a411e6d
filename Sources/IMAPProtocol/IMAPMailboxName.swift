/// Why a mailbox name's bytes do not decode.
public enum IMAPMailboxNameError: Error, Sendable, Equatable {
    /// Not valid modified UTF-7 (RFC 3501 §5.1.3); `offset` is where decoding failed.
    case invalidModifiedUTF7(offset: Int)
    /// Not valid UTF-8 (names after ENABLE UTF8=ACCEPT, RFC 6855 §3).
    case invalidUTF8
}

/// A mailbox name as sent on the wire (`mailbox` in RFC 9051 §9). INBOX is case-insensitive and
/// is stored as "INBOX" (RFC 3501 §5.1). The name is not interpreted further: a name such as
/// `../../etc` parses fine, and refusing it is the mailbox layer's job.
public struct IMAPMailboxName: Hashable, Sendable, CustomStringConvertible {
    /// The wire bytes: modified UTF-7, or UTF-8 once UTF8=ACCEPT is enabled.
    public private(set) var bytes: [UInt8]

    /// Wraps wire bytes.
    public init(bytes: [UInt8]) {
        self.bytes = IMAPGrammar.equalsCaseInsensitive(bytes[...], "INBOX") ? Array("INBOX".utf8) : bytes
    }

    /// The wire form of a Unicode name: modified UTF-7, or plain UTF-8 when `utf8Enabled`.
    public init(_ name: String, utf8Enabled: Bool = false) {
        self.init(bytes: utf8Enabled ? Array(name.utf8) : ModifiedUTF7.encode(name))
    }

    /// The INBOX, whatever case the client used.
    public var isInbox: Bool { bytes == Array("INBOX".utf8) }

    /// The Unicode name; broken modified UTF-7 or UTF-8 gives an error, never a crash.
    public func decoded(utf8Enabled: Bool = false) throws(IMAPMailboxNameError) -> String {
        if utf8Enabled {
            guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidUTF8 }
            return text
        }
        return try ModifiedUTF7.decode(bytes)
    }

    /// The wire bytes as text, for logs.
    public var description: String { String(decoding: bytes, as: UTF8.self) }
}

/// Modified UTF-7 of RFC 3501 §5.1.3: printable ASCII stands for itself ("&" as "&-"), anything
/// else is UTF-16BE in base64 with "," for "/", between "&" and "-".
public enum ModifiedUTF7 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,".utf8)

    /// Encodes a Unicode name.
    public static func encode(_ name: String) -> [UInt8] {
        var output: [UInt8] = []
        var pending: [UInt16] = []

        func flush() {
            guard !pending.isEmpty else { return }
            output.append(UInt8(ascii: "&"))
            var bytes: [UInt8] = []
            for unit in pending { bytes.append(UInt8(unit >> 8)); bytes.append(UInt8(unit & 0xFF)) }
            var index = 0
            while index < bytes.count {
                let b0 = bytes[index]
                let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
                let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
                let remaining = bytes.count - index
                output.append(alphabet[Int(b0 >> 2)])
                output.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
                if remaining > 1 { output.append(alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)]) }
                if remaining > 2 { output.append(alphabet[Int(b2 & 0x3F)]) }
                index += 3
            }
            output.append(UInt8(ascii: "-"))
            pending.removeAll()
        }

        for scalar in name.unicodeScalars {
            if scalar.value >= 0x20 && scalar.value <= 0x7E {
                flush()
                output.append(UInt8(scalar.value))
                if scalar == "&" { output.append(UInt8(ascii: "-")) }
            } else {
                pending.append(contentsOf: scalar.utf16)
            }
        }
        flush()
        return output
    }

    /// Decodes modified UTF-7. Rejects what RFC 3501 §5.1.3 forbids: raw non-printable or 8-bit
    /// octets, an unterminated shift, bad base64, non-zero padding bits, broken surrogates, and
    /// non-canonical forms (encoded printable ASCII, two adjacent shifts), so each name has one
    /// spelling.
    public static func decode(_ bytes: [UInt8]) throws(IMAPMailboxNameError) -> String {
        var scalars = String.UnicodeScalarView()
        var index = 0
        var previousShiftEnd = -1
        while index < bytes.count {
            let byte = bytes[index]
            guard byte >= 0x20 && byte <= 0x7E else { throw .invalidModifiedUTF7(offset: index) }
            guard byte == UInt8(ascii: "&") else {
                scalars.append(Unicode.Scalar(byte))
                index += 1
                continue
            }
            let shiftStart = index
            index += 1
            guard let end = bytes[index...].firstIndex(of: UInt8(ascii: "-")) else {
                throw .invalidModifiedUTF7(offset: shiftStart)
            }
            if end == index {  // "&-"
                scalars.append("&")
                index = end + 1
                continue
            }
            // "&AGE-&AGE-" must be written "&AGEAZQ-".
            if previousShiftEnd == shiftStart { throw .invalidModifiedUTF7(offset: shiftStart) }
            var bits: UInt32 = 0
            var bitCount = 0
            var units: [UInt16] = []
            var octets: [UInt8] = []
            for position in index..<end {
                guard let value = alphabet.firstIndex(of: bytes[position]) else {
                    throw .invalidModifiedUTF7(offset: position)
                }
                bits = bits << 6 | UInt32(value)
                bitCount += 6
                if bitCount >= 8 {
                    bitCount -= 8
                    octets.append(UInt8((bits >> UInt32(bitCount)) & 0xFF))
                    bits &= (1 << UInt32(bitCount)) - 1
                }
            }
            // Leftover bits must be zero padding of fewer than 6 bits, and octets must pair up.
            guard bitCount < 6, bits == 0, octets.count % 2 == 0 else { throw .invalidModifiedUTF7(offset: end) }
            for pair in stride(from: 0, to: octets.count, by: 2) {
                units.append(UInt16(octets[pair]) << 8 | UInt16(octets[pair + 1]))
            }
            var iterator = units.makeIterator()
            var decoder = UTF16()
            decoding: while true {
                switch decoder.decode(&iterator) {
                case .scalarValue(let scalar):
                    if scalar.value >= 0x20 && scalar.value <= 0x7E { throw .invalidModifiedUTF7(offset: shiftStart) }
                    scalars.append(scalar)
                case .emptyInput:
                    break decoding
                case .error:
                    throw .invalidModifiedUTF7(offset: shiftStart)
                }
            }
            index = end + 1
            previousShiftEnd = index
        }
        return String(scalars)
    }
}

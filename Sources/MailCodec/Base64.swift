/// Base64 (RFC 4648 §4, the standard alphabet with padding), the one copy for the protocol
/// engines, the auth protocol, DKIM and the admin command. `decode` is strict, for SASL
/// exchanges and our own formats: no whitespace, no line breaks, correct padding, and zero
/// bits where padding leaves bits over (RFC 4648 §3.5), so each input has exactly one
/// decoding. `decodeLenient` is for fields that allow folding (DKIM tags, RFC 6376 §3.2).
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(value) }
        return table
    }()

    /// Encodes bytes with padding.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var iterator = bytes.makeIterator()
        while let first = iterator.next() {
            let second = iterator.next()
            let third = iterator.next()
            let group = UInt32(first) << 16 | UInt32(second ?? 0) << 8 | UInt32(third ?? 0)
            out.append(alphabet[Int(group >> 18 & 63)])
            out.append(alphabet[Int(group >> 12 & 63)])
            out.append(second == nil ? UInt8(ascii: "=") : alphabet[Int(group >> 6 & 63)])
            out.append(third == nil ? UInt8(ascii: "=") : alphabet[Int(group & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes strictly; nil for anything that is not canonical padded base64.
    public static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        let input = Array(text)
        guard input.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            let isLastGroup = index + 4 == input.count
            let c0 = decodeTable[Int(input[index])], c1 = decodeTable[Int(input[index + 1])]
            guard c0 != 0xFF, c1 != 0xFF else { return nil }
            let pad2 = input[index + 2] == UInt8(ascii: "=")
            let pad3 = input[index + 3] == UInt8(ascii: "=")
            if pad2 && !pad3 { return nil }
            if (pad2 || pad3) && !isLastGroup { return nil }
            let c2 = pad2 ? 0 : decodeTable[Int(input[index + 2])]
            let c3 = pad3 ? 0 : decodeTable[Int(input[index + 3])]
            guard c2 != 0xFF, c3 != 0xFF else { return nil }
            let group = UInt32(c0) << 18 | UInt32(c1) << 12 | UInt32(c2) << 6 | UInt32(c3)
            out.append(UInt8(group >> 16 & 0xFF))
            if pad2 {
                if group & 0xFFFF != 0 { return nil }
            } else {
                out.append(UInt8(group >> 8 & 0xFF))
                if pad3 {
                    if group & 0xFF != 0 { return nil }
                } else {
                    out.append(UInt8(group & 0xFF))
                }
            }
            index += 4
        }
        return out
    }
}

extension Base64 {
    /// The alphabet with white space ignored and padding optional (RFC 6376 §3.2: DKIM's b=,
    /// bh= and p= may be folded). nil for any other character.
    public static func decodeLenient(_ text: some Collection<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        var accumulator: UInt32 = 0, bits = 0
        for c in text {
            let value: UInt8
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = c - 65
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = c - 97 + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = c - 48 + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="), 32, 9, 13, 10: continue
            default: return nil
            }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((accumulator >> UInt32(bits)) & 0xff))
            }
        }
        return out
    }
}

/// xtext of RFC 3461 §4 (ENVID, ORCPT, AUTH=): printable ASCII except `+` and `=`, with `+XX`
/// hex escapes.
public enum XText {
    /// True when `text` is well-formed xtext (uppercase hex after `+`, as the RFC's grammar says).
    /// With `allowsUTF8`, bytes ≥ 0x80 are accepted too (RFC 6533 §3 utf-8-addr-xtext is looser
    /// still; validation of the UTF-8 itself happens in ``decode(_:)``).
    public static func isValid(_ text: some Collection<UInt8>, allowsUTF8: Bool = false) -> Bool {
        var bytes = text.makeIterator()
        while let byte = bytes.next() {
            if byte == UInt8(ascii: "+") {
                guard let high = bytes.next(), let low = bytes.next(), isUpperHex(high), isUpperHex(low) else {
                    return false
                }
            } else if byte == UInt8(ascii: "=") || byte < 33 || byte == 127 || (byte > 127 && !allowsUTF8) {
                return false
            }
        }
        return true
    }

    /// Decodes valid xtext to text; nil when invalid, not UTF-8, or it decodes to a control
    /// character.
    public static func decode(_ text: some Collection<UInt8>, allowsUTF8: Bool = false) -> String? {
        guard isValid(text, allowsUTF8: allowsUTF8) else { return nil }
        var out: [UInt8] = []
        var bytes = text.makeIterator()
        while let byte = bytes.next() {
            if byte == UInt8(ascii: "+"), let high = bytes.next(), let low = bytes.next() {
                out.append(hexValue(high) << 4 | hexValue(low))
            } else {
                out.append(byte)
            }
        }
        guard let string = String(validating: out, as: UTF8.self),
              !string.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        else { return nil }
        return string
    }

    private static func isUpperHex(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
    }

    private static func hexValue(_ byte: UInt8) -> UInt8 {
        byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : byte - UInt8(ascii: "A") + 10
    }
}

/// application/x-www-form-urlencoded bodies and query strings (WHATWG URL §5), and the
/// Cookie field (RFC 6265 §5.4).
public enum FormData {
    /// Name/value pairs in order; nil when a percent escape is malformed or the text is not
    /// UTF-8 (a clear 400, never a guess).
    public static func parse(_ text: some Collection<UInt8>) -> [(name: String, value: String)]? {
        var pairs: [(name: String, value: String)] = []
        for piece in text.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let kv = piece.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(kv[0]), let value = kv.count > 1 ? decode(kv[1]) : "" else { return nil }
            pairs.append((name, value))
        }
        return pairs
    }

    public static func parse(_ text: String) -> [(name: String, value: String)]? { parse(Array(text.utf8)) }

    /// Percent-decodes with "+" as space; nil on a bad escape or invalid UTF-8.
    public static func decode(_ bytes: some Collection<UInt8>) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: return b - 0x30
            case 0x41...0x46: return b - 0x41 + 10
            case 0x61...0x66: return b - 0x61 + 10
            default: return nil
            }
        }
        while i != bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "%") {
                let h1 = bytes.index(after: i)
                guard h1 != bytes.endIndex else { return nil }
                let h2 = bytes.index(after: h1)
                guard h2 != bytes.endIndex, let a = hex(bytes[h1]), let c = hex(bytes[h2]) else { return nil }
                out.append(a << 4 | c)
                i = bytes.index(after: h2)
                continue
            }
            out.append(b == UInt8(ascii: "+") ? 0x20 : b)
            i = bytes.index(after: i)
        }
        return String(validating: out, as: UTF8.self)
    }

    /// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
    public static func encode(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let digits = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [digits[Int(b >> 4)], digits[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    /// The value of cookie `name` in a Cookie field; nil when absent.
    public static func cookie(_ name: String, in field: String?) -> String? {
        guard let field else { return nil }
        for piece in field.split(separator: ";") {
            let kv = piece.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if kv.count == 2, kv[0].trimmingCharacters(in: " \t") == name { return String(kv[1]).trimmingCharacters(in: " \t") }
        }
        return nil
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}

/// Text into HTML.
public enum HTMLEscape {
    /// Escapes &, <, >, " and ' so the text is safe in element content and quoted attributes.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\0": out += "\u{FFFD}"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

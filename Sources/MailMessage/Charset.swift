/// A character set named in a MIME `charset` parameter or an RFC 2047 encoded word, and its
/// conversion to Unicode. No iconv: single-byte charsets use the tables in `CharsetTables`.
///
/// Decoding never fails: bytes a charset leaves undefined become U+FFFD, invalid UTF-8 or
/// UTF-16 sequences become U+FFFD, and an unknown charset is decoded by `fallback`.
///
/// Decision: `iso-8859-1` and `us-ascii` are decoded as Windows-1252 in 0x80...0x9F, as the
/// WHATWG Encoding Standard and most mail readers do, because mail labelled Latin-1 very often
/// carries Windows "smart quotes" and the euro sign there; the C1 controls they would otherwise
/// be are never meant in mail text.
public enum Charset: Equatable, Sendable {
    case utf8
    /// US-ASCII; 8-bit bytes are decoded like `fallback` (mislabelled mail is common).
    case usASCII
    /// ISO-8859-1 (Latin-1), with Windows-1252's characters in 0x80...0x9F (see above).
    case latin1
    /// A single-byte charset with a table for 0x80...0xFF.
    case singleByte(name: String, table: [UInt16])
    case utf16BE, utf16LE
    /// UTF-16 with an optional byte order mark; big endian without one (RFC 2781 §4.3).
    case utf16
    case utf32BE, utf32LE
    /// Unknown charset: UTF-8 when the bytes are valid UTF-8, Latin-1 (Windows-1252) otherwise.
    case fallback

    /// Looks up a charset by name, case-insensitively and with common aliases (`latin1`,
    /// `cp1252`, `utf8`, `iso_8859-15:1998`, `koi8r`, …). Returns `nil` for names it does not know.
    public init?(named rawName: String) {
        // Strip RFC 2231 §5 language suffix ("utf-8*en") and a ":year" suffix, then keep only
        // letters and digits, lowercased: "ISO_8859-15" → "iso885915".
        var name = Substring(rawName.trimmingWhitespace())
        if let star = name.firstIndex(of: "*") { name = name[..<star] }
        if let colon = name.firstIndex(of: ":") { name = name[..<colon] }
        var key: [UInt8] = []
        for b in name.utf8 {
            switch b {
            case 0x41...0x5A: key.append(b + 0x20)
            case 0x61...0x7A, 0x30...0x39: key.append(b)
            default: continue
            }
        }
        let k = String(decoding: key, as: UTF8.self)
        switch k {
        case "utf8", "unicode11utf8", "xunicode20utf8": self = .utf8
        case "usascii", "ascii", "ansix341968", "iso646us", "us", "csascii", "ibm367", "cp367": self = .usASCII
        case "iso88591", "latin1", "l1", "cp819", "ibm819", "isoir100", "csisolatin1": self = .latin1
        case "utf16be", "unicodefffe": self = .utf16BE
        case "utf16le": self = .utf16LE
        case "utf16", "unicode", "ucs2": self = .utf16
        case "utf32be": self = .utf32BE
        case "utf32le": self = .utf32LE
        case "utf32": self = .utf32BE
        case "windows1250", "cp1250", "xcp1250", "ms1250": self = .singleByte(name: "windows-1250", table: CharsetTables.windows1250)
        case "windows1251", "cp1251", "xcp1251", "ms1251": self = .singleByte(name: "windows-1251", table: CharsetTables.windows1251)
        case "windows1252", "cp1252", "xcp1252", "ms1252", "ansi1252": self = .singleByte(name: "windows-1252", table: CharsetTables.windows1252)
        case "windows1253", "cp1253", "xcp1253": self = .singleByte(name: "windows-1253", table: CharsetTables.windows1253)
        case "windows1254", "cp1254", "xcp1254": self = .singleByte(name: "windows-1254", table: CharsetTables.windows1254)
        case "windows1255", "cp1255", "xcp1255": self = .singleByte(name: "windows-1255", table: CharsetTables.windows1255)
        case "windows1256", "cp1256", "xcp1256": self = .singleByte(name: "windows-1256", table: CharsetTables.windows1256)
        case "windows1257", "cp1257", "xcp1257": self = .singleByte(name: "windows-1257", table: CharsetTables.windows1257)
        case "windows1258", "cp1258", "xcp1258": self = .singleByte(name: "windows-1258", table: CharsetTables.windows1258)
        case "koi8r", "cskoi8r", "koi8": self = .singleByte(name: "koi8-r", table: CharsetTables.koi8R)
        case "koi8u", "koi8ru": self = .singleByte(name: "koi8-u", table: CharsetTables.koi8U)
        case "latin2", "l2": self.init(isoPart: 2)
        case "latin3", "l3": self.init(isoPart: 3)
        case "latin4", "l4": self.init(isoPart: 4)
        case "cyrillic": self.init(isoPart: 5)
        case "arabic": self.init(isoPart: 6)
        case "greek", "greek8": self.init(isoPart: 7)
        case "hebrew": self.init(isoPart: 8)
        case "latin5", "l5": self.init(isoPart: 9)
        case "latin6", "l6": self.init(isoPart: 10)
        case "tis620", "windows874", "cp874": self.init(isoPart: 11)
        case "latin7", "l7": self.init(isoPart: 13)
        case "latin8", "l8": self.init(isoPart: 14)
        case "latin9", "l9", "latin0": self.init(isoPart: 15)
        case "latin10", "l10": self.init(isoPart: 16)
        default:
            // iso8859N, iso-8859-N-i ("iso88598i"), 8859N.
            var rest = Substring(k)
            if rest.hasPrefix("iso") { rest = rest.dropFirst(3) }
            guard rest.hasPrefix("8859") else { return nil }
            rest = rest.dropFirst(4)
            if rest.hasSuffix("i") || rest.hasSuffix("e") { rest = rest.dropLast() }
            guard let part = Int(rest) else { return nil }
            self.init(isoPart: part)
        }
    }

    private init?(isoPart part: Int) {
        let table: [UInt16]
        switch part {
        case 1: self = .latin1; return
        case 2: table = CharsetTables.iso8859_2
        case 3: table = CharsetTables.iso8859_3
        case 4: table = CharsetTables.iso8859_4
        case 5: table = CharsetTables.iso8859_5
        case 6: table = CharsetTables.iso8859_6
        case 7: table = CharsetTables.iso8859_7
        case 8: table = CharsetTables.iso8859_8
        case 9: table = CharsetTables.iso8859_9
        case 10: table = CharsetTables.iso8859_10
        case 11: table = CharsetTables.iso8859_11
        case 13: table = CharsetTables.iso8859_13
        case 14: table = CharsetTables.iso8859_14
        case 15: table = CharsetTables.iso8859_15
        case 16: table = CharsetTables.iso8859_16
        default: return nil
        }
        self = .singleByte(name: "iso-8859-\(part)", table: table)
    }

    /// The charset for `name`, or `.fallback` when the name is missing or unknown.
    public static func lookup(_ name: String?) -> Charset {
        guard let name, let charset = Charset(named: name) else { return .fallback }
        return charset
    }

    /// Decodes `bytes` to a String. Never fails (see the type's documentation).
    public func decode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        decodeAny(bytes)
    }

    /// The same for an array: a concrete entry point, so that callers in other modules run code
    /// specialised for it (the generic one goes through protocol witnesses for every byte
    /// there: a tenth of postamt-spamcheck's CPU on Latin-1 mail).
    public func decode(_ bytes: [UInt8]) -> String {
        decodeAny(bytes)
    }

    private func decodeAny<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        switch self {
        case .utf8:
            return String(decoding: bytes, as: UTF8.self)
        case .usASCII, .fallback:
            if Charset.isValidUTF8(bytes) { return String(decoding: bytes, as: UTF8.self) }
            return Charset.latin1.decode(bytes)
        case .latin1:
            return Charset.decodeSingleByte(bytes) { b in
                let mapped = CharsetTables.windows1252[Int(b) - 0x80]
                return mapped == 0xFFFD ? UInt16(b) : mapped
            }
        case .singleByte(_, let table):
            return Charset.decodeSingleByte(bytes) { table[Int($0) - 0x80] }
        case .utf16BE: return Charset.decodeUTF16(bytes, bigEndian: true, honourBOM: false)
        case .utf16LE: return Charset.decodeUTF16(bytes, bigEndian: false, honourBOM: false)
        case .utf16: return Charset.decodeUTF16(bytes, bigEndian: true, honourBOM: true)
        case .utf32BE: return Charset.decodeUTF32(bytes, bigEndian: true)
        case .utf32LE: return Charset.decodeUTF32(bytes, bigEndian: false)
        }
    }

    /// Whether `bytes` are well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF).
    public static func isValidUTF8<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        var it = bytes.makeIterator()
        while let b = it.next() {
            if b < 0x80 { continue }
            let extra: Int
            var lower: UInt8 = 0x80, upper: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: extra = 1
            case 0xE0: extra = 2; lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: extra = 2
            case 0xED: extra = 2; upper = 0x9F
            case 0xF0: extra = 3; lower = 0x90
            case 0xF1...0xF3: extra = 3
            case 0xF4: extra = 3; upper = 0x8F
            default: return false
            }
            for i in 0..<extra {
                guard let c = it.next() else { return false }
                if i == 0 { guard c >= lower && c <= upper else { return false } } else { guard c >= 0x80 && c <= 0xBF else { return false } }
            }
        }
        return true
    }

    /// Builds the UTF-8 bytes directly (appending scalars to a String one by one was an eighth
    /// of postamt-spamcheck's CPU on Latin-1 mail). Table entries are BMP code points; a
    /// surrogate (never in a table) would become U+FFFD.
    private static func decodeSingleByte<C: Collection>(_ bytes: C, map: (UInt8) -> UInt16) -> String where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 4)
        for b in bytes {
            if b < 0x80 { out.append(b); continue }
            var value = map(b)
            if value >= 0xD800 && value <= 0xDFFF { value = 0xFFFD }
            if value < 0x80 {
                out.append(UInt8(value))
            } else if value < 0x800 {
                out.append(0xC0 | UInt8(value >> 6))
                out.append(0x80 | UInt8(value & 0x3F))
            } else {
                out.append(0xE0 | UInt8(value >> 12))
                out.append(0x80 | UInt8((value >> 6) & 0x3F))
                out.append(0x80 | UInt8(value & 0x3F))
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func decodeUTF16<C: Collection>(_ bytes: C, bigEndian: Bool, honourBOM: Bool) -> String where C.Element == UInt8 {
        var units: [UInt16] = []
        units.reserveCapacity(bytes.count / 2)
        var big = bigEndian
        var it = bytes.makeIterator()
        var first = true
        while let a = it.next() {
            guard let b = it.next() else { units.append(0xFFFD); break }
            var unit = big ? UInt16(a) << 8 | UInt16(b) : UInt16(b) << 8 | UInt16(a)
            if first && honourBOM {
                if unit == 0xFFFE { big.toggle(); unit = 0xFEFF }
                first = false
                if unit == 0xFEFF { continue }
            }
            first = false
            units.append(unit)
        }
        return String(decoding: units, as: UTF16.self)
    }

    private static func decodeUTF32<C: Collection>(_ bytes: C, bigEndian: Bool) -> String where C.Element == UInt8 {
        var out = String.UnicodeScalarView()
        var quad: [UInt8] = []
        for b in bytes {
            quad.append(b)
            guard quad.count == 4 else { continue }
            let v = bigEndian
                ? UInt32(quad[0]) << 24 | UInt32(quad[1]) << 16 | UInt32(quad[2]) << 8 | UInt32(quad[3])
                : UInt32(quad[3]) << 24 | UInt32(quad[2]) << 16 | UInt32(quad[1]) << 8 | UInt32(quad[0])
            quad.removeAll(keepingCapacity: true)
            if v == 0xFEFF && out.isEmpty { continue }
            out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
        }
        if !quad.isEmpty { out.append("\u{FFFD}") }
        return String(out)
    }
}

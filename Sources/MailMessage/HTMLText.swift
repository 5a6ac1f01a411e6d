/// A small, bounded HTML → plain text conversion for search and spam filtering; not a renderer.
///
/// Tags are removed; the contents of script and style elements and comments are dropped; block tags (p, br, div, li, tr, h1…h6, …) become line breaks; runs of white space
/// become one space; named entities (the common ones) and numeric entities are decoded, unknown
/// ones kept literally. One pass over the input, so time is linear; output stops at `limit`
/// bytes of UTF-8.
public enum HTMLText {
    public static func plainText(from html: String, limit: Int = 1 << 20) -> String {
        let input = Array(html.utf8)
        let n = input.count
        var out: [UInt8] = []
        var i = 0
        var pendingSpace = false
        var pendingNewlines = 0

        func emitText(_ bytes: [UInt8]) {
            if pendingNewlines > 0 {
                if !out.isEmpty { for _ in 0..<min(pendingNewlines, 2) { out.append(0x0A) } }
                pendingNewlines = 0
                pendingSpace = false
            } else if pendingSpace {
                if !out.isEmpty { out.append(0x20) }
                pendingSpace = false
            }
            out.append(contentsOf: bytes)
        }
        func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b + 0x20 : b }
        func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }
        /// Index of the first occurrence of `needle` (ASCII, lowercase) at or after `from`, case-insensitively.
        func find(_ needle: [UInt8], from: Int) -> Int? {
            var j = from
            while j + needle.count <= n {
                if lower(input[j]) == needle[0] {
                    var k = 1
                    while k < needle.count && lower(input[j + k]) == needle[k] { k += 1 }
                    if k == needle.count { return j }
                }
                j += 1
            }
            return nil
        }

        while i < n && out.count < limit {
            let c = input[i]
            if c == 0x3C {
                // Comment, doctype, processing instruction.
                if i + 3 < n && input[i + 1] == 0x21 && input[i + 2] == 0x2D && input[i + 3] == 0x2D {
                    i = (find(Array("-->".utf8), from: i + 4).map { $0 + 3 }) ?? n
                    continue
                }
                if i + 1 < n && (input[i + 1] == 0x21 || input[i + 1] == 0x3F) {
                    i = (find([0x3E], from: i + 2).map { $0 + 1 }) ?? n
                    continue
                }
                var j = i + 1
                let closing = j < n && input[j] == 0x2F
                if closing { j += 1 }
                guard j < n, isLetter(input[j]) else {
                    emitText([c]); i += 1; continue      // a lone "<" is text
                }
                var name: [UInt8] = []
                while j < n && (isLetter(input[j]) || (input[j] >= 0x30 && input[j] <= 0x39)) {
                    if name.count < 16 { name.append(lower(input[j])) }
                    j += 1
                }
                // Skip attributes up to ">", honouring quoted values.
                var quote: UInt8 = 0
                while j < n {
                    let b = input[j]
                    if quote != 0 { if b == quote { quote = 0 } } else if b == 0x22 || b == 0x27 { quote = b } else if b == 0x3E { break }
                    j += 1
                }
                i = min(j + 1, n)
                let tag = String(decoding: name, as: UTF8.self)
                if !closing && (tag == "script" || tag == "style") {
                    // Raw text element: drop everything to its end tag.
                    if let endTag = find(Array("</\(tag)".utf8), from: i) {
                        i = (find([0x3E], from: endTag).map { $0 + 1 }) ?? n
                    } else {
                        i = n
                    }
                    continue
                }
                if blockTags.contains(tag) {
                    pendingNewlines = max(pendingNewlines, tag == "br" ? 1 : (tag == "p" || tag.first == "h" ? 2 : 1))
                } else if tag == "td" || tag == "th" {
                    pendingSpace = true
                }
                continue
            }
            if c == 0x26, let (scalar, length) = entity(input, at: i) {
                emitText(Array(String(Character(scalar)).utf8))
                i += length
                continue
            }
            if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0C {
                pendingSpace = true
                i += 1
                continue
            }
            // Copy a run of ordinary bytes at once (UTF-8 sequences stay whole).
            var j = i + 1
            while j < n, j - i < 4096, input[j] != 0x3C, input[j] != 0x26, input[j] > 0x20 { j += 1 }
            emitText(Array(input[i..<j]))
            i = j
        }
        if out.count > limit {
            // Cut back to a character boundary.
            var cut = limit
            while cut > 0 && out[cut] & 0xC0 == 0x80 { cut -= 1 }
            out.removeSubrange(cut...)
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let blockTags: Set<String> = [
        "br", "p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
        "blockquote", "hr", "pre", "title", "section", "article", "header", "footer", "dd", "dt", "address",
    ]

    /// Decodes the entity at `start` ("&amp;", "&#233;", "&#xE9;"); nil when not one.
    static func entity(_ s: [UInt8], at start: Int) -> (Unicode.Scalar, Int)? {
        var j = start + 1
        let n = s.count
        if j < n && s[j] == 0x23 {
            j += 1
            var hex = false
            if j < n && (s[j] | 0x20) == 0x78 { hex = true; j += 1 }
            var value: UInt32 = 0
            let digitsStart = j
            while j < n && j - digitsStart < 8 {
                let b = s[j]
                let d: UInt32
                switch b {
                case 0x30...0x39: d = UInt32(b - 0x30)
                case 0x61...0x66 where hex: d = UInt32(b - 0x61 + 10)
                case 0x41...0x46 where hex: d = UInt32(b - 0x41 + 10)
                default: d = 99
                }
                if d == 99 { break }
                value = value * (hex ? 16 : 10) + d
                j += 1
            }
            guard j > digitsStart else { return nil }
            if j < n && s[j] == 0x3B { j += 1 }
            // Windows-1252 code points sent as numbers (&#150;) are common; NUL and surrogates are not text.
            if value >= 0x80 && value <= 0x9F {
                let mapped = CharsetTables.windows1252[Int(value) - 0x80]
                return (Unicode.Scalar(UInt32(mapped)) ?? "\u{FFFD}", j - start)
            }
            return (value == 0 ? "\u{FFFD}" : (Unicode.Scalar(value) ?? "\u{FFFD}"), j - start)
        }
        let nameStart = j
        while j < n && j - nameStart < 10 && ((s[j] | 0x20) >= 0x61 && (s[j] | 0x20) <= 0x7A || (s[j] >= 0x30 && s[j] <= 0x39)) { j += 1 }
        guard j > nameStart, j < n, s[j] == 0x3B else { return nil }
        let name = String(decoding: s[nameStart..<j], as: UTF8.self)
        guard let value = namedEntities[name], let scalar = Unicode.Scalar(value) else { return nil }
        return (scalar, j + 1 - start)
    }

    private static let namedEntities: [String: UInt32] = [
        "amp": 0x26, "lt": 0x3C, "gt": 0x3E, "quot": 0x22, "apos": 0x27, "nbsp": 0xA0,
        "copy": 0xA9, "reg": 0xAE, "trade": 0x2122, "euro": 0x20AC, "pound": 0xA3, "yen": 0xA5, "cent": 0xA2,
        "hellip": 0x2026, "mdash": 0x2014, "ndash": 0x2013, "lsquo": 0x2018, "rsquo": 0x2019,
        "ldquo": 0x201C, "rdquo": 0x201D, "laquo": 0xAB, "raquo": 0xBB, "bull": 0x2022, "middot": 0xB7,
        "deg": 0xB0, "times": 0xD7, "divide": 0xF7, "para": 0xB6, "sect": 0xA7, "shy": 0xAD, "zwnj": 0x200C,
        "zwj": 0x200D, "thinsp": 0x2009, "ensp": 0x2002, "emsp": 0x2003, "iexcl": 0xA1, "iquest": 0xBF,
        "auml": 0xE4, "ouml": 0xF6, "uuml": 0xFC, "Auml": 0xC4, "Ouml": 0xD6, "Uuml": 0xDC, "szlig": 0xDF,
        "aacute": 0xE1, "eacute": 0xE9, "iacute": 0xED, "oacute": 0xF3, "uacute": 0xFA,
        "Aacute": 0xC1, "Eacute": 0xC9, "Iacute": 0xCD, "Oacute": 0xD3, "Uacute": 0xDA,
        "agrave": 0xE0, "egrave": 0xE8, "igrave": 0xEC, "ograve": 0xF2, "ugrave": 0xF9,
        "Agrave": 0xC0, "Egrave": 0xC8,
        "acirc": 0xE2, "ecirc": 0xEA, "icirc": 0xEE, "ocirc": 0xF4, "ucirc": 0xFB,
        "atilde": 0xE3, "otilde": 0xF5, "ntilde": 0xF1, "Ntilde": 0xD1, "ccedil": 0xE7, "Ccedil": 0xC7,
        "aring": 0xE5, "Aring": 0xC5, "aelig": 0xE6, "AElig": 0xC6, "oslash": 0xF8, "Oslash": 0xD8,
        "euml": 0xEB, "iuml": 0xEF, "yuml": 0xFF,
    ]
}

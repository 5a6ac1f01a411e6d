// String._nfd (canonical decomposition) is stdlib SPI: the standard library has the Unicode
// normalisation data but no public API for it, and library code does not import Foundation.
@_spi(_Unicode) import Swift

/// The i;unicode-casemap collation (RFC 5051), which SEARCH string keys and SORT compare with.
///
/// RFC 5051 §2 turns a string into "titlecased canonicalized UTF-8": every character is
/// replaced by its titlecase mapping (UnicodeData.txt), then by its canonical decomposition,
/// repeatedly until nothing changes; the results are compared as octets (equality, substring,
/// ordering). So "ς", "σ" and "Σ" are the same letter, "é" precomposed equals "e" with U+0301,
/// "e" is a substring of "é", and "ß" matches neither "ss" nor "SS" (no SpecialCasing.txt).
///
/// Deviations (postamt-imapd(8)), as close as Swift's standard library allows without
/// Foundation: the titlecase mapping comes from `Unicode.Scalar.Properties.titlecaseMapping`,
/// which is the full mapping; where it has more than one scalar (ß → "Ss", ﬀ → "Ff") the
/// character is kept, which is what the simple mapping of UnicodeData.txt gives. The
/// decomposition is NFD, so combining marks are also put in canonical order and Hangul
/// syllables are decomposed (RFC 5051 uses only UnicodeData.txt's mappings); equal strings stay
/// equal, and canonically equivalent ones compare equal more often.
enum UnicodeCasemap {
    /// The titlecased canonicalized UTF-8 of `text`.
    static func canonical(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            guard byte < 0x80 else { return canonicalUnicode(text) }
            out.append(byte >= 0x61 && byte <= 0x7A ? byte - 0x20 : byte)
        }
        return out
    }

    private static func canonicalUnicode(_ text: String) -> [UInt8] {
        // Titlecase, then decompose; a decomposition can bring characters with a titlecase
        // mapping (U+0345 from ᾳ), so until stable (two rounds suffice in practice).
        var current = titlecased(text.unicodeScalars)
        for _ in 0..<4 {
            let decomposed = String(decoding: current, as: UTF8.self)._nfd
            var plain: [UInt8] = []
            plain.reserveCapacity(current.count + current.count / 8)
            var changed = false
            for scalar in decomposed {
                let mapped = titlecase(scalar)
                if mapped != scalar { changed = true }
                append(scalar, to: &plain)
            }
            if !changed { return plain }
            current = titlecased(String(decoding: plain, as: UTF8.self).unicodeScalars)
        }
        return current
    }

    private static func titlecased<S: Sequence<Unicode.Scalar>>(_ scalars: S) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(scalars.underestimatedCount * 2)
        for scalar in scalars { append(titlecase(scalar), to: &out) }
        return out
    }

    private static func append(_ scalar: Unicode.Scalar, to out: inout [UInt8]) {
        let v = scalar.value
        switch v {
        case 0..<0x80:
            out.append(UInt8(v))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | (v >> 6))); out.append(UInt8(0x80 | (v & 0x3F)))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | (v >> 12))); out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        default:
            out.append(UInt8(0xF0 | (v >> 18))); out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F))); out.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    /// The simple titlecase mapping: the full one when it is a single scalar, else the scalar.
    static func titlecase(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        if scalar.value < 0x80 {
            return scalar.value >= 0x61 && scalar.value <= 0x7A ? Unicode.Scalar(scalar.value - 0x20)! : scalar
        }
        let mapping = scalar.properties.titlecaseMapping.unicodeScalars
        guard let first = mapping.first, mapping.index(after: mapping.startIndex) == mapping.endIndex else { return scalar }
        return first
    }

    /// RFC 5051 equality.
    static func equal(_ a: String, _ b: String) -> Bool { canonical(a) == canonical(b) }

    /// RFC 5051 substring: true when `needle` occurs in `haystack` (the empty string always).
    static func contains(_ haystack: String, _ needle: String) -> Bool {
        let n = canonical(needle)
        if n.isEmpty { return true }
        return contains(canonical(haystack), n)
    }

    /// Octet substring search on canonical forms (UTF-8 is self-synchronising: an octet match
    /// is a character match).
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard haystack.count >= needle.count else { return false }
        let first = needle[0]
        var i = 0
        let last = haystack.count - needle.count
        return haystack.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { n in
                while i <= last {
                    if h[i] == first {
                        var j = 1
                        while j < n.count && h[i + j] == n[j] { j += 1 }
                        if j == n.count { return true }
                    }
                    i += 1
                }
                return false
            }
        }
    }

    /// RFC 5051 ordering: octet order of the canonical forms.
    static func precedes(_ a: String, _ b: String) -> Bool {
        canonical(a).lexicographicallyPrecedes(canonical(b))
    }
}

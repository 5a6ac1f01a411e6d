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
        var scalars = Array(text.unicodeScalars)
        // Titlecase, then decompose; a decomposition can bring characters with a titlecase
        // mapping (U+0345 from ᾳ), so until stable (two rounds suffice in practice).
        for _ in 0..<4 {
            var titled = String.UnicodeScalarView()
            for scalar in scalars { titled.append(titlecase(scalar)) }
            let next = Array(String(titled)._nfd)
            if next == scalars { break }
            scalars = next
        }
        var out: [UInt8] = []
        out.reserveCapacity(scalars.count * 2)
        for scalar in scalars { out.append(contentsOf: UTF8.encode(scalar)!) }
        return out
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

/// RFC 2047 encoded words (`=?charset?B?…?=`, `=?charset?Q?…?=`) in header values.
public enum EncodedWord {
    /// Decodes every encoded word in a header value to Unicode.
    ///
    /// - White space between two adjacent encoded words is dropped (§6.2), also across folds.
    /// - Adjacent words in the same charset are joined before charset decoding, so a multi-byte
    ///   character split across two words (a common mailer bug) survives.
    /// - A malformed word (missing parts, unknown encoding letter, white space inside) is left
    ///   as it stands. Words are also recognised inside other text and parentheses, as most
    ///   mail readers do (the §8 examples put them in comments).
    /// - An RFC 2231 §5 language suffix (`=?utf-8*en?Q?…?=`) is accepted and ignored.
    /// - Non-word text is kept as is; in the output, line breaks of folding are removed.
    public static func decode(_ value: String) -> String {
        decode(bytes: Array(value.utf8))
    }

    /// Same as `decode(_:)`, for raw header bytes (8-bit text outside words: UTF-8 if valid,
    /// else Latin-1).
    public static func decode(bytes input: [UInt8]) -> String {
        var output = ""
        var plain: [UInt8] = []                // literal text not yet written
        var pendingCharset: String? = nil      // the charset of `pendingBytes`
        var pendingBytes: [UInt8] = []
        var lastWasWord = false
        // A failed search for "?=" that stopped at white space or the end at offset f means no
        // word starting before f can end either: remembering f keeps the decoder linear.
        var knownUnterminatedUntil = 0
        var i = 0
        let n = input.count

        func flushWordBytes() {
            if let cs = pendingCharset { output += Charset.lookup(cs).decode(pendingBytes) }
            pendingCharset = nil
            pendingBytes.removeAll(keepingCapacity: true)
        }
        func flushPlain() {
            if !plain.isEmpty { output += Charset.fallback.decode(plain); plain.removeAll(keepingCapacity: true) }
        }

        while i < n {
            let c = input[i]
            if c == 0x3D, i + 1 < n, input[i + 1] == 0x3F, i >= knownUnterminatedUntil,
               let word = parseWord(input, at: i, unterminatedUntil: &knownUnterminatedUntil) {
                // Text since the last word: dropped if it is only white space (§6.2).
                if lastWasWord && plain.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }) {
                    plain.removeAll(keepingCapacity: true)
                }
                if !plain.isEmpty { flushWordBytes(); flushPlain() }
                if let cs = pendingCharset, cs.lowercasedASCII() != word.charset.lowercasedASCII() { flushWordBytes() }
                pendingCharset = word.charset
                pendingBytes.append(contentsOf: word.bytes)
                lastWasWord = true
                i = word.end
                continue
            }
            if c != 0x0D && c != 0x0A { plain.append(c) }
            if lastWasWord && !(c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A) {
                // Not just white space after the last word: the word run has ended.
                flushWordBytes()
                lastWasWord = false
            }
            i += 1
        }
        flushWordBytes()
        flushPlain()
        return output
    }

    private struct Word {
        var charset: String
        var bytes: [UInt8]
        var end: Int
    }

    /// Parses `=?charset?X?text?=` at `start`; nil when malformed.
    private static func parseWord(_ s: [UInt8], at start: Int, unterminatedUntil: inout Int) -> Word? {
        let n = s.count
        var i = start + 2
        let charsetStart = i
        while i < n && s[i] != 0x3F {
            guard MIMEHeaderLexer.isTokenByte(s[i]) || s[i] == 0x2A, i - charsetStart < 64 else { return nil }
            i += 1
        }
        guard i > charsetStart, i + 2 < n, s[i + 2] == 0x3F else { return nil }
        var charset = String(decoding: s[charsetStart..<i], as: UTF8.self)
        if let star = charset.firstIndex(of: "*") { charset = String(charset[..<star]) }
        let encoding = s[i + 1] | 0x20
        guard encoding == 0x62 || encoding == 0x71 else { return nil }
        let textStart = i + 3
        var j = textStart
        while j + 1 < n && !(s[j] == 0x3F && s[j + 1] == 0x3D) {
            let b = s[j]
            if b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A { unterminatedUntil = j; return nil }
            j += 1
        }
        guard j + 1 < n else { unterminatedUntil = n; return nil }
        let text = s[textStart..<j]
        let bytes = encoding == 0x62 ? Base64Decoder.decode(text) : decodeQ(text)
        return Word(charset: charset, bytes: bytes, end: j + 2)
    }

    /// RFC 2047 §4.2: "_" is a space, "=XX" a byte; a bad escape is kept literally.
    private static func decodeQ(_ text: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == 0x5F {
                out.append(0x20)
            } else if c == 0x3D, i + 2 < text.endIndex, let h = hex(text[i + 1]), let l = hex(text[i + 2]) {
                out.append(h << 4 | l)
                i += 2
            } else {
                out.append(c)
            }
            i += 1
        }
        return out
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// Encodes text for an unstructured header field or a display-name phrase (RFC 2047 §5).
    ///
    /// Words of printable ASCII stay as they are; each run of words that needs encoding (non-ASCII,
    /// controls, or text that looks like an encoded word) becomes UTF-8 encoded words of at most
    /// 75 characters (§2), separated by single spaces, each holding whole characters. Q or B is
    /// chosen by length. The Q alphabet is the §5(3) phrase-safe one, so the result may also be
    /// used as a display name. Folding is left to the header writer (fold at the spaces).
    public static func encode(_ text: String) -> String {
        let words = text.split(separator: " ", omittingEmptySubsequences: false)
        func needsEncoding(_ w: Substring) -> Bool {
            w.utf8.contains { $0 < 0x20 || $0 >= 0x7F } || w.contains("=?") || w.contains("?=")
        }
        if !words.contains(where: needsEncoding) { return text }

        var pieces: [String] = []
        var run: [Substring] = []
        func flushRun() {
            if run.isEmpty { return }
            pieces.append(encodeRun(run.joined(separator: " ")))
            run.removeAll()
        }
        for w in words {
            if needsEncoding(w) {
                run.append(w)
            } else if !run.isEmpty && w.isEmpty {
                run.append(w)         // keep double spaces inside an encoded run
            } else {
                flushRun()
                pieces.append(String(w))
            }
        }
        flushRun()
        return pieces.joined(separator: " ")
    }

    private static let maxWordLength = 75
    private static let prefix = "=?utf-8?"

    private static func encodeRun(_ text: String) -> String {
        var words: [String] = []
        var chunk: [UInt8] = []
        // Fill each word with whole characters while it fits.
        let overhead = prefix.utf8.count + 4        // "Q?" and "?="
        for ch in text {
            let bytes = Array(String(ch).utf8)
            let candidate = chunk + bytes
            if !chunk.isEmpty && min(qLength(candidate), bLength(candidate)) + overhead > maxWordLength {
                words.append(encodeWord(chunk))
                chunk = bytes
            } else {
                chunk = candidate
            }
        }
        if !chunk.isEmpty { words.append(encodeWord(chunk)) }
        return words.joined(separator: " ")
    }

    private static func isQSafe(_ c: UInt8) -> Bool {
        // RFC 2047 §5(3): upper and lower case letters, digits, "!", "*", "+", "-", "/".
        switch c {
        case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x21, 0x2A, 0x2B, 0x2D, 0x2F: return true
        default: return false
        }
    }

    private static func qLength(_ bytes: [UInt8]) -> Int {
        bytes.reduce(0) { $0 + (isQSafe($1) || $1 == 0x20 ? 1 : 3) }
    }

    private static func bLength(_ bytes: [UInt8]) -> Int { (bytes.count + 2) / 3 * 4 }

    private static func encodeWord(_ bytes: [UInt8]) -> String {
        if qLength(bytes) <= bLength(bytes) {
            let digits = Array("0123456789ABCDEF".utf8)
            var out: [UInt8] = []
            for c in bytes {
                if c == 0x20 { out.append(0x5F) } else if isQSafe(c) { out.append(c) } else {
                    out.append(0x3D); out.append(digits[Int(c >> 4)]); out.append(digits[Int(c & 15)])
                }
            }
            return prefix + "Q?" + String(decoding: out, as: UTF8.self) + "?="
        }
        return prefix + "B?" + Base64Decoder.encode(bytes) + "?="
    }
}

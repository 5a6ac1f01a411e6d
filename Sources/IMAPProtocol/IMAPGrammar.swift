/// Character classes of the IMAP formal syntax (RFC 9051 §9, RFC 3501 §9).
enum IMAPGrammar {
    static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    static func isAlpha(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }

    /// CTL = %x00-1F / %x7F
    static func isControl(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x7F }

    /// ATOM-CHAR = <any CHAR except atom-specials>; atom-specials = "(" / ")" / "{" / SP / CTL /
    /// list-wildcards / quoted-specials / resp-specials.
    static func isAtomChar(_ byte: UInt8) -> Bool {
        guard byte < 0x80, !isControl(byte) else { return false }
        switch byte {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: " "),
             UInt8(ascii: "%"), UInt8(ascii: "*"), UInt8(ascii: "\""), UInt8(ascii: "\\"),
             UInt8(ascii: "]"):
            return false
        default:
            return true
        }
    }

    /// ASTRING-CHAR = ATOM-CHAR / resp-specials
    static func isAStringChar(_ byte: UInt8) -> Bool { isAtomChar(byte) || byte == UInt8(ascii: "]") }

    /// tag = 1*<any ASTRING-CHAR except "+">
    static func isTagChar(_ byte: UInt8) -> Bool { isAStringChar(byte) && byte != UInt8(ascii: "+") }

    /// list-char = ATOM-CHAR / list-wildcards / resp-specials
    static func isListChar(_ byte: UInt8) -> Bool {
        isAStringChar(byte) || byte == UInt8(ascii: "%") || byte == UInt8(ascii: "*")
    }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
    }

    static func equalsCaseInsensitive(_ bytes: ArraySlice<UInt8>, _ text: String) -> Bool {
        var index = bytes.startIndex
        for expected in text.utf8 {
            guard index < bytes.endIndex, lowercased(bytes[index]) == lowercased(expected) else { return false }
            index += 1
        }
        return index == bytes.endIndex
    }

    static func uppercasedString(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.map { ($0 >= 0x61 && $0 <= 0x7A) ? $0 - 0x20 : $0 }, as: UTF8.self)
    }
}

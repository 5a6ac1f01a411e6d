/// Extracts the addr-specs of an RFC 5322 §3.4 address-list, as `sendmail -t` needs them.
///
/// Handles display names, angle addresses, groups (`team: a@x, b@y;`), comments (nested),
/// quoted strings and the obsolete route syntax (`<@relay:user@host>`, RFC 5322 §4.4).
/// Returns the addresses in order; an element that holds no address is skipped.
public enum AddressList {
    public static func addresses(in value: String) -> [String] {
        var result: [String] = []
        var element: [Character] = []     // the current element, comments removed
        var angle: [Character]? = nil      // contents of <...> when seen
        var inAngle = false
        var quoted = false
        var escaped = false
        var commentDepth = 0

        func flush() {
            var text: String
            if let angle { text = String(angle) } else { text = String(element) }
            // A group's "name:" prefix and ";" end.
            if angle == nil, let colon = firstUnquoted(":", in: text) { text = String(text[text.index(after: colon)...]) }
            text = text.replacingOccurrencesOfCharacter(";", with: "")
            text = text.trimmingWhitespace()
            // Obsolete route: drop "@a,@b:".
            if text.hasPrefix("@"), let colon = text.firstIndex(of: ":") { text = String(text[text.index(after: colon)...]) }
            if !text.isEmpty && !text.contains(" ") { result.append(text) }
            element = []
            angle = nil
        }

        for c in value {
            if escaped {
                escaped = false
                if inAngle { angle?.append(c) } else { element.append(c) }
                continue
            }
            if commentDepth > 0 {
                if c == "\\" { escaped = true } else if c == "(" { commentDepth += 1 } else if c == ")" { commentDepth -= 1 }
                continue
            }
            if quoted {
                if c == "\\" { escaped = true }
                if c == "\"" { quoted = false }
                if inAngle { angle?.append(c) } else { element.append(c) }
                continue
            }
            switch c {
            case "(":
                commentDepth = 1
            case "\"":
                quoted = true
                if inAngle { angle?.append(c) } else { element.append(c) }
            case "<":
                inAngle = true
                angle = []
            case ">":
                inAngle = false
            case ",":
                if inAngle { angle?.append(c) } else { flush() }
            case ";":
                if !inAngle { flush() }
            case ":" where !inAngle && angle == nil && firstUnquoted(":", in: String(element)) == nil && !element.contains("@"):
                // The end of a group's display name: drop it.
                element = []
            case "\r", "\n":
                break
            default:
                if inAngle { angle?.append(c) } else { element.append(c) }
            }
        }
        flush()
        return result
    }

    private static func firstUnquoted(_ target: Character, in text: String) -> String.Index? {
        var quoted = false
        for i in text.indices {
            if text[i] == "\"" { quoted.toggle() }
            if !quoted && text[i] == target { return i }
        }
        return nil
    }
}

extension String {
    func replacingOccurrencesOfCharacter(_ c: Character, with replacement: String) -> String {
        var out = ""
        for ch in self { if ch == c { out += replacement } else { out.append(ch) } }
        return out
    }
}

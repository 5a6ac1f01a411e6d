/// The webmail's "Formatted" writing mode: the text the user typed, with a few plain-text
/// conventions mail readers have long understood, turned into HTML for the text/html half of a
/// multipart/alternative message (RFC 2046 §5.1.4); the text/plain half is the text as typed.
///
/// - A blank line separates paragraphs; a single line break stays a line break.
/// - Lines starting with ">" are a quotation (">>" one inside another).
/// - Lines starting with "- " or "* " are a list; "1. ", "2. " … a numbered list.
/// - *bold*, _italic_ and `code` inside a line.
/// - http://, https:// and mailto: addresses become links.
///
/// Every character of the text is escaped: the only markup in the result is what these rules
/// make, so nothing the user types can become a tag, an attribute or a script.
public enum FormattedText {
    /// Quotation nesting kept as blockquotes; deeper levels stay at this depth.
    static let maximumQuoteDepth = 16

    /// A whole HTML document (UTF-8) for `source`.
    public static func document(from source: String) -> String {
        """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"></head>
        <body>
        \(html(from: source))</body></html>

        """
    }

    /// The body markup for `source`: block elements, one per line.
    public static func html(from source: String) -> String {
        var lines = source.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            line.last == "\r" ? line.dropLast() : line
        }
        while let last = lines.last, last.allSatisfy({ $0 == " " || $0 == "\t" }) { lines.removeLast() }
        var out = ""
        blocks(lines.map { quoted($0) }, depth: 0, into: &out)
        return out
    }

    /// A line with its quotation depth taken off: "> > text" and ">>text" are depth 2.
    static func quoted(_ line: Substring) -> (depth: Int, text: Substring) {
        var depth = 0
        var rest = line
        while let first = rest.first, first == ">" {
            depth += 1
            rest = rest.dropFirst()
            if rest.first == " " { rest = rest.dropFirst() }
        }
        return (min(depth, maximumQuoteDepth), rest)
    }

    enum ListKind { case bullets, numbers }

    /// A list item's text when `line` starts one.
    static func listItem(_ line: Substring) -> (ListKind, Substring)? {
        let trimmed = line.drop { $0 == " " }
        if trimmed.hasPrefix("- ") || trimmed.hasPrefix("* ") { return (.bullets, trimmed.dropFirst(2)) }
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        if !digits.isEmpty, digits.count <= 9 {
            let rest = trimmed.dropFirst(digits.count)
            if rest.hasPrefix(". ") { return (.numbers, rest.dropFirst(2)) }
        }
        return nil
    }

    static func isBlank(_ text: Substring) -> Bool { text.allSatisfy { $0 == " " || $0 == "\t" } }

    /// The lines at `depth`: runs of deeper lines become a blockquote, the rest paragraphs and lists.
    static func blocks(_ lines: [(depth: Int, text: Substring)], depth: Int, into out: inout String) {
        var i = 0
        while i < lines.count {
            if lines[i].depth > depth {
                var end = i
                while end < lines.count, lines[end].depth > depth { end += 1 }
                out += "<blockquote>\n"
                blocks(Array(lines[i..<end]), depth: depth + 1, into: &out)
                out += "</blockquote>\n"
                i = end
                continue
            }
            if isBlank(lines[i].text) { i += 1; continue }
            if let (kind, _) = listItem(lines[i].text) {
                let tag = kind == .bullets ? "ul" : "ol"
                out += "<\(tag)>\n"
                while i < lines.count, lines[i].depth == depth, let (k, item) = listItem(lines[i].text), k == kind {
                    out += "<li>\(inline(item))</li>\n"
                    i += 1
                }
                out += "</\(tag)>\n"
                continue
            }
            var paragraph: [Substring] = []
            while i < lines.count, lines[i].depth == depth, !isBlank(lines[i].text), listItem(lines[i].text) == nil {
                paragraph.append(lines[i].text)
                i += 1
            }
            out += "<p>" + paragraph.map(inline).joined(separator: "<br>\n") + "</p>\n"
        }
    }

    /// One line: escaped text with links, *bold*, _italic_ and `code`.
    static func inline(_ line: Substring) -> String {
        let characters = Array(line)
        var out = ""
        var i = 0
        func isWordish(_ c: Character) -> Bool { c.isLetter || c.isNumber }
        while i < characters.count {
            let c = characters[i]
            let atWordStart = i == 0 || !isWordish(characters[i - 1])
            if atWordStart, let (link, length) = link(characters, at: i) {
                let escaped = HTMLEscape.escape(link)
                out += "<a href=\"\(escaped)\">\(escaped)</a>"
                i += length
                continue
            }
            if (c == "*" || c == "_" || c == "`"), atWordStart, i + 1 < characters.count, characters[i + 1] != " ",
               let close = closing(c, in: characters, after: i) {
                let inner = String(characters[(i + 1)..<close])
                switch c {
                case "*": out += "<strong>\(HTMLEscape.escape(inner))</strong>"
                case "_": out += "<em>\(HTMLEscape.escape(inner))</em>"
                default: out += "<code>\(HTMLEscape.escape(inner))</code>"
                }
                i = close + 1
                continue
            }
            out += HTMLEscape.escape(String(c))
            i += 1
        }
        return out
    }

    /// The index of the marker closing one opened at `open`: after a non-space, before the end of
    /// the line or a non-word character.
    static func closing(_ marker: Character, in characters: [Character], after open: Int) -> Int? {
        var j = open + 2
        while j < characters.count {
            if characters[j] == marker, characters[j - 1] != " ",
               j + 1 == characters.count || !(characters[j + 1].isLetter || characters[j + 1].isNumber) {
                return j
            }
            j += 1
        }
        return nil
    }

    static let schemes = ["https://", "http://", "mailto:"]

    /// A link starting at `start`: a scheme and what follows up to a space or an angle bracket,
    /// without trailing punctuation (as in "see https://example.org.").
    static func link(_ characters: [Character], at start: Int) -> (String, Int)? {
        guard let scheme = schemes.first(where: { scheme in
            scheme.count < characters.count - start
                && zip(scheme, characters[start...]).allSatisfy { $0 == $1.lowercased().first }
        }) else { return nil }
        var end = start + scheme.count
        while end < characters.count, !characters[end].isWhitespace, characters[end] != "<", characters[end] != ">",
              characters[end] != "\"", characters[end].unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value != 0x7F }) {
            end += 1
        }
        while end > start + scheme.count, let last = characters[end - 1].unicodeScalars.first, ".,;:!?)]'".unicodeScalars.contains(last) {
            end -= 1
        }
        guard end > start + scheme.count else { return nil }
        return (String(characters[start..<end]), end - start)
    }
}

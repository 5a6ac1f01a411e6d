/// Turns a message's HTML into HTML that is safe to show inside a webmail page, by an
/// allow-list: a small tokenizer reads tags, text, comments and entities; only listed elements
/// and listed attributes survive, everything is re-serialised from scratch (so no malformed
/// markup reaches the browser to be "repaired" into something else), and unknown things are
/// dropped. No script, style, event handler, form, frame, object or remote fetch can survive:
/// links are only http, https and mailto and get rel="noopener noreferrer" and
/// target="_blank"; images are kept only for data: URLs of raster types, or (when the caller
/// allows remote content) https URLs. The page's Content-Security-Policy is the second wall.
public struct HTMLSanitizer: Sendable {
    /// Keep `<img src="https://…">` (the user asked to load remote content).
    public var allowRemoteImages = false
    /// Output bound: the input is truncated past it (a bomb of nested tags stays small).
    public var outputLimit = 4 << 20
    /// Open elements kept at most; deeper tags are dropped (their text stays).
    public var depthLimit = 100

    /// Images of the message itself (RFC 2392 `cid:` URLs): lower-cased Content-ID, without
    /// the angle brackets → the same-origin URL the webmail serves that part at.
    public var inlineImages: [String: String] = [:]

    public init(allowRemoteImages: Bool = false, inlineImages: [String: String] = [:]) {
        self.allowRemoteImages = allowRemoteImages
        self.inlineImages = inlineImages
    }

    static let allowedElements: Set<String> = [
        "a", "abbr", "b", "big", "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd", "del",
        "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
        "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr", "tt", "u", "ul",
    ]
    static let voidElements: Set<String> = ["br", "hr", "img", "col"]
    /// Elements whose whole content goes with them (it is code, style or a sub-document).
    static let droppedWithContent: Set<String> = [
        "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "noscript", "noembed", "noframes",
        "template", "textarea", "select", "title", "head", "svg", "math", "xmp", "plaintext", "audio", "video", "canvas",
        "form", "button", "option",
    ]
    /// Per element, the attributes kept (besides the global ones).
    static let allowedAttributes: [String: Set<String>] = [
        "a": ["href"], "img": ["src", "alt", "width", "height"], "td": ["colspan", "rowspan", "align", "valign"],
        "th": ["colspan", "rowspan", "align", "valign", "scope"], "table": ["border", "cellpadding", "cellspacing", "width", "summary"],
        "col": ["span", "width"], "colgroup": ["span"], "ol": ["start", "type"], "li": ["value"], "font": ["color", "size"],
        "p": ["align"], "div": ["align"], "blockquote": ["cite"],
    ]
    static let globalAttributes: Set<String> = ["title", "lang", "dir"]

    public func sanitize(_ html: String) -> String {
        var tokenizer = HTMLTokenizer(Array(html.utf8))
        var out = ""
        var open: [String] = []
        var skipping: String?  // inside an element dropped with its content
        while let token = tokenizer.next(), out.utf8.count < outputLimit {
            switch token {
            case .text(let text):
                if skipping == nil { out += HTMLEscape.escape(text) }
            case .start(let name, let attributes, let selfClosing):
                if skipping != nil { continue }
                if HTMLSanitizer.droppedWithContent.contains(name) {
                    if !selfClosing && !HTMLSanitizer.voidElements.contains(name) { skipping = name }
                    continue
                }
                guard HTMLSanitizer.allowedElements.contains(name) else { continue }
                guard let kept = keptAttributes(name, attributes) else { continue }
                if !HTMLSanitizer.voidElements.contains(name) {
                    guard open.count < depthLimit else { continue }
                    open.append(name)
                }
                out += "<" + name
                for (n, v) in kept { out += " \(n)=\"\(HTMLEscape.escape(v))\"" }
                out += ">"
            case .end(let name):
                if let s = skipping {
                    if s == name { skipping = nil }
                    continue
                }
                guard let index = open.lastIndex(of: name) else { continue }
                for element in open[index...].reversed() { out += "</\(element)>" }
                open.removeSubrange(index...)
            }
        }
        for element in open.reversed() { out += "</\(element)>" }
        return out
    }

    /// The attributes to keep, in order; nil drops the element itself (an image without a
    /// source we may show).
    func keptAttributes(_ element: String, _ attributes: [(String, String)]) -> [(String, String)]? {
        var kept: [(String, String)] = []
        var seen = Set<String>()
        let allowed = HTMLSanitizer.allowedAttributes[element] ?? []
        for (name, value) in attributes where !seen.contains(name) {
            seen.insert(name)
            guard allowed.contains(name) || HTMLSanitizer.globalAttributes.contains(name) else { continue }
            switch name {
            case "href":
                guard let url = HTMLSanitizer.safeLink(value) else { continue }
                kept.append((name, url))
            case "src":
                guard let url = safeImage(value) else { continue }
                kept.append((name, url))
            case "cite":
                continue
            default:
                kept.append((name, value))
            }
        }
        if element == "a" && seen.contains("href") {
            kept.append(("rel", "noopener noreferrer"))
            kept.append(("target", "_blank"))
        }
        if element == "img" && !kept.contains(where: { $0.0 == "src" }) { return nil }
        return kept
    }

    /// The URL without whitespace and control characters (which browsers ignore inside a scheme).
    static func compact(_ url: String) -> String {
        String(String.UnicodeScalarView(url.unicodeScalars.filter { $0.value > 0x20 && $0.value != 0x7F }))
    }

    /// http, https and mailto links; nil for everything else (javascript:, data:, vbscript:,
    /// relative links that would point into the webmail itself).
    public static func safeLink(_ value: String) -> String? {
        let url = compact(value)
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") || lower.hasPrefix("mailto:") else { return nil }
        return url
    }

    func safeImage(_ value: String) -> String? {
        let url = HTMLSanitizer.compact(value)
        let lower = url.lowercased()
        for type in ["data:image/png;base64,", "data:image/gif;base64,", "data:image/jpeg;base64,", "data:image/webp;base64,"] where lower.hasPrefix(type) {
            return url
        }
        if allowRemoteImages && lower.hasPrefix("https://") { return url }
        if lower.hasPrefix("cid:") {
            // RFC 2392 §2: the cid URL is the Content-ID, %-encoded where needed.
            let id = String(lower.dropFirst(4))
            return inlineImages[id] ?? inlineImages[id.removingPercentEscapes()]
        }
        return nil
    }
}

/// What the sanitizer's tokenizer yields. Names are lower-case; text and attribute values have
/// their character references decoded.
enum HTMLToken: Equatable {
    case text(String)
    case start(String, [(String, String)], selfClosing: Bool)
    case end(String)

    static func == (a: HTMLToken, b: HTMLToken) -> Bool {
        switch (a, b) {
        case (.text(let x), .text(let y)): return x == y
        case (.end(let x), .end(let y)): return x == y
        case (.start(let n1, let a1, let s1), .start(let n2, let a2, let s2)):
            return n1 == n2 && s1 == s2 && a1.map { "\($0.0)=\($0.1)" } == a2.map { "\($0.0)=\($0.1)" }
        default: return false
        }
    }
}

/// A forgiving HTML tokenizer after the WHATWG states that matter here (data, tag open, tag
/// name, attributes, comments, bogus comments, raw text of script/style so their content is
/// never read as tags).
struct HTMLTokenizer {
    let bytes: [UInt8]
    var i = 0
    /// Set after <script>, <style>, <textarea>, <title>, <xmp>: only its end tag ends it.
    var rawTextEnd: String?

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    static let rawTextElements: Set<String> = ["script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript"]

    mutating func next() -> HTMLToken? {
        guard i < bytes.count else { return nil }
        if let end = rawTextEnd {
            // Everything up to "</end" (any case) is text of the element.
            let start = i
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "<"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "/") {
                    let nameStart = i + 2
                    let nameEnd = min(bytes.count, nameStart + end.utf8.count)
                    if String(decoding: bytes[nameStart..<nameEnd], as: UTF8.self).lowercased() == end {
                        let after = nameEnd < bytes.count ? bytes[nameEnd] : UInt8(ascii: ">")
                        if after == UInt8(ascii: ">") || after == UInt8(ascii: "/") || HTMLTokenizer.isSpace(after) { break }
                    }
                }
                i += 1
            }
            rawTextEnd = nil
            if i > start { return .text(String(decoding: bytes[start..<i], as: UTF8.self)) }
            return .text("")
        }
        if bytes[i] == UInt8(ascii: "<") {
            if let token = tag() { return token }
        }
        let start = i
        i += 1
        while i < bytes.count && bytes[i] != UInt8(ascii: "<") { i += 1 }
        return .text(HTMLTokenizer.decodeReferences(bytes[start..<i]))
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0C || b == 0x0D }
    static func isAlpha(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }

    /// At "<": a tag, a comment or a declaration; nil when "<" is just text.
    mutating func tag() -> HTMLToken? {
        let start = i
        guard i + 1 < bytes.count else { return nil }
        let b = bytes[i + 1]
        if b == UInt8(ascii: "!") || b == UInt8(ascii: "?") {
            // Comments, doctype, CDATA, processing instructions: dropped.
            if bytes[(i + 1)...].starts(with: Array("!--".utf8)) {
                var j = i + 4
                while j < bytes.count && !bytes[j...].starts(with: Array("-->".utf8)) {
                    if bytes[j...].starts(with: Array("--!>".utf8)) { break }
                    j += 1
                }
                if j >= bytes.count { i = bytes.count } else { i = j + (bytes[j...].starts(with: Array("-->".utf8)) ? 3 : 4) }
            } else {
                var j = i + 2
                while j < bytes.count && bytes[j] != UInt8(ascii: ">") { j += 1 }
                i = min(bytes.count, j + 1)
            }
            return .text("")
        }
        let isEnd = b == UInt8(ascii: "/")
        var j = i + (isEnd ? 2 : 1)
        guard j < bytes.count, HTMLTokenizer.isAlpha(bytes[j]) else {
            if isEnd, j < bytes.count {
                // "</ ...>" is a bogus comment.
                while j < bytes.count && bytes[j] != UInt8(ascii: ">") { j += 1 }
                i = min(bytes.count, j + 1)
                return .text("")
            }
            return nil
        }
        let nameStart = j
        while j < bytes.count && !HTMLTokenizer.isSpace(bytes[j]) && bytes[j] != UInt8(ascii: "/") && bytes[j] != UInt8(ascii: ">") { j += 1 }
        let name = String(decoding: bytes[nameStart..<j], as: UTF8.self).lowercased()
        var attributes: [(String, String)] = []
        var selfClosing = false
        while true {
            while j < bytes.count && (HTMLTokenizer.isSpace(bytes[j]) || bytes[j] == UInt8(ascii: "/")) {
                selfClosing = bytes[j] == UInt8(ascii: "/")
                j += 1
            }
            guard j < bytes.count else {
                // An unfinished tag at the end of input is dropped with the rest.
                i = bytes.count
                _ = start
                return .text("")
            }
            if bytes[j] == UInt8(ascii: ">") { j += 1; break }
            selfClosing = false
            let attrStart = j
            j += 1  // the first character may be "=" (WHATWG: part of the name)
            while j < bytes.count && !HTMLTokenizer.isSpace(bytes[j]) && bytes[j] != UInt8(ascii: "/") && bytes[j] != UInt8(ascii: ">") && bytes[j] != UInt8(ascii: "=") { j += 1 }
            let attrName = String(decoding: bytes[attrStart..<j], as: UTF8.self).lowercased()
            var k = j
            while k < bytes.count && HTMLTokenizer.isSpace(bytes[k]) { k += 1 }
            var value = ""
            if k < bytes.count && bytes[k] == UInt8(ascii: "=") {
                k += 1
                while k < bytes.count && HTMLTokenizer.isSpace(bytes[k]) { k += 1 }
                if k < bytes.count && (bytes[k] == UInt8(ascii: "\"") || bytes[k] == UInt8(ascii: "'")) {
                    let quote = bytes[k]
                    let valueStart = k + 1
                    k = valueStart
                    while k < bytes.count && bytes[k] != quote { k += 1 }
                    value = HTMLTokenizer.decodeReferences(bytes[valueStart..<min(k, bytes.count)])
                    k = min(bytes.count, k + 1)
                } else {
                    let valueStart = k
                    while k < bytes.count && !HTMLTokenizer.isSpace(bytes[k]) && bytes[k] != UInt8(ascii: ">") { k += 1 }
                    value = HTMLTokenizer.decodeReferences(bytes[valueStart..<k])
                }
                j = k
            }
            attributes.append((attrName, value))
        }
        i = j
        if isEnd { return .end(name) }
        if HTMLTokenizer.rawTextElements.contains(name) && !selfClosing { rawTextEnd = name }
        return .start(name, attributes, selfClosing: selfClosing)
    }

    static let namedReferences: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{A0}", "copy": "©", "reg": "®",
        "mdash": "—", "ndash": "–", "hellip": "…", "laquo": "«", "raquo": "»", "euro": "€", "auml": "ä", "ouml": "ö",
        "uuml": "ü", "Auml": "Ä", "Ouml": "Ö", "Uuml": "Ü", "szlig": "ß", "eacute": "é", "egrave": "è", "bull": "•",
        "rsquo": "’", "lsquo": "‘", "rdquo": "”", "ldquo": "“", "tab": "\t", "colon": ":", "newline": "\n",
    ]

    /// Decodes &name; &#N; &#xH; (the semicolon may be missing for numeric ones, as browsers
    /// accept it); an unknown reference stays as it is (and is escaped on output).
    static func decodeReferences(_ input: ArraySlice<UInt8>) -> String {
        guard input.contains(UInt8(ascii: "&")) else { return String(decoding: input, as: UTF8.self) }
        var out: [UInt8] = []
        var i = input.startIndex
        while i < input.endIndex {
            guard input[i] == UInt8(ascii: "&") else { out.append(input[i]); i += 1; continue }
            var j = i + 1
            if j < input.endIndex && input[j] == UInt8(ascii: "#") {
                j += 1
                var hex = false
                if j < input.endIndex && (input[j] | 0x20) == UInt8(ascii: "x") { hex = true; j += 1 }
                let digitsStart = j
                while j < input.endIndex, j - digitsStart < 8,
                      (input[j] >= 0x30 && input[j] <= 0x39) || (hex && (input[j] | 0x20) >= 0x61 && (input[j] | 0x20) <= 0x66) { j += 1 }
                if j > digitsStart, let n = UInt32(String(decoding: input[digitsStart..<j], as: UTF8.self), radix: hex ? 16 : 10) {
                    let scalar = Unicode.Scalar(n).flatMap { $0.value == 0 ? nil : $0 } ?? "\u{FFFD}"
                    out += Array(String(Character(scalar)).utf8)
                    if j < input.endIndex && input[j] == UInt8(ascii: ";") { j += 1 }
                    while j < input.endIndex, (input[j] >= 0x30 && input[j] <= 0x39) || (hex && (input[j] | 0x20) >= 0x61 && (input[j] | 0x20) <= 0x66) { j += 1 }
                    i = j
                    continue
                }
            } else {
                while j < input.endIndex && j - i < 10 && (isAlpha(input[j]) || (input[j] >= 0x30 && input[j] <= 0x39)) { j += 1 }
                let name = String(decoding: input[(i + 1)..<j], as: UTF8.self)
                if let value = namedReferences[name] {
                    out += Array(value.utf8)
                    if j < input.endIndex && input[j] == UInt8(ascii: ";") { j += 1 }
                    i = j
                    continue
                }
            }
            out.append(UInt8(ascii: "&"))
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    /// %XX escapes decoded (RFC 3986 §2.1); a malformed escape stays as it is.
    func removingPercentEscapes() -> String {
        var out: [UInt8] = []
        let bytes = Array(utf8)
        var i = 0
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: return b - 0x30
            case 0x41...0x46: return b - 0x37
            case 0x61...0x66: return b - 0x57
            default: return nil
            }
        }
        while i < bytes.count {
            if bytes[i] == 0x25, i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

import MailMessage

/// Bounds on decoding a message for the classifier; each makes decoding partial, never fail.
public struct SpamDecodeLimits: Sendable, Equatable {
    /// Raw message bytes looked at; the rest is ignored. Default 1 MiB
    /// (spam is small; a large message is judged on its beginning).
    public var maxScannedBytes: Int = 1 << 20
    /// Header fields kept per entity. Default 256.
    public var maxHeaderFields: Int = 256
    /// Bytes of one entity's header section. Default 64 KiB.
    public var maxHeaderBytes: Int = 64 << 10
    /// Nesting of multipart and message/rfc822 entities below the top. Default 8.
    public var maxMimeDepth: Int = 8
    /// MIME entities (the top one included) visited. Default 64.
    public var maxParts: Int = 64
    /// Decoded text kept over all text parts. Default 512 KiB.
    public var maxTextBytes: Int = 512 << 10

    public init() {}
}

extension SpamDocument {
    /// Splits a raw RFC 5322 message into header fields and decoded text parts, through
    /// MailMessage's MIME parser (`MIMEMessage`, `textContents`: transfer encodings, charsets,
    /// HTML to text, message/rfc822 parts) within `limits`. Never traps; what a limit cut off
    /// is named in `truncation`.
    /// `structure`: also fill `SpamDocument.structure` (costs a look at every HTML tag's attributes).
    public static func decode(rawMessage: [UInt8], limits: SpamDecodeLimits = SpamDecodeLimits(),
                              structure wantStructure: Bool = false) -> SpamDocument {
        var truncation: Set<SpamTruncation> = []
        var scanned = rawMessage
        // An mbox "From " separator line (files saved from mailboxes, corpora) is no header.
        if scanned.starts(with: Array("From ".utf8)), let end = scanned.firstIndex(of: 10) {
            scanned.removeSubrange(...end)
        }
        if scanned.count > limits.maxScannedBytes {
            scanned = Array(scanned.prefix(max(0, limits.maxScannedBytes)))
            truncation.insert(.scannedBytes)
        }
        let mimeLimits = MIMELimits(maxDepth: max(0, limits.maxMimeDepth), maxParts: max(1, limits.maxParts),
                                    maxHeaderBytes: max(0, limits.maxHeaderBytes))
        let message = MIMEMessage(parsing: scanned, limits: mimeLimits)
        if message.limitReached {
            truncation.insert(message.partCount >= mimeLimits.maxParts ? .mimeParts : .mimeDepth)
        }
        if message.root.header.fields.count > limits.maxHeaderFields || message.root.headerRange.count > limits.maxHeaderBytes {
            truncation.insert(.headers)
        }
        var headers: [(name: String, value: String)] = []
        for field in message.root.header.fields.prefix(limits.maxHeaderFields) {
            headers.append((name: field.name, value: decodeHeaderValue(field.rawValue.filter { $0 != 10 && $0 != 13 })))
        }
        // The shape of the message: every part's content fields.
        var first = true
        message.root.forEachPart { part in
            if first { first = false; return }
            for field in part.header.fields.prefix(limits.maxHeaderFields) {
                let name = field.name.lowercased()
                if name == "content-type" || name == "content-transfer-encoding" || name == "content-disposition" {
                    headers.append((name: field.name, value: decodeHeaderValue(field.rawValue.filter { $0 != 10 && $0 != 13 })))
                }
            }
        }
        // Text parts as MailMessage decodes them (transfer encoding, charset); HTML reduced by
        // our own `HTMLText.strip`, which keeps link and image URLs as text: they are among the
        // strongest clues (MailMessage's HTML-to-text drops them).
        var textParts: [String] = []
        var html = HTMLFeatures()
        var htmlLetters = 0
        var budget = max(0, limits.maxTextBytes)
        message.root.forEachPart { part in
            guard !part.isMultipart, part.encapsulatedMessage == nil, !part.isOpaque, part.contentType.isText else { return }
            let subtype = part.contentType.subtype
            guard ["plain", "html", "enriched", "richtext"].contains(subtype) else { return }
            guard budget > 0 else { truncation.insert(.textBytes); return }
            let decoded = message.decodedBody(of: part, limit: budget + 1)
            if decoded.count > budget { truncation.insert(.textBytes) }
            let kept = Array(decoded.prefix(budget))
            budget -= kept.count
            let text = Charset.lookup(part.contentType.charset).decode(kept)
            if subtype == "html", wantStructure {
                let stripped = HTMLText.strip(Array(text.utf8), features: &html)
                var letters = 0
                for b in stripped where isASCIILetter(b) || b >= 0x80 { letters += 1 }
                htmlLetters += letters
                textParts.append(String(decoding: stripped, as: UTF8.self))
            } else {
                textParts.append(subtype == "html" ? String(decoding: HTMLText.strip(Array(text.utf8)), as: UTF8.self) : text)
            }
        }
        // The shape: leaf media types in order, and what HTML hid (`SpamDocument.structure`).
        var shape: [String] = []
        message.root.forEachPart { part in
            guard wantStructure, !part.isMultipart, shape.count < 8 else { return }
            shape.append(part.contentType.type + "/" + part.contentType.subtype)
        }
        var structure = wantStructure ? ["mime:" + shape.joined(separator: ",")] : []
        if html.images > 0 {
            structure.append("html:images " + (html.images >= 5 ? "5+" : String(html.images)))
            if htmlLetters < 200 { structure.append("html:image-only") }
        }
        structure.append(contentsOf: html.items.map { "html:" + $0 })
        let key: UInt64
        if let id = headers.first(where: { asciiCaseInsensitiveEquals($0.name, "message-id") }),
           !trimmedASCIIWhitespace(id.value).isEmpty {
            key = SpamDocument.messageKey(messageID: id.value)
        } else {
            var hasher = TokenHasher()
            hasher.combine("body:".utf8)
            hasher.combine(scanned[min(message.root.bodyRange.lowerBound, scanned.count)...])
            key = hasher.value
        }
        var document = SpamDocument(headers: headers, textParts: textParts, messageKey: key, truncation: truncation)
        document.structure = structure
        return document
    }
}

/// A parsed Content-Type value (RFC 2045 §5.1): lower-cased type/subtype and parameters.
struct MediaType {
    var type: String
    var parameters: [String: String]

    static func parse(_ value: String, default defaultType: String) -> MediaType {
        var pieces = splitParameters(Array(value.utf8))
        let type = pieces.isEmpty ? "" : String(decoding: pieces.removeFirst(), as: UTF8.self).lowercased()
        var parameters: [String: String] = [:]
        for piece in pieces {
            guard let equals = piece.firstIndex(of: 61) else { continue }
            let name = String(decoding: piece[..<equals], as: UTF8.self).lowercased()
            var raw = Array(piece[(equals + 1)...])
            if raw.first == 34 { raw.removeFirst(); if raw.last == 34 { raw.removeLast() } }
            if parameters[name] == nil { parameters[name] = String(decoding: raw, as: UTF8.self) }
        }
        let known = type.contains("/") ? type : defaultType
        return MediaType(type: known, parameters: parameters)
    }

    /// Splits at semicolons outside quoted strings and trims each piece.
    private static func splitParameters(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var inQuotes = false
        var start = 0
        var i = 0
        func add(_ slice: ArraySlice<UInt8>) {
            var s = slice
            while let f = s.first, isASCIIWhitespace(f) { s = s.dropFirst() }
            while let l = s.last, isASCIIWhitespace(l) { s = s.dropLast() }
            result.append(s)
        }
        while i < bytes.count {
            let b = bytes[i]
            if b == 92, inQuotes { i += 2; continue }
            if b == 34 { inQuotes.toggle() }
            if b == 59, !inQuotes { add(bytes[start..<i]); start = i + 1 }
            i += 1
        }
        add(bytes[min(start, bytes.count)...])
        return result
    }
}

/// Content-Transfer-Encoding decoders (RFC 2045 §6.7, §6.8), lenient with bad input.
enum TransferDecoding {
    private static let base64Values: [UInt8] = {
        var table = [UInt8](repeating: 255, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(c)] = UInt8(i)
        }
        table[Int(UInt8(ascii: "-"))] = 62  // base64url, seen in the wild
        table[Int(UInt8(ascii: "_"))] = 63
        return table
    }()

    /// Decodes base64, skipping characters outside the alphabet (RFC 2045 §6.8) and
    /// stopping at padding.
    static func base64<C: Collection>(_ input: C) -> [UInt8] where C.Element == UInt8 {
        var output: [UInt8] = []
        output.reserveCapacity(input.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in input {
            if byte == 61 { break }
            let value = base64Values[Int(byte)]
            if value == 255 { continue }
            accumulator = (accumulator << 6) | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return output
    }

    /// Decodes quoted-printable; `underscoreIsSpace` for RFC 2047 "Q" words.
    static func quotedPrintable<C: Collection>(_ input: C, underscoreIsSpace: Bool = false) -> [UInt8]
    where C.Element == UInt8, C.Index == Int {
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var i = input.startIndex
        let end = input.endIndex
        while i < end {
            let byte = input[i]
            if byte == 61 {
                // "=" CRLF (or bare LF, or trailing white space then a line break) is a soft break.
                var j = i + 1
                while j < end, input[j] == 32 || input[j] == 9 { j += 1 }
                if j < end, input[j] == 13 || input[j] == 10 {
                    if input[j] == 13, j + 1 < end, input[j + 1] == 10 { j += 1 }
                    i = j + 1
                    continue
                }
                if j >= end { break }
                if i + 2 < end, let high = hexValue(input[i + 1]), let low = hexValue(input[i + 2]) {
                    output.append(high << 4 | low)
                    i += 3
                    continue
                }
                output.append(byte)
            } else if byte == 95, underscoreIsSpace {
                output.append(32)
            } else {
                output.append(byte)
            }
            i += 1
        }
        return output
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: return byte - 48
        case 65...70: return byte - 55
        case 97...102: return byte - 87
        default: return nil
        }
    }
}

/// Charset handling, best effort: UTF-8 when the bytes are valid UTF-8 and the label does
/// not name a single-byte charset, otherwise each byte is read as Latin-1.
enum TextCharset {
    static func utf8Bytes(_ bytes: ArraySlice<UInt8>, charset: String?) -> [UInt8] {
        if !bytes.contains(where: { $0 >= 0x80 }) { return Array(bytes) }
        let label = charset?.lowercased() ?? ""
        let singleByte = label.hasPrefix("iso-8859") || label.hasPrefix("windows-125") || label.hasPrefix("latin")
            || label == "cp1252" || label == "ascii"
        if !singleByte, isValidUTF8(bytes) { return Array(bytes) }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + bytes.count / 4)
        for byte in bytes {
            if byte < 0x80 {
                output.append(byte)
            } else {
                output.append(0xC0 | byte >> 6)
                output.append(0x80 | byte & 0x3F)
            }
        }
        return output
    }

    static func isValidUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
        var i = bytes.startIndex
        let end = bytes.endIndex
        while i < end {
            let b = bytes[i]
            if b < 0x80 { i += 1; continue }
            let length: Int
            if b & 0xE0 == 0xC0, b >= 0xC2 { length = 2 }
            else if b & 0xF0 == 0xE0 { length = 3 }
            else if b & 0xF8 == 0xF0, b <= 0xF4 { length = 4 }
            else { return false }
            guard i + length <= end else { return false }
            for k in 1..<length where bytes[i + k] & 0xC0 != 0x80 { return false }
            i += length
        }
        return true
    }
}

/// Decodes RFC 2047 encoded words in a raw header value and reads the rest as text.
func decodeHeaderValue(_ raw: [UInt8]) -> String {
    guard raw.count >= 8, containsSequence(raw[...], [61, 63]) else {
        return String(decoding: TextCharset.utf8Bytes(raw[...], charset: nil), as: UTF8.self)
    }
    var output: [UInt8] = []
    var i = 0
    var pendingWhitespace: [UInt8] = []
    var lastWasEncodedWord = false
    while i < raw.count {
        if raw[i] == 61, i + 1 < raw.count, raw[i + 1] == 63, let word = parseEncodedWord(raw, at: i) {
            // RFC 2047 §6.2: white space between adjacent encoded words is not displayed.
            if !lastWasEncodedWord { output.append(contentsOf: pendingWhitespace) }
            pendingWhitespace = []
            output.append(contentsOf: word.text)
            i = word.end
            lastWasEncodedWord = true
            continue
        }
        if isASCIIWhitespace(raw[i]) {
            pendingWhitespace.append(raw[i])
        } else {
            output.append(contentsOf: pendingWhitespace)
            pendingWhitespace = []
            output.append(raw[i])
            lastWasEncodedWord = false
        }
        i += 1
    }
    output.append(contentsOf: pendingWhitespace)
    return String(decoding: TextCharset.utf8Bytes(output[...], charset: nil), as: UTF8.self)
}

/// Parses `=?charset?B|Q?text?=` at `start` (RFC 2047 §2) into UTF-8 text.
private func parseEncodedWord(_ raw: [UInt8], at start: Int) -> (text: [UInt8], end: Int)? {
    // RFC 2047 §2: an encoded word is at most 75 characters; looking no further keeps a
    // hostile value full of "=?" linear.
    let limit = min(raw.count, start + 76)
    var i = start + 2
    let charsetStart = i
    while i < limit, raw[i] != 63, !isASCIIWhitespace(raw[i]) { i += 1 }
    guard i + 2 < limit, raw[i] == 63, raw[i + 2] == 63 else { return nil }
    let charset = String(decoding: raw[charsetStart..<i], as: UTF8.self)
    let encoding = asciiLower(raw[i + 1])
    let textStart = i + 3
    var j = textStart
    while j + 1 < limit, !(raw[j] == 63 && raw[j + 1] == 61) {
        if isASCIIWhitespace(raw[j]) { return nil }
        j += 1
    }
    guard j + 1 < limit else { return nil }
    let encoded = raw[textStart..<j]
    let decoded: [UInt8]
    switch encoding {
    case 98: decoded = TransferDecoding.base64(encoded)
    case 113: decoded = TransferDecoding.quotedPrintable(encoded, underscoreIsSpace: true)
    default: return nil
    }
    return (TextCharset.utf8Bytes(decoded[...], charset: charset), j + 2)
}

/// What HTML parts did that a reader does not see (see `SpamDocument.structure`).
struct HTMLFeatures {
    private(set) var items: [String] = []
    private var seen: Set<String> = []
    var images = 0
    /// Off, nothing is looked at or noted (the filter's default tokens do not use them, and
    /// the attribute searches were a sixth of postamt-spamcheck's CPU on HTML mail).
    let enabled: Bool

    init(enabled: Bool = true) { self.enabled = enabled }

    mutating func insert(_ item: String) {
        guard enabled else { return }
        if seen.insert(item).inserted { items.append(item) }
    }

    /// One opening tag and its attribute text.
    mutating func tag(_ name: String, attributes: ArraySlice<UInt8>) {
        guard enabled else { return }
        guard name.utf8.count <= 12 else { insert("tag:long"); return }
        insert("tag:" + name)
        if name == "img" { images += 1 }
        guard !attributes.isEmpty else { return }
        let bytes = attributes.filter { !isASCIIWhitespace($0) }.map(asciiLower)
        let lower = String(decoding: bytes, as: UTF8.self)
        if lower.contains("display:none") || lower.contains("visibility:hidden") { insert("hidden") }
        if name == "font" {
            if lower.contains("size=1") || lower.contains("size=\"1\"") || lower.contains("size=\"-") || lower.contains("size=-") {
                insert("tinyfont")
            }
            if lower.contains("color=#ffffff") || lower.contains("color=\"#ffffff\"") || lower.contains("color=\"white\"")
                || lower.contains("color=white") || lower.contains("color=\"#fff\"") {
                insert("whitetext")
            }
        }
        if let at = findCaseInsensitive(bytes, from: 0, "font-size:") {
            let digits = bytes[(at + 10)...].prefix { $0 >= 48 && $0 <= 57 }
            if let size = Int(String(decoding: digits, as: UTF8.self)), size <= 3 { insert("tinyfont") }
        }
    }
}

/// Reduces HTML to its text: tags and comments removed, style and script contents dropped,
/// common entities decoded, and the URLs of `href`, `src` and `action` attributes kept as
/// words (they are among the strongest spam clues).
enum HTMLText {
    static func strip(_ html: [UInt8]) -> [UInt8] {
        var features = HTMLFeatures(enabled: false)
        return strip(html, features: &features)
    }

    /// Also notes in `features` what the markup does that readers do not see: hidden text,
    /// tiny fonts, text in white, images, comments inside text, and the tag names used.
    static func strip(_ html: [UInt8], features: inout HTMLFeatures) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(html.count / 2)
        var i = 0
        let n = html.count
        while i < n {
            let byte = html[i]
            if byte == 60 {  // "<"
                if startsWith(html, i, "<!--") {
                    // A comment joins the text around it: spammers split words with comments.
                    if let last = output.last, !isASCIIWhitespace(last) { features.insert("comment-in-text") }
                    i = find(html, from: i + 4, "-->").map { $0 + 3 } ?? n
                    continue
                }
                let nameStart = i + 1 + (i + 1 < n && html[i + 1] == 47 ? 1 : 0)
                guard nameStart < n, isASCIILetter(html[nameStart]) || html[nameStart] == 33 || html[nameStart] == 63 else {
                    output.append(byte); i += 1; continue
                }
                var nameEnd = nameStart
                while nameEnd < n, isASCIILetter(html[nameEnd]) || (html[nameEnd] >= 48 && html[nameEnd] <= 57) { nameEnd += 1 }
                let name = String(decoding: html[nameStart..<nameEnd].map(asciiLower), as: UTF8.self)
                let tagEnd = findTagEnd(html, from: nameEnd)
                if html[nameStart - 1] != 47, !name.isEmpty {
                    features.tag(name, attributes: html[nameEnd..<tagEnd])
                }
                extractURLs(html[nameEnd..<tagEnd], into: &output)
                i = min(n, tagEnd + 1)
                if (name == "style" || name == "script"), html[nameStart - 1] != 47 {
                    // Skip the contents up to the closing tag.
                    i = findCaseInsensitive(html, from: i, "</" + name).map { findTagEnd(html, from: $0) + 1 } ?? n
                    i = min(i, n)
                }
                if blockTags.contains(name) { output.append(32) }
                continue
            }
            if byte == 38, let (decoded, next) = decodeEntity(html, at: i) {  // "&"
                output.append(contentsOf: decoded)
                i = next
                continue
            }
            output.append(byte)
            i += 1
        }
        return output
    }

    static let blockTags: Set<String> = [
        "br", "p", "div", "td", "th", "tr", "li", "ul", "ol", "table", "title", "hr", "h1", "h2", "h3",
        "h4", "h5", "h6", "blockquote", "body", "head", "html", "img", "a", "option", "pre",
    ]

    private static func findTagEnd(_ html: [UInt8], from start: Int) -> Int {
        var quote: UInt8 = 0
        var i = start
        while i < html.count {
            let b = html[i]
            if quote != 0 {
                if b == quote { quote = 0 }
            } else if b == 34 || b == 39 {
                quote = b
            } else if b == 62 {
                return i
            }
            i += 1
            // An unclosed quote must not swallow the whole document.
            if quote != 0, i - start > 2048 { quote = 0 }
        }
        return html.count
    }

    private static func extractURLs(_ attributes: ArraySlice<UInt8>, into output: inout [UInt8]) {
        for attribute in ["href", "src", "action"] {
            var searchFrom = attributes.startIndex
            while let at = findCaseInsensitive(attributes, from: searchFrom, attribute) {
                var i = at + attribute.utf8.count
                searchFrom = i
                while i < attributes.endIndex, isASCIIWhitespace(attributes[i]) { i += 1 }
                guard i < attributes.endIndex, attributes[i] == 61 else { continue }
                i += 1
                while i < attributes.endIndex, isASCIIWhitespace(attributes[i]) { i += 1 }
                guard i < attributes.endIndex else { break }
                var end = i
                if attributes[i] == 34 || attributes[i] == 39 {
                    let quote = attributes[i]
                    i += 1
                    end = i
                    while end < attributes.endIndex, attributes[end] != quote { end += 1 }
                } else {
                    while end < attributes.endIndex, !isASCIIWhitespace(attributes[end]) { end += 1 }
                }
                output.append(32)
                output.append(contentsOf: attributes[i..<end])
                output.append(32)
                searchFrom = end
            }
        }
    }

    private static let namedEntities: [String: UInt32] = [
        "amp": 38, "lt": 60, "gt": 62, "quot": 34, "apos": 39, "nbsp": 32, "copy": 0xA9, "reg": 0xAE,
    ]

    private static func decodeEntity(_ html: [UInt8], at start: Int) -> ([UInt8], Int)? {
        var i = start + 1
        while i < html.count, i - start <= 10, html[i] != 59, !isASCIIWhitespace(html[i]), html[i] != 38 { i += 1 }
        guard i < html.count, html[i] == 59, i > start + 1 else { return nil }
        let body = html[(start + 1)..<i]
        var scalarValue: UInt32?
        if body.first == 35 {
            let digits = body.dropFirst()
            if let x = digits.first, x == 120 || x == 88 {
                scalarValue = UInt32(String(decoding: digits.dropFirst(), as: UTF8.self), radix: 16)
            } else {
                scalarValue = UInt32(String(decoding: digits, as: UTF8.self))
            }
        } else {
            scalarValue = namedEntities[String(decoding: body.map(asciiLower), as: UTF8.self)]
        }
        guard let value = scalarValue, let scalar = Unicode.Scalar(value) else { return nil }
        return (Array(String(Character(scalar)).utf8), i + 1)
    }
}

@inline(__always)
func isASCIILetter(_ b: UInt8) -> Bool { (b | 0x20) >= 97 && (b | 0x20) <= 122 }

func startsWith(_ bytes: [UInt8], _ at: Int, _ prefix: String) -> Bool {
    var i = at
    for p in prefix.utf8 {
        guard i < bytes.count, bytes[i] == p else { return false }
        i += 1
    }
    return true
}

func find(_ bytes: [UInt8], from start: Int, _ needle: String) -> Int? {
    let pattern = Array(needle.utf8)
    guard let first = pattern.first, bytes.count >= pattern.count else { return nil }
    var i = start
    while i + pattern.count <= bytes.count {
        if bytes[i] == first, bytes[i..<(i + pattern.count)].elementsEqual(pattern) { return i }
        i += 1
    }
    return nil
}

func findCaseInsensitive<C: Collection>(_ bytes: C, from start: C.Index, _ needle: String) -> C.Index?
where C.Element == UInt8, C.Index == Int {
    let pattern = Array(needle.utf8.map(asciiLower))
    guard !pattern.isEmpty else { return nil }
    var i = start
    while i + pattern.count <= bytes.endIndex {
        var matched = true
        for k in 0..<pattern.count where asciiLower(bytes[i + k]) != pattern[k] { matched = false; break }
        if matched { return i }
        i += 1
    }
    return nil
}

func containsCaseInsensitive<C: Collection>(_ bytes: C, _ needle: String) -> Bool
where C.Element == UInt8, C.Index == Int {
    findCaseInsensitive(bytes, from: bytes.startIndex, needle) != nil
}

func containsSequence(_ bytes: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, bytes.count >= needle.count else { return false }
    var i = bytes.startIndex
    while i + needle.count <= bytes.endIndex {
        if bytes[i..<(i + needle.count)].elementsEqual(needle) { return true }
        i += 1
    }
    return false
}

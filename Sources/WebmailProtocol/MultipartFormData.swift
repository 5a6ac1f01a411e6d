/// multipart/form-data bodies (RFC 7578 on RFC 2046 §5.1.1): what a browser sends for a form
/// with a file input. No I/O; every size is bounded by `MultipartLimits`, and anything malformed
/// is refused as a whole (400), never guessed at:
///
/// - the boundary must be 1–70 characters of RFC 2046's bchars, not ending in a space;
/// - the body must start with "--boundary" (browsers send no preamble) and end with the close
///   delimiter "--boundary--" (what follows it, the epilogue, is ignored);
/// - each part's header section ends with an empty line, lines end in CRLF, no bare CR or LF,
///   no obsolete folding, and it names the field: `Content-Disposition: form-data; name="…"`;
/// - names and text values are UTF-8.
///
/// A delimiter is CRLF "--" boundary: the CRLF before it belongs to the delimiter, not to the
/// part's content (RFC 2046 §5.1.1), so a file's last line break survives.

/// Bounds on one multipart body (postamt.conf(5): webmail_form_*).
public struct MultipartLimits: Sendable, Equatable {
    /// Parts in the body (413 above it).
    public var parts: Int
    /// One part's header section, CRLFs included (431 above it).
    public var partHeaderBytes: Int
    /// The contents of all parts together (413 above it).
    public var totalBytes: Int

    public init(parts: Int = 100, partHeaderBytes: Int = 8192, totalBytes: Int = 25 << 20) {
        self.parts = parts; self.partHeaderBytes = partHeaderBytes; self.totalBytes = totalBytes
    }
}

/// One part of a form: a field (no filename) or a file.
public struct FormPart: Sendable, Equatable {
    public var name: String
    /// The file's name as the browser sent it, without any directory; nil for a plain field.
    public var filename: String?
    /// The part's Content-Type, lowercased; "text/plain" when absent (RFC 7578 §4.4).
    public var contentType: String
    public var content: [UInt8]

    public init(name: String, filename: String? = nil, contentType: String = "text/plain", content: [UInt8]) {
        self.name = name; self.filename = filename; self.contentType = contentType; self.content = content
    }
}

public enum MultipartFormData {
    /// The boundary parameter of a `multipart/form-data` Content-Type; nil when the type is
    /// another or the boundary is missing or not RFC 2046's shape.
    public static func boundary(contentType: String) -> String? {
        let pieces = splitParameters(contentType)
        guard let type = pieces.first, type.lowercased() == "multipart/form-data" else { return nil }
        for piece in pieces.dropFirst() {
            guard let (name, value) = parameter(piece), name == "boundary" else { continue }
            return isValidBoundary(value) ? value : nil
        }
        return nil
    }

    /// RFC 2046 §5.1.1: bchars, 1 to 70 of them, the last not a space.
    public static func isValidBoundary(_ boundary: String) -> Bool {
        let bytes = Array(boundary.utf8)
        guard !bytes.isEmpty, bytes.count <= 70, bytes.last != 0x20 else { return false }
        return bytes.allSatisfy { b in
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "'()+_,-./:=? ".utf8.contains(b)
            }
        }
    }

    /// The parts of `body` in order; throws the status to answer with.
    public static func parse(_ body: [UInt8], boundary: String, limits: MultipartLimits = MultipartLimits()) throws(HTTPError) -> [FormPart] {
        guard isValidBoundary(boundary) else { throw HTTPError(400, "malformed multipart boundary") }
        let dashBoundary = Array("--\(boundary)".utf8)
        let delimiter = [13, 10] + dashBoundary
        guard body.count >= dashBoundary.count, Array(body[0..<dashBoundary.count]) == dashBoundary else {
            throw HTTPError(400, "multipart body does not start with its boundary")
        }
        var p = dashBoundary.count
        var parts: [FormPart] = []
        var total = 0
        while true {
            // After a delimiter: "--" closes the body; else transport padding, then CRLF.
            if p + 1 < body.count, body[p] == UInt8(ascii: "-"), body[p + 1] == UInt8(ascii: "-") { return parts }
            while p < body.count, body[p] == 0x20 || body[p] == 0x09 { p += 1 }
            guard p + 1 < body.count, body[p] == 13, body[p + 1] == 10 else { throw HTTPError(400, "malformed multipart delimiter line") }
            p += 2
            guard parts.count < limits.parts else { throw HTTPError(413, "too many parts in the form") }
            // The part's header section.
            var fields: [(name: String, value: String)] = []
            let headerStart = p
            while true {
                guard let stop = lineEnd(body, from: p) else { throw HTTPError(400, "multipart part header not terminated") }
                guard stop + 2 - headerStart <= limits.partHeaderBytes else { throw HTTPError(431, "a part's header section is too large") }
                if stop == p { p += 2; break }
                let line = body[p..<stop]
                guard line.first != 0x20, line.first != 0x09 else { throw HTTPError(400, "obsolete line folding in a part header") }
                guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                      line[line.startIndex..<colon].allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
                      let value = String(validating: line[(colon + 1)...], as: UTF8.self) else {
                    throw HTTPError(400, "malformed part header field")
                }
                guard value.unicodeScalars.allSatisfy({ $0 == "\t" || ($0.value >= 0x20 && $0.value != 0x7F) }) else {
                    throw HTTPError(400, "control character in a part header field")
                }
                fields.append((String(decoding: line[line.startIndex..<colon], as: UTF8.self).lowercased(), value.trimmingCharacters(in: " \t")))
                p = stop + 2
            }
            // The content runs to the next delimiter.
            guard let end = find(delimiter, in: body, from: p) else {
                throw HTTPError(400, "multipart body without its close delimiter")
            }
            total += end - p
            guard total <= limits.totalBytes else { throw HTTPError(413, "the form's contents are too large") }
            parts.append(try part(fields: fields, content: Array(body[p..<end])))
            p = end + delimiter.count
        }
    }

    /// The part from its header fields: Content-Disposition form-data with a name is required.
    static func part(fields: [(name: String, value: String)], content: [UInt8]) throws(HTTPError) -> FormPart {
        let dispositions = fields.filter { $0.name == "content-disposition" }
        guard dispositions.count == 1 else { throw HTTPError(400, "a part needs exactly one Content-Disposition") }
        let pieces = splitParameters(dispositions[0].value)
        guard pieces.first?.lowercased() == "form-data" else { throw HTTPError(400, "a part's disposition is not form-data") }
        var name: String?, filename: String?
        for piece in pieces.dropFirst() {
            guard let (key, value) = parameter(piece) else { throw HTTPError(400, "malformed Content-Disposition parameter") }
            switch key {
            case "name":
                guard name == nil else { throw HTTPError(400, "two names for one part") }
                name = value
            case "filename":
                guard filename == nil else { throw HTTPError(400, "two file names for one part") }
                filename = value
            default:
                continue  // filename* and others: RFC 7578 §4.2 says not to use them
            }
        }
        guard let name, !name.isEmpty else { throw HTTPError(400, "a part without a name") }
        var contentType = "text/plain"
        let types = fields.filter { $0.name == "content-type" }
        guard types.count <= 1 else { throw HTTPError(400, "two Content-Type fields in a part") }
        if let type = types.first {
            contentType = (splitParameters(type.value).first ?? "").lowercased()
            let halves = contentType.split(separator: "/", omittingEmptySubsequences: false)
            guard halves.count == 2, halves.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(isTokenByte) }) else {
                throw HTTPError(400, "malformed Content-Type in a part")
            }
        }
        if filename == nil, String(validating: content, as: UTF8.self) == nil {
            throw HTTPError(400, "a form field is not UTF-8")
        }
        // Some browsers send the whole path of the file: keep only its last component.
        let base = filename.map { String($0.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last ?? "") }
        return FormPart(name: name, filename: base, contentType: contentType, content: content)
    }

    /// Splits at ";" outside quoted strings; pieces are trimmed.
    static func splitParameters(_ value: String) -> [String] {
        var pieces: [String] = [], current = "", quoted = false, escaped = false
        for c in value {
            if escaped { current.append(c); escaped = false; continue }
            if quoted && c == "\\" { current.append(c); escaped = true; continue }
            if c == "\"" { quoted.toggle() }
            if c == ";" && !quoted { pieces.append(current.trimmingCharacters(in: " \t")); current = ""; continue }
            current.append(c)
        }
        pieces.append(current.trimmingCharacters(in: " \t"))
        return pieces
    }

    /// `name=token` or `name="quoted string"`, name lowercased; nil when malformed.
    static func parameter(_ piece: String) -> (String, String)? {
        guard let equals = piece.firstIndex(of: "=") else { return nil }
        let name = piece[..<equals].trimmingCharacters(in: " \t").lowercased()
        let raw = piece[piece.index(after: equals)...].trimmingCharacters(in: " \t")
        guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else { return nil }
        guard raw.hasPrefix("\"") else {
            return raw.isEmpty || !raw.utf8.allSatisfy(isTokenByte) ? nil : (name, raw)
        }
        var value = "", escaped = false, closed = false
        for c in raw.dropFirst() {
            if closed { return nil }  // text after the closing quote
            if escaped { value.append(c); escaped = false; continue }
            if c == "\\" { escaped = true; continue }
            if c == "\"" { closed = true; continue }
            value.append(c)
        }
        return closed ? (name, value) : nil
    }

    /// RFC 9110 §5.6.2 tchar.
    public static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    /// The index of the CR ending the line at `from`; nil when there is none. A bare CR or LF
    /// ends nothing, so it makes the header unterminated or malformed.
    static func lineEnd(_ body: [UInt8], from: Int) -> Int? {
        var i = from
        while i + 1 < body.count {
            if body[i] == 10 { return nil }
            if body[i] == 13 { return body[i + 1] == 10 ? i : nil }
            i += 1
        }
        return nil
    }

    /// The first index of `needle` in `haystack` at or after `from`.
    public static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var i = max(0, from)
        let first = needle[0], last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first {
                var j = 1
                while j < needle.count && haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}

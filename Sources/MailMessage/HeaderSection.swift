/// One header field as it stands in the message: the name, and the raw value bytes after the
/// colon up to the end of its last continuation line (line ends excluded from `rawLine`'s end).
public struct HeaderField: Equatable, Sendable {
    public let name: String
    /// Everything after the colon, folding line breaks kept (LF or CRLF as in the input).
    public let rawValue: ArraySlice<UInt8>
    /// Byte range of the whole field in the message, its final line end included.
    public let range: Range<Int>

    /// The value unfolded (RFC 5322 §2.2.3: CRLF followed by WSP is just the WSP), trimmed.
    public var value: String {
        var out: [UInt8] = []
        out.reserveCapacity(rawValue.count)
        for b in rawValue where b != 0x0A && b != 0x0D { out.append(b) }
        return String(decoding: out, as: UTF8.self).trimmingWhitespace()
    }

    public func isNamed(_ other: String) -> Bool { name.lowercasedASCII() == other.lowercasedASCII() }
}

/// The header section of a message (RFC 5322 §2.2), parsed without copying the body.
///
/// It ends at the first empty line. A line that is neither a field (`name:` with printable
/// ASCII name) nor a continuation also ends it: that line belongs to the body, and `bodyStart`
/// points at it with `missingSeparator` set, so writers can insert the empty line (as Postfix's
/// cleanup does). Both LF and CRLF line ends are accepted.
public struct HeaderSection: Sendable {
    public let fields: [HeaderField]
    /// Offset of the first body byte (after the empty line, if there was one).
    public let bodyStart: Int
    /// The header section ended at a non-field line instead of an empty line.
    public let missingSeparator: Bool
    /// The input ended inside the header section (no body, or only headers).
    public let endedAtEOF: Bool

    public static func parse(_ bytes: [UInt8], limit: Int = Int.max) -> HeaderSection {
        bytes.withUnsafeBufferPointer { parse(buffer: $0, limit: limit) }
    }

    public static func parse(buffer bytes: UnsafeBufferPointer<UInt8>, limit: Int = Int.max) -> HeaderSection {
        var fields: [HeaderField] = []
        var i = 0
        let n = min(bytes.count, limit)
        var current: (name: String, valueStart: Int, start: Int)? = nil
        var valueEnd = 0

        func finish(at end: Int) {
            if let c = current {
                fields.append(HeaderField(name: c.name, rawValue: ArraySlice(bytes[c.valueStart..<valueEnd]), range: c.start..<end))
            }
            current = nil
        }

        while i < n {
            // Find the end of this line.
            var eol = i
            while eol < n && bytes[eol] != 0x0A { eol += 1 }
            let hasNewline = eol < n
            var contentEnd = eol
            if contentEnd > i && bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            let next = hasNewline ? eol + 1 : eol

            if contentEnd == i {
                // The empty line: end of the header section.
                finish(at: i)
                return HeaderSection(fields: fields, bodyStart: next, missingSeparator: false, endedAtEOF: false)
            }
            let first = bytes[i]
            if (first == 0x20 || first == 0x09) && current != nil {
                valueEnd = contentEnd
                i = next
                continue
            }
            // A field: a name of printable ASCII except colon, then a colon.
            var j = i
            while j < contentEnd && bytes[j] > 0x20 && bytes[j] < 0x7F && bytes[j] != 0x3A { j += 1 }
            // Tolerate white space between name and colon (obsolete syntax, RFC 5322 §4.5).
            var k = j
            while k < contentEnd && (bytes[k] == 0x20 || bytes[k] == 0x09) { k += 1 }
            if j > i && k < contentEnd && bytes[k] == 0x3A {
                finish(at: i)
                let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[i..<j]), as: UTF8.self)
                current = (name, k + 1, i)
                valueEnd = contentEnd
                i = next
                continue
            }
            // Not a header line: the body starts here.
            finish(at: i)
            return HeaderSection(fields: fields, bodyStart: i, missingSeparator: true, endedAtEOF: false)
        }
        finish(at: n)
        return HeaderSection(fields: fields, bodyStart: n, missingSeparator: false, endedAtEOF: true)
    }

    public func first(_ name: String) -> HeaderField? { fields.first { $0.isNamed(name) } }
    public func all(_ name: String) -> [HeaderField] { fields.filter { $0.isNamed(name) } }
    public func has(_ name: String) -> Bool { first(name) != nil }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }

    /// ASCII lowercasing (header names are ASCII; no locale, no Foundation).
    public func lowercasedASCII() -> String {
        String(decoding: utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
    }
}

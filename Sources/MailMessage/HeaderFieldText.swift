extension HeaderField {
    /// The raw value unfolded (RFC 5322 §2.2.3: CR and LF removed, the folding white space
    /// kept), with leading and trailing blanks trimmed; bytes as in the message.
    public var unfoldedBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(rawValue.count)
        for b in rawValue where b != 0x0A && b != 0x0D { out.append(b) }
        var start = 0, end = out.count
        while start < end && (out[start] == 0x20 || out[start] == 0x09) { start += 1 }
        while end > start && (out[end - 1] == 0x20 || out[end - 1] == 0x09) { end -= 1 }
        if start == 0 && end == out.count { return out }
        return Array(out[start..<end])
    }

    /// The unfolded value as text: UTF-8 when the bytes are valid UTF-8 (RFC 6532), Latin-1
    /// otherwise, so raw 8-bit headers from old mailers keep their letters. No RFC 2047 decoding.
    public var unfoldedText: String { Charset.fallback.decode(unfoldedBytes) }

    /// The unfolded value with RFC 2047 encoded words decoded: for display, search and filters.
    public var decodedText: String { EncodedWord.decode(bytes: unfoldedBytes) }
}

extension HeaderSection {
    /// The first field of each of `names` (keys lowercased), in one pass over the fields, so a
    /// header with very many fields costs one scan rather than one per name.
    public func firstFields(named names: [String]) -> [String: HeaderField] {
        let wanted = names.map { $0.lowercasedASCII() }
        let lengths = Set(wanted.map { $0.utf8.count })
        var found: [String: HeaderField] = [:]
        for field in fields where lengths.contains(field.name.utf8.count) {
            let key = field.name.lowercasedASCII()
            if found[key] == nil && wanted.contains(key) {
                found[key] = field
                if found.count == wanted.count { break }
            }
        }
        return found
    }
}

extension MIMEPart {
    /// A header field's byte range in the whole message (field ranges are relative to the part).
    public func absoluteRange(of field: HeaderField) -> Range<Int> {
        (field.range.lowerBound + range.lowerBound)..<(field.range.upperBound + range.lowerBound)
    }
}

import MailMessage

/// The message as a script sees it: header fields (editable by RFC 5293 editheader), the body
/// and the envelope. No I/O: built from the bytes postamt-local read.
public struct SieveMessage: Sendable {
    public struct Field: Sendable, Equatable {
        public var name: String
        /// Unfolded value as written (RFC 2047 words not decoded).
        public var value: String
        /// The field's bytes in the original message; nil for a field a script added.
        var original: Range<Int>?
    }

    public private(set) var fields: [Field]
    public let bytes: [UInt8]
    public let bodyStart: Int
    public var envelopeFrom: String
    public var envelopeTo: String
    /// The header was edited (editheader): `rendered()` differs from `bytes`.
    public private(set) var edited = false

    public init(bytes: [UInt8], envelopeFrom: String, envelopeTo: String) {
        let header = HeaderSection.parse(bytes, limit: 1 << 20)
        self.bytes = bytes
        self.bodyStart = min(header.bodyStart, bytes.count)
        self.fields = header.fields.map { Field(name: $0.name, value: $0.unfoldedText, original: $0.range) }
        self.envelopeFrom = envelopeFrom
        self.envelopeTo = envelopeTo
    }

    public var size: Int { bytes.count }

    /// The values of the fields called `name`, in order, RFC 2047 words decoded.
    public func values(_ name: String) -> [String] {
        let n = name.lowercasedASCII()
        return fields.filter { $0.name.lowercasedASCII() == n }.map { EncodedWord.decode($0.value) }
    }

    public func has(_ name: String) -> Bool {
        let n = name.lowercasedASCII()
        return fields.contains { $0.name.lowercasedASCII() == n }
    }

    public var body: ArraySlice<UInt8> { bytes[bodyStart...] }

    mutating func add(_ name: String, _ value: String, last: Bool) {
        let f = Field(name: name, value: value, original: nil)
        if last { fields.append(f) } else { fields.insert(f, at: 0) }
        edited = true
    }

    mutating func delete(where predicate: (Int, Field) -> Bool) {
        var kept: [Field] = []
        for (i, f) in fields.enumerated() {
            if predicate(i, f) { edited = true } else { kept.append(f) }
        }
        fields = kept
    }

    /// The message with the edited header (the original bytes when nothing changed).
    public func rendered() -> [UInt8] {
        guard edited else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 256)
        for f in fields {
            if let r = f.original {
                out += bytes[r]
                if out.last != 0x0A { out.append(0x0A) }
            } else {
                out += Array("\(f.name): \(f.value)\n".utf8)
            }
        }
        out.append(0x0A) // the empty line that ends the header
        out += body
        return out
    }

    /// The text of the body for the `body` test (RFC 5173 §5): :raw is the undecoded body;
    /// :text the decoded text parts; :content the parts of those media types.
    func bodyTexts(_ transform: SieveBodyTransform, limit: Int) -> [String] {
        switch transform {
        case .raw:
            return [String(decoding: body.prefix(limit), as: UTF8.self)]
        case .text:
            return MIMEMessage(parsing: bytes).textContents(limit: limit)
        case .content(let types):
            let mime = MIMEMessage(parsing: bytes)
            var out: [String] = []
            mime.root.forEachPart { part in
                guard !part.isMultipart else { return }
                let t = part.contentType.type.lowercasedASCII(), s = part.contentType.subtype.lowercasedASCII()
                let wanted = types.contains { want in
                    let w = want.lowercasedASCII()
                    return w.isEmpty || w == t || w == "\(t)/\(s)"
                }
                if wanted { out.append(mime.text(of: part, limit: limit)) }
            }
            return out
        }
    }
}

extension IMAPByteCursor {
    /// `objectid = 1*255(ALPHA / DIGIT / "_" / "-")` (RFC 8474 §7).
    mutating func readObjectID() throws(IMAPParseError) -> String {
        let id = readWhile { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        guard !id.isEmpty, id.count <= 255 else { throw error("Expected an object id") }
        return String(decoding: id, as: UTF8.self)
    }
}

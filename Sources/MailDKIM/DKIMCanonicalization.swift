/// DKIM canonicalisation (RFC 6376 §3.4), "relaxed" for headers and body, over a message
/// whose line ends are already CRLF (see `DKIMMessage.normalizingLineEnds`).
///
/// The signer's entry points; the work is DKIMCanonical's, which the verifier uses too, so
/// signer and verifier cannot see different bytes.
public enum DKIMCanonicalization {
    /// RFC 6376 §3.4.2: lower-case the name, unfold, squeeze runs of WSP to one SP, drop WSP
    /// at the end of the value and around the colon. Returns "name:value" CRLF.
    public static func relaxedHeader(_ field: [UInt8]) -> [UInt8] {
        guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else { return field }
        var name = Array(field[..<colon])
        while let last = name.last, DKIMCanonical.isWSP(last) { name.removeLast() }
        return DKIMCanonical.header(name: String(decoding: name, as: UTF8.self), rawValue: field[(colon + 1)...], relaxed: true) + [13, 10]
    }

    /// RFC 6376 §3.4.4: WSP at line ends removed, runs of WSP squeezed to one SP, empty lines
    /// at the end removed; a non-empty body ends in CRLF.
    public static func relaxedBody(_ body: ArraySlice<UInt8>) -> [UInt8] {
        DKIMCanonical.body(body, relaxed: true)
    }
}

/// A message split into header fields and body, with CRLF line ends throughout.
public struct DKIMMessage: Sendable {
    /// Each field with its folded continuation lines, ending in CRLF.
    public var fields: [[UInt8]]
    public var body: ArraySlice<UInt8>
    /// The whole message as sent (CRLF line ends).
    public let bytes: [UInt8]

    /// Every CRLF, bare CR and bare LF becomes CRLF: the same bytes `SMTPDataEncoder` puts on
    /// the wire (before dot-stuffing), so what we sign is what the receiver sees.
    public static func normalizingLineEnds(_ message: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + message.count / 32)
        var lastWasCR = false
        for b in message {
            if lastWasCR { lastWasCR = false; if b == 10 { continue } }
            if b == 13 { out += [13, 10]; lastWasCR = true }
            else if b == 10 { out += [13, 10] }
            else { out.append(b) }
        }
        return out
    }

    /// `crlfMessage` must already be normalised.
    public init(crlfMessage: [UInt8]) {
        bytes = crlfMessage
        var fields: [[UInt8]] = []
        var i = 0
        var bodyStart = crlfMessage.count
        while i < crlfMessage.count {
            // End of the header section: an empty line.
            if crlfMessage[i] == 13, i + 1 < crlfMessage.count, crlfMessage[i + 1] == 10 {
                bodyStart = i + 2
                break
            }
            var end = i
            while end < crlfMessage.count {
                if crlfMessage[end] == 13, end + 1 < crlfMessage.count, crlfMessage[end + 1] == 10 {
                    end += 2
                    if end < crlfMessage.count, DKIMCanonical.isWSP(crlfMessage[end]) { continue }
                    break
                }
                end += 1
            }
            let field = Array(crlfMessage[i..<end])
            if field.first.map(DKIMCanonical.isWSP) == true, !fields.isEmpty {
                fields[fields.count - 1] += field  // a stray continuation
            } else {
                fields.append(field)
            }
            i = end
        }
        self.fields = fields
        body = crlfMessage[min(bodyStart, crlfMessage.count)...]
    }

    /// The field's name, lower case.
    public static func name(of field: [UInt8]) -> String {
        let end = field.firstIndex(of: UInt8(ascii: ":")) ?? field.endIndex
        return String(decoding: field[..<end], as: UTF8.self).trimmingCharacters().lowercased()
    }

    /// The unfolded value of the first field named `name`.
    public func value(of name: String) -> String? {
        guard let f = fields.first(where: { DKIMMessage.name(of: $0) == name }),
              let colon = f.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return String(decoding: f[(colon + 1)...].filter { $0 != 13 && $0 != 10 }, as: UTF8.self).trimmingCharacters()
    }
}

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

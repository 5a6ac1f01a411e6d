/// DKIM canonicalisation (RFC 6376 §3.4), "relaxed" for headers and body, over a message
/// whose line ends are already CRLF (see `DKIMMessage.normalizingLineEnds`).
///
/// Shared by the signer here and by a verifier (the spam filter's): both must see the same
/// bytes, so both call these functions.
public enum DKIMCanonicalization {
    static func isWSP(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }

    /// RFC 6376 §3.4.2: lower-case the name, unfold, squeeze runs of WSP to one SP, drop WSP
    /// at the end of the value and around the colon. Returns "name:value" CRLF.
    public static func relaxedHeader(_ field: [UInt8]) -> [UInt8] {
        guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else { return field }
        var name = Array(field[..<colon])
        while let last = name.last, isWSP(last) { name.removeLast() }
        name = name.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
        var value: [UInt8] = []
        var pendingSpace = false
        for b in field[(colon + 1)...] {
            if b == 13 || b == 10 { continue }  // unfold
            if isWSP(b) { pendingSpace = true; continue }
            if pendingSpace && !value.isEmpty { value.append(0x20) }
            pendingSpace = false
            value.append(b)
        }
        return name + [UInt8(ascii: ":")] + value + [13, 10]
    }

    /// RFC 6376 §3.4.4: WSP at line ends removed, runs of WSP squeezed to one SP, empty lines
    /// at the end removed; a non-empty body ends in CRLF.
    public static func relaxedBody(_ body: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var line: [UInt8] = []
        var emptyLines = 0
        var i = body.startIndex
        func flush(_ line: inout [UInt8]) {
            while let last = line.last, isWSP(last) { line.removeLast() }
            if line.isEmpty { emptyLines += 1; return }
            for _ in 0..<emptyLines { out += [13, 10] }
            emptyLines = 0
            out += line
            out += [13, 10]
        }
        while i < body.endIndex {
            let b = body[i]
            if b == 13, i + 1 < body.endIndex, body[i + 1] == 10 {
                flush(&line)
                line.removeAll(keepingCapacity: true)
                i += 2
                continue
            }
            if isWSP(b) {
                if line.last != 0x20 { line.append(0x20) }
            } else {
                line.append(b)
            }
            i += 1
        }
        if !line.isEmpty { flush(&line) }
        return out
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
                    if end < crlfMessage.count, DKIMCanonicalization.isWSP(crlfMessage[end]) { continue }
                    break
                }
                end += 1
            }
            let field = Array(crlfMessage[i..<end])
            if field.first.map(DKIMCanonicalization.isWSP) == true, !fields.isEmpty {
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

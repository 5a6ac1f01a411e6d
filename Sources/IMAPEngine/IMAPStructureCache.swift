import IMAPProtocol

/// ENVELOPE and BODYSTRUCTURE of a message, kept in the folder's `postamt-cache` (the blob of
/// `MessageCacheEntry`), so that a client's first look at a large folder (every message's
/// ENVELOPE and BODYSTRUCTURE) parses each message once, not once per session.
///
/// Format: version byte 1, then the envelope and the structure, every string as a presence
/// byte and a 32-bit length, every list as a 32-bit count. A blob that does not decode exactly
/// (to its last byte) is ignored and rebuilt.
enum IMAPStructureCache {
    static let version: UInt8 = 1

    static func encode(_ envelope: IMAPEnvelope, _ structure: IMAPBodyStructure) -> [UInt8] {
        var writer = Writer()
        writer.bytes.append(version)
        writer.envelope(envelope)
        writer.structure(structure)
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) -> (IMAPEnvelope, IMAPBodyStructure)? {
        var reader = Reader(bytes: bytes)
        guard reader.byte() == version, let envelope = reader.envelope(), let structure = reader.structure(depth: 0),
              reader.index == bytes.count || reader.preview() != nil else { return nil }
        return (envelope, structure)
    }

    /// After the structure, optionally: the byte "P" and the PREVIEW text (RFC 8970), added the
    /// first time a client asks for it (IMAPPreview.swift).
    static let previewMarker = UInt8(ascii: "P")

    /// `blob` with `preview` appended (any earlier one replaced); nil when the blob does not
    /// decode.
    static func withPreview(_ blob: [UInt8], _ preview: String) -> [UInt8]? {
        var reader = Reader(bytes: blob)
        guard reader.byte() == version, reader.envelope() != nil, reader.structure(depth: 0) != nil else { return nil }
        var writer = Writer()
        writer.bytes = Array(blob[0..<reader.index])
        writer.bytes.append(previewMarker)
        writer.text(preview)
        return writer.bytes
    }

    /// The cached PREVIEW text, or nil when the blob has none (or does not decode).
    static func decodePreview(_ blob: [UInt8]) -> String? {
        var reader = Reader(bytes: blob)
        guard reader.byte() == version, reader.envelope() != nil, reader.structure(depth: 0) != nil else { return nil }
        return reader.preview()
    }

    /// The envelope alone (SEARCH SUBJECT/FROM/…), without decoding the structure after it.
    static func decodeEnvelope(_ bytes: [UInt8]) -> IMAPEnvelope? {
        var reader = Reader(bytes: bytes)
        guard reader.byte() == version else { return nil }
        return reader.envelope()
    }

    /// The envelope's subject alone (SEARCH SUBJECT): .some(nil) when the message has none,
    /// nil when the blob does not decode.
    static func decodeSubject(_ bytes: [UInt8]) -> [UInt8]?? {
        var reader = Reader(bytes: bytes)
        guard reader.byte() == version, reader.data() != nil else { return nil } // the date
        return reader.data()
    }

    /// The envelope's address lists in their order in the blob (and in ENVELOPE).
    enum AddressList: Int { case from, sender, replyTo, to, cc, bcc }

    /// One address list of the envelope alone (SEARCH FROM/TO/CC/BCC); nil when the blob does
    /// not decode.
    static func decodeAddresses(_ bytes: [UInt8], _ which: AddressList) -> [IMAPAddress]? {
        var reader = Reader(bytes: bytes)
        guard reader.byte() == version, reader.skipData(), reader.skipData() else { return nil } // date, subject
        for _ in 0..<which.rawValue {
            guard let n = reader.count(), n <= bytes.count else { return nil }
            for _ in 0..<(4 * n) { guard reader.skipData() else { return nil } }
        }
        return reader.addresses()
    }

    struct Writer {
        var bytes: [UInt8] = []

        mutating func count(_ n: Int) {
            let v = UInt32(truncatingIfNeeded: n)
            bytes += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
        }
        mutating func u64(_ v: UInt64) { count(Int(v >> 32)); count(Int(v & 0xFFFF_FFFF)) }
        mutating func data(_ value: [UInt8]?) {
            guard let value else { bytes.append(0); return }
            bytes.append(1); count(value.count); bytes += value
        }
        mutating func text(_ value: String?) { data(value.map { Array($0.utf8) }) }
        mutating func addresses(_ list: [IMAPAddress]) {
            count(list.count)
            for a in list { data(a.name); data(a.adl); data(a.mailbox); data(a.host) }
        }
        mutating func envelope(_ e: IMAPEnvelope) {
            data(e.date); data(e.subject)
            for list in [e.from, e.sender, e.replyTo, e.to, e.cc, e.bcc] { addresses(list) }
            data(e.inReplyTo); data(e.messageID)
        }
        mutating func parameters(_ list: [IMAPBodyParameter]) {
            count(list.count)
            for p in list { text(p.name); data(p.value) }
        }
        mutating func extensionData(_ x: IMAPBodyExtension) {
            if let d = x.disposition { bytes.append(1); text(d.type); parameters(d.parameters) } else { bytes.append(0) }
            if let language = x.language { bytes.append(1); count(language.count); for l in language { text(l) } } else { bytes.append(0) }
            data(x.location)
        }
        mutating func structure(_ s: IMAPBodyStructure) {
            switch s {
            case .multipart(let m):
                bytes.append(2)
                count(m.parts.count)
                for p in m.parts { structure(p) }
                text(m.subtype); parameters(m.parameters); extensionData(m.extensionData)
            case .single(let p):
                bytes.append(1)
                text(p.type); text(p.subtype); parameters(p.parameters); data(p.id); data(p.description)
                text(p.encoding); u64(p.octets)
                switch p.kind {
                case .basic: bytes.append(0)
                case .text(let lines): bytes.append(1); u64(lines)
                case .message(let e, let body, let lines): bytes.append(2); envelope(e); structure(body); u64(lines)
                }
                data(p.md5); extensionData(p.extensionData)
            }
        }
    }

    struct Reader {
        let bytes: [UInt8]
        var index = 0

        mutating func byte() -> UInt8? {
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return bytes[index]
        }
        mutating func count() -> Int? {
            guard index + 4 <= bytes.count else { return nil }
            defer { index += 4 }
            return Int(bytes[index]) << 24 | Int(bytes[index + 1]) << 16 | Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
        }
        mutating func u64() -> UInt64? {
            guard let high = count(), let low = count() else { return nil }
            return UInt64(high) << 32 | UInt64(low)
        }
        /// nil: malformed; .some(nil): absent.
        mutating func data() -> [UInt8]?? {
            guard let flag = byte() else { return nil }
            if flag == 0 { return .some(nil) }
            guard flag == 1, let n = count(), index + n <= bytes.count else { return nil }
            defer { index += n }
            return .some(Array(bytes[index..<(index + n)]))
        }
        /// `data()` without copying it out: false when malformed.
        mutating func skipData() -> Bool {
            guard let flag = byte() else { return false }
            if flag == 0 { return true }
            guard flag == 1, let n = count(), index + n <= bytes.count else { return false }
            index += n
            return true
        }
        mutating func text() -> String?? {
            guard let value = data() else { return nil }
            return .some(value.map { String(decoding: $0, as: UTF8.self) })
        }
        mutating func required() -> String? {
            guard let value = text(), let text = value else { return nil }
            return text
        }
        mutating func addresses() -> [IMAPAddress]? {
            guard let n = count(), n <= bytes.count else { return nil }
            var list: [IMAPAddress] = []
            for _ in 0..<n {
                guard let name = data(), let adl = data(), let mailbox = data(), let host = data() else { return nil }
                list.append(IMAPAddress(name: name, adl: adl, mailbox: mailbox, host: host))
            }
            return list
        }
        mutating func envelope() -> IMAPEnvelope? {
            guard let date = data(), let subject = data() else { return nil }
            var lists: [[IMAPAddress]] = []
            for _ in 0..<6 { guard let list = addresses() else { return nil }; lists.append(list) }
            guard let inReplyTo = data(), let messageID = data() else { return nil }
            return IMAPEnvelope(date: date, subject: subject, from: lists[0], sender: lists[1], replyTo: lists[2],
                                to: lists[3], cc: lists[4], bcc: lists[5], inReplyTo: inReplyTo, messageID: messageID)
        }
        mutating func parameters() -> [IMAPBodyParameter]? {
            guard let n = count(), n <= bytes.count else { return nil }
            var list: [IMAPBodyParameter] = []
            for _ in 0..<n {
                guard let name = required(), let value = data(), let v = value else { return nil }
                list.append(IMAPBodyParameter(name, v))
            }
            return list
        }
        mutating func extensionData() -> IMAPBodyExtension? {
            var x = IMAPBodyExtension()
            guard let hasDisposition = byte() else { return nil }
            if hasDisposition == 1 {
                guard let type = required(), let parameters = parameters() else { return nil }
                x.disposition = IMAPBodyDisposition(type: type, parameters: parameters)
            }
            guard let hasLanguage = byte() else { return nil }
            if hasLanguage == 1 {
                guard let n = count(), n <= bytes.count else { return nil }
                var language: [String] = []
                for _ in 0..<n { guard let l = required() else { return nil }; language.append(l) }
                x.language = language
            }
            guard let location = data() else { return nil }
            x.location = location
            return x
        }
        /// The optional PREVIEW section, which must end the blob.
        mutating func preview() -> String? {
            guard byte() == IMAPStructureCache.previewMarker, let text = text(), let text, index == bytes.count else { return nil }
            return text
        }

        mutating func structure(depth: Int) -> IMAPBodyStructure? {
            guard depth < 200, let kind = byte() else { return nil }
            if kind == 2 {
                guard let n = count(), n <= bytes.count else { return nil }
                var parts: [IMAPBodyStructure] = []
                for _ in 0..<n { guard let p = structure(depth: depth + 1) else { return nil }; parts.append(p) }
                guard let subtype = required(), let parameters = parameters(), let x = extensionData() else { return nil }
                return .multipart(IMAPMultipart(parts: parts, subtype: subtype, parameters: parameters, extensionData: x))
            }
            guard kind == 1, let type = required(), let subtype = required(), let parameters = parameters(),
                  let id = data(), let description = data(), let encoding = required(), let octets = u64(),
                  let partKind = byte() else { return nil }
            let bodyKind: IMAPBodyPart.Kind
            switch partKind {
            case 0: bodyKind = .basic
            case 1: guard let lines = u64() else { return nil }; bodyKind = .text(lines: lines)
            case 2:
                guard let e = envelope(), let body = structure(depth: depth + 1), let lines = u64() else { return nil }
                bodyKind = .message(envelope: e, body: body, lines: lines)
            default: return nil
            }
            guard let md5 = data(), let x = extensionData() else { return nil }
            return .single(IMAPBodyPart(type: type, subtype: subtype, parameters: parameters, id: id, description: description,
                                        encoding: encoding, octets: octets, kind: bodyKind, md5: md5, extensionData: x))
        }
    }
}

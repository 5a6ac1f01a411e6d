import IMAPProtocol
import MailMessage

/// One message as IMAP serves it: its bytes with every line ending CRLF (RFC 9051 §2.3.1:
/// messages are sent with CRLF; Maildir files usually hold LF) and the MIME tree over them,
/// parsed only when something asks for it (BODY[], RFC822 and RFC822.SIZE need none).
final class IMAPMessageData {
    let bytes: [UInt8]
    let limits: MIMELimits
    private(set) lazy var message = MIMEMessage(parsing: bytes, limits: limits)

    init(fileBytes: [UInt8], limits: MIMELimits = MIMELimits()) {
        bytes = IMAPMessageData.crlf(fileBytes)
        self.limits = limits
    }

    /// Bare LF becomes CRLF; existing CRLF stays.
    static func crlf(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 32)
        var previous: UInt8 = 0
        for byte in bytes {
            if byte == 0x0A && previous != 0x0D { out.append(0x0D) }
            out.append(byte)
            previous = byte
        }
        return out
    }

    var envelope: IMAPEnvelope { IMAPMessageData.envelope(message.envelope) }
    var bodyStructure: IMAPBodyStructure { IMAPMessageData.structure(message.bodyStructure) }

    // MARK: ENVELOPE and BODYSTRUCTURE

    static func envelope(_ e: MessageEnvelope) -> IMAPEnvelope {
        func b(_ s: String?) -> [UInt8]? { s.map { Array($0.utf8) } }
        func a(_ list: [MessageAddress]) -> [IMAPAddress] {
            list.map { IMAPAddress(name: b($0.name), adl: b($0.adl), mailbox: b($0.mailbox), host: b($0.host)) }
        }
        return IMAPEnvelope(date: b(e.date), subject: b(e.subject), from: a(e.from), sender: a(e.sender),
                            replyTo: a(e.replyTo), to: a(e.to), cc: a(e.cc), bcc: a(e.bcc),
                            inReplyTo: b(e.inReplyTo), messageID: b(e.messageID))
    }

    static func structure(_ s: BodyStructure) -> IMAPBodyStructure {
        let parameters = s.parameters.map { IMAPBodyParameter($0.name, $0.value) }
        let disposition = s.disposition.map {
            IMAPBodyDisposition(type: $0.type, parameters: $0.parameters.map { IMAPBodyParameter($0.name, $0.value) })
        }
        let ext = IMAPBodyExtension(disposition: disposition, language: s.language.isEmpty ? nil : s.language,
                                    location: s.location.map { Array($0.utf8) })
        if s.isMultipart {
            // RFC 9051 §7.5.2: a multipart has at least one part; an empty one shows as such.
            let parts = s.parts.isEmpty
                ? [IMAPBodyStructure.single(IMAPBodyPart(type: "text", subtype: "plain", octets: 0, kind: .text(lines: 0)))]
                : s.parts.map(structure)
            return .multipart(IMAPMultipart(parts: parts, subtype: s.subtype, parameters: parameters, extensionData: ext))
        }
        let kind: IMAPBodyPart.Kind
        if let inner = s.parts.first, let env = s.envelope {
            kind = .message(envelope: envelope(env), body: structure(inner), lines: UInt64(s.lines ?? 0))
        } else if s.type == "text" {
            kind = .text(lines: UInt64(s.lines ?? 0))
        } else {
            kind = .basic
        }
        return .single(IMAPBodyPart(type: s.type, subtype: s.subtype, parameters: parameters,
                                    id: s.id.map { Array($0.utf8) }, description: s.description.map { Array($0.utf8) },
                                    encoding: s.encoding, octets: UInt64(s.size), kind: kind,
                                    md5: s.md5.map { Array($0.utf8) }, extensionData: ext))
    }

    // MARK: BODY[section]

    /// The octets of BODY[section] (RFC 9051 §6.4.5); nil when the section does not exist
    /// (the response then carries NIL, as Dovecot answers).
    func section(_ section: IMAPSection) -> [UInt8]? {
        let path = section.part.map { Int($0) }
        switch section.text {
        case nil where path.isEmpty: return bytes // the whole message: no parse
        case nil: return slice(message.range(of: path, .all))
        case .header: return slice(message.range(of: path, .header))
        case .text: return slice(message.range(of: path, .text))
        case .mime:
            guard !path.isEmpty else { return nil }
            return slice(message.range(of: path, .mime))
        case .headerFields(let names), .headerFieldsNot(let names):
            let include: Bool
            if case .headerFields = section.text { include = true } else { include = false }
            let wanted = Set(names.map { $0.lowercased() })
            let part: MIMEPart?
            if path.isEmpty { part = message.root } else { part = message.part(at: path)?.encapsulatedMessage }
            guard let part else { return nil }
            var out: [UInt8] = []
            for field in part.header.fields where wanted.contains(field.name.lowercased()) == include {
                let range = part.absoluteRange(of: field)
                out.append(contentsOf: message.bytes[range])
            }
            out.append(contentsOf: [0x0D, 0x0A])
            return out
        }
    }

    private func slice(_ range: Range<Int>?) -> [UInt8]? {
        guard let range else { return nil }
        return Array(message.bytes[range])
    }

    /// BINARY[part]: the part's body with its transfer encoding undone (RFC 3516 §4.2); nil when
    /// the part does not exist or is not a leaf.
    func binary(_ part: [UInt32]) throws(IMAPMailStoreError) -> [UInt8]? {
        if part.isEmpty { return bytes }
        guard let p = message.part(at: part.map { Int($0) }), !p.isMultipart else { return nil }
        if case .other = p.transferEncoding {
            // RFC 3516 §4.2: a transfer encoding the server cannot decode.
            throw IMAPMailStoreError(code: .unknownCTE, text: "Unknown Content-Transfer-Encoding")
        }
        return message.decodedBody(of: p)
    }

    // MARK: Search text

    /// A header field's values with RFC 2047 words decoded, for SEARCH.
    func headerValues(_ name: String) -> [String] {
        message.root.header.all(name).map(\.decodedText)
    }

    var headerText: String {
        message.root.header.fields.map { $0.name + ": " + $0.decodedText }.joined(separator: "\n")
    }

    var bodyText: String { message.textContents().joined(separator: "\n") }
}


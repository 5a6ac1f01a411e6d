/// One address of an IMAP ENVELOPE (RFC 3501 §7.4.2): `(name adl mailbox host)`.
///
/// Groups are markers: a group start has `mailbox` = the group name and `host` = nil; a group
/// end has `mailbox` and `host` nil. An address without a domain gets host "MISSING_DOMAIN"
/// (as Dovecot does), since a nil host would read as a group marker.
public struct MessageAddress: Equatable, Sendable {
    public var name: String?
    public var adl: String?
    public var mailbox: String?
    public var host: String?

    public init(name: String? = nil, adl: String? = nil, mailbox: String?, host: String?) {
        self.name = name
        self.adl = adl
        self.mailbox = mailbox
        self.host = host
    }

    public static let missingDomain = "MISSING_DOMAIN"

    public static func groupStart(_ name: String) -> MessageAddress { MessageAddress(mailbox: name, host: nil) }
    public static let groupEnd = MessageAddress(mailbox: nil, host: nil)

    public var isGroupStart: Bool { host == nil && mailbox != nil }
    public var isGroupEnd: Bool { host == nil && mailbox == nil }

    /// The ENVELOPE form of a parsed address list.
    public static func list(_ items: [AddressListItem]) -> [MessageAddress] {
        items.map { item in
            switch item {
            case .mailbox(let m):
                let name = m.displayName.flatMap { $0.isEmpty ? nil : $0 }
                let host = m.domain.flatMap { $0.isEmpty ? nil : $0 } ?? missingDomain
                return MessageAddress(name: name, adl: m.route, mailbox: m.localPart, host: host)
            case .groupStart(let name): return .groupStart(name)
            case .groupEnd: return .groupEnd
            }
        }
    }
}

/// The data of an IMAP ENVELOPE (RFC 3501 §7.4.2), computed from a message header. Strings are
/// the unfolded field values as they stand (RFC 2047 words not decoded: clients decode them);
/// nil for an absent field. An empty address list stands for NIL.
public struct MessageEnvelope: Equatable, Sendable {
    public var date: String?
    public var subject: String?
    public var from: [MessageAddress]
    public var sender: [MessageAddress]
    public var replyTo: [MessageAddress]
    public var to: [MessageAddress]
    public var cc: [MessageAddress]
    public var bcc: [MessageAddress]
    public var inReplyTo: String?
    public var messageID: String?

    public init(date: String? = nil, subject: String? = nil, from: [MessageAddress] = [], sender: [MessageAddress] = [],
                replyTo: [MessageAddress] = [], to: [MessageAddress] = [], cc: [MessageAddress] = [],
                bcc: [MessageAddress] = [], inReplyTo: String? = nil, messageID: String? = nil) {
        self.date = date
        self.subject = subject
        self.from = from
        self.sender = sender
        self.replyTo = replyTo
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.inReplyTo = inReplyTo
        self.messageID = messageID
    }

    /// RFC 3501 §7.4.2: "If the Sender or Reply-To lines are absent in the [RFC-2822] header,
    /// or are present but empty, the server sets the corresponding member of the envelope to
    /// be the same value as the from member."
    public init(header: HeaderSection) {
        let fields = header.firstFields(named: ["date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc",
                                                "in-reply-to", "message-id"])
        func text(_ name: String) -> String? { fields[name.lowercasedASCII()]?.unfoldedText }
        func addresses(_ name: String) -> [MessageAddress] {
            guard let field = fields[name.lowercasedASCII()] else { return [] }
            return MessageAddress.list(MailboxList.parse(bytes: field.unfoldedBytes))
        }
        self.date = text("Date")
        self.subject = text("Subject")
        self.from = addresses("From")
        let sender = addresses("Sender")
        self.sender = sender.isEmpty ? from : sender
        let replyTo = addresses("Reply-To")
        self.replyTo = replyTo.isEmpty ? from : replyTo
        self.to = addresses("To")
        self.cc = addresses("Cc")
        self.bcc = addresses("Bcc")
        self.inReplyTo = text("In-Reply-To")
        self.messageID = text("Message-ID")
    }
}

/// A parameter as BODYSTRUCTURE lists it: (name value) from `MIMEParameter.wireName/wireValue`.
public struct BodyParameter: Equatable, Sendable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
}

/// A body disposition for BODYSTRUCTURE (RFC 3501 §7.4.2 body-fld-dsp).
public struct BodyDisposition: Equatable, Sendable {
    public var type: String
    public var parameters: [BodyParameter]
    public init(type: String, parameters: [BodyParameter]) { self.type = type; self.parameters = parameters }
}

/// The data of an IMAP BODYSTRUCTURE (RFC 3501 §7.4.2), extension data included, computed
/// recursively from a parsed part. The IMAP module serialises it (BODY is the same without the
/// extension fields). Types are lowercased; the encoding is uppercased ("7BIT", "BASE64").
public struct BodyStructure: Equatable, Sendable {
    public var type: String
    public var subtype: String
    /// For a multipart: the extension parameters (boundary…); otherwise body-fld-param.
    public var parameters: [BodyParameter]
    public var id: String?
    public var description: String?
    public var encoding: String
    /// Body size in octets.
    public var size: Int
    /// Body size in lines, for text/* and message/rfc822 parts only.
    public var lines: Int?
    /// For message/rfc822: the encapsulated message's envelope.
    public var envelope: MessageEnvelope?
    /// For a multipart: its parts. For message/rfc822: one element, the encapsulated body.
    public var parts: [BodyStructure]
    public var md5: String?
    public var disposition: BodyDisposition?
    public var language: [String]
    public var location: String?

    public var isMultipart: Bool { type == "multipart" }

    /// The structure of `part` and everything below it. Opaque composite parts (beyond the
    /// parser's limits) are reported as application/octet-stream, so the result is always
    /// well-formed. Recursion depth is bounded by `MIMELimits.maxDepth`.
    public init(part: MIMEPart) {
        var type = part.contentType.type
        var subtype = part.contentType.subtype
        var parameters = part.contentType.parameters.map { BodyParameter($0.wireName, $0.wireValue) }
        if part.isOpaque {
            type = "application"
            subtype = "octet-stream"
            parameters = []
        }
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
        self.id = part.contentID
        self.description = part.contentDescription
        self.encoding = part.transferEncoding.name
        self.size = part.bodyRange.count
        self.md5 = part.contentMD5
        self.disposition = part.disposition.map { d in
            BodyDisposition(type: d.type, parameters: d.parameters.map { BodyParameter($0.wireName, $0.wireValue) })
        }
        self.language = part.contentLanguage
        self.location = part.contentLocation
        self.envelope = nil
        self.lines = nil
        self.parts = []
        if part.isMultipart {
            self.parts = part.children.map { BodyStructure(part: $0) }
        } else if let inner = part.encapsulatedMessage {
            self.envelope = MessageEnvelope(header: inner.header)
            self.parts = [BodyStructure(part: inner)]
            self.lines = part.bodyLines
        } else if type == "text" {
            self.lines = part.bodyLines
        }
    }
}

extension MIMEMessage {
    /// ENVELOPE of the message.
    public var envelope: MessageEnvelope { MessageEnvelope(header: root.header) }
    /// BODYSTRUCTURE of the message.
    public var bodyStructure: BodyStructure { BodyStructure(part: root) }
}

/// One address of an ENVELOPE (RFC 9051 §7.5.2 `address`). A group is written as a start marker
/// (`mailbox` = group name, `host` nil) and an end marker (`mailbox` and `host` nil).
public struct IMAPAddress: Sendable, Equatable {
    /// Display name (RFC 2047 words left encoded, as in the header).
    public var name: [UInt8]?
    /// Source route; obsolete, normally nil.
    public var adl: [UInt8]?
    /// Local part, or the group name of a group start.
    public var mailbox: [UInt8]?
    /// Domain; nil for group markers.
    public var host: [UInt8]?

    public init(name: [UInt8]? = nil, adl: [UInt8]? = nil, mailbox: [UInt8]?, host: [UInt8]?) {
        self.name = name
        self.adl = adl
        self.mailbox = mailbox
        self.host = host
    }

    /// `(NIL NIL "group" NIL)`
    public static func groupStart(_ groupName: [UInt8]) -> IMAPAddress { IMAPAddress(mailbox: groupName, host: nil) }
    /// `(NIL NIL NIL NIL)`
    public static let groupEnd = IMAPAddress(mailbox: nil, host: nil)
}

/// The ENVELOPE of a message (RFC 9051 §7.5.2), filled in by the MIME layer. Header values are the
/// raw (unfolded) header octets. Per RFC 9051 §7.5.2 the filler sets `sender` and `replyTo` to
/// `from` when those headers are absent. An empty address list is written as NIL.
public struct IMAPEnvelope: Sendable, Equatable {
    public var date: [UInt8]?
    public var subject: [UInt8]?
    public var from: [IMAPAddress]
    public var sender: [IMAPAddress]
    public var replyTo: [IMAPAddress]
    public var to: [IMAPAddress]
    public var cc: [IMAPAddress]
    public var bcc: [IMAPAddress]
    public var inReplyTo: [UInt8]?
    public var messageID: [UInt8]?

    public init(date: [UInt8]? = nil, subject: [UInt8]? = nil, from: [IMAPAddress] = [], sender: [IMAPAddress] = [],
                replyTo: [IMAPAddress] = [], to: [IMAPAddress] = [], cc: [IMAPAddress] = [], bcc: [IMAPAddress] = [],
                inReplyTo: [UInt8]? = nil, messageID: [UInt8]? = nil) {
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
}

/// A MIME parameter such as `charset="utf-8"` (`body-fld-param`).
public struct IMAPBodyParameter: Sendable, Equatable {
    public var name: String
    public var value: [UInt8]

    public init(_ name: String, _ value: [UInt8]) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ value: String) { self.init(name, Array(value.utf8)) }
}

/// `body-fld-dsp`: `("attachment" ("filename" "a.pdf"))`.
public struct IMAPBodyDisposition: Sendable, Equatable {
    public var type: String
    public var parameters: [IMAPBodyParameter]

    public init(type: String, parameters: [IMAPBodyParameter] = []) {
        self.type = type
        self.parameters = parameters
    }
}

/// The extension data shared by single and multipart bodies (`body-ext-1part` after md5,
/// `body-ext-mpart` after the parameters); only written in BODYSTRUCTURE.
public struct IMAPBodyExtension: Sendable, Equatable {
    public var disposition: IMAPBodyDisposition?
    /// Content-Language tags; nil for NIL.
    public var language: [String]?
    public var location: [UInt8]?

    public init(disposition: IMAPBodyDisposition? = nil, language: [String]? = nil, location: [UInt8]? = nil) {
        self.disposition = disposition
        self.language = language
        self.location = location
    }
}

/// A leaf of the MIME tree (`body-type-1part`).
public struct IMAPBodyPart: Sendable, Equatable {
    /// What follows the common fields.
    public indirect enum Kind: Sendable, Equatable {
        /// Any type but text and message/rfc822.
        case basic
        /// `text/*`: the body's line count.
        case text(lines: UInt64)
        /// `message/rfc822` (and message/global, RFC 6532): the encapsulated message.
        case message(envelope: IMAPEnvelope, body: IMAPBodyStructure, lines: UInt64)
    }

    /// Media type and subtype, e.g. "TEXT", "PLAIN" (case as the message had it).
    public var type: String
    public var subtype: String
    public var parameters: [IMAPBodyParameter]
    public var id: [UInt8]?
    public var description: [UInt8]?
    /// Content-Transfer-Encoding, "7BIT" when absent.
    public var encoding: String
    /// Size of the body in its transfer encoding.
    public var octets: UInt64
    public var kind: Kind
    public var md5: [UInt8]?
    public var extensionData: IMAPBodyExtension

    public init(type: String, subtype: String, parameters: [IMAPBodyParameter] = [], id: [UInt8]? = nil,
                description: [UInt8]? = nil, encoding: String = "7BIT", octets: UInt64, kind: Kind = .basic,
                md5: [UInt8]? = nil, extensionData: IMAPBodyExtension = IMAPBodyExtension()) {
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
        self.id = id
        self.description = description
        self.encoding = encoding
        self.octets = octets
        self.kind = kind
        self.md5 = md5
        self.extensionData = extensionData
    }
}

/// A `multipart/*` body (`body-type-mpart`).
public struct IMAPMultipart: Sendable, Equatable {
    public var parts: [IMAPBodyStructure]
    public var subtype: String
    public var parameters: [IMAPBodyParameter]
    public var extensionData: IMAPBodyExtension

    public init(parts: [IMAPBodyStructure], subtype: String, parameters: [IMAPBodyParameter] = [],
                extensionData: IMAPBodyExtension = IMAPBodyExtension()) {
        self.parts = parts
        self.subtype = subtype
        self.parameters = parameters
        self.extensionData = extensionData
    }
}

/// The MIME structure of a message as BODY and BODYSTRUCTURE describe it (RFC 9051 §7.5.2),
/// filled in by the MIME layer. Its depth is bounded by that layer's nesting limit.
public indirect enum IMAPBodyStructure: Sendable, Equatable {
    case single(IMAPBodyPart)
    case multipart(IMAPMultipart)
}

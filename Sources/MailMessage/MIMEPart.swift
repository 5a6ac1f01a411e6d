/// Limits of the MIME tree parser. A message beyond them still parses: the excess is kept as
/// opaque content, never dropped from the byte ranges, and `MIMEMessage.limitReached` is set.
public struct MIMELimits: Sendable, Equatable {
    /// Nesting depth of multipart and message/rfc822 parts (the top-level message is depth 0).
    /// A composite part at this depth is an opaque leaf. The parser recurses once per level, so
    /// values above 100 are treated as 100. Default 20.
    public var maxDepth: Int = 20
    /// Number of parts in the whole tree, the top-level message included. When a multipart would
    /// exceed it, the last part allowed takes all remaining content of that multipart as one
    /// leaf. Siblings further out that come after the limit was hit are not parts at all: their
    /// bytes stay in the body of the multipart that holds them. Default 1,000.
    public var maxParts: Int = 1_000
    /// Bytes of a part's header section that are parsed into fields; the rest of an overlong
    /// header is skipped (it still counts in the header's byte range). Default 102,400, as
    /// Postfix's header_size_limit.
    public var maxHeaderBytes: Int = 102_400

    public init(maxDepth: Int = 20, maxParts: Int = 1_000, maxHeaderBytes: Int = 102_400) {
        self.maxDepth = maxDepth
        self.maxParts = maxParts
        self.maxHeaderBytes = maxHeaderBytes
    }

    var effectiveDepth: Int { max(0, min(maxDepth, 100)) }
}

/// One node of a message's MIME tree (RFC 2045/2046): the top-level message, a body part of a
/// multipart, or a message encapsulated in a message/rfc822 part.
///
/// All ranges are byte offsets into the original message (`MIMEMessage.bytes`), so IMAP can
/// serve BODY[section] and partial fetches by slicing, without copying.
public struct MIMEPart: Sendable {
    /// The header section. Its fields' `range`s are relative to `range.lowerBound`.
    public let header: HeaderSection
    /// The whole part: header and body. For a body part of a multipart this excludes the line
    /// break before the next delimiter, which belongs to the delimiter (RFC 2046 §5.1.1).
    public let range: Range<Int>
    /// The header section including the empty line that ends it (BODY[…MIME], BODY[HEADER]).
    public let headerRange: Range<Int>
    /// The body (BODY[TEXT], BODY[1.2]).
    public let bodyRange: Range<Int>
    /// The effective content type: the Content-Type field, or the default of the context
    /// (text/plain; charset=us-ascii, or message/rfc822 inside multipart/digest).
    public let contentType: ContentType
    /// Whether the part had a Content-Type field that parsed.
    public let hasContentTypeField: Bool
    public let transferEncoding: ContentTransferEncoding
    /// Content-ID, Content-Description, Content-MD5, Content-Location as they stand (unfolded).
    public let contentID: String?
    public let contentDescription: String?
    public let contentMD5: String?
    public let contentLocation: String?
    public let disposition: ContentDisposition?
    /// Content-Language tags (RFC 3282), in order.
    public let contentLanguage: [String]
    /// Lines of the body: its LF count, plus one when a non-empty body does not end in LF.
    public let bodyLines: Int
    /// The body parts of a multipart (always at least one, unless the part is opaque).
    public let children: [MIMEPart]
    private let encapsulated: [MIMEPart]
    /// Whether this node is a message (the top level, or the content of message/rfc822), whose
    /// header is a message header: it has an envelope and IMAP section rules treat it as such.
    public let isMessage: Bool
    /// A multipart or message/rfc822 whose content was not parsed: beyond the depth or part
    /// limit, or a message/rfc822 body with a base64 or quoted-printable encoding (§6.4 of
    /// RFC 2045 forbids it). `BodyStructure` reports it as application/octet-stream.
    public let isOpaque: Bool
    /// Multipart only: the preamble and epilogue (RFC 2046 §5.1.1), if present.
    public let preambleRange: Range<Int>?
    public let epilogueRange: Range<Int>?
    /// Multipart only: the close delimiter was missing (tolerated; the last part runs to the end).
    public let missingCloseDelimiter: Bool

    /// The message encapsulated in a message/rfc822 part.
    public var encapsulatedMessage: MIMEPart? { encapsulated.first }
    public var isMultipart: Bool { contentType.isMultipart && !isOpaque }

    init(header: HeaderSection, range: Range<Int>, headerRange: Range<Int>, bodyRange: Range<Int>,
         contentType: ContentType, hasContentTypeField: Bool, transferEncoding: ContentTransferEncoding,
         contentID: String?, contentDescription: String?, contentMD5: String?, contentLocation: String?,
         disposition: ContentDisposition?, contentLanguage: [String], bodyLines: Int,
         children: [MIMEPart], encapsulated: MIMEPart?, isMessage: Bool, isOpaque: Bool,
         preambleRange: Range<Int>?, epilogueRange: Range<Int>?, missingCloseDelimiter: Bool) {
        self.header = header
        self.range = range
        self.headerRange = headerRange
        self.bodyRange = bodyRange
        self.contentType = contentType
        self.hasContentTypeField = hasContentTypeField
        self.transferEncoding = transferEncoding
        self.contentID = contentID
        self.contentDescription = contentDescription
        self.contentMD5 = contentMD5
        self.contentLocation = contentLocation
        self.disposition = disposition
        self.contentLanguage = contentLanguage
        self.bodyLines = bodyLines
        self.children = children
        self.encapsulated = encapsulated.map { [$0] } ?? []
        self.isMessage = isMessage
        self.isOpaque = isOpaque
        self.preambleRange = preambleRange
        self.epilogueRange = epilogueRange
        self.missingCloseDelimiter = missingCloseDelimiter
    }

    /// Visits this part and every part below it (children and encapsulated messages) in
    /// document order. Iterative, so any tree depth is safe.
    public func forEachPart(_ body: (MIMEPart) -> Void) {
        var stack: [MIMEPart] = [self]
        while let part = stack.popLast() {
            body(part)
            for child in part.encapsulated.reversed() { stack.append(child) }
            for child in part.children.reversed() { stack.append(child) }
        }
    }
}

/// What of a section BODY[…] selects (RFC 3501 §6.4.5).
public enum MIMESectionText: Sendable, Equatable {
    /// BODY[1.2]: the part's body (for message/rfc822, the whole encapsulated message);
    /// BODY[] for the empty section: the whole message.
    case all
    /// BODY[HEADER], BODY[1.2.HEADER]: the header of the message or encapsulated message.
    case header
    /// BODY[TEXT], BODY[1.2.TEXT]: the body of the message or encapsulated message.
    case text
    /// BODY[1.2.MIME]: the MIME header of a body part (not valid for the empty section).
    case mime
}

/// A parsed message: the original bytes and the MIME tree over them.
public struct MIMEMessage: Sendable {
    public let bytes: [UInt8]
    public let root: MIMEPart
    public let limits: MIMELimits
    /// Number of parts in the tree (the top-level message included).
    public let partCount: Int
    /// Some limit of `limits` cut the structure short somewhere.
    public let limitReached: Bool

    public init(parsing bytes: [UInt8], limits: MIMELimits = MIMELimits()) {
        self.bytes = bytes
        self.limits = limits
        let result = bytes.withUnsafeBufferPointer { buffer in
            var parser = MIMETreeParser(buffer: buffer, limits: limits)
            let root = parser.parsePart(range: 0..<buffer.count, depth: 0, defaultType: .textPlainASCII, isMessage: true, headerless: false)
            return (root, parser.partCount, parser.limitReached)
        }
        self.root = result.0
        self.partCount = result.1
        self.limitReached = result.2
    }

    /// The part an IMAP section path names (RFC 3501 §6.4.5), e.g. [1, 2, 3]; nil if none.
    ///
    /// Part numbers index the body parts of a multipart. A message that is not multipart has
    /// one part, number 1: its body (so [1] of a text/plain message is the message itself).
    /// The parts of a message/rfc822 part are those of the message it encapsulates. The empty
    /// path is the top-level message.
    public func part(at section: [Int]) -> MIMEPart? {
        var node = root
        var nodeIsMessage = true    // `node` stands for a message, not yet for its body part
        for number in section {
            guard number >= 1 else { return nil }
            while true {
                if nodeIsMessage && !node.isMultipart {
                    // The single body part of a non-multipart message is part 1.
                    guard number == 1 else { return nil }
                    nodeIsMessage = false
                    break
                }
                if node.isMultipart {
                    guard number <= node.children.count else { return nil }
                    node = node.children[number - 1]
                    nodeIsMessage = false
                    break
                }
                if let inner = node.encapsulatedMessage {
                    // A message/rfc822 part: resolve the number inside its message.
                    node = inner
                    nodeIsMessage = true
                    continue
                }
                return nil
            }
        }
        return node
    }

    /// The byte range BODY[section.text] returns, or nil when the section does not exist
    /// (RFC 3501 §6.4.5). Slice `bytes` with it; a partial fetch slices further.
    public func range(of section: [Int], _ text: MIMESectionText = .all) -> Range<Int>? {
        if section.isEmpty {
            switch text {
            case .all: return 0..<bytes.count
            case .header: return root.headerRange
            case .text: return root.bodyRange
            case .mime: return nil
            }
        }
        guard let part = part(at: section) else { return nil }
        switch text {
        case .all: return part.bodyRange
        case .mime: return part.headerRange
        case .header: return part.encapsulatedMessage?.headerRange
        case .text: return part.encapsulatedMessage?.bodyRange
        }
    }

    /// The header of the message a section's HEADER.FIELDS refers to (the top-level message for
    /// the empty section, the encapsulated message of a message/rfc822 part otherwise).
    public func messageHeader(of section: [Int]) -> HeaderSection? {
        if section.isEmpty { return root.header }
        return part(at: section)?.encapsulatedMessage?.header
    }

    /// The bytes of a part's body with its transfer encoding undone, at most `limit` bytes.
    public func decodedBody(of part: MIMEPart, limit: Int = Int.max) -> [UInt8] {
        part.transferEncoding.decode(bytes[part.bodyRange], limit: limit)
    }

    /// A part's body as text: transfer decoding, then the charset parameter (fallback when
    /// missing or unknown). At most `limit` decoded bytes are converted.
    public func text(of part: MIMEPart, limit: Int = Int.max) -> String {
        Charset.lookup(part.contentType.charset).decode(decodedBody(of: part, limit: limit))
    }

    /// The readable text of the message for search and spam filtering: every text/plain and
    /// text/html leaf (HTML converted to text), also inside attached messages, in document
    /// order; at most `limit` decoded bytes in all, and at most `limit` per part.
    public func textContents(limit: Int = 1 << 20) -> [String] {
        var result: [String] = []
        var budget = limit
        root.forEachPart { part in
            guard budget > 0, !part.isMultipart, part.encapsulatedMessage == nil, !part.isOpaque,
                  part.contentType.isText else { return }
            let decoded = decodedBody(of: part, limit: budget)
            budget -= decoded.count
            let text = Charset.lookup(part.contentType.charset).decode(decoded)
            switch part.contentType.subtype {
            case "html": result.append(HTMLText.plainText(from: text, limit: limit))
            case "plain", "enriched", "richtext": result.append(text)
            default: break
            }
        }
        return result
    }
}

import MailMessage

/// What the webmail shows of one message: its header fields decoded, its text, its HTML,
/// and its other parts as attachments, each named by a path of child indexes from the root.
struct MessageView {
    struct Attachment {
        let path: [Int]
        let filename: String
        let contentType: String
        let size: Int
    }

    let mime: MIMEMessage
    var text: String?
    var html: String?
    var attachments: [Attachment] = []
    /// Leaves with a Content-ID (RFC 2392): the lower-cased id without <> → the part's path.
    var contentIDs: [String: [Int]] = [:]

    init(bytes: [UInt8]) {
        mime = MIMEMessage(parsing: bytes)
        walk(mime.root, path: [])
    }

    func header(_ name: String) -> String? {
        mime.root.header.first(name).map { MessageView.decodeField($0.value) }
    }

    static func decodeField(_ value: String) -> String {
        EncodedWord.decode(value).filter { $0 != "\r" && $0 != "\n" }
    }

    private mutating func walk(_ part: MIMEPart, path: [Int]) {
        if part.isMultipart {
            for (i, child) in part.children.enumerated() { walk(child, path: path + [i]) }
            return
        }
        let type = "\(part.contentType.type)/\(part.contentType.subtype)".lowercased()
        if let id = part.header.first("Content-ID")?.value {
            var trimmed = Substring(id.lowercased()).drop { $0 == " " || $0 == "\t" || $0 == "<" }
            while let last = trimmed.last, last == " " || last == "\t" || last == ">" || last == "\r" || last == "\n" { trimmed = trimmed.dropLast() }
            if !trimmed.isEmpty { contentIDs[String(trimmed)] = path }
        }
        let isAttachment = part.disposition?.type.lowercased() == "attachment"
        if !isAttachment && !part.contentType.isEncapsulatedMessage {
            if type == "text/plain" && text == nil { text = mime.text(of: part, limit: 4 << 20); return }
            if type == "text/html" && html == nil { html = mime.text(of: part, limit: 4 << 20); return }
        }
        let name = part.disposition?[parameter: "filename"] ?? part.contentType[parameter: "name"] ?? (part.contentType.isEncapsulatedMessage ? "message.eml" : "part-\(path.map(String.init).joined(separator: "."))")
        attachments.append(Attachment(path: path, filename: EncodedWord.decode(name), contentType: type, size: part.bodyRange.count))
    }

    /// The part at `path`, if it is a leaf this view lists as an attachment.
    func attachment(at path: [Int]) -> (Attachment, MIMEPart)? {
        guard let a = attachments.first(where: { $0.path == path }) else { return nil }
        var part = mime.root
        for index in path {
            guard index < part.children.count else { return nil }
            part = part.children[index]
        }
        return (a, part)
    }
}

extension MessageView {
    /// Image types shown inline from the message itself (never SVG: it can carry script).
    static let inlineImageTypes: Set<String> = ["image/png", "image/gif", "image/jpeg", "image/webp"]

    /// cid → the URL of the part, for the image parts named by a Content-ID.
    func inlineImages(link: (String) -> String) -> [String: String] {
        var out: [String: String] = [:]
        for (id, path) in contentIDs {
            guard let a = attachments.first(where: { $0.path == path }), MessageView.inlineImageTypes.contains(a.contentType) else { continue }
            out[id] = link(path.map(String.init).joined(separator: "."))
        }
        return out
    }
}

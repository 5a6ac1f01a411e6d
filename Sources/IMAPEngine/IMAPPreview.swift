import IMAPProtocol
import MailMessage

// MARK: PREVIEW (RFC 8970)

/// The preview of a message (RFC 8970 §3.1): at most 256 characters of its first text part
/// (text/plain or text/html that is not an attachment), transfer encoding and charset undone,
/// HTML reduced to its text, every run of white space and control characters one space, no
/// leading or trailing space. A message without such a part has the empty preview.
enum IMAPPreview {
    static let maxCharacters = 256
    /// Decoded octets of the part looked at: enough for 256 characters after a long HTML head.
    static let maxDecoded = 64 * 1024

    static func text(of message: MIMEMessage) -> String {
        var chosen: MIMEPart?
        message.root.forEachPart { part in
            guard chosen == nil, !part.isMultipart, part.encapsulatedMessage == nil, !part.isOpaque,
                  part.contentType.isText, ["plain", "html"].contains(part.contentType.subtype),
                  !isAttachment(part) else { return }
            chosen = part
        }
        guard let part = chosen else { return "" }
        var text = message.text(of: part, limit: maxDecoded)
        if part.contentType.subtype == "html" { text = HTMLText.plainText(from: text, limit: maxDecoded) }
        return collapsed(text)
    }

    static func isAttachment(_ part: MIMEPart) -> Bool { part.disposition?.isAttachment ?? false }

    /// White space and controls to single spaces, trimmed, cut at 256 characters.
    static func collapsed(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        var characters = 0
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
                || scalar.properties.generalCategory == .format && scalar.value != 0x200D {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace {
                out.append(" ")
                pendingSpace = false
            }
            out.append(scalar)
            characters += 1
            // Scalars bound characters from above; the exact cut is made below.
            if characters >= maxCharacters * 4 { break }
        }
        return String(String(out).prefix(maxCharacters)).trimmingSpacesAtEnd()
    }
}

private extension String {
    func trimmingSpacesAtEnd() -> String {
        var s = Substring(self)
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

extension IMAPSession {
    /// The PREVIEW of a message: from the message cache, else made and added to the cache entry
    /// (clients ask for it for every message they list). nil when the message is gone.
    func preview(uid: UInt32, selected: IMAPSelectedMailbox) -> String? {
        if let blob = try? selected.mailbox.info(uid: uid)?.blob, let cached = IMAPStructureCache.decodePreview(blob) {
            return cached
        }
        guard let data = try? messageData(uid: uid, selected: selected) else { return nil }
        let text = IMAPPreview.text(of: data.message)
        _ = structure(uid: uid, selected: selected)  // the cache entry the preview is added to
        if let blob = try? selected.mailbox.info(uid: uid)?.blob, let updated = IMAPStructureCache.withPreview(blob, text) {
            try? selected.mailbox.setBlob(uid: uid, updated)
        }
        return text
    }
}

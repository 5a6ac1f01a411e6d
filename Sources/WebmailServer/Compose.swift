#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailMessage
import MailQueueClient
import MailSystem
import Maildir
import SMTPServer
import WebmailProtocol

/// Writing, replying and forwarding; sending exactly as submission does (smtpd_filters, then
/// the queue program), as the logged-in user, from an address that user owns (the resolver's
/// ownership check smtpd's submission role uses).
extension RequestContext {
    /// The addresses offered in the From: menu: the user's own address in each local domain
    /// that the resolver agrees the user owns.
    func ownAddresses(_ book: AddressBook) -> [String] {
        let domains = [app.configuration.hostname] + app.configuration.list("local_domains")
        var seen = Set<String>()
        return domains.map { "\(user.name)@\($0.lowercased())" }.filter { address in
            guard !address.hasSuffix("@"), !seen.contains(address) else { return false }
            seen.insert(address)
            return book.resolver.ownership(of: address, by: user.name).owned
        }
    }

    func compose() -> HTTPResponse {
        var to = "", subject = "", body = "", cc = ""
        var hidden: [(String, String)] = []
        var note = ""
        if let mode = parameter("mode") {
            let name: String, mailbox: MaildirMailbox, uid: UInt32
            switch selectedMessage() {
            case .failure(let page): return page.response
            case .success(let found): (name, mailbox, uid) = found
            }
            guard let bytes = try? mailbox.read(uid: uid, limit: settings.messageSizeLimit) else { return failure(404, "The message is gone.") }
            let view = MessageView(bytes: bytes)
            let original = view.header("Subject") ?? ""
            let quoted = (view.text ?? view.html.map { HTMLText.plainText(from: $0) } ?? "")
                .split(separator: "\n", omittingEmptySubsequences: false).map { "> " + $0 }.joined(separator: "\n")
            switch mode {
            case "reply":
                to = view.header("Reply-To") ?? view.header("From") ?? ""
                subject = original.lowercased().hasPrefix("re:") ? original : "Re: " + original
                body = "\n\n\(view.header("From") ?? "") wrote:\n" + quoted
                // In-Reply-To and References are taken from the original when sending.
                hidden = [("reply_f", name), ("reply_uid", String(uid))]
            case "forward":
                subject = "Fwd: " + original
                body = "\n\n-------- Forwarded message --------\nFrom: \(view.header("From") ?? "")\nDate: \(view.header("Date") ?? "")\nSubject: \(original)\n\n" + (view.text ?? view.html.map { HTMLText.plainText(from: $0) } ?? "")
            case "attach":
                subject = "Fwd: " + original
                hidden = [("forward_f", name), ("forward_uid", String(uid))]
                note = "The original message is attached (message/rfc822)."
            default:
                return failure(400, "Unknown compose mode.")
            }
        }
        return composePage(to: to, cc: cc, subject: subject, body: body, from: nil, error: nil, hidden: hidden, note: note)
    }

    func composePage(to: String, cc: String, subject: String, body: String, from: String?, error: String?, status: Int = 200,
                     hidden: [(String, String)] = [], note: String = "") -> HTTPResponse {
        let book = AddressBook(configuration: app.configuration)
        let options = ownAddresses(book).map { "<option\($0 == from ? " selected" : "")>\(e($0))</option>" }.joined()
        let message = error.map { "<p class=\"error\" role=\"alert\">\(e($0))</p>" } ?? ""
        let hiddenInputs = hidden.map { "<input type=\"hidden\" name=\"\(e($0.0))\" value=\"\(e($0.1))\">" }.joined()
        let noteText = note.isEmpty ? "" : "<p class=\"notice\">\(e(note))</p>"
        return page("Write", """
        <h1>Write a message</h1>\(message)
        <form method="post" action="/compose" class="compose" enctype="multipart/form-data">
        <input type="hidden" name="csrf" value="\(e(session.csrfToken))">\(hiddenInputs)
        <label>From <select name="from">\(options)</select></label>
        <label>To <input name="to" value="\(e(to))" required></label>
        <label>Cc <input name="cc" value="\(e(cc))"></label>
        <label>Subject <input name="subject" value="\(e(subject))"></label>
        <label>Message <textarea name="body">\(e(body))</textarea></label>
        \(noteText)<label>Attachments <input type="file" name="attachment" multiple></label>
        <button type="submit">Send</button>
        </form>
        """, status: status)
    }

    /// The message a hidden (folder, uid) pair of the compose form names; nil when there is none,
    /// .failure when it names one that is not there.
    func referencedMessage(_ form: [(name: String, value: String)], folder: String, uid: String) -> Result<[UInt8]?, HTTPErrorPage> {
        guard let name = form.first(where: { $0.name == folder })?.value else { return .success(nil) }
        let mailbox: MaildirMailbox
        do { mailbox = try self.mailbox(name) } catch { return .failure(HTTPErrorPage(mailError(error))) }
        guard let text = form.first(where: { $0.name == uid })?.value, let number = UInt32(text), number > 0,
              (try? mailbox.synchronize(moveNew: false)) != nil, mailbox.message(uid: number) != nil,
              let bytes = try? mailbox.read(uid: number, limit: settings.messageSizeLimit) else {
            return .failure(HTTPErrorPage(failure(404, "The original message is gone; nothing was sent.")))
        }
        return .success(bytes)
    }

    func send(_ form: [(name: String, value: String)], files: [FormPart]) -> HTTPResponse {
        func field(_ name: String) -> String { form.first { $0.name == name }?.value ?? "" }
        let from = field("from"), to = field("to"), cc = field("cc"), subject = field("subject")
        var body = field("body")
        func again(_ error: String, _ status: Int) -> HTTPResponse {
            composePage(to: to, cc: cc, subject: subject, body: body, from: from, error: error, status: status)
        }
        // Header injection: a CR or LF (or any control character) in a header field is refused.
        for value in [from, to, cc, subject] where value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            app.log("compose refused user=\(user.name): control character in a header field")
            return again("A header field may not contain line breaks or control characters; nothing was sent.", 400)
        }
        guard subject.utf8.count <= 998, to.utf8.count <= 8000, cc.utf8.count <= 8000 else { return again("A header field is too long; nothing was sent.", 400) }
        let book = AddressBook(configuration: app.configuration)
        guard let sender = try? EnvelopeAddress(from), from.contains("@") else { return again("Choose a From address; nothing was sent.", 400) }
        let ownership = book.resolver.ownership(of: sender.text, by: user.name)
        guard ownership.owned else {
            app.log("compose refused user=\(user.name) from=\(sender.text): \(ownership.reason)")
            return again("You may not send as \(from); nothing was sent.", 403)
        }
        var recipients: [EnvelopeAddress] = []
        for address in AddressList.addresses(in: to) + AddressList.addresses(in: cc) {
            guard let r = try? EnvelopeAddress(address), address.contains("@") else { return again("\(address) is not an address; nothing was sent.", 400) }
            if !recipients.contains(r) { recipients.append(r) }
        }
        guard !recipients.isEmpty else { return again("Name at least one recipient; nothing was sent.", 400) }
        guard recipients.count <= 100 else { return again("At most 100 recipients; nothing was sent.", 400) }
        let repliedTo: [UInt8]?, forwarded: [UInt8]?
        switch referencedMessage(form, folder: "reply_f", uid: "reply_uid") {
        case .failure(let page): return page.response
        case .success(let bytes): repliedTo = bytes
        }
        switch referencedMessage(form, folder: "forward_f", uid: "forward_uid") {
        case .failure(let page): return page.response
        case .success(let bytes): forwarded = bytes
        }

        body = body.replacingLineEnds()
        let now = Int64(time(nil))
        var header = "Date: \(Clock.rfc5322Date(now))\n"
        header += "From: \(sender.text)\n"
        header += "To: \(to)\n"
        if !cc.isEmpty { header += "Cc: \(cc)\n" }
        header += "Subject: \(EncodedWord.encode(subject))\n"
        header += "Message-ID: <\(now).\(SessionStore.randomToken().prefix(16))@\(app.configuration.hostname)>\n"
        if let repliedTo {
            // RFC 5322 §3.6.4: In-Reply-To is the parent's Message-ID; References its References
            // (or In-Reply-To) followed by its Message-ID. Only well-formed msg-ids are copied.
            let parent = HeaderSection.parse(repliedTo)
            let parentID = MessageIDs.parse(parent.first("Message-ID")?.value ?? "").first
            var references = MessageIDs.parse(parent.first("References")?.value ?? "")
            if references.isEmpty { references = MessageIDs.parse(parent.first("In-Reply-To")?.value ?? "") }
            if let parentID {
                header += "In-Reply-To: \(parentID)\n"
                references.append(parentID)
            }
            if !references.isEmpty { header += "References: \(references.suffix(20).joined(separator: "\n "))\n" }
        }
        header += "MIME-Version: 1.0\n"
        let text = Array("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n".utf8)
        let message: [UInt8]
        if files.isEmpty && forwarded == nil {
            message = Array(header.utf8) + text + Array("User-Agent: postamt-webmail\n\n".utf8) + QuotedPrintable.encode(Array(body.utf8))
        } else {
            // RFC 2046 §5.1.3 multipart/mixed: the text first, then each file in base64, then the
            // forwarded message as message/rfc822 (never base64: RFC 2046 §5.2.1).
            var parts: [[UInt8]] = [text + [10] + QuotedPrintable.encode(Array(body.utf8))]
            for file in files {
                parts.append(Array(MIMEAttachment.header(filename: file.filename ?? "", contentType: file.contentType).utf8)
                             + MIMEAttachment.base64Lines(file.content))
            }
            if let forwarded {
                let eightBit = forwarded.contains { $0 >= 0x80 }
                parts.append(Array("Content-Type: message/rfc822\nContent-Disposition: attachment; filename=\"forwarded.eml\"\nContent-Transfer-Encoding: \(eightBit ? "8bit" : "7bit")\n\n".utf8) + forwarded)
            }
            var boundary = "=_postamt_\(SessionStore.randomToken().prefix(32))"
            while parts.contains(where: { MultipartFormData.find(Array(boundary.utf8), in: $0, from: 0) != nil }) {
                boundary = "=_postamt_\(SessionStore.randomToken().prefix(32))"
            }
            var out = Array((header + "Content-Type: multipart/mixed; boundary=\"\(boundary)\"\nUser-Agent: postamt-webmail\n\nThis is a message in MIME format.\n").utf8)
            // Each part ends in LF; the delimiter brings its own line break (RFC 2046 §5.1.1).
            for part in parts { out += Array("\n--\(boundary)\n".utf8) + part }
            out += Array("\n--\(boundary)--\n".utf8)
            message = out
        }
        if files.count > 0 || forwarded != nil {
            app.log("compose user=\(user.name): \(files.count) attachment(s)\(forwarded != nil ? " and a forwarded message" : "")")
        }

        let pipeline: MessagePipeline
        do {
            pipeline = try MessagePipeline(queueProgram: settings.queueProgram, filters: settings.filters, environment: QueueClient.inheritedEnvironment())
        } catch {
            app.log("compose user=\(user.name): cannot start the queue: \(error)")
            return again("The message could not be sent now; try again later.", 503)
        }
        do {
            try FileIO.writeAll(pipeline.inputFD, message)
        } catch {
            pipeline.abandon()
            app.log("compose user=\(user.name): writing to the queue failed: \(error)")
            return again("The message could not be sent now; try again later.", 503)
        }
        switch pipeline.commit(envelope: Envelope(sender: sender, recipients: recipients)) {
        case .queued(let id):
            app.log("sent user=\(user.name) from=\(sender.text) recipients=\(recipients.count) queue=\(id ?? "-")")
            if let rootPath {
                let folders = MaildirFolders(root: Maildir(path: rootPath))
                if let sent = try? folders.specialFolder("Sent") {
                    _ = try? MaildirMailbox(maildir: sent, rootPath: rootPath).append(message, flags: .seen)
                }
            }
            return page("Sent", "<h1>Sent</h1><p class=\"notice\">Your message to \(e(recipients.map(\.text).joined(separator: ", "))) is on its way.</p><p><a href=\"/\">Back to the inbox</a></p>")
        case .refused(let disposition, let reason, _):
            app.log("compose user=\(user.name) refused by the queue: \(reason)")
            return again("The message was not accepted (\(disposition == .permanent ? "refused" : "try again later")).", disposition == .permanent ? 422 : 503)
        }
    }
}

extension String {
    /// CRLF and lone CR become LF (browsers send CRLF in a textarea).
    func replacingLineEnds() -> String {
        var out = ""
        var previousCR = false
        for c in unicodeScalars {
            if c == "\r" { out += "\n"; previousCR = true; continue }
            if c == "\n" && previousCR { previousCR = false; continue }
            previousCR = false
            out.unicodeScalars.append(c)
        }
        return out
    }
}

/// msg-ids (RFC 5322 §3.6.4) in a Message-ID, In-Reply-To or References field: only
/// "<left@right>" without spaces, control characters or a second "<"; anything else is dropped.
enum MessageIDs {
    static func parse(_ value: String) -> [String] {
        var ids: [String] = []
        var current: String?
        for c in value.unicodeScalars {
            if c == "<" { current = "<"; continue }
            guard var id = current else { continue }
            if c == ">" {
                id += ">"
                if id.contains("@"), id.utf8.count > 4, id.utf8.count <= 250 { ids.append(id) }
                current = nil
            } else if c.value <= 0x20 || c.value >= 0x7F {
                current = nil
            } else {
                id.unicodeScalars.append(c)
                current = id
            }
        }
        return ids
    }
}

/// The header and body of one attached file (RFC 2045, RFC 2183, RFC 2231).
enum MIMEAttachment {
    static func header(filename: String, contentType: String) -> String {
        // The multipart parser let only type/subtype of token characters through.
        let halves = contentType.split(separator: "/", omittingEmptySubsequences: false)
        let type = halves.count == 2 && contentType.utf8.count <= 127 && halves.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(MultipartFormData.isTokenByte) })
            ? contentType : "application/octet-stream"
        var name = String(filename.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.prefix(200).map(Character.init))
        if name.isEmpty { name = "attachment" }
        let plain = name.unicodeScalars.allSatisfy { $0.isASCII && $0 != "\"" && $0 != "\\" }
        let parameter = plain ? "filename=\"\(name)\"" : "filename*=UTF-8''\(FormData.encode(name))"
        let typeParameter = plain ? "; name=\"\(name)\"" : ""
        return "Content-Type: \(type)\(typeParameter)\nContent-Disposition: attachment; \(parameter)\nContent-Transfer-Encoding: base64\n\n"
    }

    /// Base64 in lines of 76 characters (RFC 2045 §6.8), each ending in LF.
    static func base64Lines(_ bytes: [UInt8]) -> [UInt8] {
        let encoded = Array(Base64Decoder.encode(bytes).utf8)
        var out: [UInt8] = []
        out.reserveCapacity(encoded.count + encoded.count / 76 + 1)
        var i = 0
        while i < encoded.count {
            out += encoded[i..<min(i + 76, encoded.count)]
            out.append(10)
            i += 76
        }
        return out
    }
}

/// RFC 2045 §6.7 quoted-printable, with LF line ends as messages have in the queue and in Maildir.
enum QuotedPrintable {
    static func encode(_ text: [UInt8]) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        var lineLength = 0
        for line in text.split(separator: 10, omittingEmptySubsequences: false) {
            lineLength = 0
            for (i, b) in line.enumerated() {
                let last = i == line.count - 1
                var piece: [UInt8]
                if (b >= 33 && b <= 126 && b != UInt8(ascii: "=")) || ((b == 32 || b == 9) && !last) {
                    piece = [b]
                } else {
                    piece = [UInt8(ascii: "="), digits[Int(b >> 4)], digits[Int(b & 15)]]
                }
                // A lone "." at the start of a line is left to the queue; soft breaks keep lines short.
                if lineLength + piece.count > 75 {
                    out += [UInt8(ascii: "="), 10]
                    lineLength = 0
                }
                out += piece
                lineLength += piece.count
            }
            out += [10]
        }
        return out
    }
}

import MailCodec
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

    /// What the compose form holds, between its submissions: the fields, the message it answers
    /// or forwards, the attachments kept on the server, the draft it continues.
    struct ComposeForm {
        var from = "", to = "", cc = "", subject = "", body = ""
        /// The message replied to (its folder and UID): In-Reply-To and References come from it.
        var reply: (folder: String, uid: String)?
        /// Threading carried by a resumed draft (RFC 5322 §3.6.4 msg-ids only).
        var inReplyTo: String?
        var references: [String] = []
        /// The message forwarded as an attachment.
        var forward: (folder: String, uid: String)?
        /// Ids of files kept in the session's file area (UploadStore).
        var kept: [String] = []
        /// The draft this form continues (its UID in the Drafts folder): replaced when saved
        /// again, removed when sent.
        var draftUID: UInt32?
        var note = ""
        /// REQUIRETLS (RFC 8689 §4.2.1), passed through the queue's side channel as smtpd passes
        /// MAIL … REQUIRETLS; postamt-queue(8) takes that word from any user.
        var requireTLS = false
        /// "Formatted": the text also goes out as HTML (FormattedText), as multipart/alternative.
        var formatted = false

        init() {}

        init(_ form: [(name: String, value: String)]) {
            func field(_ name: String) -> String { form.first { $0.name == name }?.value ?? "" }
            from = field("from"); to = field("to"); cc = field("cc"); subject = field("subject"); body = field("body")
            if let folder = form.first(where: { $0.name == "reply_f" })?.value { reply = (folder, field("reply_uid")) }
            if let folder = form.first(where: { $0.name == "forward_f" })?.value { forward = (folder, field("forward_uid")) }
            inReplyTo = MessageIDs.parse(field("in_reply_to")).first
            references = Array(MessageIDs.parse(field("references")).suffix(20))
            kept = form.filter { $0.name == "kept" && SessionStore.isWellFormed($0.value) }.map(\.value)
            draftUID = UInt32(field("draft_uid"))
            requireTLS = field("requiretls") == "yes"
            formatted = field("format") == "formatted"
        }

        /// The hidden fields that carry the state to the next submission.
        var hidden: [(String, String)] {
            var out: [(String, String)] = []
            if let reply { out += [("reply_f", reply.folder), ("reply_uid", reply.uid)] }
            if let forward { out += [("forward_f", forward.folder), ("forward_uid", forward.uid)] }
            if let inReplyTo { out.append(("in_reply_to", inReplyTo)) }
            if !references.isEmpty { out.append(("references", references.joined(separator: " "))) }
            if let draftUID { out.append(("draft_uid", String(draftUID))) }
            return out
        }
    }

    func compose() -> HTTPResponse {
        var form = ComposeForm()
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
                form.to = view.header("Reply-To") ?? view.header("From") ?? ""
                form.subject = original.lowercased().hasPrefix("re:") ? original : "Re: " + original
                form.body = "\n\n\(view.header("From") ?? "") wrote:\n" + quoted
                // In-Reply-To and References are taken from the original when sending.
                form.reply = (name, String(uid))
            case "forward":
                form.subject = "Fwd: " + original
                form.body = "\n\n-------- Forwarded message --------\nFrom: \(view.header("From") ?? "")\nDate: \(view.header("Date") ?? "")\nSubject: \(original)\n\n" + (view.text ?? view.html.map { HTMLText.plainText(from: $0) } ?? "")
            case "attach":
                form.subject = "Fwd: " + original
                form.forward = (name, String(uid))
                form.note = "The original message is attached (message/rfc822)."
            case "draft":
                guard name == specialName(.drafts) else { return failure(400, "Only a message in \(specialName(.drafts)) is a draft to continue.") }
                return resumeDraft(view, uid: uid)
            default:
                return failure(400, "Unknown compose mode.")
            }
        }
        return composePage(form, error: nil)
    }

    /// A draft back in the form: its fields, its threading, its attachments kept again.
    func resumeDraft(_ view: MessageView, uid: UInt32) -> HTTPResponse {
        var form = ComposeForm()
        form.from = view.header("From") ?? ""
        form.to = view.header("To") ?? ""
        form.cc = view.header("Cc") ?? ""
        form.subject = view.header("Subject") ?? ""
        form.body = view.text ?? view.html.map { HTMLText.plainText(from: $0) } ?? ""
        if form.body.hasSuffix("\n") { form.body.removeLast() }
        // A draft written in the formatted mode has both halves; its text is what was typed.
        form.formatted = view.text != nil && view.html != nil
        form.inReplyTo = MessageIDs.parse(view.mime.root.header.first("In-Reply-To")?.value ?? "").first
        form.references = Array(MessageIDs.parse(view.mime.root.header.first("References")?.value ?? "").suffix(20))
        form.draftUID = uid
        if parameter("saved") != nil { form.note = "The draft is saved in \(specialName(.drafts))." }
        let uploads = UploadStore(session: session)
        for attachment in view.attachments {
            guard let (_, part) = view.attachment(at: attachment.path) else { continue }
            let content = view.mime.decodedBody(of: part, limit: settings.messageSizeLimit)
            do throws(UploadStore.StoreError) {
                form.kept.append(try uploads.save(filename: attachment.filename, contentType: attachment.contentType, content: content))
            } catch {
                app.log("draft user=\(user.name): \(error)")
                form.note = "The draft's attachments could not be taken over; saving it again drops them."
            }
        }
        return composePage(form, error: nil)
    }

    func composePage(_ form: ComposeForm, error: String?, status: Int = 200) -> HTTPResponse {
        let book = AddressBook(configuration: app.configuration)
        let options = ownAddresses(book).map { "<option\($0 == form.from ? " selected" : "")>\(e($0))</option>" }.joined()
        let message = error.map { "<p class=\"error\" role=\"alert\">\(e($0))</p>" } ?? ""
        let hiddenInputs = form.hidden.map { "<input type=\"hidden\" name=\"\(e($0.0))\" value=\"\(e($0.1))\">" }.joined()
        let note = form.note.isEmpty && form.forward != nil ? "The original message is attached (message/rfc822)." : form.note
        let noteText = note.isEmpty ? "" : "<p class=\"notice\">\(e(note))</p>"
        let uploads = UploadStore(session: session)
        let keptItems = form.kept.compactMap { id -> String? in
            guard let upload = uploads.load(id, limit: settings.multipartLimits.totalBytes) else { return nil }
            return "<li><label><input type=\"checkbox\" name=\"kept\" value=\"\(e(id))\" checked> \(e(upload.filename)) (\(e(upload.contentType)), \(upload.content.count) bytes)</label></li>"
        }
        let keptList = keptItems.isEmpty ? "" : "<fieldset><legend>Attached</legend><ul class=\"kept\">\(keptItems.joined())</ul></fieldset>"
        return page(form.draftUID == nil ? "Write" : "Draft", """
        <h1>Write a message</h1>\(message)
        <form method="post" action="/compose" class="compose" enctype="multipart/form-data">
        <input type="hidden" name="csrf" value="\(e(session.csrfToken))">\(hiddenInputs)
        <label>From <select name="from">\(options)</select></label>
        <label>To <input name="to" value="\(e(form.to))"></label>
        <label>Cc <input name="cc" value="\(e(form.cc))"></label>
        <label>Subject <input name="subject" value="\(e(form.subject))"></label>
        <label>Message <textarea name="body">\(e(form.body))</textarea></label>
        <label>Format <select name="format"><option value="plain">Plain text</option><option value="formatted"\(form.formatted ? " selected" : "")>Formatted (also sent as HTML)</option></select>
        Formatted: *bold*, _italic_, `code`, lines starting with "- " or "&gt; ", and links.</label>
        \(noteText)\(keptList)<label>Attachments <input type="file" name="attachment" multiple></label>
        <label class="check"><input type="checkbox" name="requiretls" value="yes"\(form.requireTLS ? " checked" : "")> Require TLS: deliver only over verified encrypted connections, else return the message to me (RFC 8689)</label>
        <div class="actions"><button type="submit">Send</button><button type="submit" name="draft" value="1">Save draft</button></div>
        </form>
        """, status: status)
    }

    /// The message a hidden (folder, uid) pair of the compose form names; nil when there is none,
    /// .failure when it names one that is not there.
    func referencedMessage(_ reference: (folder: String, uid: String)?) -> Result<[UInt8]?, HTTPErrorPage> {
        guard let reference else { return .success(nil) }
        let mailbox: MaildirMailbox
        do { mailbox = try self.mailbox(reference.folder) } catch { return .failure(HTTPErrorPage(mailError(error))) }
        guard let number = UInt32(reference.uid), number > 0,
              (try? mailbox.synchronize(moveNew: false)) != nil, mailbox.message(uid: number) != nil,
              let bytes = try? mailbox.read(uid: number, limit: settings.messageSizeLimit) else {
            return .failure(HTTPErrorPage(failure(404, "The original message is gone; nothing was sent.")))
        }
        return .success(bytes)
    }

    /// POST /compose: Send (the default button) or Save draft (`draft=1`). Either way a refusal
    /// shows the form again with everything in it, the newly chosen files kept on the server.
    func send(_ fields: [(name: String, value: String)], files: [FormPart]) -> HTTPResponse {
        var form = ComposeForm(fields)
        let savingDraft = fields.contains { $0.name == "draft" }
        let uploads = UploadStore(session: session)
        var kept: [UploadStore.Upload] = []
        var keptBytes = 0
        for id in form.kept {
            guard let upload = uploads.load(id, limit: settings.multipartLimits.totalBytes) else { continue }
            keptBytes += upload.content.count
            kept.append(upload)
        }
        form.kept = kept.map(\.id)
        var keepingFailed = false
        func again(_ error: String, _ status: Int) -> HTTPResponse {
            // The files chosen this time stay on the server for the next submission.
            if !keepingFailed {
                for file in files {
                    do throws(UploadStore.StoreError) {
                        form.kept.append(try uploads.save(filename: file.filename ?? "attachment", contentType: file.contentType, content: file.content))
                    } catch {
                        app.log("compose user=\(user.name): \(error)")
                        keepingFailed = true
                    }
                }
            }
            let lost = keepingFailed ? " The files you attached could not be kept; attach them again." : ""
            return composePage(form, error: error + lost, status: status)
        }
        // Header injection: a CR or LF (or any control character) in a header field is refused.
        for value in [form.from, form.to, form.cc, form.subject] where value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            app.log("compose refused user=\(user.name): control character in a header field")
            return again("A header field may not contain line breaks or control characters; nothing was sent.", 400)
        }
        guard form.subject.utf8.count <= 998, form.to.utf8.count <= 8000, form.cc.utf8.count <= 8000 else { return again("A header field is too long; nothing was sent.", 400) }
        guard keptBytes + files.reduce(0, { $0 + $1.content.count }) <= settings.multipartLimits.totalBytes else {
            keepingFailed = true
            return again("The attachments are larger than \(settings.multipartLimits.totalBytes) bytes together; nothing was sent.", 413)
        }
        let book = AddressBook(configuration: app.configuration)
        guard let sender = try? EnvelopeAddress(form.from), form.from.contains("@") else { return again("Choose a From address; nothing was sent.", 400) }
        let ownership = book.resolver.ownership(of: sender.text, by: user.name)
        guard ownership.owned else {
            app.log("compose refused user=\(user.name) from=\(sender.text): \(ownership.reason)")
            return again("You may not send as \(form.from); nothing was sent.", 403)
        }
        var recipients: [EnvelopeAddress] = []
        if !savingDraft {
            // A draft may hold half-written addresses; a message to send may not.
            for address in AddressList.addresses(in: form.to) + AddressList.addresses(in: form.cc) {
                guard let r = try? EnvelopeAddress(address), address.contains("@") else { return again("\(address) is not an address; nothing was sent.", 400) }
                if !recipients.contains(r) { recipients.append(r) }
            }
            guard !recipients.isEmpty else { return again("Name at least one recipient; nothing was sent.", 400) }
            guard recipients.count <= 100 else { return again("At most 100 recipients; nothing was sent.", 400) }
        }
        let repliedTo: [UInt8]?, forwarded: [UInt8]?
        switch referencedMessage(form.reply) {
        case .failure(let page): return page.response
        case .success(let bytes): repliedTo = bytes
        }
        switch referencedMessage(form.forward) {
        case .failure(let page): return page.response
        case .success(let bytes): forwarded = bytes
        }
        if let repliedTo {
            // RFC 5322 §3.6.4: In-Reply-To is the parent's Message-ID; References its References
            // (or In-Reply-To) followed by its Message-ID. Only well-formed msg-ids are copied.
            let parent = HeaderSection.parse(repliedTo)
            let parentID = MessageIDs.parse(parent.first("Message-ID")?.value ?? "").first
            var references = MessageIDs.parse(parent.first("References")?.value ?? "")
            if references.isEmpty { references = MessageIDs.parse(parent.first("In-Reply-To")?.value ?? "") }
            if let parentID { references.append(parentID) }
            form.inReplyTo = parentID
            form.references = Array(references.suffix(20))
        }
        let attachments = kept.map { (filename: $0.filename, contentType: $0.contentType, content: $0.content) }
            + files.map { (filename: $0.filename ?? "", contentType: $0.contentType, content: $0.content) }
        let message = composedMessage(form, sender: sender, attachments: attachments, forwarded: forwarded)
        if !attachments.isEmpty || forwarded != nil {
            app.log("compose user=\(user.name): \(attachments.count) attachment(s)\(forwarded != nil ? " and a forwarded message" : "")")
        }
        if savingDraft { return saveDraft(message, form: form, kept: kept, again: again) }

        // smtpd's per-user hourly limits (postamt-smtpd(8), SENDING LIMITS), on the same counts.
        let now = Int64(time(nil))
        if let counts = app.sendingCounts {
            var usage: SendingLimits.Usage?
            do { usage = try counts.usage(now: now) } catch { app.log("sending count of \(user.name) unreadable, not applied: \(error)") }
            if let reason = settings.sendingLimits.refusal(user: user.name, usage: usage, recipients: recipients.count) {
                app.log("compose refused user=\(user.name): \(reason)")
                return again("Not sent: \(reason).", 429)
            }
        }

        let pipeline: MessagePipeline
        do {
            pipeline = try MessagePipeline(queueProgram: settings.queueProgram, filters: settings.filters, environment: QueueClient.inheritedEnvironment() + (form.requireTLS ? ["POSTAMT_DSN=REQUIRETLS"] : []))
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
            app.log("sent user=\(user.name) from=\(sender.text) recipients=\(recipients.count) queue=\(id ?? "-")\(form.requireTLS ? " requiretls" : "")")
            if let counts = app.sendingCounts {
                do { try counts.record(recipients: recipients.count, now: now) } catch { app.log("sending count of \(user.name) not kept: \(error)") }
            }
            if let (_, sent) = try? specialFolder(.sent) {
                _ = try? sent.append(message, flags: .seen)
            }
            for upload in kept { uploads.remove(upload.id) }
            if let draftUID = form.draftUID { removeDraft(draftUID) }
            return page("Sent", "<h1>Sent</h1><p class=\"notice\">Your message to \(e(recipients.map(\.text).joined(separator: ", "))) is on its way.</p><p><a href=\"/\">Back to the inbox</a></p>")
        case .refused(let disposition, let reason, _):
            app.log("compose user=\(user.name) refused by the queue: \(reason)")
            return again("The message was not accepted (\(disposition == .permanent ? "refused" : "try again later")).", disposition == .permanent ? 422 : 503)
        }
    }

    /// The message as it goes out (or into Drafts): text/plain (or, formatted, multipart/alternative
    /// of the text and its HTML), alone or first in a multipart/mixed with the attachments and the
    /// forwarded message.
    func composedMessage(_ form: ComposeForm, sender: EnvelopeAddress, attachments: [(filename: String, contentType: String, content: [UInt8])],
                         forwarded: [UInt8]?) -> [UInt8] {
        let body = form.body.replacingLineEnds()
        let now = Int64(time(nil))
        var header = "Date: \(Clock.rfc5322Date(now))\n"
        header += "From: \(sender.text)\n"
        if !form.to.isEmpty { header += "To: \(form.to)\n" }
        if !form.cc.isEmpty { header += "Cc: \(form.cc)\n" }
        header += "Subject: \(EncodedWord.encode(form.subject))\n"
        header += "Message-ID: <\(now).\(SessionStore.randomToken().prefix(16))@\(app.configuration.hostname)>\n"
        if let inReplyTo = form.inReplyTo { header += "In-Reply-To: \(inReplyTo)\n" }
        if !form.references.isEmpty { header += "References: \(form.references.joined(separator: "\n "))\n" }
        header += "MIME-Version: 1.0\n"
        let plainHeader = Array("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n".utf8)
        let plainBody = QuotedPrintableText.encode(Array(body.utf8))
        // RFC 2046 §5.1.4 multipart/alternative: the plainest form first, the preferred last.
        let text: (header: [UInt8], body: [UInt8])
        if form.formatted {
            let html = Array("Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n".utf8)
                + QuotedPrintableText.encode(Array(FormattedText.document(from: body).utf8))
            let parts = [plainHeader + [10] + plainBody, html]
            let boundary = MIMEBoundary.unique(avoiding: parts)
            text = (Array("Content-Type: multipart/alternative; boundary=\"\(boundary)\"\n".utf8), MIMEBoundary.join(parts, boundary: boundary))
        } else {
            text = (plainHeader, plainBody)
        }
        if attachments.isEmpty && forwarded == nil {
            return Array(header.utf8) + text.header + Array("User-Agent: postamt-webmail\n\n".utf8) + text.body
        }
        // RFC 2046 §5.1.3 multipart/mixed: the text first, then each file in base64, then the
        // forwarded message as message/rfc822 (never base64: RFC 2046 §5.2.1).
        func rfc822Part(_ message: [UInt8], filename: String) -> [UInt8] {
            let eightBit = message.contains { $0 >= 0x80 }
            return Array("Content-Type: message/rfc822\nContent-Disposition: attachment; filename=\"\(filename)\"\nContent-Transfer-Encoding: \(eightBit ? "8bit" : "7bit")\n\n".utf8) + message
        }
        var parts: [[UInt8]] = [text.header + [10] + text.body]
        for file in attachments {
            if file.contentType == "message/rfc822" {
                // A forwarded message kept by a draft goes out as it came in.
                let name = file.filename.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" } ? file.filename : "forwarded.eml"
                parts.append(rfc822Part(file.content, filename: name))
                continue
            }
            parts.append(Array(MIMEAttachment.header(filename: file.filename, contentType: file.contentType).utf8)
                         + MIMEAttachment.base64Lines(file.content))
        }
        if let forwarded { parts.append(rfc822Part(forwarded, filename: "forwarded.eml")) }
        let boundary = MIMEBoundary.unique(avoiding: parts)
        return Array((header + "Content-Type: multipart/mixed; boundary=\"\(boundary)\"\nUser-Agent: postamt-webmail\n\nThis is a message in MIME format.\n").utf8)
            + MIMEBoundary.join(parts, boundary: boundary)
    }

    /// Save draft: the message into the Drafts folder (the one with the \Drafts special use) with
    /// \Draft and \Seen (RFC 9051 §2.3.2), replacing the draft the form continued; then the form
    /// again, on the new draft, with its attachments.
    func saveDraft(_ message: [UInt8], form: ComposeForm, kept: [UploadStore.Upload],
                   again: (String, Int) -> HTTPResponse) -> HTTPResponse {
        let name: String, drafts: MaildirMailbox, uid: UInt32
        do {
            (name, drafts) = try specialFolder(.drafts)
            uid = try drafts.append(message, flags: [.draft, .seen])
        } catch {
            app.log("draft user=\(user.name): \(error)")
            return again("The draft could not be saved.", 500)
        }
        if let old = form.draftUID { removeDraft(old) }
        let uploads = UploadStore(session: session)
        for upload in kept { uploads.remove(upload.id) }
        app.log("draft saved user=\(user.name) folder=\(name) uid=\(uid)")
        return .redirect("/compose?mode=draft&f=\(FormData.encode(name))&uid=\(uid)&saved=1")
    }

    /// Removes a draft from the Drafts folder: only a message there that has the \Draft flag.
    func removeDraft(_ uid: UInt32) {
        guard let (_, drafts) = try? specialFolder(.drafts), (try? drafts.synchronize(moveNew: false)) != nil,
              let message = drafts.message(uid: uid), message.flags.contains(.draft) else { return }
        _ = try? drafts.remove(uids: [uid])
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

/// Multipart bodies the webmail writes (RFC 2046 §5.1.1).
enum MIMEBoundary {
    /// A random boundary that occurs in none of the parts.
    static func unique(avoiding parts: [[UInt8]]) -> String {
        var boundary = "=_postamt_\(SessionStore.randomToken().prefix(32))"
        while parts.contains(where: { MultipartFormData.find(Array(boundary.utf8), in: $0, from: 0) != nil }) {
            boundary = "=_postamt_\(SessionStore.randomToken().prefix(32))"
        }
        return boundary
    }

    /// The body: each part after a delimiter, then the close delimiter. Each part ends in LF;
    /// the delimiter brings its own line break.
    static func join(_ parts: [[UInt8]], boundary: String) -> [UInt8] {
        var out: [UInt8] = []
        for part in parts { out += Array("\n--\(boundary)\n".utf8) + part }
        out += Array("\n--\(boundary)--\n".utf8)
        return out
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

/// RFC 2045 §6.7 quoted-printable (MailCodec), with LF line ends as messages have in the queue
/// and in Maildir; every line, the last too, ends with LF.
enum QuotedPrintableText {
    static func encode(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for line in text.split(separator: 10, omittingEmptySubsequences: false) {
            QuotedPrintable.encodeLine(line, lineEnd: [10], into: &out)
            out.append(10)
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailMessage
import MailQueue
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
        if let mode = parameter("mode") {
            let name: String, mailbox: MaildirMailbox, uid: UInt32
            switch selectedMessage() {
            case .failure(let page): return page.response
            case .success(let found): (name, mailbox, uid) = found
            }
            _ = name
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
            case "forward":
                subject = "Fwd: " + original
                body = "\n\n-------- Forwarded message --------\nFrom: \(view.header("From") ?? "")\nDate: \(view.header("Date") ?? "")\nSubject: \(original)\n\n" + (view.text ?? view.html.map { HTMLText.plainText(from: $0) } ?? "")
            default:
                return failure(400, "Unknown compose mode.")
            }
        }
        return composePage(to: to, cc: cc, subject: subject, body: body, from: nil, error: nil)
    }

    func composePage(to: String, cc: String, subject: String, body: String, from: String?, error: String?, status: Int = 200) -> HTTPResponse {
        let book = AddressBook(configuration: app.configuration)
        let options = ownAddresses(book).map { "<option\($0 == from ? " selected" : "")>\(e($0))</option>" }.joined()
        let message = error.map { "<p class=\"error\" role=\"alert\">\(e($0))</p>" } ?? ""
        return page("Write", """
        <h1>Write a message</h1>\(message)
        <form method="post" action="/compose" class="compose">
        <input type="hidden" name="csrf" value="\(e(session.csrfToken))">
        <label>From <select name="from">\(options)</select></label>
        <label>To <input name="to" value="\(e(to))" required></label>
        <label>Cc <input name="cc" value="\(e(cc))"></label>
        <label>Subject <input name="subject" value="\(e(subject))"></label>
        <label>Message <textarea name="body">\(e(body))</textarea></label>
        <button type="submit">Send</button>
        </form>
        """, status: status)
    }

    func send(_ form: [(name: String, value: String)]) -> HTTPResponse {
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

        // The message: UTF-8 text, quoted-printable so no line is too long and no line is ".".
        body = body.replacingLineEnds()
        let now = Int64(time(nil))
        var header = "Date: \(Clock.rfc5322Date(now))\n"
        header += "From: \(sender.text)\n"
        header += "To: \(to)\n"
        if !cc.isEmpty { header += "Cc: \(cc)\n" }
        header += "Subject: \(EncodedWord.encode(subject))\n"
        header += "Message-ID: <\(now).\(SessionStore.randomToken().prefix(16))@\(app.configuration.hostname)>\n"
        header += "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n"
        header += "User-Agent: postamt-webmail\n\n"
        let message = Array(header.utf8) + QuotedPrintable.encode(Array(body.utf8))

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

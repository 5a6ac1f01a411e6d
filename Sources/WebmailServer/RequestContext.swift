#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailMessage
import MailSystem
import Maildir
import WebmailProtocol

/// One request of the logged-in user (the process is that user now): the pages and actions.
struct RequestContext {
    let app: WebmailApp
    let user: SystemUser
    let session: SessionStore.Session
    let request: HTTPRequest

    var settings: WebmailSettings { app.settings }
    var query: [(name: String, value: String)] { FormData.parse(request.query) ?? [] }
    func parameter(_ name: String) -> String? { query.first { $0.name == name }?.value }
    func e(_ text: String) -> String { HTMLEscape.escape(text) }

    /// A posted form: its text fields in order, and the files chosen in its file inputs
    /// (multipart/form-data only; an input left empty sends no file).
    struct PostedForm {
        var fields: [(name: String, value: String)]
        var files: [FormPart] = []
    }

    func form() -> Result<PostedForm, HTTPError> {
        let type = request.header("Content-Type") ?? ""
        if type.lowercased().hasPrefix("application/x-www-form-urlencoded") {
            guard let fields = FormData.parse(request.body) else { return .failure(HTTPError(400, "malformed form data")) }
            return .success(PostedForm(fields: fields))
        }
        if type.lowercased().hasPrefix("multipart/form-data") {
            guard let boundary = MultipartFormData.boundary(contentType: type) else {
                return .failure(HTTPError(400, "multipart/form-data without a valid boundary"))
            }
            let parts: [FormPart]
            do throws(HTTPError) { parts = try MultipartFormData.parse(request.body, boundary: boundary, limits: settings.multipartLimits) } catch {
                return .failure(error)
            }
            var posted = PostedForm(fields: [])
            for part in parts {
                if let filename = part.filename {
                    if !filename.isEmpty || !part.content.isEmpty { posted.files.append(part) }
                } else {
                    posted.fields.append((part.name, String(decoding: part.content, as: UTF8.self)))
                }
            }
            return .success(posted)
        }
        return .failure(HTTPError(415, "forms are application/x-www-form-urlencoded or multipart/form-data"))
    }

    func page(_ title: String, _ body: String, status: Int = 200) -> HTTPResponse {
        .html(WebmailPages.page(title: title, user: user.name, csrf: session.csrfToken, body: body), status: status)
    }

    func failure(_ status: Int, _ text: String) -> HTTPResponse {
        page("Error", "<h1>\(status) \(e(HTTPResponse.reasonPhrase(status)))</h1><p>\(e(text))</p><p><a href=\"/\">Back to the inbox</a></p>", status: status)
    }

    // MARK: The Maildir

    var rootPath: String? { settings.login.maildirPath(home: user.home) }

    enum MailError: Error { case badFolder, noSuchFolder, noMaildir }

    /// The folder's mailbox: "INBOX" or a Maildir++ folder that exists (names are checked by
    /// MaildirFolders.validate: no "/", no "..", no control characters).
    func mailbox(_ name: String) throws(MailError) -> MaildirMailbox {
        guard let rootPath else { throw .noMaildir }
        if name == "INBOX" { return MaildirMailbox(maildir: Maildir(path: rootPath), rootPath: rootPath) }
        guard (try? MaildirFolders.validate(name)) != nil else { throw .badFolder }
        let folders = MaildirFolders(root: Maildir(path: rootPath))
        guard folders.exists(name) else { throw .noSuchFolder }
        return MaildirMailbox(maildir: Maildir(path: "\(rootPath)/.\(name)"), rootPath: rootPath)
    }

    func folderNames() -> [String] {
        guard let rootPath else { return [] }
        return ["INBOX"] + ((try? MaildirFolders(root: Maildir(path: rootPath)).list()) ?? [])
    }

    func mailError(_ error: MailError) -> HTTPResponse {
        switch error {
        case .badFolder: return failure(400, "That is not a valid folder name.")
        case .noSuchFolder: return failure(404, "There is no such folder.")
        case .noMaildir: return failure(500, "Your mailbox is not a Maildir.")
        }
    }

    static func folderLink(_ name: String) -> String { "/folder?f=\(FormData.encode(name))" }
    static func messageLink(_ folder: String, _ uid: UInt32) -> String { "/message?f=\(FormData.encode(folder))&uid=\(uid)" }

    // MARK: GET

    func get(_ path: String) -> HTTPResponse {
        switch path {
        case "/": return .redirect("/folder?f=INBOX")
        case "/folders": return folders()
        case "/folder": return folder()
        case "/message", "/raw", "/part": return message(path)
        case "/compose": return compose()
        case "/search": return search()
        default: return failure(404, "There is no such page.")
        }
    }

    func folders() -> HTTPResponse {
        var rows = ""
        for name in folderNames() {
            guard let mailbox = try? mailbox(name), let snapshot = try? mailbox.synchronize(moveNew: false) else { continue }
            let unread = snapshot.messages.filter { !$0.flags.contains(.seen) }.count
            rows += "<tr\(unread > 0 ? " class=\"unread\"" : "")><td><a href=\"\(e(RequestContext.folderLink(name)))\">\(e(name))</a></td><td class=\"num\">\(unread)</td><td class=\"num\">\(snapshot.messages.count)</td></tr>\n"
        }
        return page("Folders", "<h1>Folders</h1><table class=\"list\"><thead><tr><th>Folder</th><th class=\"num\">Unread</th><th class=\"num\">All</th></tr></thead><tbody>\n\(rows)</tbody></table>" + folderForms())
    }

    struct Summary { var from = "", subject = "", date = "" }

    func summary(_ mailbox: MaildirMailbox, _ uid: UInt32) -> Summary {
        guard let bytes = try? mailbox.read(uid: uid, limit: 64 * 1024) else { return Summary() }
        let header = HeaderSection.parse(bytes)
        func field(_ name: String) -> String { header.first(name).map { MessageView.decodeField($0.value) } ?? "" }
        return Summary(from: field("From"), subject: field("Subject"), date: field("Date"))
    }

    func folder() -> HTTPResponse {
        let name = parameter("f") ?? "INBOX"
        let mailbox: MaildirMailbox
        do { mailbox = try self.mailbox(name) } catch { return mailError(error) }
        guard let snapshot = try? mailbox.synchronize(moveNew: false) else { return failure(500, "The folder cannot be read.") }
        let pageParameter = parameter("page") ?? "0"
        guard let pageNumber = Int(pageParameter), pageNumber >= 0, pageNumber < 1_000_000 else { return failure(400, "That is not a page number.") }
        let newestFirst = snapshot.messages.reversed()
        let start = pageNumber * settings.pageSize
        let shown = newestFirst.dropFirst(start).prefix(settings.pageSize)
        var rows = ""
        for m in shown {
            let s = summary(mailbox, m.uid)
            let flag = m.flags.contains(.flagged) ? "★ " : ""
            let subject = s.subject.isEmpty ? "(no subject)" : s.subject
            rows += "<tr\(m.flags.contains(.seen) ? "" : " class=\"unread\"")><td><input type=\"checkbox\" name=\"uid\" value=\"\(m.uid)\" aria-label=\"Choose\"></td><td>\(e(s.from))</td><td>\(flag)<a href=\"\(e(RequestContext.messageLink(name, m.uid)))\">\(e(subject))</a></td><td class=\"date\">\(e(s.date))</td></tr>\n"
        }
        var pager = ""
        if pageNumber > 0 { pager += "<a href=\"\(e(RequestContext.folderLink(name)))&amp;page=\(pageNumber - 1)\">Newer</a>" }
        if start + settings.pageSize < snapshot.messages.count { pager += "<a href=\"\(e(RequestContext.folderLink(name)))&amp;page=\(pageNumber + 1)\">Older</a>" }
        let empty = snapshot.messages.isEmpty ? "<p>No messages.</p>" : ""
        return page(name, """
        <h1>\(e(name))</h1>\(searchForm(folder: name))\(empty)
        <form method="post" action="/bulk"><input type="hidden" name="csrf" value="\(e(session.csrfToken))"><input type="hidden" name="f" value="\(e(name))">
        <table class="list"><thead><tr><th></th><th>From</th><th>Subject</th><th class="date">Date</th></tr></thead><tbody>
        \(rows)</tbody></table>
        \(snapshot.messages.isEmpty ? "" : bulkButtons(folder: name))</form>
        <div class="pager">\(pager)</div>
        """)
    }

    /// The folder and UID named in the query; the error page when either is wrong.
    func selectedMessage() -> Result<(String, MaildirMailbox, UInt32), HTTPErrorPage> {
        let name = parameter("f") ?? "INBOX"
        let mailbox: MaildirMailbox
        do { mailbox = try self.mailbox(name) } catch { return .failure(HTTPErrorPage(mailError(error))) }
        guard let text = parameter("uid"), let uid = UInt32(text), uid > 0 else { return .failure(HTTPErrorPage(failure(400, "That is not a message number."))) }
        guard (try? mailbox.synchronize(moveNew: false)) != nil, mailbox.message(uid: uid) != nil else {
            return .failure(HTTPErrorPage(failure(404, "There is no such message in \(name).")))
        }
        return .success((name, mailbox, uid))
    }

    struct HTTPErrorPage: Error { let response: HTTPResponse; init(_ r: HTTPResponse) { response = r } }

    func message(_ path: String) -> HTTPResponse {
        let name: String, mailbox: MaildirMailbox, uid: UInt32
        switch selectedMessage() {
        case .failure(let page): return page.response
        case .success(let found): (name, mailbox, uid) = found
        }
        guard let bytes = try? mailbox.read(uid: uid, limit: settings.messageSizeLimit) else { return failure(404, "The message is gone.") }
        if path == "/raw" {
            return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; charset=utf-8")], body: bytes)
        }
        let view = MessageView(bytes: bytes)
        if path == "/part" {
            let text = parameter("part") ?? ""
            let indexes = text.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
            guard !text.isEmpty, indexes.allSatisfy({ $0 != nil && $0! >= 0 && $0! < 10_000 }), indexes.count <= 20,
                  let (attachment, part) = view.attachment(at: indexes.map { $0! }) else {
                return failure(404, "There is no such attachment.")
            }
            let encodedName = FormData.encode(attachment.filename)
            let asciiName = String(attachment.filename.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" ? Character($0) : "_" })
            return HTTPResponse(status: 200, headers: [
                ("Content-Type", "application/octet-stream"),
                ("Content-Disposition", "attachment; filename=\"\(asciiName)\"; filename*=UTF-8''\(encodedName)"),
            ], body: view.mime.decodedBody(of: part, limit: settings.messageSizeLimit))
        }
        let m = mailbox.message(uid: uid)!
        var headers = ""
        for field in ["From", "To", "Cc", "Date", "Subject"] {
            if let value = view.header(field) { headers += "<dt>\(field)</dt><dd>\(e(value))</dd>\n" }
        }
        var body = ""
        let wantHTML = parameter("view") == "html" || view.text == nil
        if wantHTML, let html = view.html {
            body = "<div class=\"html-body\">\(HTMLSanitizer(allowRemoteImages: settings.remoteImages).sanitize(html))</div>"
        } else if let text = view.text {
            body = "<pre class=\"body\">\(e(text))</pre>"
        } else {
            body = "<p>This message has no text.</p>"
        }
        var switcher = ""
        let link = RequestContext.messageLink(name, uid)
        if view.html != nil && view.text != nil {
            switcher = wantHTML ? "<a href=\"\(e(link))\">Show as text</a>" : "<a href=\"\(e(link))&amp;view=html\">Show as HTML</a>"
        }
        var attachments = ""
        if !view.attachments.isEmpty {
            attachments = "<h2>Attachments</h2><ul>" + view.attachments.map { a in
                let href = "/part?f=\(FormData.encode(name))&uid=\(uid)&part=\(a.path.map(String.init).joined(separator: "."))"
                return "<li><a href=\"\(e(href))\">\(e(a.filename))</a> (\(e(a.contentType)), \(a.size) bytes)</li>"
            }.joined() + "</ul>"
        }
        let actions = actionButtons(folder: name, uid: uid, flags: m.flags)
        return page(view.header("Subject") ?? "Message", """
        <p><a href="\(e(RequestContext.folderLink(name)))">← \(e(name))</a></p>
        <h1>\(e(view.header("Subject") ?? "(no subject)"))</h1>
        <dl class="headers">\(headers)</dl>
        \(actions)
        <p>\(switcher) <a href="\(e("/raw?f=\(FormData.encode(name))&uid=\(uid)"))">Source</a>
        <a href="\(e("/compose?f=\(FormData.encode(name))&uid=\(uid)&mode=reply"))">Reply</a>
        <a href="\(e("/compose?f=\(FormData.encode(name))&uid=\(uid)&mode=forward"))">Forward</a>
        <a href="\(e("/compose?f=\(FormData.encode(name))&uid=\(uid)&mode=attach"))">Forward as attachment</a></p>
        \(body)
        \(attachments)
        """)
    }

    func actionButtons(folder: String, uid: UInt32, flags: MaildirFlags) -> String {
        func button(_ op: String, _ label: String) -> String {
            """
            <form method="post" action="/action" class="inline"><input type="hidden" name="csrf" value="\(e(session.csrfToken))"><input type="hidden" name="f" value="\(e(folder))"><input type="hidden" name="uid" value="\(uid)"><input type="hidden" name="op" value="\(op)"><button type="submit">\(label)</button></form>
            """
        }
        var out = "<div class=\"actions\">"
        out += flags.contains(.seen) ? button("unseen", "Mark unread") : button("seen", "Mark read")
        out += flags.contains(.flagged) ? button("unflag", "Unflag") : button("flag", "Flag")
        out += button("delete", folder == "Trash" ? "Delete for good" : "Delete")
        out += folder == RequestContext.junk ? button("ham", "Not spam") : button("spam", "Spam")
        let targets = folderNames().filter { $0 != folder }
        if !targets.isEmpty {
            out += "<form method=\"post\" action=\"/action\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"\(e(session.csrfToken))\"><input type=\"hidden\" name=\"f\" value=\"\(e(folder))\"><input type=\"hidden\" name=\"uid\" value=\"\(uid)\"><input type=\"hidden\" name=\"op\" value=\"move\"><select name=\"to\" aria-label=\"Folder\">"
            out += targets.map { "<option>\(e($0))</option>" }.joined()
            out += "</select><button type=\"submit\">Move</button></form>"
        }
        return out + "</div>"
    }

    // MARK: POST

    func post(_ path: String, form: [(name: String, value: String)], files: [FormPart]) -> HTTPResponse {
        switch path {
        case "/action": return action(form)
        case "/compose": return send(form, files: files)
        case "/bulk": return bulkAction(form)
        case "/folders/create", "/folders/rename", "/folders/delete": return manageFolder(path, form)
        default: return failure(404, "There is no such action.")
        }
    }

    func action(_ form: [(name: String, value: String)]) -> HTTPResponse {
        func field(_ name: String) -> String? { form.first { $0.name == name }?.value }
        let name = field("f") ?? ""
        let mailbox: MaildirMailbox
        do { mailbox = try self.mailbox(name) } catch { return mailError(error) }
        guard let uidText = field("uid"), let uid = UInt32(uidText), uid > 0 else { return failure(400, "That is not a message number; nothing was changed.") }
        guard (try? mailbox.synchronize(moveNew: false)) != nil, mailbox.message(uid: uid) != nil else {
            return failure(404, "There is no such message; nothing was changed.")
        }
        let back = RequestContext.messageLink(name, uid)
        do {
            switch field("op") ?? "" {
            case "seen": _ = try mailbox.store(uids: [uid], .add(.seen))
            case "unseen": _ = try mailbox.store(uids: [uid], .remove(.seen))
            case "flag": _ = try mailbox.store(uids: [uid], .add(.flagged))
            case "unflag": _ = try mailbox.store(uids: [uid], .remove(.flagged))
            case "delete":
                if name == "Trash" {
                    _ = try mailbox.remove(uids: [uid])
                } else {
                    let folders = MaildirFolders(root: Maildir(path: rootPath!))
                    let trash = try folders.specialFolder("Trash")
                    _ = try mailbox.move(uids: [uid], to: MaildirMailbox(maildir: trash, rootPath: rootPath))
                }
                app.log("delete user=\(user.name) folder=\(name) uid=\(uid)")
                return .redirect(RequestContext.folderLink(name))
            case "move":
                let target = field("to") ?? ""
                guard target != name else { return failure(400, "The message is in that folder already; nothing was changed.") }
                let destination: MaildirMailbox
                do { destination = try self.mailbox(target) } catch { return mailError(error) }
                try move([uid], from: mailbox, named: name, to: destination, named: target)
                app.log("move user=\(user.name) folder=\(name) uid=\(uid) to=\(target)")
                return .redirect(RequestContext.folderLink(name))
            case "spam", "ham":
                let op = field("op")!
                guard let (target, destination) = try spamTarget(op, from: name) else {
                    return failure(400, op == "spam" ? "The message is in Junk already; nothing was changed." : "Only a message in Junk can be marked as not spam; nothing was changed.")
                }
                try move([uid], from: mailbox, named: name, to: destination, named: target)
                app.log("\(op) user=\(user.name) folder=\(name) uid=\(uid) to=\(target)")
                return .redirect(RequestContext.folderLink(name))
            default:
                return failure(400, "Unknown action; nothing was changed.")
            }
        } catch {
            app.log("action failed user=\(user.name): \(error)")
            return failure(500, "The change could not be made.")
        }
        return .redirect(back)
    }
}

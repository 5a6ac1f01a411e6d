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
    /// A HEAD request: the same answer as GET, but nothing may change (no \Seen).
    var headOnly = false
    let cache = Cache()

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
        .html(WebmailPages.page(title: title, user: user.name, csrf: session.csrfToken, body: body, poll: settings.unreadPollSeconds, brand: settings.branding, templates: app.templates), status: status)
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

    /// INBOX, the folders with a special use (in the order Drafts, Sent, Archive, Junk, Trash),
    /// each followed by its sub-folders, then the others by name, so a parent comes before its
    /// children.
    func folderNames() -> [String] {
        if let names = cache.folderNames { return names }
        guard let rootPath else { return [] }
        let all = (try? MaildirFolders(root: Maildir(path: rootPath)).list()) ?? []
        let uses = specialUses
        let special = SpecialUse.allCases.compactMap { uses[$0.rawValue] }.filter { all.contains($0) }
        // Each special folder with its sub-folders, then the rest.
        var names = ["INBOX"]
        for folder in special {
            names += [folder] + all.filter { $0.hasPrefix(folder + ".") && !special.contains($0) }
        }
        names += all.filter { !names.contains($0) }
        cache.folderNames = names
        return names
    }

    /// RFC 6154 special uses the webmail acts on.
    enum SpecialUse: String, CaseIterable {
        case drafts = "\\drafts", sent = "\\sent", archive = "\\archive", junk = "\\junk", trash = "\\trash"
        /// The folder made when none has the use (imapd's default names).
        var defaultName: String {
            switch self {
            case .drafts: "Drafts"
            case .sent: "Sent"
            case .archive: "Archive"
            case .junk: "Junk"
            case .trash: "Trash"
            }
        }
    }

    /// Lazily filled answers that several parts of one request need.
    final class Cache {
        var specialUses: [String: String]?
        var folderNames: [String]?
        var engine: IMAPCommandRunner?
    }

    /// imapd's engine on the user's Maildir (one per request, made when first needed).
    func imap() -> IMAPCommandRunner {
        if let engine = cache.engine { return engine }
        let engine = IMAPCommandRunner(user: user.name, maildirPath: rootPath ?? "\(user.home)/Maildir")
        cache.engine = engine
        return engine
    }

    /// Special use (lower-case attribute) → folder, as imapd's LIST (SPECIAL-USE) reports it.
    var specialUses: [String: String] {
        if let uses = cache.specialUses { return uses }
        let uses = rootPath == nil ? [:] : imap().specialUses()
        cache.specialUses = uses
        return uses
    }

    /// The folder that has `use`, else its default name.
    func specialName(_ use: SpecialUse) -> String { specialUses[use.rawValue] ?? use.defaultName }

    /// The folder that has `use`, opened; without one, the default folder, made when missing.
    func specialFolder(_ use: SpecialUse) throws -> (String, MaildirMailbox) {
        guard let rootPath else { throw MailError.noMaildir }
        let folders = MaildirFolders(root: Maildir(path: rootPath))
        if let name = specialUses[use.rawValue], folders.exists(name) {
            return (name, MaildirMailbox(maildir: Maildir(path: "\(rootPath)/.\(name)"), rootPath: rootPath))
        }
        let made = try folders.specialFolder(use.defaultName)
        return (use.defaultName, MaildirMailbox(maildir: made, rootPath: rootPath))
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
        case "/message", "/raw", "/part", "/inline": return message(path)
        case "/compose": return compose()
        case "/search": return search()
        case "/unread": return unreadCounts()
        case "/postamt.mobileconfig": return appleProfile()
        default: return failure(404, "There is no such page.")
        }
    }

    /// Every folder's unread and total count (folders that cannot be read are left out).
    func counts() -> [(name: String, unread: Int, all: Int)] {
        folderNames().compactMap { name in
            guard let mailbox = try? mailbox(name), let snapshot = try? mailbox.synchronize(moveNew: false) else { return nil }
            return (name, snapshot.messages.flags.lazy.filter { !$0.contains(.seen) }.count, snapshot.messages.count)
        }
    }

    /// GET /postamt.mobileconfig: the Apple configuration profile of the logged-in user (their
    /// own address, their login name, the listeners of autoconfig_services).
    func appleProfile() -> HTTPResponse {
        let address = ownAddresses(AddressBook(configuration: app.configuration)).first ?? "\(user.name)@\(settings.login.hostname)"
        guard let profile = Autoconfig.appleProfile(hostname: settings.login.hostname, address: address, loginName: user.name,
                                                    services: settings.autoconfigServices,
                                                    uuid: { Autoconfig.uuid(hex: SessionStore.randomToken()) }) else {
            return failure(404, "This site describes no IMAP or POP3 and no submission listener (autoconfig_services).")
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/x-apple-aspen-config"),
                                                   ("Content-Disposition", "attachment; filename=\"postamt.mobileconfig\"")], body: Array(profile.utf8))
    }

    /// GET /unread: `{"folders":{"INBOX":3,…}}`, what the page script shows (no change, no form).
    func unreadCounts() -> HTTPResponse {
        let entries = counts().map { "\(RequestContext.jsonString($0.name)):\($0.unread)" }.joined(separator: ",")
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array("{\"folders\":{\(entries)}}\n".utf8))
    }

    /// A JSON string (RFC 8259 §7): quotes, backslashes and control characters escaped.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for c in text.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where c.value < 0x20 || c == "<" || c == ">" || c == "&":
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }

    func folders() -> HTTPResponse {
        var rows = ""
        for (name, unread, all) in counts() {
            // Maildir++ levels: a sub-folder is indented under its parent, shown by its last part.
            let level = min(name.split(separator: ".").count - 1, 6)
            let shown = level > 0 ? String(name.split(separator: ".").last!) : name
            rows += "<tr\(unread > 0 ? " class=\"unread\"" : "")><td class=\"level\(level)\"><a href=\"\(e(RequestContext.folderLink(name)))\" title=\"\(e(name))\">\(e(shown))</a></td><td class=\"num\" data-unread=\"\(e(name))\">\(unread)</td><td class=\"num\">\(all)</td></tr>\n"
        }
        let setup = "<p>On an iPhone, iPad or Mac: <a href=\"/postamt.mobileconfig\">set up this account</a> (a configuration profile for Mail).</p>"
        return page("Folders", "<h1>Folders</h1>\(setup)<table class=\"list\"><thead><tr><th>Folder</th><th class=\"num\">Unread</th><th class=\"num\">All</th></tr></thead><tbody>\n\(rows)</tbody></table>" + folderForms())
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
        // Newest first by arrival (UID) unless the user asked for another order; that one is
        // imapd's SORT (RFC 5256: DATE, DISPLAYFROM, SUBJECT without Re:/Fwd:, SIZE).
        let sortKey = parameter("sort") ?? ""
        let reverse = parameter("rev") == "1"
        // Threads (view=threads): imapd's THREAD=REFERENCES, the thread with the newest message
        // first, each thread in reply order, replies indented.
        let threaded = parameter("view") == "threads"
        var depths: [UInt32: Int] = [:]
        // Only the page shown is made into messages (each one makes its file name's String);
        // `total` counts the whole order.
        let start = pageNumber * settings.pageSize
        let shown: [MaildirMessage]
        let total: Int
        if threaded {
            guard let threads = imap().threads(name) else { return failure(500, "The folder cannot be threaded.") }
            var flat: [MaildirMessage] = []
            for thread in threads.sorted(by: { ($0.map(\.uid).max() ?? 0) > ($1.map(\.uid).max() ?? 0) }) {
                for entry in thread {
                    guard let m = mailbox.message(uid: entry.uid) else { continue }
                    depths[entry.uid] = entry.depth
                    flat.append(m)
                }
            }
            total = flat.count
            shown = Array(flat.dropFirst(start).prefix(settings.pageSize))
        } else if let key = RequestContext.sortKeys[sortKey] {
            let criteria = reverse ? (key.hasPrefix("REVERSE ") ? String(key.dropFirst(8)) : "REVERSE " + key) : key
            guard let uids = imap().sort(name, criteria: criteria) else { return failure(500, "The folder cannot be sorted.") }
            total = uids.count
            shown = uids.dropFirst(start).prefix(settings.pageSize).compactMap { mailbox.message(uid: $0) }
        } else {
            let newestFirst = snapshot.messages.reversed()
            total = newestFirst.count
            shown = Array(newestFirst.dropFirst(start).prefix(settings.pageSize))
        }
        var rows = ""
        // In Drafts a message opens in the compose form, to be finished.
        let isDrafts = name == specialName(.drafts)
        for m in shown {
            let s = summary(mailbox, m.uid)
            let flag = m.flags.contains(.flagged) ? "★ " : ""
            let subject = s.subject.isEmpty ? "(no subject)" : s.subject
            let link = isDrafts && m.flags.contains(.draft) ? "/compose?mode=draft&f=\(FormData.encode(name))&uid=\(m.uid)" : RequestContext.messageLink(name, m.uid)
            let level = min(depths[m.uid] ?? 0, 6)
            let indent = level > 0 ? " class=\"level\(level)\"" : ""
            rows += "<tr\(m.flags.contains(.seen) ? "" : " class=\"unread\"")><td><input type=\"checkbox\" name=\"uid\" value=\"\(m.uid)\" aria-label=\"Choose\"></td><td>\(e(s.from))</td><td\(indent)>\(flag)<a href=\"\(e(link))\">\(e(subject))</a></td><td class=\"date\">\(e(s.date))</td><td class=\"date num\">\(RequestContext.size(mailbox, m.uid))</td></tr>\n"
        }
        let order = threaded ? "&view=threads" : RequestContext.sortKeys[sortKey] == nil ? "" : "&sort=\(sortKey)\(reverse ? "&rev=1" : "")"
        var pager = ""
        if pageNumber > 0 { pager += "<a href=\"\(e(RequestContext.folderLink(name) + order))&amp;page=\(pageNumber - 1)\">\(order.isEmpty ? "Newer" : "Previous")</a>" }
        if start + settings.pageSize < total { pager += "<a href=\"\(e(RequestContext.folderLink(name) + order))&amp;page=\(pageNumber + 1)\">\(order.isEmpty ? "Older" : "Next")</a>" }
        // Column headers sort; the sorted column's header turns the order round.
        func header(_ label: String, _ key: String, _ cssClass: String = "") -> String {
            let again = sortKey == key && !reverse
            let arrow = sortKey == key ? (reverse ? " ▲" : " ▼") : ""
            let href = RequestContext.folderLink(name) + "&sort=\(key)" + (again ? "&rev=1" : "")
            return "<th\(cssClass.isEmpty ? "" : " class=\"\(cssClass)\"")><a href=\"\(e(href))\">\(label)\(arrow)</a></th>"
        }
        let empty = snapshot.messages.isEmpty ? "<p>No messages.</p>" : ""
        let view = threaded
            ? "<p class=\"views\"><a href=\"\(e(RequestContext.folderLink(name)))\">List</a> · <strong>Threads</strong></p>"
            : "<p class=\"views\"><strong>List</strong> · <a href=\"\(e(RequestContext.folderLink(name) + "&view=threads"))\">Threads</a></p>"
        return page(name, """
        <h1>\(e(name))</h1>\(searchForm(folder: name))\(view)\(empty)
        <form method="post" action="/bulk"><input type="hidden" name="csrf" value="\(e(session.csrfToken))"><input type="hidden" name="f" value="\(e(name))">
        <table class="list"><thead><tr><th></th>\(header("From", "from"))\(header("Subject", "subject"))\(header("Date", "date", "date"))\(header("Size", "size", "date"))</tr></thead><tbody>
        \(rows)</tbody></table>
        \(snapshot.messages.isEmpty ? "" : bulkButtons(folder: name))</form>
        \(name == specialName(.trash) && !snapshot.messages.isEmpty ? "<form method=\"post\" action=\"/folders/empty-trash\"><input type=\"hidden\" name=\"csrf\" value=\"\(e(session.csrfToken))\"><input type=\"hidden\" name=\"count\" value=\"\(snapshot.messages.count)\"><button type=\"submit\">Empty \(e(name)) (\(snapshot.messages.count) messages, for good)</button></form>" : "")
        <div class="pager">\(pager)</div>
        """)
    }

    /// The orders a folder's list offers: the `sort` parameter → the SORT key (RFC 5256). By
    /// date and size the first click shows the newest and the largest first.
    static let sortKeys = ["date": "REVERSE DATE", "from": "DISPLAYFROM", "subject": "SUBJECT", "size": "REVERSE SIZE"]

    /// A message's size for the list (from its file, as imapd's RFC822.SIZE is counted on disk).
    static func size(_ mailbox: MaildirMailbox, _ uid: UInt32) -> String {
        guard let path = try? mailbox.filePath(uid: uid), let st = FileIO.status(path) else { return "" }
        let bytes = Int(st.st_size)
        return bytes < 1024 ? "\(bytes) B" : bytes < 1 << 20 ? "\(bytes / 1024) KB" : "\(bytes >> 20) MB"
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
        if path == "/part" || path == "/inline" {
            let text = parameter("part") ?? ""
            let indexes = text.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
            guard !text.isEmpty, indexes.allSatisfy({ $0 != nil && $0! >= 0 && $0! < 10_000 }), indexes.count <= 20,
                  let (attachment, part) = view.attachment(at: indexes.map { $0! }) else {
                return failure(404, "There is no such attachment.")
            }
            if path == "/inline" {
                // An image of the message shown in its HTML: raster types only, as what they are.
                guard MessageView.inlineImageTypes.contains(attachment.contentType) else { return failure(404, "That part is not an image.") }
                return HTTPResponse(status: 200, headers: [("Content-Type", attachment.contentType)],
                                    body: view.mime.decodedBody(of: part, limit: settings.messageSizeLimit))
            }
            let encodedName = FormData.encode(attachment.filename)
            let asciiName = String(attachment.filename.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" ? Character($0) : "_" })
            return HTTPResponse(status: 200, headers: [
                ("Content-Type", "application/octet-stream"),
                ("Content-Disposition", "attachment; filename=\"\(asciiName)\"; filename*=UTF-8''\(encodedName)"),
            ], body: view.mime.decodedBody(of: part, limit: settings.messageSizeLimit))
        }
        var m = mailbox.message(uid: uid)!
        // Opening a message reads it: \Seen, as IMAP's BODY[] fetch sets it (RFC 9051 §6.4.5),
        // through the same Maildir layer. This GET changes nothing else (webmail_mark_seen: no
        // leaves it to the Mark read button).
        if settings.markSeen && !headOnly && !m.flags.contains(.seen) {
            if (try? mailbox.store(uids: [uid], .add(.seen))) != nil { m.flags.insert(.seen) }
        }
        var headers = ""
        for field in ["From", "To", "Cc", "Date", "Subject"] {
            if let value = view.header(field) { headers += "<dt>\(field)</dt><dd>\(e(value))</dd>\n" }
        }
        var body = ""
        let wantHTML = parameter("view") == "html" || parameter("images") != nil || view.text == nil
        // Remote images for this one message: a link signed with the session's secret, so a
        // link from elsewhere (a message, another site) cannot turn them on.
        let remoteImages = settings.remoteImages || parameter("images").map { WebmailApp.constantTimeEqual($0, imagesToken(folder: name, uid: uid)) } == true
        var imagesButton = ""
        if wantHTML, let html = view.html {
            let inline = view.inlineImages { "/inline?f=\(FormData.encode(name))&uid=\(uid)&part=\($0)" }
            let sanitized = HTMLSanitizer(allowRemoteImages: remoteImages, inlineImages: inline).sanitize(html)
            body = "<div class=\"html-body\">\(sanitized)</div>"
            if !remoteImages && HTMLSanitizer(allowRemoteImages: true, inlineImages: inline).sanitize(html) != sanitized {
                imagesButton = "<p class=\"notice\">Remote images are not shown (they tell the sender that you read the message). <a class=\"button\" href=\"\(e(RequestContext.messageLink(name, uid)))&amp;images=\(imagesToken(folder: name, uid: uid))\">Show remote images</a></p>"
            }
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
        var response = page(view.header("Subject") ?? "Message", """
        <p><a href="\(e(RequestContext.folderLink(name)))">← \(e(name))</a></p>
        <h1>\(e(view.header("Subject") ?? "(no subject)"))</h1>
        <dl class="headers">\(headers)</dl>
        \(actions)
        <p>\(switcher) <a href="\(e("/raw?f=\(FormData.encode(name))&uid=\(uid)"))">Source</a>
        \(m.flags.contains(.draft) && name == specialName(.drafts) ? "<a href=\"\(e("/compose?mode=draft&f=\(FormData.encode(name))&uid=\(uid)"))\">Continue writing</a>" : "")
        <a href="\(e("/compose?f=\(FormData.encode(name))&uid=\(uid)&mode=reply"))" data-key="r">Reply</a>
        <a href="\(e("/compose?f=\(FormData.encode(name))&uid=\(uid)&mode=forward"))">Forward</a>
        <a href="\(e("/compose?f=\(FormData.encode(name))&uid=\(uid)&mode=attach"))">Forward as attachment</a></p>
        \(imagesButton)\(body)
        \(attachments)
        """)
        if remoteImages {
            // This response only: images from https URLs (the sanitizer keeps no other remote ones).
            response.headers.append(("Content-Security-Policy", HTTPResponse.contentSecurityPolicyWithRemoteImages))
        }
        return response
    }

    /// The `images` parameter that shows one message's remote images: SHA-256 over the session's
    /// form token and the message's folder and UID (a secret the page carries, never guessable).
    func imagesToken(folder: String, uid: UInt32) -> String {
        SessionStore.sha256Hex("\(session.csrfToken)\u{0}images\u{0}\(folder)\u{0}\(uid)\u{0}\(session.csrfToken)")
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
        out += button("delete", folder == specialName(.trash) ? "Delete for good" : "Delete")
        out += folder == specialName(.junk) ? button("ham", "Not spam") : button("spam", "Spam")
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
        case "/folders/empty-trash": return emptyTrash(form)
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
            case "unseen":
                // Back to the list: the message view would mark it read again.
                _ = try mailbox.store(uids: [uid], .remove(.seen))
                return .redirect(RequestContext.folderLink(name))
            case "flag": _ = try mailbox.store(uids: [uid], .add(.flagged))
            case "unflag": _ = try mailbox.store(uids: [uid], .remove(.flagged))
            case "delete":
                let (trashName, trash) = try specialFolder(.trash)
                if name == trashName {
                    _ = try mailbox.remove(uids: [uid])
                } else {
                    _ = try mailbox.move(uids: [uid], to: trash)
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

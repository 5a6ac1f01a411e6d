import MailMessage
import Maildir
import WebmailProtocol

/// Searching a folder, or every folder, with imapd's own SEARCH (IMAPCommandRunner: UID SEARCH
/// CHARSET UTF-8 in an EXAMINEd mailbox), so the webmail finds what an IMAP client finds:
/// header fields decoded (RFC 2047), text compared with i;unicode-casemap (RFC 5051), the body
/// searched in its decoded text parts, the date range on the Date: field as SENTSINCE and
/// SENTBEFORE (RFC 9051 §6.4.4: since a day, inclusive; before a day, exclusive). At most the
/// newest `webmail_search_limit` messages of each folder are searched.
struct MailSearch: Equatable {
    enum Field: String, CaseIterable { case any, from, to, subject, body }

    var text: String
    var field: Field
    /// Seconds since the epoch: the start of the `since` day, the start of the `before` day.
    var since: Int64?
    var before: Int64?

    /// The query of /search; nil when a parameter is malformed (400).
    init?(q: String?, in field: String?, since: String?, before: String?) {
        text = q ?? ""
        guard text.utf8.count <= 256, !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return nil }
        guard let f = Field(rawValue: field ?? "any") else { return nil }
        self.field = f
        if let since, !since.isEmpty { guard let day = MailSearch.day(since) else { return nil }; self.since = day }
        if let before, !before.isEmpty { guard let day = MailSearch.day(before) else { return nil }; self.before = day }
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
    }

    /// "YYYY-MM-DD" (what `<input type="date">` sends) as the day's first second in UTC.
    static func day(_ text: String) -> Int64? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]),
              (1900...9999).contains(y), (1...12).contains(m), (1...31).contains(d) else { return nil }
        // Days from civil (Howard Hinnant's algorithm).
        let yy = m <= 2 ? y - 1 : y
        let era = yy / 400
        let yoe = yy - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return (era * 146097 + doe - 719468) * 86400
    }

    var isEmpty: Bool { text.isEmpty && since == nil && before == nil }

    /// RFC 9051 §6.4.4 search keys for this query (date-text is `d-Mon-yyyy`).
    var criteria: String {
        var keys: [String] = []
        if let since { keys.append("SENTSINCE \(MailSearch.imapDate(since))") }
        if let before { keys.append("SENTBEFORE \(MailSearch.imapDate(before))") }
        if !text.isEmpty {
            let q = IMAPCommandRunner.quoted(text)
            switch field {
            case .from: keys.append("FROM \(q)")
            case .to: keys.append("OR TO \(q) CC \(q)")
            case .subject: keys.append("SUBJECT \(q)")
            case .body: keys.append("BODY \(q)")
            case .any: keys.append("OR FROM \(q) OR SUBJECT \(q) OR TO \(q) OR CC \(q) BODY \(q)")
            }
        }
        return keys.isEmpty ? "ALL" : keys.joined(separator: " ")
    }

    static func imapDate(_ seconds: Int64) -> String {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        // Civil from days (Howard Hinnant's algorithm).
        let z = seconds / 86400 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return "\(d)-\(months[Int(m) - 1])-\(y)"
    }
}

extension RequestContext {
    func search() -> HTTPResponse {
        let name = parameter("f") ?? "INBOX"
        let everywhere = name == "*"
        if !everywhere {
            do { _ = try self.mailbox(name) } catch { return mailError(error) }
        }
        guard let query = MailSearch(q: parameter("q"), in: parameter("in"), since: parameter("since"), before: parameter("before")) else {
            return failure(400, "That is not a search: the text is at most 256 characters, dates are YYYY-MM-DD.")
        }
        let title = everywhere ? "Search in all folders" : "Search in \(e(name))"
        guard !query.isEmpty else { return page(title, "<h1>\(title)</h1>" + searchForm(folder: name, query: query)) }
        let engine = imap()
        var found: [(folder: String, uid: UInt32)] = []
        var unreadable: [String] = []
        for folder in everywhere ? folderNames() : [name] {
            guard let uids = engine.search(in: folder, criteria: query.criteria, newest: settings.searchLimit) else {
                unreadable.append(folder)
                continue
            }
            found += uids.reversed().map { (folder, $0) }
        }
        let shownLimit = 500
        var rows = ""
        var mailboxes: [String: MaildirMailbox] = [:]
        for hit in found.prefix(shownLimit) {
            if mailboxes[hit.folder] == nil {
                guard let opened = try? mailbox(hit.folder), (try? opened.synchronize(moveNew: false)) != nil else { continue }
                mailboxes[hit.folder] = opened
            }
            guard let mailbox = mailboxes[hit.folder], let m = mailbox.message(uid: hit.uid) else { continue }
            let s = summary(mailbox, hit.uid)
            let where_ = everywhere ? "<td>\(e(hit.folder))</td>" : ""
            rows += "<tr\(m.flags.contains(.seen) ? "" : " class=\"unread\"")>\(where_)<td>\(e(s.from))</td><td><a href=\"\(e(RequestContext.messageLink(hit.folder, hit.uid)))\">\(e(s.subject.isEmpty ? "(no subject)" : s.subject))</a></td><td class=\"date\">\(e(s.date))</td></tr>\n"
        }
        var notes = ""
        if found.count > shownLimit { notes += " The first \(shownLimit) are shown." }
        if !unreadable.isEmpty { notes += " Not searched: \(unreadable.joined(separator: ", "))." }
        let head = everywhere ? "<th>Folder</th>" : ""
        let result = "<p>\(found.count) found (the newest \(settings.searchLimit) messages of \(everywhere ? "each folder" : "the folder") are searched).\(e(notes))</p><table class=\"list\"><thead><tr>\(head)<th>From</th><th>Subject</th><th class=\"date\">Date</th></tr></thead><tbody>\n\(rows)</tbody></table>"
        return page(everywhere ? "Search" : "Search \(name)", "<h1>\(title)</h1>" + searchForm(folder: name, query: query) + result)
    }

    func searchForm(folder: String, query: MailSearch? = nil) -> String {
        let options = MailSearch.Field.allCases.map { f in
            "<option value=\"\(f.rawValue)\"\(query?.field == f ? " selected" : "")>\(f == .any ? "anywhere" : f.rawValue)</option>"
        }.joined()
        let scope = folder == "*" ? "" : "<option value=\"\(e(folder))\">in \(e(folder))</option>"
        return """
        <form method="get" action="/search" class="search"><select name="f" aria-label="Which folders">\(scope)<option value="*"\(folder == "*" ? " selected" : "")>in all folders</option></select>
        <input name="q" value="\(e(query?.text ?? ""))" aria-label="Search text" placeholder="Search">
        <select name="in" aria-label="Where">\(options)</select>
        <label>since <input type="date" name="since" value="\(e(parameter("since") ?? ""))"></label>
        <label>before <input type="date" name="before" value="\(e(parameter("before") ?? ""))"></label>
        <button type="submit">Search</button></form>
        """
    }
}

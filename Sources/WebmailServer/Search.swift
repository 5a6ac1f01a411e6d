import MailMessage
import Maildir
import WebmailProtocol

/// Searching one folder. imapd's SEARCH engine works on an IMAP session's selected mailbox
/// (IMAPSession+Search.swift) and cannot be called without one, so the webmail has its own small
/// search over the same Maildir layer: newest first, at most `webmail_search_limit` messages,
/// header fields decoded (RFC 2047) and compared case-insensitively (Swift's full lowercasing,
/// not IMAP's i;unicode-casemap); the body is the text part, or the HTML part as text. The date
/// range is on the Date: field, as IMAP's SENTSINCE and SENTBEFORE: since a day (inclusive),
/// before a day (exclusive), both in UTC; a message without a readable Date: field never
/// matches a range.
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

    /// Whether the message matches; `body` is asked for only when the body must be searched.
    func matches(header: HeaderSection, body: () -> String?) -> Bool {
        func field(_ name: String) -> String { header.all(name).map { MessageView.decodeField($0.value) }.joined(separator: ", ") }
        if since != nil || before != nil {
            guard let date = header.first("Date").flatMap({ MessageDate.parse($0.value) }) else { return false }
            if let since, date.secondsSinceEpoch < since { return false }
            if let before, date.secondsSinceEpoch >= before { return false }
        }
        guard !text.isEmpty else { return true }
        let needle = text.lowercased()
        func has(_ haystack: String) -> Bool { haystack.lowercased().contains(needle) }
        switch self.field {
        case .from: return has(field("From"))
        case .to: return has(field("To") + ", " + field("Cc"))
        case .subject: return has(field("Subject"))
        case .body: return body().map(has) ?? false
        case .any:
            return has(field("From")) || has(field("To") + ", " + field("Cc")) || has(field("Subject")) || (body().map(has) ?? false)
        }
    }
}

extension RequestContext {
    func search() -> HTTPResponse {
        let name = parameter("f") ?? "INBOX"
        let mailbox: MaildirMailbox
        do { mailbox = try self.mailbox(name) } catch { return mailError(error) }
        guard let query = MailSearch(q: parameter("q"), in: parameter("in"), since: parameter("since"), before: parameter("before")) else {
            return failure(400, "That is not a search: the text is at most 256 characters, dates are YYYY-MM-DD.")
        }
        guard let snapshot = try? mailbox.synchronize(moveNew: false) else { return failure(500, "The folder cannot be read.") }
        var rows = "", found = 0, searched = 0
        if !query.isEmpty {
            for m in snapshot.messages.reversed().prefix(settings.searchLimit) {
                searched += 1
                guard let head = try? mailbox.read(uid: m.uid, limit: 64 * 1024) else { continue }
                let header = HeaderSection.parse(head)
                let matched = query.matches(header: header) {
                    guard let bytes = try? mailbox.read(uid: m.uid, limit: settings.messageSizeLimit) else { return nil }
                    let view = MessageView(bytes: bytes)
                    return view.text ?? view.html.map { HTMLText.plainText(from: $0) }
                }
                guard matched else { continue }
                found += 1
                let s = summary(mailbox, m.uid)
                rows += "<tr\(m.flags.contains(.seen) ? "" : " class=\"unread\"")><td>\(e(s.from))</td><td><a href=\"\(e(RequestContext.messageLink(name, m.uid)))\">\(e(s.subject.isEmpty ? "(no subject)" : s.subject))</a></td><td class=\"date\">\(e(s.date))</td></tr>\n"
            }
        }
        var result = ""
        if !query.isEmpty {
            let partial = snapshot.messages.count > searched ? " (the newest \(searched) of \(snapshot.messages.count) messages were searched)" : ""
            result = "<p>\(found) found\(e(partial)).</p><table class=\"list\"><thead><tr><th>From</th><th>Subject</th><th class=\"date\">Date</th></tr></thead><tbody>\n\(rows)</tbody></table>"
        }
        return page("Search \(name)", "<h1>Search in \(e(name))</h1>" + searchForm(folder: name, query: query) + result)
    }

    func searchForm(folder: String, query: MailSearch? = nil) -> String {
        let options = MailSearch.Field.allCases.map { f in
            "<option value=\"\(f.rawValue)\"\(query?.field == f ? " selected" : "")>\(f == .any ? "anywhere" : f.rawValue)</option>"
        }.joined()
        return """
        <form method="get" action="/search" class="search"><input type="hidden" name="f" value="\(e(folder))">
        <input name="q" value="\(e(query?.text ?? ""))" aria-label="Search text" placeholder="Search">
        <select name="in" aria-label="Where">\(options)</select>
        <label>since <input type="date" name="since" value="\(e(parameter("since") ?? ""))"></label>
        <label>before <input type="date" name="before" value="\(e(parameter("before") ?? ""))"></label>
        <button type="submit">Search</button></form>
        """
    }
}

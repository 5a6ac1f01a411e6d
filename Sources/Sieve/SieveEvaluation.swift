import MailMessage

/// Addresses as the address and envelope tests see them.
public enum SieveAddress {
    /// A redirect target: local@domain, printable, no spaces or angle brackets.
    public static func isValidRedirectTarget(_ a: String) -> Bool {
        let b = Array(a.utf8)
        guard let at = b.lastIndex(of: 0x40), at > 0, at < b.count - 1, b.count <= 1000 else { return false }
        return !b.contains { $0 <= 0x20 || $0 == 0x7F || $0 == 0x3C || $0 == 0x3E || $0 == 0x2C }
    }

    /// The part of `address` (local@domain) the test asks for; nil when it has none (:detail
    /// without a delimiter, RFC 5233 §4).
    static func part(_ address: String, _ part: SieveAddressPart, delimiter: String) -> String? {
        let at = address.lastIndex(of: "@")
        let local = at.map { String(address[..<$0]) } ?? address
        let domain = at.map { String(address[address.index(after: $0)...]) } ?? ""
        switch part {
        case .all: return address
        case .localpart: return local
        case .domain: return domain
        case .user, .detail:
            let d = delimiter.isEmpty ? nil : local.firstIndex { delimiter.contains($0) }
            if part == .user { return d.map { String(local[..<$0]) } ?? local }
            return d.map { String(local[local.index(after: $0)...]) }
        }
    }
}

extension SieveInterpreter {
    func headerValues(_ names: [String], _ index: SieveIndex?, _ frame: Frame) -> [String] {
        var out: [String] = []
        for name in expand(names, frame) {
            var values = message.values(name)
            if let index {
                let i = index.last ? values.count - index.index : index.index - 1
                values = i >= 0 && i < values.count ? [values[i]] : []
            }
            out += values
        }
        return out
    }

    mutating func matchTest(_ values: [String], _ keys: [String], _ m: SieveMatch, _ frame: Frame) -> Bool {
        var captures: [String]? = frame.script.extensions.contains("variables") ? [] : nil
        let result = SieveMatcher.test(values, expand(keys, frame), m, captures: &captures)
        // RFC 5229 §3.2: a successful :matches sets the match variables; a failed one keeps them.
        if result, case .matches = m.type, let captures { matchVariables = captures }
        return result
    }

    mutating func evaluate(_ test: SieveTest, _ frame: inout Frame) throws -> Bool {
        try step("test")
        switch test {
        case .constant(let b): return b
        case .not(let t): return !(try evaluate(t, &frame))
        case .allof(let tests):
            for t in tests where !(try evaluate(t, &frame)) { return false }
            return true
        case .anyof(let tests):
            for t in tests where try evaluate(t, &frame) { return true }
            return false
        case .exists(let names):
            return expand(names, frame).allSatisfy { message.has($0) }
        case .size(let over, let limit):
            return over ? message.size > limit : message.size < limit
        case .header(let names, let keys, let m, let index):
            return matchTest(headerValues(names, index, frame), keys, m, frame)
        case .address(let names, let keys, let m, let part, let index):
            var values: [String] = []
            for value in headerValues(names, index, frame) {
                for mb in MailboxList.mailboxes(in: value) {
                    let a = mb.domain.map { "\(mb.localPart)@\($0)" } ?? mb.localPart
                    if let p = SieveAddress.part(a, part, delimiter: environment.recipientDelimiter) { values.append(p) }
                }
            }
            return matchTest(values, keys, m, frame)
        case .envelope(let parts, let keys, let m, let part):
            var values: [String] = []
            for p in expand(parts, frame) {
                let a = p.lowercasedASCII() == "from" ? message.envelopeFrom : p.lowercasedASCII() == "to" ? message.envelopeTo : nil
                guard let a else { continue }
                // RFC 5228 §5.4: the null reverse-path is the empty string, for every part.
                if a.isEmpty { values.append(""); continue }
                if let v = SieveAddress.part(a, part, delimiter: environment.recipientDelimiter) { values.append(v) }
            }
            return matchTest(values, keys, m, frame)
        case .string(let sources, let keys, let m):
            var values = expand(sources, frame)
            // RFC 5229 §5: with :count, empty strings are not counted.
            if case .count = m.type { values = values.filter { !$0.isEmpty } }
            return matchTest(values, keys, m, frame)
        case .body(let keys, let m, let transform):
            return matchTest(message.bodyTexts(transform, limit: environment.limits.maxBodyBytes), keys, m, frame)
        case .date(let header, let part, let keys, let m, let zone, let index):
            var values: [String] = []
            for v in headerValues([header], index, frame) {
                // RFC 5260 §4.1: a Received field's date follows its last ";".
                let text = v.lastIndex(of: ";").map { String(v[v.index(after: $0)...]) } ?? v
                guard let d = MessageDate.parse(text) else { continue }
                let offset: Int
                switch zone {
                case .local: offset = environment.localZone
                case .original: offset = d.zoneOffsetSeconds
                case .offset(let o): offset = o
                }
                values.append(SieveDates.part(part, seconds: d.secondsSinceEpoch, offset: offset))
            }
            return matchTest(values, keys, m, frame)
        case .currentdate(let part, let keys, let m, let zone):
            let offset: Int
            if case .offset(let o) = zone { offset = o } else { offset = environment.localZone }
            return matchTest([SieveDates.part(part, seconds: environment.now, offset: offset)], keys, m, frame)
        case .mailboxexists(let names):
            return expand(names, frame).allSatisfy { $0.lowercasedASCII() == "inbox" || environment.mailboxExists($0) }
        case .spamtest(let percent, let key, let m):
            return matchTest([spamValue(percent: percent)], [key], m, frame)
        case .virustest(let key, let m):
            // No virus scanner feeds us: RFC 5235 §3.3's "0", not tested.
            return matchTest(["0"], [key], m, frame)
        case .duplicate(let handle, let header, let uniqueID, let seconds, let last):
            let id: String
            if let uniqueID { id = expand(uniqueID, frame) } else {
                guard let v = message.values(header.map { expand($0, frame) } ?? "Message-ID").first?.trimmingBlanks(), !v.isEmpty else { return false }
                id = v
            }
            let key = "\(expand(handle, frame))\u{0}\(id)"
            let seen = environment.isDuplicate(key)
            // RFC 7352 §3.1: with :last the period restarts on every occurrence.
            if !seen || last { duplicateMarks.append((key, min(seconds ?? 7 * 86400, 7 * 86400))) }
            return seen
        case .hasflag(let variables, let keys, let m):
            let values: [String]
            if variables.isEmpty { values = flags } else {
                values = flagList(expand(variables, frame).map { read($0, frame) })
            }
            return matchTest(values, keys, m, frame)
        }
    }

    /// RFC 5235 from postamt-spamcheck's X-Spam-Score: untested is "0"; the tag score is
    /// spamtest 6 and 50 %; twice the tag score or more is 10 and 100 %.
    func spamValue(percent: Bool) -> String {
        guard let raw = message.values("X-Spam-Score").first, let score = Double(raw.trimmingBlanks()) else {
            return "0"
        }
        let ratio = max(0, min(1, score / max(environment.spamTagScore * 2, 0.001)))
        if percent { return String(Int((ratio * 100).rounded())) }
        return String(1 + Int((ratio * 9).rounded()))
    }

    // MARK: Vacation

    /// RFC 5230 §4.5 and RFC 3834 §2: no reply to the null sender, to lists and robots, to mail
    /// that is not addressed to the user, nor to the user's own mail.
    mutating func vacationReply(_ v: SieveVacationCommand, _ frame: Frame) throws -> SieveVacationReply? {
        let sender = message.envelopeFrom
        func skip(_ why: String) -> SieveVacationReply? {
            notes.append("vacation: no reply to <\(sender)>: \(why)")
            return nil
        }
        if sender.isEmpty { return skip("null sender") }
        let local = (sender.lastIndex(of: "@").map { String(sender[..<$0]) } ?? sender).lowercasedASCII()
        if local == "mailer-daemon" || local == "listserv" || local == "majordomo" || local.hasPrefix("owner-") || local.hasSuffix("-request") || local.hasPrefix("bounce") {
            return skip("an automatic sender")
        }
        if let auto = message.values("Auto-Submitted").first, auto.trimmingBlanks().lowercasedASCII() != "no" {
            return skip("Auto-Submitted: \(auto)")
        }
        if let p = message.values("Precedence").first?.trimmingBlanks().lowercasedASCII(), ["bulk", "list", "junk"].contains(p) {
            return skip("Precedence: \(p)")
        }
        for list in ["List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Post", "List-Owner", "List-Archive"] where message.has(list) {
            return skip("a mailing list (\(list))")
        }
        let mine = ([message.envelopeTo] + expand(v.addresses, frame) + environment.userAddresses).map { $0.lowercasedASCII() }
        if mine.contains(sender.lowercasedASCII()) { return skip("my own address") }
        // RFC 5230 §4.5: only when one of my addresses is in To, Cc, Bcc (or Resent-*).
        var addressed: [String] = []
        for h in ["To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"] {
            for value in message.values(h) {
                addressed += MailboxList.mailboxes(in: value).map { mb in (mb.domain.map { "\(mb.localPart)@\($0)" } ?? mb.localPart).lowercasedASCII() }
            }
        }
        let delimiter = environment.recipientDelimiter
        let mineBase = Set(mine.map { a -> String in
            guard let user = SieveAddress.part(a, .user, delimiter: delimiter), let domain = SieveAddress.part(a, .domain, delimiter: delimiter) else { return a }
            return "\(user)@\(domain)"
        })
        let hit = addressed.contains { a in
            mine.contains(a) || mineBase.contains("\(SieveAddress.part(a, .user, delimiter: delimiter) ?? a)@\(SieveAddress.part(a, .domain, delimiter: delimiter) ?? "")")
        }
        if !hit { return skip("none of my addresses is in To/Cc/Bcc") }
        let original = message.values("Subject").first ?? ""
        let subject = v.subject.map { expand($0, frame) } ?? "Auto: \(original)"
        let reason = expand(v.reason, frame)
        let from = v.from.map { expand($0, frame) }
        let handle = v.handle.map { expand($0, frame) } ?? "\(reason)\u{0}\(subject)\u{0}\(from ?? "")\u{0}\(v.mime)"
        let messageID = message.values("Message-ID").first?.trimmingBlanks()
        var references = message.values("References").first?.trimmingBlanks()
        if let messageID { references = references.map { "\($0) \(messageID)" } ?? messageID }
        return SieveVacationReply(to: sender, from: from, subject: subject, reason: reason, mime: v.mime,
                                  handle: handle, period: v.period, inReplyTo: messageID, references: references)
    }
}

extension String {
    func trimmingBlanks() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" || f == "\n" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" || l == "\n" { s.removeLast() }
        return String(s)
    }
}

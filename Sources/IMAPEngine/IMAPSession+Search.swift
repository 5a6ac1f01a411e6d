#if canImport(Glibc)
import Glibc
#endif
import IMAPProtocol
import Maildir
import MailMessage

/// Where the candidates of one SEARCH or SORT load what a key needs: shared by all of them,
/// so a candidate costs no allocation of its own.
final class IMAPCandidateSource {
    unowned let session: IMAPSession
    let selected: IMAPSelectedMailbox
    /// Search strings in their i;unicode-casemap canonical form, each computed once.
    private var canonicalNeedles: [[UInt8]: [UInt8]] = [:]

    init(session: IMAPSession, selected: IMAPSelectedMailbox) {
        self.session = session
        self.selected = selected
    }

    func canonical(_ needle: [UInt8]) -> [UInt8] {
        if let known = canonicalNeedles[needle] { return known }
        let value = UnicodeCasemap.canonical(String(decoding: needle, as: UTF8.self))
        canonicalNeedles[needle] = value
        return value
    }

    /// Whether `text` contains the search string `needle`: case-insensitively (RFC 9051
    /// §6.4.4) with the i;unicode-casemap collation (RFC 5051), an octet search on the
    /// canonical forms.
    func text(_ text: String, contains needle: [UInt8]) -> Bool {
        UnicodeCasemap.contains(UnicodeCasemap.canonical(text), canonical(needle))
    }
}

/// What SEARCH and SORT know about one message; the parsed message is read only when a key
/// needs it.
struct IMAPSearchCandidate {
    let uid: UInt32
    let sequenceNumber: UInt32
    let flags: MaildirFlags
    let modSeq: UInt64
    let source: IMAPCandidateSource
    var loaded: IMAPMessageData??
    var loadedInfo: MessageCacheEntry??
    var loadedEnvelope: IMAPEnvelope??

    /// The ENVELOPE from the message cache, else computed (and cached) from the message.
    mutating func envelope() -> IMAPEnvelope? {
        if let loadedEnvelope { return loadedEnvelope }
        let value = source.session.envelope(uid: uid, selected: source.selected)
        loadedEnvelope = .some(value)
        return value
    }

    /// The ENVELOPE's subject (raw, as in the header), without decoding the rest of the envelope
    /// when the message cache has it.
    mutating func subject() -> [UInt8]? {
        if let loadedEnvelope { return loadedEnvelope?.subject }
        if let blob = try? source.selected.mailbox.info(uid: uid)?.blob, let subject = IMAPStructureCache.decodeSubject(blob) {
            return subject
        }
        return envelope()?.subject
    }

    /// One address list of the ENVELOPE, without decoding the rest when the message cache has it.
    mutating func addresses(_ which: IMAPStructureCache.AddressList) -> [IMAPAddress]? {
        if loadedEnvelope == nil, let blob = try? source.selected.mailbox.info(uid: uid)?.blob,
           let list = IMAPStructureCache.decodeAddresses(blob, which) {
            return list
        }
        guard let e = envelope() else { return nil }
        switch which {
        case .from: return e.from
        case .sender: return e.sender
        case .replyTo: return e.replyTo
        case .to: return e.to
        case .cc: return e.cc
        case .bcc: return e.bcc
        }
    }

    mutating func data() -> IMAPMessageData? {
        if let loaded { return loaded }
        let value = try? source.session.messageData(uid: uid, selected: source.selected)
        loaded = .some(value)
        return value
    }

    mutating func cacheEntry() -> MessageCacheEntry? {
        if let loadedInfo { return loadedInfo }
        let value = try? source.selected.mailbox.info(uid: uid, crlfSize: true)
        loadedInfo = .some(value)
        return value
    }
}

extension IMAPSession {
    static let searchCharsets = ["US-ASCII", "UTF-8"]

    func candidates(_ selected: IMAPSelectedMailbox) -> [IMAPSearchCandidate] {
        let source = IMAPCandidateSource(session: self, selected: selected)
        return selected.uids.enumerated().map { index, uid in
            IMAPSearchCandidate(uid: uid, sequenceNumber: UInt32(index + 1), flags: selected.flags[index],
                                modSeq: selected.modSeqs[index], source: source)
        }
    }

    /// The ENVELOPE alone: from the message cache without decoding the BODYSTRUCTURE beside
    /// it, else as `structure` finds it.
    func envelope(uid: UInt32, selected: IMAPSelectedMailbox) -> IMAPEnvelope? {
        if let blob = try? selected.mailbox.info(uid: uid)?.blob, let envelope = IMAPStructureCache.decodeEnvelope(blob) {
            return envelope
        }
        return structure(uid: uid, selected: selected)?.envelope
    }

    /// ENVELOPE and BODYSTRUCTURE of a message: from the message cache (`IMAPStructureCache`),
    /// else parsed from the file and stored in the cache for the next FETCH or SEARCH.
    func structure(uid: UInt32, selected: IMAPSelectedMailbox) -> (envelope: IMAPEnvelope, body: IMAPBodyStructure)? {
        if let blob = try? selected.mailbox.info(uid: uid)?.blob, let cached = IMAPStructureCache.decode(blob) {
            return cached
        }
        guard let data = try? messageData(uid: uid, selected: selected) else { return nil }
        let structure = (data.envelope, data.bodyStructure)
        try? selected.mailbox.setBlob(uid: uid, IMAPStructureCache.encode(structure.0, structure.1))
        return structure
    }

    /// An address list as SEARCH FROM/TO/CC/BCC sees it: `Name <mailbox@host>`, names with
    /// RFC 2047 words decoded, group names included, comma separated.
    static func searchText(_ addresses: [IMAPAddress]) -> String {
        addresses.map { a -> String in
            let name = a.name.map { EncodedWord.decode(bytes: $0) } ?? ""
            guard let mailbox = a.mailbox else { return name } // group end
            let local = String(decoding: mailbox, as: UTF8.self)
            guard let host = a.host else { return EncodedWord.decode(bytes: mailbox) } // group start: its name
            let address = "\(local)@\(String(decoding: host, as: UTF8.self))"
            return name.isEmpty ? address : "\(name) <\(address)>"
        }.filter { !$0.isEmpty }.joined(separator: ", ")
    }

    func search(tag: String, _ command: IMAPSearchCommand, uid: Bool, selected: IMAPSelectedMailbox) throws {
        if let charset = command.charset, !IMAPSession.searchCharsets.contains(charset) {
            return no(tag, code: .badCharset(IMAPSession.searchCharsets), "Unsupported charset")
        }
        var all = candidates(selected)
        var matched: [IMAPSearchCandidate] = []
        let now = Int64(time(nil))
        for index in all.indices where matches(command.key, &all[index], selected: selected, now: now) {
            matched.append(all[index])
        }
        try? selected.mailbox.saveCache()
        let usesModSeq = IMAPSession.mentionsModSeq(command.key)
        if usesModSeq { condStoreEnabled = true }
        let highest = usesModSeq ? matched.map(\.modSeq).max() : nil
        let numbers = matched.map { uid ? $0.uid : $0.sequenceNumber }
        // RFC 9051 §7.3.4: IMAP4rev2 answers every SEARCH with ESEARCH (RETURN () is ALL).
        guard let options = command.returnOptions ?? (rev2Enabled ? [] : nil) else {
            out.search(numbers, highestModSeq: highest)
            return ok(tag, "SEARCH completed")
        }
        let wanted = options.isEmpty ? [.all] : options
        if wanted.contains(.save) { selected.savedSearch = matched.map(\.uid) }
        let onlySave = wanted == [.save]
        if !onlySave {
            var response = IMAPESearchResponse(tag: tag, uid: uid)
            if wanted.contains(.min) { response.min = numbers.min() }
            if wanted.contains(.max) { response.max = numbers.max() }
            if wanted.contains(.count) { response.count = UInt32(numbers.count) }
            if wanted.contains(.all) { response.all = IMAPNumberSet(numbers: numbers) }
            // RFC 4731 §3.2 and RFC 7162 §3.1.5: MODSEQ is the highest mod-sequence of the
            // messages returned: all that matched for ALL or COUNT, else only those MIN and
            // MAX name; none for an empty result.
            if usesModSeq, !matched.isEmpty {
                if wanted.contains(.all) || wanted.contains(.count) {
                    response.modSeq = highest
                } else {
                    var returned: [UInt64] = []
                    if wanted.contains(.min) { returned.append(matched.first!.modSeq) }
                    if wanted.contains(.max) { returned.append(matched.last!.modSeq) }
                    response.modSeq = returned.max()
                }
            }
            out.esearch(response)
        }
        ok(tag, "SEARCH completed")
    }

    static func mentionsModSeq(_ key: IMAPSearchKey) -> Bool {
        switch key {
        case .modSeq: return true
        case .not(let inner): return mentionsModSeq(inner)
        case .or(let a, let b): return mentionsModSeq(a) || mentionsModSeq(b)
        case .and(let keys): return keys.contains(where: mentionsModSeq)
        default: return false
        }
    }

    func matches(_ key: IMAPSearchKey, _ c: inout IMAPSearchCandidate, selected: IMAPSelectedMailbox, now: Int64) -> Bool {
        func header(_ name: String, _ needle: [UInt8]) -> Bool {
            guard let data = c.data() else { return false }
            let values = data.headerValues(name)
            if needle.isEmpty { return !values.isEmpty } // RFC 9051: empty string matches a present field
            return values.contains { c.source.text($0, contains: needle) }
        }
        // Substrings compare after decoding (`IMAPCandidateSource.text(_:contains:)`).
        // SUBJECT, FROM, TO, CC and BCC search the ENVELOPE (cached after the first FETCH or
        // SEARCH, as Dovecot's cache holds these fields), decoded; other fields the header.
        func envelopeField(_ field: IMAPStructureCache.AddressList, _ needle: [UInt8]) -> Bool {
            guard let addresses = c.addresses(field) else { return false }
            if needle.isEmpty { return !addresses.isEmpty }
            return c.source.text(IMAPSession.searchText(addresses), contains: needle)
        }
        func subject(_ needle: [UInt8]) -> Bool {
            guard let subject = c.subject() else { return false }
            return needle.isEmpty || c.source.text(EncodedWord.decode(bytes: subject), contains: needle)
        }
        func internalDay() -> Int64 { (c.cacheEntry()?.internalDate ?? 0) / 86400 }
        // RFC 8514 §4.3: a message without a save date is searched by its internal date.
        func savedDay() -> Int64 {
            guard let seconds = selected.mailbox.message(uid: c.uid).flatMap({ IMAPSession.saveDate(baseName: $0.baseName) }) else {
                return internalDay()
            }
            return seconds / 86400
        }
        func sentDay() -> Int64? {
            guard let data = c.data(), let value = data.message.root.header.first("Date")?.unfoldedText,
                  let date = MessageDate.parse(value), let day = IMAPDate(year: date.year, month: date.month, day: date.day) else { return nil }
            return day.daysSinceEpoch
        }
        switch key {
        case .all: return true
        case .answered: return c.flags.contains(.replied)
        case .deleted: return c.flags.contains(.trashed)
        case .draft: return c.flags.contains(.draft)
        case .flagged: return c.flags.contains(.flagged)
        case .seen: return c.flags.contains(.seen)
        case .unanswered: return !c.flags.contains(.replied)
        case .undeleted: return !c.flags.contains(.trashed)
        case .undraft: return !c.flags.contains(.draft)
        case .unflagged: return !c.flags.contains(.flagged)
        case .unseen: return !c.flags.contains(.seen)
        case .recent: return selected.recent.contains(c.uid)
        case .new: return selected.recent.contains(c.uid) && !c.flags.contains(.seen)
        case .old: return !selected.recent.contains(c.uid)
        case .keyword(let flag), .unkeyword(let flag):
            var has = false
            if flag == IMAPFlag("$Forwarded") { has = c.flags.contains(.passed) }
            else if let index = selected.keywords.index(of: flag.name) { has = c.flags.contains(.keyword(index)) }
            if case .keyword = key { return has }
            return !has
        case .bcc(let s): return envelopeField(.bcc, s)
        case .cc(let s): return envelopeField(.cc, s)
        case .from(let s): return envelopeField(.from, s)
        case .to(let s): return envelopeField(.to, s)
        case .subject(let s): return subject(s)
        case .header(let name, let s): return header(name, s)
        case .body(let s):
            guard let data = c.data() else { return false }
            return c.source.text(data.bodyText, contains: s)
        case .text(let s):
            guard let data = c.data() else { return false }
            return c.source.text(data.headerText, contains: s) || c.source.text(data.bodyText, contains: s)
        case .before(let date): return internalDay() < date.daysSinceEpoch
        case .on(let date): return internalDay() == date.daysSinceEpoch
        case .since(let date): return internalDay() >= date.daysSinceEpoch
        case .sentBefore(let date): return sentDay().map { $0 < date.daysSinceEpoch } ?? false
        case .sentOn(let date): return sentDay().map { $0 == date.daysSinceEpoch } ?? false
        case .sentSince(let date): return sentDay().map { $0 >= date.daysSinceEpoch } ?? false
        case .larger(let n): return UInt64(c.cacheEntry().map { $0.crlfSize ?? $0.size } ?? 0) > n
        case .smaller(let n): return UInt64(c.cacheEntry().map { $0.crlfSize ?? $0.size } ?? 0) < n
        case .uid(let set):
            switch set {
            case .lastSearchResult: return selected.savedSearch.contains(c.uid)
            case .set(let s): return s.resolved(largest: selected.uids.last ?? 0).contains(c.uid)
            }
        case .sequenceNumbers(let set):
            switch set {
            case .lastSearchResult: return selected.savedSearch.contains(c.uid)
            case .set(let s): return s.resolved(largest: selected.count).contains(c.sequenceNumber)
            }
        case .older(let seconds): return (c.cacheEntry()?.internalDate ?? 0) <= now - Int64(seconds)
        case .younger(let seconds): return (c.cacheEntry()?.internalDate ?? 0) > now - Int64(seconds)
        case .modSeq(let value, _): return c.modSeq >= value
        case .emailID(let id):
            guard let message = selected.mailbox.message(uid: c.uid) else { return false }
            return MaildirObjectID.emailID(baseName: message.baseName) == id
        case .threadID: return false // THREADID is NIL for every message (RFC 8474 §5.2)
        case .savedBefore(let date): return savedDay() < date.daysSinceEpoch
        case .savedOn(let date): return savedDay() == date.daysSinceEpoch
        case .savedSince(let date): return savedDay() >= date.daysSinceEpoch
        case .not(let inner): return !matches(inner, &c, selected: selected, now: now)
        case .or(let a, let b): return matches(a, &c, selected: selected, now: now) || matches(b, &c, selected: selected, now: now)
        case .and(let keys):
            for k in keys where !matches(k, &c, selected: selected, now: now) { return false }
            return true
        }
    }

    // MARK: SORT (RFC 5256, RFC 5957)

    func sort(tag: String, _ command: IMAPSortCommand, uid: Bool, selected: IMAPSelectedMailbox) throws {
        guard IMAPSession.searchCharsets.contains(command.charset) else {
            return no(tag, code: .badCharset(IMAPSession.searchCharsets), "Unsupported charset")
        }
        var all = candidates(selected)
        let now = Int64(time(nil))
        var matched: [(candidate: IMAPSearchCandidate, keys: [SortKey])] = []
        for index in all.indices where matches(command.key, &all[index], selected: selected, now: now) {
            let keys = command.criteria.map { sortKey($0.key, &all[index]) }
            matched.append((all[index], keys))
        }
        try? selected.mailbox.saveCache()
        matched.sort { a, b in
            for (i, criterion) in command.criteria.enumerated() {
                let (x, y) = (a.keys[i], b.keys[i])
                if x == y { continue }
                return criterion.reverse ? y < x : x < y
            }
            return a.candidate.sequenceNumber < b.candidate.sequenceNumber
        }
        out.sort(matched.map { uid ? $0.candidate.uid : $0.candidate.sequenceNumber })
        ok(tag, "SORT completed")
    }

    /// A SORT key value: a number, or a string as its i;unicode-casemap canonical form (RFC
    /// 5051), compared as octets.
    enum SortKey: Comparable {
        case number(Int64)
        case text([UInt8])

        static func text(_ string: String) -> SortKey { .text(UnicodeCasemap.canonical(string)) }

        /// i;ascii-casemap (RFC 4790 §9.2): a–z as A–Z, then octet by octet. So "_" (0x5F)
        /// sorts after every letter, as in Dovecot.
        static func asciiCasemap(_ bytes: [UInt8]) -> SortKey {
            .text(bytes.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 })
        }

        static func < (a: SortKey, b: SortKey) -> Bool {
            switch (a, b) {
            case (.number(let x), .number(let y)): return x < y
            case (.text(let x), .text(let y)): return x.lexicographicallyPrecedes(y)
            case (.number, .text): return true
            case (.text, .number): return false
            }
        }
    }

    /// The SORT keys of RFC 5256 §3 and RFC 5957 for one message. A missing field or address
    /// sorts as the empty string.
    func sortKey(_ key: IMAPSortCriterion.Key, _ c: inout IMAPSearchCandidate) -> SortKey {
        func firstMailbox(_ field: String) -> Mailbox? {
            guard let data = c.data(), let f = data.message.root.header.first(field) else { return nil }
            return MailboxList.mailboxes(in: f.unfoldedText).first
        }
        /// RFC 5256 §3: the addr-mailbox of the first address (its ENVELOPE form: the local
        /// part as written, a group's name for a group), compared with i;ascii-casemap; an empty
        /// string when the field or its addresses are missing.
        func addrMailbox(_ list: IMAPStructureCache.AddressList) -> SortKey {
            .asciiCasemap(c.addresses(list)?.first?.mailbox ?? [])
        }
        /// RFC 5957: the decoded display name of the first address if present and not empty,
        /// else its addr-mailbox "@" addr-host.
        func display(_ field: String) -> SortKey {
            guard let mailbox = firstMailbox(field) else { return .text("") }
            if let name = mailbox.decodedDisplayName, !name.isEmpty { return .text(name) }
            return .text(mailbox.address)
        }
        switch key {
        case .arrival: return .number(c.cacheEntry()?.internalDate ?? 0)
        case .size: return .number(Int64(c.cacheEntry().map { $0.crlfSize ?? $0.size } ?? 0))
        case .date:
            // RFC 5256 §2.2: the sent date, in UTC; the internal date when Date: is missing or
            // does not parse.
            if let data = c.data(), let value = data.message.root.header.first("Date")?.unfoldedText,
               let date = MessageDate.parse(value) { return .number(date.secondsSinceEpoch) }
            return .number(c.cacheEntry()?.internalDate ?? 0)
        case .from: return addrMailbox(.from)
        case .to: return addrMailbox(.to)
        case .cc: return addrMailbox(.cc)
        case .displayFrom: return display("From")
        case .displayTo: return display("To")
        case .subject:
            return .text(IMAPSession.baseSubject(c.data()?.message.root.header.first("Subject")?.decodedText ?? ""))
        }
    }

    /// RFC 5256 §2.1 base subject (`IMAPBaseSubject`).
    static func baseSubject(_ subject: String) -> String { IMAPBaseSubject.of(subject) }
}

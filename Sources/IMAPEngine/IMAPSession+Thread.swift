#if canImport(Glibc)
import Glibc
#endif
import IMAPProtocol
import MailMessage

// MARK: THREAD (RFC 5256 §3, §4)

/// What threading needs of one message.
struct IMAPThreadMessage {
    /// The number the response names: the UID for UID THREAD, else the sequence number.
    var number: UInt32
    var sequenceNumber: UInt32
    /// RFC 5256 §2.2: the Date field in UTC, else the internal date.
    var sentDate: Int64
    var baseSubject: String
    /// The base subject in i;unicode-casemap canonical form: what "same subject" compares.
    var subjectKey: [UInt8]
    var isReplyOrForward: Bool
    /// The first valid msg-id of Message-ID, without its angle brackets.
    var messageID: String?
    /// RFC 5256 §3 REFERENCES step 1: the msg-ids of References, or else the first one of
    /// In-Reply-To.
    var references: [String]
}

extension IMAPSession {
    func thread(tag: String, _ command: IMAPThreadCommand, uid: Bool, selected: IMAPSelectedMailbox) throws {
        guard IMAPSession.searchCharsets.contains(command.charset) else {
            return no(tag, code: .badCharset(IMAPSession.searchCharsets), "Unsupported charset")
        }
        var all = candidates(selected)
        let now = Int64(time(nil))
        var messages: [IMAPThreadMessage] = []
        for index in all.indices where matches(command.key, &all[index], selected: selected, now: now) {
            messages.append(threadMessage(&all[index], uid: uid))
        }
        try? selected.mailbox.saveCache()
        switch command.algorithm {
        case .orderedSubject: out.thread(IMAPThreading.orderedSubject(messages))
        case .references: out.thread(IMAPThreading.references(messages))
        }
        ok(tag, "THREAD completed")
    }

    func threadMessage(_ c: inout IMAPSearchCandidate, uid: Bool) -> IMAPThreadMessage {
        let header = c.data()?.message.root.header
        var sent: Int64?
        if let value = header?.first("Date")?.unfoldedText, let date = MessageDate.parse(value) {
            sent = date.secondsSinceEpoch
        }
        let (base, isReplyOrForward) = IMAPBaseSubject.extract(header?.first("Subject")?.decodedText ?? "")
        var references = IMAPThreading.messageIDs(header?.first("References")?.unfoldedText ?? "")
        if references.isEmpty, let first = IMAPThreading.messageIDs(header?.first("In-Reply-To")?.unfoldedText ?? "").first {
            references = [first]
        }
        return IMAPThreadMessage(number: uid ? c.uid : c.sequenceNumber, sequenceNumber: c.sequenceNumber,
                                 sentDate: sent ?? c.cacheEntry()?.internalDate ?? 0,
                                 baseSubject: base, subjectKey: UnicodeCasemap.canonical(base),
                                 isReplyOrForward: isReplyOrForward,
                                 messageID: IMAPThreading.messageIDs(header?.first("Message-ID")?.unfoldedText ?? "").first,
                                 references: references)
    }
}

/// The two threading algorithms of RFC 5256 §3 on already extracted message data (pure, so
/// unit tests feed them crafted message sets). The messages come in sequence order.
enum IMAPThreading {
    /// The msg-ids in a Message-ID, In-Reply-To or References field: each "<…>", without the
    /// brackets and with folding whitespace removed; comments and words between are skipped
    /// (In-Reply-To may hold phrases, RFC 5322 §4.5.4).
    static func messageIDs(_ text: String) -> [String] {
        var ids: [String] = []
        var current: [UInt8]?
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "<"): current = []
            case UInt8(ascii: ">"):
                if let id = current, !id.isEmpty { ids.append(String(decoding: id, as: UTF8.self)) }
                current = nil
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"): break
            default: current?.append(byte)
            }
        }
        return ids
    }

    /// Sibling order (RFC 5256 §2.2 and §3): sent date, then sequence number.
    static func precedes(_ a: IMAPThreadMessage, _ b: IMAPThreadMessage) -> Bool {
        a.sentDate != b.sentDate ? a.sentDate < b.sentDate : a.sequenceNumber < b.sequenceNumber
    }

    /// ORDEREDSUBJECT (RFC 5256 §3): sorted by base subject, then sent date; each run of one
    /// base subject is a thread whose first message is the parent of all the others (siblings,
    /// not a chain); threads ordered by the sent date of their first message.
    static func orderedSubject(_ messages: [IMAPThreadMessage]) -> [IMAPThreadNode] {
        let sorted = messages.sorted { a, b in
            a.subjectKey != b.subjectKey ? a.subjectKey.lexicographicallyPrecedes(b.subjectKey) : precedes(a, b)
        }
        var threads: [(first: IMAPThreadMessage, node: IMAPThreadNode)] = []
        var index = 0
        while index < sorted.count {
            let first = sorted[index]
            var node = IMAPThreadNode(first.number)
            index += 1
            while index < sorted.count, sorted[index].subjectKey == first.subjectKey {
                node.children.append(IMAPThreadNode(sorted[index].number))
                index += 1
            }
            threads.append((first, node))
        }
        return threads.sorted { precedes($0.first, $1.first) }.map(\.node)
    }

    /// REFERENCES (RFC 5256 §3), steps 1–6 as numbered there. Containers are indices; a dummy
    /// has no message. Everything is iterative, so a long chain of replies costs no stack.
    static func references(_ messages: [IMAPThreadMessage]) -> [IMAPThreadNode] {
        var message: [Int?] = []          // container → index into messages, nil for a dummy
        var parent: [Int?] = []
        var children: [[Int]] = []
        func newContainer(_ m: Int?) -> Int {
            message.append(m)
            parent.append(nil)
            children.append([])
            return message.count - 1
        }
        /// Whether `a` is `b` or below it. Walks up from `a`; a `b` without children has only
        /// itself below it, which keeps a long chain of replies linear.
        func isWithin(_ a: Int, _ b: Int) -> Bool {
            if children[b].isEmpty { return a == b }
            var node: Int? = a
            while let n = node {
                if n == b { return true }
                node = parent[n]
            }
            return false
        }
        func link(_ p: Int, _ c: Int) {
            parent[c] = p
            children[p].append(c)
        }
        func unlink(_ c: Int) {
            guard let p = parent[c] else { return }
            children[p].removeAll { $0 == c }
            parent[c] = nil
        }

        // (1) Message-ID table. Case-sensitive comparison (the note in step 1.A).
        var byID: [String: Int] = [:]
        func container(forID id: String) -> Int {
            if let known = byID[id] { return known }
            let dummy = newContainer(nil)
            byID[id] = dummy
            return dummy
        }
        for (index, m) in messages.enumerated() {
            // A missing Message-ID, or one a lower-numbered message already has, gets a unique
            // id: here, a container no id leads to. A dummy made by an earlier reference is
            // this message's.
            let this: Int
            if let id = m.messageID, let known = byID[id], message[known] == nil {
                message[known] = index
                this = known
            } else if let id = m.messageID, byID[id] == nil {
                this = newContainer(index)
                byID[id] = this
            } else {
                this = newContainer(index)
            }
            // (1.A) Each reference the parent of the next, unless the child has a parent
            // already (a truncated References elsewhere) or the link would make a loop.
            let chain = m.references.map { container(forID: $0) }
            for (p, c) in zip(chain, chain.dropFirst()) where parent[c] == nil && !isWithin(p, c) {
                link(p, c)
            }
            // (1.B) The last reference is this message's parent, replacing any parent it had;
            // no references: no parent. Not when that would make a loop.
            unlink(this)
            if let last = chain.last, !isWithin(last, this) {
                link(last, this)
            }
        }

        // (2) The messages without a parent are the root's children.
        var roots = message.indices.filter { parent[$0] == nil }

        // (3) Prune dummies: an empty one goes, one with children is replaced by them, except
        // that at the top a dummy stays when it has more than one child.
        func spliced(_ list: [Int]) -> [Int] {
            var out: [Int] = []
            var stack = Array(list.reversed())
            while let c = stack.popLast() {
                if message[c] == nil { stack.append(contentsOf: children[c].reversed()) } else { out.append(c) }
            }
            return out
        }
        for c in message.indices where message[c] != nil { children[c] = spliced(children[c]) }
        var prunedRoots: [Int] = []
        for r in roots {
            if message[r] != nil { prunedRoots.append(r); continue }
            let kids = spliced(children[r])
            if kids.count == 1 {
                prunedRoots.append(kids[0])
            } else if kids.count > 1 {
                children[r] = kids
                prunedRoots.append(r)
            }
        }
        roots = prunedRoots
        for r in roots { parent[r] = nil }
        for c in message.indices where message[c] != nil { for k in children[c] { parent[k] = c } }

        // (4) Top-level order by sent date; a dummy sorts its children and goes by the first.
        func before(_ a: Int, _ b: Int) -> Bool { precedes(messages[message[a]!], messages[message[b]!]) }
        func representative(_ c: Int) -> Int { message[c] == nil ? children[c][0] : c }
        func sortTop() {
            for r in roots where message[r] == nil { children[r].sort(by: before) }
            roots.sort { before(representative($0), representative($1)) }
        }
        sortTop()

        // (5) Gather the threads with the same base subject.
        func threadSubject(_ c: Int) -> IMAPThreadMessage { messages[message[representative(c)]!] }
        var table: [[UInt8]: Int] = [:]
        // (5.B) One message per base subject: prefer a dummy, then one that is no reply.
        for r in roots {
            let subject = threadSubject(r)
            if subject.subjectKey.isEmpty { continue }
            guard let current = table[subject.subjectKey] else {
                table[subject.subjectKey] = r
                continue
            }
            if message[current] != nil,
               message[r] == nil || (messages[message[current]!].isReplyOrForward && !messages[message[r]!].isReplyOrForward) {
                table[subject.subjectKey] = r
            }
        }
        // (5.C) Merge the others into it.
        var removed = Set<Int>()
        var replaced: [Int: Int] = [:]   // a top-level container → the dummy now in its place
        for r in roots where parent[r] == nil {  // not already merged as a table entry
            let key = threadSubject(r).subjectKey
            if key.isEmpty { continue }
            guard let entry = table[key], entry != r else { continue }
            let currentIsDummy = message[r] == nil, entryIsDummy = message[entry] == nil
            if currentIsDummy && entryIsDummy {
                for k in children[r] { link(entry, k) }
                children[r] = []
            } else if entryIsDummy {
                link(entry, r)
            } else if messages[message[r]!].isReplyOrForward && !messages[message[entry]!].isReplyOrForward {
                link(entry, r)
            } else {
                let dummy = newContainer(nil)
                link(dummy, entry)
                link(dummy, r)
                table[key] = dummy
                replaced[entry] = dummy
            }
            removed.insert(r)
        }
        // A dummy made for an entry takes the entry's place at the top (a dummy entry is never
        // replaced again: it only takes children).
        roots = roots.compactMap { removed.contains($0) ? nil : (replaced[$0] ?? $0) }

        // (6) Every set of siblings by sent date; a dummy at the top by its first child.
        for c in message.indices where message[c] != nil && children[c].count > 1 { children[c].sort(by: before) }
        sortTop()

        // The response tree, built without recursion (children before their parent).
        var order: [Int] = []
        var stack = roots
        while let c = stack.popLast() {
            order.append(c)
            stack.append(contentsOf: children[c])
        }
        var built: [Int: IMAPThreadNode] = [:]
        for c in order.reversed() {
            let kids = children[c].map { built.removeValue(forKey: $0)! }
            built[c] = IMAPThreadNode(message[c].map { messages[$0].number }, kids)
        }
        return roots.map { built[$0]! }
    }
}

import IMAPProtocol
import Maildir
import MailSystem

/// The selected mailbox as this session's client knows it: the UIDs in sequence-number order,
/// their flags and modseqs as last reported, and SEARCHRES's saved result. The Maildir may be
/// ahead (other sessions, deliveries); `IMAPSession.synchronize` reports the difference.
final class IMAPSelectedMailbox {
    let mailbox: MaildirMailbox
    let name: IMAPMailboxName
    let folder: String?
    let readOnly: Bool
    /// Ascending; index i is sequence number i + 1.
    var uids: [UInt32] = []
    /// Flags and modseqs as last reported, parallel to `uids` (arrays: a SELECT of 100,000
    /// messages builds no dictionary).
    var flags: [MaildirFlags] = []
    var modSeqs: [UInt64] = []
    var keywords = MaildirKeywords()
    var uidValidity: UInt32 = 0
    var nextUID: UInt32 = 1
    var highestModSeq: UInt64 = 0
    /// \Recent (RFC 3501 §2.3.2): in a read-write session the UIDs it took from the uid list
    /// (`MaildirMailbox.claimRecent`, under the lock, so exactly one session does; some may not
    /// be known to the client yet); in a read-only one those no session has taken yet.
    var recent = Set<UInt32>()
    /// RFC 5182: UIDs of the last `SEARCH RETURN (SAVE)`.
    var savedSearch: [UInt32] = []
    /// The mailbox's `generation` this view was last compared with (nothing to report while
    /// it is the same).
    var comparedGeneration = -1
    /// The most recently read message (clients fetch one message in several commands).
    var cachedMessage: (uid: UInt32, data: IMAPMessageData)?

    init(mailbox: MaildirMailbox, name: IMAPMailboxName, folder: String?, readOnly: Bool) {
        self.mailbox = mailbox
        self.name = name
        self.folder = folder
        self.readOnly = readOnly
    }

    var count: UInt32 { UInt32(uids.count) }

    /// The `* n RECENT` count: recent messages the client knows.
    var recentCount: UInt32 {
        UInt32(recent.reduce(0) { $0 + (sequenceNumber(of: $1) == nil ? 0 : 1) })
    }

    func index(of uid: UInt32) -> Int? { sequenceNumber(of: uid).map { Int($0) - 1 } }

    /// Records what the client was told about a message it knows.
    func record(_ uid: UInt32, flags newFlags: MaildirFlags, modSeq: UInt64) {
        guard let i = index(of: uid) else { return }
        flags[i] = newFlags
        modSeqs[i] = modSeq
    }

    /// A message the client is told about (EXISTS): UIDs only grow.
    func append(_ uid: UInt32, flags newFlags: MaildirFlags, modSeq: UInt64) {
        uids.append(uid)
        flags.append(newFlags)
        modSeqs.append(modSeq)
    }

    func sequenceNumber(of uid: UInt32) -> UInt32? {
        let k = uids.firstIndex(ofUIDAtLeast: uid) { $0 }
        return k < uids.count && uids[k] == uid ? UInt32(k + 1) : nil
    }

    /// IMAP flags of Maildir flags (RFC 9051 §2.3.2): the system flags, `$Forwarded` for "P"
    /// (as Dovecot maps it) and the folder's keywords for the letters a–z.
    func imapFlags(_ f: MaildirFlags, uid: UInt32? = nil) -> [IMAPFlag] {
        var result: [IMAPFlag] = []
        if let uid, recent.contains(uid) { result.append(.recent) }
        if f.contains(.replied) { result.append(.answered) }
        if f.contains(.flagged) { result.append(.flagged) }
        if f.contains(.trashed) { result.append(.deleted) }
        if f.contains(.seen) { result.append(.seen) }
        if f.contains(.draft) { result.append(.draft) }
        if f.contains(.passed) { result.append(IMAPFlag("$Forwarded")) }
        for name in keywords.keywords(in: f) { result.append(IMAPFlag(name)) }
        return result
    }

    /// The FLAGS response's list: system flags and every keyword the folder defines.
    var definedFlags: [IMAPFlag] {
        [.answered, .flagged, .deleted, .seen, .draft, IMAPFlag("$Forwarded")]
            + keywords.names.sorted { $0.key < $1.key }.map { IMAPFlag($0.value) }
    }

    func reloadKeywords() {
        if let table = try? mailbox.keywords() { keywords = table }
    }
}

extension IMAPSession {
    /// Maildir flags for IMAP flags; keywords get letters in the folder's table (created when
    /// `create`). `\Recent` is ignored (it cannot be stored, RFC 3501 §2.3.2).
    static func maildirFlags(_ flags: [IMAPFlag], in mailbox: MaildirMailbox, create: Bool = true) throws -> MaildirFlags {
        var result: MaildirFlags = []
        var keywordNames: [String] = []
        for flag in flags {
            switch flag {
            case .seen: result.insert(.seen)
            case .answered: result.insert(.replied)
            case .flagged: result.insert(.flagged)
            case .deleted: result.insert(.trashed)
            case .draft: result.insert(.draft)
            case .recent: break
            case IMAPFlag("$Forwarded"): result.insert(.passed)
            default:
                if flag.isSystemOrExtension { throw IMAPMailStoreError(code: nil, text: "Unknown system flag \(flag.name)") }
                keywordNames.append(flag.name)
            }
        }
        if !keywordNames.isEmpty {
            result.formUnion(try mailbox.keywordFlags(keywordNames, create: create))
        }
        return result
    }

    /// Brings the client's view up to date: EXPUNGE for vanished messages (unless a FETCH,
    /// STORE or SEARCH is running, RFC 3501 §7.4.1), EXISTS for new ones, FETCH FLAGS for flags
    /// another session changed.
    func synchronize() {
        guard let selected else { return }
        let snapshot: MaildirSnapshot
        do { snapshot = try selected.mailbox.synchronize(moveNew: !selected.readOnly) } catch {
            log?("synchronize \(selected.mailbox.path): \(error)")
            return
        }
        if selected.mailbox.generation == selected.comparedGeneration { return }
        // Expunges held back now (RFC 3501 §7.4.1) must be compared again later.
        if expungeAllowed { selected.comparedGeneration = selected.mailbox.generation }
        if snapshot.uidValidity != selected.uidValidity && selected.uidValidity != 0 {
            // The uid list was recreated (damaged and rebuilt): the client must start over.
            out.untagged(.bye, "Mailbox UIDVALIDITY changed, please reconnect")
            state = .logout
            return
        }
        // The snapshot's columns (reading whole messages would make a base name String each).
        let uids = snapshot.messages.uids, flags = snapshot.messages.flags, modSeqs = snapshot.messages.modSeqs
        if expungeAllowed {
            // Both lists ascend by UID: one merge walk finds the vanished ones.
            var kept = 0
            var j = 0
            var vanished: [UInt32] = []
            for i in selected.uids.indices {
                let uid = selected.uids[i]
                while j < uids.count && uids[j] < uid { j += 1 }
                if j < uids.count && uids[j] == uid {
                    selected.uids[kept] = uid
                    selected.flags[kept] = selected.flags[i]
                    selected.modSeqs[kept] = selected.modSeqs[i]
                    kept += 1
                } else {
                    // RFC 7162 §3.2.10: after ENABLE QRESYNC, VANISHED (UIDs) instead of EXPUNGE.
                    if qresyncEnabled { vanished.append(uid) } else {
                        out.expunge(UInt32(kept + 1)) // its number now, after the ones before it went
                    }
                    selected.recent.remove(uid)
                    if selected.cachedMessage?.uid == uid { selected.cachedMessage = nil }
                }
            }
            selected.uids.removeLast(selected.uids.count - kept)
            selected.flags.removeLast(selected.flags.count - kept)
            selected.modSeqs.removeLast(selected.modSeqs.count - kept)
            if !vanished.isEmpty { out.vanished(IMAPNumberSet(numbers: vanished), earlier: false) }
        }
        let keywordLetters = flags.reduce(MaildirFlags()) { $0.union($1) }.keywordIndexes
        if keywordLetters.contains(where: { selected.keywords.names[$0] == nil }) {
            selected.reloadKeywords()
            out.flags(selected.definedFlags)
        }
        // Flags another session changed, for the messages the client knows (a merge walk).
        var j = 0
        for i in selected.uids.indices {
            let uid = selected.uids[i]
            while j < uids.count && uids[j] < uid { j += 1 }
            guard j < uids.count, uids[j] == uid else { continue }
            let known = selected.flags[i]
            guard known != flags[j] || (condStoreEnabled && selected.modSeqs[i] != modSeqs[j]) else { continue }
            selected.flags[i] = flags[j]
            selected.modSeqs[i] = modSeqs[j]
            if known != flags[j] {
                var items: [IMAPFetchResponseItem] = [.uid(uid), .flags(selected.imapFlags(flags[j], uid: uid))]
                if condStoreEnabled { items.append(.modSeq(modSeqs[j])) }
                out.fetch(IMAPFetchResponse(sequenceNumber: UInt32(i + 1), items: items))
            }
        }
        let newest = selected.uids.last ?? 0
        let firstFresh = uids.firstIndex(ofUIDAtLeast: newest &+ 1) { $0 }
        if newest < UInt32.max, firstFresh < uids.endIndex {
            noteRecent(selected, snapshot)
            for j in firstFresh..<uids.endIndex {
                selected.append(uids[j], flags: flags[j], modSeq: modSeqs[j])
            }
            out.exists(selected.count)
            if !rev2Enabled { out.recent(selected.recentCount) }
        }
        selected.nextUID = snapshot.nextUID
        selected.highestModSeq = snapshot.highestModSeq
    }
}

extension IMAPSession {
    /// \Recent (RFC 3501 §2.3.2) of the messages in `snapshot`: a read-write session takes
    /// those that no session was the first to see (the uid list's `firstRecentUID`, whatever
    /// way they came: delivery, APPEND, COPY or MOVE from any session); a read-only one
    /// (EXAMINE) shows them recent without taking them, since it "MUST NOT cause messages to lose
    /// the \Recent flag" (RFC 2060 §6.3.2, kept by RFC 3501). IMAP4rev2 has no \Recent
    /// (RFC 9051 §2.3.2): such a session neither shows nor takes it.
    func noteRecent(_ selected: IMAPSelectedMailbox, _ snapshot: MaildirSnapshot) {
        guard !rev2Enabled, snapshot.firstRecentUID < snapshot.nextUID else { return }
        if selected.readOnly {
            let uids = snapshot.messages.uids
            let start = uids.firstIndex(ofUIDAtLeast: snapshot.firstRecentUID) { $0 }
            selected.recent.formUnion(uids[start...])
            return
        }
        do {
            selected.recent.formUnion(try selected.mailbox.claimRecent())
        } catch {
            log?("recent \(selected.mailbox.path): \(error)")
        }
    }
}

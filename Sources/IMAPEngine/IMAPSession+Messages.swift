import IMAPProtocol
import Maildir
import MailMessage

extension IMAPSession {
    func executeSelected(_ command: IMAPCommand, selected: IMAPSelectedMailbox, store: IMAPMailStore) throws {
        let tag = command.tag
        switch command.kind {
        case .close:
            if !selected.readOnly { _ = try? selected.mailbox.expunge() }
            try? selected.mailbox.saveCache()
            self.selected = nil
            state = .authenticated
            ok(tag, "CLOSE completed")
        case .unselect:
            try? selected.mailbox.saveCache()
            self.selected = nil
            state = .authenticated
            ok(tag, "UNSELECT completed")
        case .expunge:
            guard !selected.readOnly else { return no(tag, code: .readOnly, "Mailbox is read-only") }
            try selected.mailbox.expunge()
            synchronize()
            ok(tag, "EXPUNGE completed")
        case .uidExpunge(let set):
            guard !selected.readOnly else { return no(tag, code: .readOnly, "Mailbox is read-only") }
            guard let uids = resolve(set, uid: true, selected: selected, tag: tag) else { return }
            try selected.mailbox.expunge(uids: uids)
            synchronize()
            ok(tag, "EXPUNGE completed")
        case .fetch(let set, let attributes, let changedSince, let uid, let vanished):
            // RFC 7162 §3.2.6: VANISHED needs ENABLE QRESYNC.
            if vanished && !qresyncEnabled { return bad(tag, "QRESYNC is not enabled") }
            guard let uids = resolve(set, uid: uid, selected: selected, tag: tag) else { return }
            if vanished, let changedSince { reportVanished(set, since: changedSince, selected: selected) }
            if changedSince != nil || attributes.contains(.modSeq) { condStoreEnabled = true }
            expungeAllowed = uid
            defer { expungeAllowed = true }
            try fetch(uids: uids, attributes: attributes, changedSince: changedSince, uid: uid, selected: selected)
            synchronize()
            ok(tag, "FETCH completed")
        case .store(let set, let action, let unchangedSince, let uid):
            guard let uids = resolve(set, uid: uid, selected: selected, tag: tag) else { return }
            guard !selected.readOnly else { return no(tag, code: .readOnly, "Mailbox is read-only") }
            if unchangedSince != nil { condStoreEnabled = true }
            expungeAllowed = uid
            defer { expungeAllowed = true }
            let flags = try IMAPSession.maildirFlags(action.flags, in: selected.mailbox)
            if flags.keywordIndexes.contains(where: { selected.keywords.names[$0] == nil }) {
                selected.reloadKeywords()
                out.flags(selected.definedFlags)
            }
            let change: FlagChange
            switch action.operation {
            case .replace: change = .replace(flags)
            case .add: change = .add(flags)
            case .remove: change = .remove(flags)
            }
            let result = try selected.mailbox.store(uids: uids, change, unchangedSince: unchangedSince)
            for message in result.updated {
                selected.record(message.uid, flags: message.flags, modSeq: message.modSeq)
                guard let seq = selected.sequenceNumber(of: message.uid) else { continue }
                // RFC 3501 §6.4.6: an untagged FETCH for every message of a non-silent STORE,
                // whether or not its flags changed. RFC 7162 §3.2: .SILENT still reports MODSEQ.
                if action.silent && !condStoreEnabled { continue }
                var items: [IMAPFetchResponseItem] = []
                if uid || condStoreEnabled { items.append(.uid(message.uid)) }
                if !action.silent { items.append(.flags(selected.imapFlags(message.flags, uid: message.uid))) }
                if condStoreEnabled { items.append(.modSeq(message.modSeq)) }
                out.fetch(IMAPFetchResponse(sequenceNumber: seq, items: items))
            }
            synchronize()
            if !result.modifiedSince.isEmpty {
                let numbers = uid ? result.modifiedSince : result.modifiedSince.compactMap { selected.sequenceNumber(of: $0) }
                return ok(tag, code: .modified(IMAPNumberSet(numbers: numbers)), "Conditional STORE failed for some messages")
            }
            ok(tag, "STORE completed")
        case .copy(let set, let name, let uid), .move(let set, let name, let uid):
            var isMove = false
            if case .move = command.kind { isMove = true }
            guard let uids = resolve(set, uid: uid, selected: selected, tag: tag) else { return }
            if isMove && selected.readOnly { return no(tag, code: .readOnly, "Mailbox is read-only") }
            let folder = try store.folderName(name, utf8Enabled: utf8Enabled)
            guard store.exists(folder) else { return no(tag, code: .tryCreate, "No such mailbox") }
            // RFC 6851 §3.3 and RFC 3501 §6.4.7: the destination may be the selected mailbox;
            // the messages then get new UIDs in it (and MOVE expunges the originals).
            let destination = folder == selected.folder ? selected.mailbox : store.open(folder)
            // A MOVE stays within the one quota root: only a COPY adds to the usage.
            let copied = isMove ? nil : try quotaSize(of: uids, in: selected.mailbox)
            if let copied, let refusal = quotaRefusal(adding: copied, messages: uids.count) { return no(tag, code: .overQuota, refusal) }
            let learning = prepareSpamLearning(from: selected, to: folder, store: store, uids: uids)
            let pairs = isMove ? try selected.mailbox.move(uids: uids, to: destination)
                               : try selected.mailbox.copy(uids: uids, to: destination)
            commitSpamLearning(learning, copied: pairs.map(\.source))
            let validity = try destination.uidList.read()?.uidValidity ?? 0
            let code: IMAPResponseCode? = pairs.isEmpty ? nil
                : .copyUID(uidValidity: validity, source: IMAPNumberSet(numbers: pairs.map(\.source)),
                           destination: IMAPNumberSet(numbers: pairs.map(\.destination)))
            if isMove {
                // RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs.
                if let code { out.untagged(.ok, code: code, "Moved UIDs") }
                synchronize()
                ok(tag, "MOVE completed")
            } else {
                if let copied { quotaRecord(adding: copied, messages: pairs.count) }
                if folder == selected.folder { synchronize() }
                ok(tag, code: code, "COPY completed")
            }
        case .search(let search, let uid):
            expungeAllowed = uid
            defer { expungeAllowed = true }
            try self.search(tag: tag, search, uid: uid, selected: selected)
        case .sort(let sort, let uid):
            expungeAllowed = uid
            defer { expungeAllowed = true }
            try self.sort(tag: tag, sort, uid: uid, selected: selected)
        case .replace(let number, let name, let message, let uid):
            try replace(tag: tag, number, name, message, uid: uid, selected: selected, store: store)
        case .thread(let thread, let uid):
            expungeAllowed = uid
            defer { expungeAllowed = true }
            try self.thread(tag: tag, thread, uid: uid, selected: selected)
        default:
            bad(tag, "Command not valid in this state")
        }
    }

    /// The UIDs a message set names, ascending; nil (with BAD sent) for sequence numbers beyond
    /// the mailbox. UIDs that do not exist are ignored (RFC 9051 §6.4.9).
    func resolve(_ set: IMAPMessageSet, uid: Bool, selected: IMAPSelectedMailbox, tag: String) -> [UInt32]? {
        switch set {
        case .lastSearchResult:
            return selected.savedSearch.filter { selected.sequenceNumber(of: $0) != nil }
        case .set(let sequence):
            if uid {
                let numbers = sequence.resolved(largest: selected.uids.last ?? 0)
                return selected.uids.filter { numbers.contains($0) }
            }
            let numbers = sequence.resolved(largest: selected.count)
            if let max = numbers.max, max > selected.count {
                bad(tag, "Invalid message sequence number")
                return nil
            }
            return numbers.map { selected.uids[Int($0) - 1] }
        }
    }

    // MARK: FETCH

    func messageData(uid: UInt32, selected: IMAPSelectedMailbox) throws -> IMAPMessageData? {
        if let cached = selected.cachedMessage, cached.uid == uid { return cached.data }
        guard let bytes = try selected.mailbox.read(uid: uid, limit: configuration.maxMessageSize) else { return nil }
        let data = IMAPMessageData(fileBytes: bytes, limits: configuration.mimeLimits)
        selected.cachedMessage = (uid, data)
        return data
    }

    func fetch(uids: [UInt32], attributes: [IMAPFetchAttribute], changedSince: UInt64?, uid: Bool,
               selected: IMAPSelectedMailbox) throws {
        let needsData = attributes.contains { attribute in
            switch attribute {
            case .flags, .internalDate, .rfc822Size, .uid, .modSeq, .envelope, .body, .bodyStructure, .emailID, .threadID, .saveDate, .preview: return false
            default: return true
            }
        }
        let needsStructure = attributes.contains { attribute in
            switch attribute {
            case .envelope, .body, .bodyStructure: return true
            default: return false
            }
        }
        let setsSeen = !selected.readOnly && attributes.contains { attribute in
            switch attribute {
            case .rfc822, .rfc822Text: return true
            case .bodySection(_, _, let peek), .binary(_, _, let peek): return !peek
            default: return false
            }
        }
        for messageUID in uids {
            guard let seq = selected.sequenceNumber(of: messageUID) else { continue }
            if let changedSince, selected.modSeqs[Int(seq) - 1] <= changedSince { continue }
            var data: IMAPMessageData?
            if needsData {
                data = try messageData(uid: messageUID, selected: selected)
                if data == nil { continue } // expunged by another session; its EXPUNGE comes later
            }
            var structure: (envelope: IMAPEnvelope, body: IMAPBodyStructure)?
            if needsStructure {
                guard let found = self.structure(uid: messageUID, selected: selected) else { continue }
                structure = found
            }
            if setsSeen, !selected.flags[Int(seq) - 1].contains(.seen) {
                let result = try selected.mailbox.store(uids: [messageUID], .add(.seen))
                for message in result.updated {
                    selected.record(message.uid, flags: message.flags, modSeq: message.modSeq)
                }
            }
            var items: [IMAPFetchResponseItem] = []
            var flagsSent = false
            if uid || changedSince != nil { items.append(.uid(messageUID)) }
            for attribute in attributes {
                switch attribute {
                case .uid: if !items.contains(.uid(messageUID)) { items.append(.uid(messageUID)) }
                case .flags:
                    items.append(.flags(selected.imapFlags(selected.flags[Int(seq) - 1], uid: messageUID)))
                    flagsSent = true
                case .modSeq: break
                case .emailID:
                    // RFC 8474 §5.1: stable across COPY and MOVE (MaildirObjectID).
                    if let message = selected.mailbox.message(uid: messageUID) {
                        items.append(.emailID(MaildirObjectID.emailID(baseName: message.baseName)))
                    }
                case .threadID: items.append(.threadID(nil)) // threads are not computed (RFC 8474 §5.2)
                case .saveDate:
                    // RFC 8514 §4.2: when the message came into this mailbox; NIL when unknown.
                    items.append(.saveDate(selected.mailbox.message(uid: messageUID).flatMap { IMAPSession.saveDate(baseName: $0.baseName) }
                        .map { IMAPDateTime(secondsSinceEpoch: $0) }))
                case .internalDate:
                    let info = try selected.mailbox.info(uid: messageUID)
                    items.append(.internalDate(IMAPDateTime(secondsSinceEpoch: info?.internalDate ?? 0)))
                case .rfc822Size:
                    if let data { items.append(.rfc822Size(UInt64(data.bytes.count))); continue }
                    let info = try selected.mailbox.info(uid: messageUID, crlfSize: true)
                    items.append(.rfc822Size(UInt64(info?.crlfSize ?? info?.size ?? 0)))
                case .envelope: items.append(.envelope(structure!.envelope))
                case .body: items.append(.body(structure!.body))
                case .bodyStructure: items.append(.bodyStructure(structure!.body))
                case .rfc822: items.append(.rfc822(data!.bytes))
                case .rfc822Header: items.append(.rfc822Header(data!.section(IMAPSection(text: .header))))
                case .rfc822Text: items.append(.rfc822Text(data!.section(IMAPSection(text: .text))))
                case .bodySection(let section, let partial, _):
                    let (origin, bytes) = IMAPSession.partial(data!.section(section), partial)
                    items.append(.bodySection(section, origin: origin, data: bytes))
                case .binary(let part, let partial, _):
                    let (origin, bytes) = IMAPSession.partial(try data!.binary(part), partial)
                    items.append(.binary(part: part, origin: origin, data: bytes))
                case .binarySize(let part):
                    items.append(.binarySize(part: part, size: UInt64(try data!.binary(part)?.count ?? 0)))
                case .preview:
                    // LAZY (RFC 8970 §3.2) is answered like PREVIEW: making one is cheap and cached.
                    items.append(.preview(preview(uid: messageUID, selected: selected).map { Array($0.utf8) }))
                }
            }
            if setsSeen && !flagsSent { items.append(.flags(selected.imapFlags(selected.flags[Int(seq) - 1], uid: messageUID))) }
            if condStoreEnabled { items.append(.modSeq(selected.modSeqs[Int(seq) - 1])) }
            out.fetch(IMAPFetchResponse(sequenceNumber: seq, items: items))
            flushIfLarge()
            if state == .logout { return }
        }
        try? selected.mailbox.saveCache()
    }

    /// `<offset.length>` (RFC 9051 §6.4.5): the origin is reported, the data cut.
    static func partial(_ bytes: [UInt8]?, _ partial: IMAPPartial?) -> (UInt64?, [UInt8]?) {
        guard let partial else { return (nil, bytes) }
        guard let bytes else { return (partial.offset, nil) }
        let start = Int(min(partial.offset, UInt64(bytes.count)))
        let end = Int(min(UInt64(start) + min(partial.length, UInt64(Int.max / 2)), UInt64(bytes.count)))
        return (partial.offset, Array(bytes[start..<end]))
    }
}

import IMAPProtocol
import Maildir

extension IMAPSession {
    func executeAuthenticated(_ command: IMAPCommand, store: IMAPMailStore) {
        let tag = command.tag
        do {
            switch command.kind {
            case .select(let name, let condStore, let qresync), .examine(let name, let condStore, let qresync):
                var readOnly = false
                if case .examine = command.kind { readOnly = true }
                // RFC 7162 §3.2.5: the QRESYNC parameter without ENABLE QRESYNC is a BAD.
                if qresync != nil && !qresyncEnabled { return bad(tag, "QRESYNC is not enabled") }
                if condStore { condStoreEnabled = true }
                try select(tag: tag, name: name, readOnly: readOnly, store: store, qresync: qresync)
            case .create(let name, let use):
                var wire = name.bytes
                while wire.last == IMAPMailStore.delimiter { wire.removeLast() } // RFC 9051 §6.3.4
                let target = IMAPMailboxName(bytes: wire)
                guard let folder = try store.folderName(target, utf8Enabled: utf8Enabled) else {
                    return no(tag, code: .alreadyExists, "INBOX always exists")
                }
                if store.exists(folder) { return no(tag, code: .alreadyExists, "Mailbox exists") }
                // RFC 6154 §3: a use that cannot be given refuses the CREATE, before anything
                // is made, with [USEATTR].
                let specialUse = IMAPSpecialUse(folders: store.folders)
                var uses: [IMAPMailboxAttribute] = []
                for attribute in use where !uses.contains(attribute) {
                    guard IMAPSpecialUse.assignable.contains(attribute) else {
                        return no(tag, code: .useAttribute, "Mailbox not created; special use \(attribute.name) is not supported")
                    }
                    if let holder = specialUse.holder(of: attribute, existing: store.list().filter { store.exists($0) }) {
                        let holderName = String(decoding: store.wireName(holder, utf8Enabled: true).bytes, as: UTF8.self)
                        return no(tag, code: .useAttribute, "Mailbox not created; \(holderName) is already the \(attribute.name) mailbox")
                    }
                    uses.append(attribute)
                }
                if store.folders.exists(folder) {
                    // A directory without cur/new/tmp: make it a folder.
                    try store.maildir(folder).create()
                } else {
                    try store.folders.create(folder)
                }
                do {
                    // Uses stored for a folder that was removed outside IMAP are dropped.
                    if !uses.isEmpty || specialUse.stored()[folder] != nil { try specialUse.assign(uses, to: folder) }
                } catch {
                    try? store.folders.delete(folder)
                    throw error
                }
                // RFC 8474 §4.1: the new mailbox's MAILBOXID.
                let id = try? MaildirObjectID.mailboxID(folderPath: store.maildir(folder).path)
                ok(tag, code: id.map { .mailboxID($0) }, "CREATE completed")
            case .delete(let name):
                guard let folder = try store.folderName(name, utf8Enabled: utf8Enabled) else {
                    return no(tag, code: .cannot, "INBOX cannot be deleted")
                }
                if selected?.folder == folder { return no(tag, code: .inUse, "Mailbox is selected") }
                guard store.folders.exists(folder) else { return no(tag, code: .nonexistent, "No such mailbox") }
                try store.folders.delete(folder)
                try? IMAPSpecialUse(folders: store.folders).remove(folder)
                ok(tag, "DELETE completed")
            case .rename(let from, let to):
                try rename(tag: tag, from: from, to: to, store: store)
            case .subscribe(let name):
                let folder = try store.folderName(name, utf8Enabled: utf8Enabled)
                try store.folders.subscribe(folder ?? "INBOX")
                ok(tag, "SUBSCRIBE completed")
            case .unsubscribe(let name):
                let folder = try store.folderName(name, utf8Enabled: utf8Enabled)
                try store.folders.unsubscribe(folder ?? "INBOX")
                ok(tag, "UNSUBSCRIBE completed")
            case .list(let list):
                try self.list(list, store: store)
                ok(tag, "LIST completed")
            case .lsub(let reference, let pattern):
                try lsub(reference: reference, pattern: pattern, store: store)
                ok(tag, "LSUB completed")
            case .namespace:
                out.namespace(personal: [IMAPNamespace(prefix: IMAPMailboxName(bytes: []), delimiter: IMAPMailStore.delimiter)],
                              otherUsers: [], shared: [])
                ok(tag, "NAMESPACE completed")
            case .status(let name, let attributes):
                let folder = try store.folderName(name, utf8Enabled: utf8Enabled)
                guard store.exists(folder) else { return no(tag, code: .nonexistent, "No such mailbox") }
                if attributes.contains(.highestModSeq) { condStoreEnabled = true }
                if selected != nil { synchronize() }
                out.status(name, try status(folder, attributes, store: store),
                           mailboxID: attributes.contains(.mailboxID) ? try MaildirObjectID.mailboxID(folderPath: store.maildir(folder).path) : nil)
                ok(tag, "STATUS completed")
            case .append(let name, let messages):
                try append(tag: tag, name: name, messages: messages, store: store)
            case .getQuota, .getQuotaRoot:
                try quotaCommand(command, store: store)
            case .idle:
                out.continuation("idling")
                idleTag = tag
                reader.mode = .idle
                if selected != nil { synchronize() }
            case .compress(let mechanism):
                compress(tag: tag, mechanism: mechanism)
            case .notify(let notify):
                notifyCommand(tag: tag, notify, store: store)
            default:
                guard let selected else { return bad(tag, "No mailbox selected") }
                try executeSelected(command, selected: selected, store: store)
            }
        } catch {
            fail(tag, error)
        }
    }

    // MARK: SELECT / EXAMINE

    func select(tag: String, name: IMAPMailboxName, readOnly: Bool, store: IMAPMailStore, qresync: IMAPQResyncParameters? = nil) throws {
        if let previous = selected {
            try? previous.mailbox.saveCache()
            selected = nil
            state = .authenticated
            out.untagged(.ok, code: .closed, "Previous mailbox closed")
        }
        let folder = try store.folderName(name, utf8Enabled: utf8Enabled)
        guard store.exists(folder) else {
            if store.folders.exists(folder ?? "") { return no(tag, code: .cannot, "Mailbox cannot be selected") }
            return no(tag, code: .nonexistent, "No such mailbox")
        }
        let mailbox = store.open(folder)
        let snapshot = try mailbox.synchronize(moveNew: !readOnly)
        let view = IMAPSelectedMailbox(mailbox: mailbox, name: name, folder: folder, readOnly: readOnly)
        view.reloadKeywords()
        view.uidValidity = snapshot.uidValidity
        view.comparedGeneration = mailbox.generation
        view.nextUID = snapshot.nextUID
        view.highestModSeq = snapshot.highestModSeq
        noteRecent(view, snapshot)
        // The snapshot's columns themselves: shared with it (and the uid list it came from)
        // until either changes, not copied.
        view.uids = snapshot.messages.uids; view.flags = snapshot.messages.flags; view.modSeqs = snapshot.messages.modSeqs
        selected = view
        state = .selected
        out.flags(view.definedFlags)
        out.exists(view.count)
        if rev2Enabled {
            // RFC 9051 §6.3.2: a LIST response with the mailbox's name and attributes; no
            // RECENT and no UNSEEN code any more.
            var attributes: [IMAPMailboxAttribute] = []
            if let folder {
                let specialUse = IMAPSpecialUse(folders: store.folders)
                attributes += specialUse.attributes(folder, stored: specialUse.stored())
            }
            let listName = folder.map { store.wireName($0, utf8Enabled: true) } ?? IMAPMailboxName(bytes: Array("INBOX".utf8))
            out.list(IMAPListResponse(attributes: attributes, delimiter: IMAPMailStore.delimiter, name: listName))
        } else {
            out.recent(view.recentCount)
            if let firstUnseen = view.flags.firstIndex(where: { !$0.contains(.seen) }) {
                out.untagged(.ok, code: .unseen(UInt32(firstUnseen + 1)), "First unseen")
            }
        }
        out.untagged(.ok, code: .permanentFlags(readOnly ? [] : view.definedFlags, allowsNewKeywords: !readOnly), "Flags permitted")
        out.untagged(.ok, code: .uidValidity(view.uidValidity), "UIDs valid")
        out.untagged(.ok, code: .uidNext(view.nextUID), "Predicted next UID")
        out.untagged(.ok, code: .highestModSeq(max(view.highestModSeq, 1)), "Highest")
        if let id = try? MaildirObjectID.mailboxID(folderPath: mailbox.path) {
            out.untagged(.ok, code: .mailboxID(id), "Ok") // RFC 8474 §4.1
        }
        if let qresync { reportQResync(qresync, selected: view) }
        ok(tag, code: readOnly ? .readOnly : .readWrite, readOnly ? "EXAMINE completed" : "SELECT completed")
    }

    // MARK: RENAME

    func rename(tag: String, from: IMAPMailboxName, to: IMAPMailboxName, store: IMAPMailStore) throws {
        let source = try store.folderName(from, utf8Enabled: utf8Enabled)
        guard let target = try store.folderName(to, utf8Enabled: utf8Enabled) else {
            return no(tag, code: .alreadyExists, "INBOX exists")
        }
        if store.folders.exists(target) { return no(tag, code: .alreadyExists, "Mailbox exists") }
        guard let source else {
            // RFC 3501 §6.3.5: renaming INBOX moves its messages into the new mailbox and
            // leaves INBOX empty; INBOX's inferiors stay where they are.
            try store.folders.create(target)
            let inbox = store.open(nil)
            let snapshot = try inbox.synchronize(moveNew: true)
            let destination = store.open(target)
            _ = try inbox.move(uids: snapshot.messages.uids, to: destination)
            if selected?.folder == nil { synchronize() }
            return ok(tag, "RENAME completed")
        }
        guard store.folders.exists(source) else { return no(tag, code: .nonexistent, "No such mailbox") }
        try store.folders.rename(source, to: target)
        try? IMAPSpecialUse(folders: store.folders).rename(source, to: target)
        ok(tag, "RENAME completed")
        // The selected mailbox (or a parent of it) was renamed: its directory is gone. As
        // Dovecot does, the session ends rather than go on with a path that no longer exists.
        if let folder = selected?.folder, folder == source || folder.hasPrefix(source + ".") {
            endForVanishedMailbox()
        }
    }

    // MARK: LIST / LSUB

    struct ListEntry {
        var folder: String?      // nil: INBOX
        var wire: [UInt8]
        var exists: Bool
    }

    /// Every mailbox name with its implied parents (shown \NonExistent \Noselect).
    func allMailboxes(_ store: IMAPMailStore) -> [ListEntry] {
        var entries: [String: ListEntry] = [:]
        let folders = store.list()
        let real = Set(folders)
        for folder in folders {
            let parts = folder.split(separator: ".", omittingEmptySubsequences: false)
            for depth in 1...parts.count {
                let name = parts[0..<depth].joined(separator: ".")
                if entries[name] == nil {
                    entries[name] = ListEntry(folder: name, wire: store.wireName(name, utf8Enabled: utf8Enabled).bytes,
                                              exists: real.contains(name) && store.exists(name))
                }
            }
        }
        let inbox = ListEntry(folder: nil, wire: Array("INBOX".utf8), exists: true)
        return [inbox] + entries.values.sorted { $0.wire.lexicographicallyPrecedes($1.wire) }
    }

    func hasChildren(_ entry: ListEntry, in all: [ListEntry]) -> Bool {
        guard let folder = entry.folder else { return false }
        return all.contains { $0.folder?.hasPrefix(folder + ".") ?? false }
    }

    func list(_ command: IMAPListCommand, store: IMAPMailStore) throws {
        let reference = command.reference.bytes
        let subscribedOnly = command.selectionOptions.contains(.subscribed)
        let specialUseOnly = command.selectionOptions.contains(.specialUse)
        let returnSubscribed = subscribedOnly || command.returnOptions.contains(.subscribed)
        var statusAttributes: [IMAPStatusAttribute]?
        for option in command.returnOptions { if case .status(let attributes) = option { statusAttributes = attributes } }
        if command.patterns.count == 1 && command.patterns[0].bytes.isEmpty && command.selectionOptions.isEmpty {
            // RFC 9051 §6.3.9: the delimiter and the root of the reference.
            out.list(IMAPListResponse(attributes: [.noSelect], delimiter: IMAPMailStore.delimiter, name: IMAPMailboxName(bytes: [])))
            return
        }
        if command.selectionOptions.contains(.recursiveMatch) && !subscribedOnly {
            // RFC 5258 §3: RECURSIVEMATCH needs another selection option to modify.
            throw IMAPMailStoreError(code: .clientBug, text: "RECURSIVEMATCH needs SUBSCRIBED")
        }
        var all = allMailboxes(store)
        let onDisk = all
        let subscriptions = Set(try store.folders.subscriptions())
        let specialUse = IMAPSpecialUse(folders: store.folders)
        let storedUses = specialUse.stored()
        if subscribedOnly {
            // Subscribed names whose mailbox is gone are listed too, \NonExistent (RFC 5258 §3),
            // and so may their parents be (RECURSIVEMATCH, below).
            var known = Set(all.compactMap(\.folder))
            for name in subscriptions where name != "INBOX" {
                let parts = name.split(separator: ".", omittingEmptySubsequences: false)
                for depth in 1...parts.count {
                    let level = parts[0..<depth].joined(separator: ".")
                    guard known.insert(level).inserted else { continue }
                    all.append(ListEntry(folder: level, wire: store.wireName(level, utf8Enabled: utf8Enabled).bytes, exists: false))
                }
            }
            all.sort { a, b in
                if a.folder == nil { return b.folder != nil }
                if b.folder == nil { return false }
                return a.wire.lexicographicallyPrecedes(b.wire)
            }
        }
        // Every pattern together (RFC 5258 §3): a name is listed once when any of them matches.
        func matchesAnyPattern(_ wire: [UInt8]) -> Bool {
            command.patterns.contains { pattern in
                IMAPPattern.matchesMailbox(reference + pattern.bytes, wire, delimiter: IMAPMailStore.delimiter)
            }
        }
        for entry in all {
            guard matchesAnyPattern(entry.wire) else { continue }
            let subscribed = subscriptions.contains(entry.folder ?? "INBOX")
            var childInfo: [String] = []
            if subscribedOnly && !subscribed {
                // RFC 5258 §3.5 and §4: with RECURSIVEMATCH, a name that is not subscribed itself
                // is listed, with CHILDINFO ("SUBSCRIBED"), when it has a subscribed descendant
                // that no pattern matches (one that matches is listed in its own right).
                guard command.selectionOptions.contains(.recursiveMatch), let folder = entry.folder,
                      subscriptions.contains(where: { name in
                          name.hasPrefix(folder + ".") && !matchesAnyPattern(store.wireName(name, utf8Enabled: utf8Enabled).bytes)
                      }) else { continue }
                childInfo = ["SUBSCRIBED"]
            }
            let special = entry.folder.map { specialUse.attributes($0, stored: storedUses) } ?? []
            if specialUseOnly && special.isEmpty { continue }
            var attributes: [IMAPMailboxAttribute] = []
            if !entry.exists { attributes += [.nonExistent, .noSelect] }
            attributes.append(hasChildren(entry, in: onDisk) ? .hasChildren : .hasNoChildren)
            attributes += special
            if returnSubscribed && subscribed { attributes.append(.subscribed) }
            let name = IMAPMailboxName(bytes: entry.wire)
            out.list(IMAPListResponse(attributes: attributes, delimiter: IMAPMailStore.delimiter, name: name, childInfo: childInfo))
            if let statusAttributes, entry.exists {
                out.status(name, try status(entry.folder, statusAttributes, store: store),
                           mailboxID: statusAttributes.contains(.mailboxID)
                               ? try MaildirObjectID.mailboxID(folderPath: store.maildir(entry.folder).path) : nil)
            }
        }
    }

    func lsub(reference: IMAPMailboxName, pattern: IMAPMailboxName, store: IMAPMailStore) throws {
        let all = allMailboxes(store)
        let subscriptions = try store.folders.subscriptions()
        let subscribed = Set(subscriptions)
        let fullPattern = reference.bytes + pattern.bytes
        var listed = Set<String>()
        for subscription in subscriptions {
            let folder: String? = subscription == "INBOX" ? nil : subscription
            let wire = folder.map { store.wireName($0, utf8Enabled: utf8Enabled).bytes } ?? Array("INBOX".utf8)
            if IMAPPattern.matchesMailbox(fullPattern, wire, delimiter: IMAPMailStore.delimiter) {
                guard listed.insert(subscription).inserted else { continue }
                let exists = all.contains { $0.folder == folder && $0.exists }
                out.list(IMAPListResponse(attributes: exists ? [] : [.noSelect], delimiter: IMAPMailStore.delimiter,
                                          name: IMAPMailboxName(bytes: wire)), lsub: true)
                continue
            }
            // RFC 3501 §6.3.9: when "%" stops short of a subscribed name, its parent that the
            // pattern matches is listed, \Noselect, though it is not subscribed itself.
            guard let folder else { continue }
            let parts = folder.split(separator: ".", omittingEmptySubsequences: false)
            for depth in stride(from: parts.count - 1, through: 1, by: -1) {
                let parent = parts[0..<depth].joined(separator: ".")
                let parentWire = store.wireName(parent, utf8Enabled: utf8Enabled).bytes
                guard IMAPPattern.matchesMailbox(fullPattern, parentWire, delimiter: IMAPMailStore.delimiter) else { continue }
                if !subscribed.contains(parent), listed.insert(parent).inserted {
                    out.list(IMAPListResponse(attributes: [.noSelect], delimiter: IMAPMailStore.delimiter,
                                              name: IMAPMailboxName(bytes: parentWire)), lsub: true)
                }
                break
            }
        }
    }

    // MARK: STATUS

    func status(_ folder: String?, _ attributes: [IMAPStatusAttribute], store: IMAPMailStore) throws -> [(IMAPStatusAttribute, UInt64)] {
        let mailbox: MaildirMailbox
        if let selected, selected.folder == folder { mailbox = selected.mailbox } else { mailbox = store.open(folder) }
        let snapshot = try mailbox.synchronize(moveNew: false)
        var values: [(IMAPStatusAttribute, UInt64)] = []
        for attribute in attributes {
            switch attribute {
            case .messages: values.append((attribute, UInt64(snapshot.messages.count)))
            case .recent:
                // RFC 3501 §6.3.10: messages with \Recent. Those no session has taken yet, and
                // for the mailbox this session holds read-write, those it took.
                let start = snapshot.messages.firstIndex(ofUIDAtLeast: snapshot.firstRecentUID)
                var count = UInt64(snapshot.messages.count - start)
                if let selected, selected.folder == folder, !selected.readOnly { count += UInt64(selected.recentCount) }
                values.append((attribute, count))
            case .uidNext: values.append((attribute, UInt64(snapshot.nextUID)))
            case .uidValidity: values.append((attribute, UInt64(snapshot.uidValidity)))
            case .unseen: values.append((attribute, UInt64(snapshot.messages.flags.reduce(0) { $0 + ($1.contains(.seen) ? 0 : 1) })))
            case .deleted: values.append((attribute, UInt64(snapshot.messages.flags.reduce(0) { $0 + ($1.contains(.trashed) ? 1 : 0) })))
            case .highestModSeq: values.append((attribute, max(snapshot.highestModSeq, 1)))
            case .size:
                var total: UInt64 = 0
                for uid in snapshot.messages.uids {
                    if let info = try mailbox.info(uid: uid, crlfSize: true) { total += UInt64(info.crlfSize ?? info.size) }
                }
                try? mailbox.saveCache()
                values.append((attribute, total))
            case .mailboxID: break // not a number: see `out.status(_:_:mailboxID:)`
            }
        }
        return values
    }

    // MARK: APPEND

    func append(tag: String, name: IMAPMailboxName, messages: [IMAPAppendMessage], store: IMAPMailStore) throws {
        let folder = try store.folderName(name, utf8Enabled: utf8Enabled)
        guard store.exists(folder) else { return no(tag, code: .tryCreate, "No such mailbox") }
        let mailbox: MaildirMailbox
        if let selected, selected.folder == folder { mailbox = selected.mailbox } else { mailbox = store.open(folder) }
        if let refusal = quotaRefusal(adding: messages.reduce(0) { $0 + Int64($1.data.count) }, messages: messages.count) {
            return no(tag, code: .overQuota, refusal)
        }
        var uids: [UInt32] = []
        for message in messages {
            guard !message.data.isEmpty else { return no(tag, "Empty message") }
            guard message.data.count <= configuration.maxMessageSize else { return no(tag, code: .tooBig, "Message too large") }
            // RFC 3516 §4.4: a literal8 may hold any octet and is stored as it is; NUL in a
            // plain literal (which CHAR8 excludes) is refused as before.
            guard message.isBinary || !message.data.contains(0) else { return no(tag, code: .unknownCTE, "Message contains NUL") }
            let flags = try IMAPSession.maildirFlags(message.flags ?? [], in: mailbox)
            uids.append(try mailbox.append(message.data, flags: flags, internalDate: message.internalDate?.secondsSinceEpoch))
        }
        quotaRecord(adding: messages.reduce(0) { $0 + Int64($1.data.count) }, messages: messages.count)
        let validity = try mailbox.uidList.read()?.uidValidity ?? 0
        if selected != nil { synchronize() }
        ok(tag, code: .appendUID(uidValidity: validity, uids: IMAPNumberSet(numbers: uids)), "APPEND completed")
    }
}

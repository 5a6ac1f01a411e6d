/// Writes commands in client form, the inverse of `IMAPCommandParser`: parsing the output gives
/// back the same `IMAPCommand`. Used for round-trip tests and by test clients. Literals are
/// written in synchronising form `{n}`; the result is a frame (no final CRLF), ready for the
/// parser or, with CRLF appended, for a server that is sent each literal after its "+".
public struct IMAPCommandEncoder: Sendable {
    private var writer: IMAPResponseEncoder

    /// `utf8Enabled` lets quoted strings carry UTF-8 (RFC 6855) instead of literals.
    public init(utf8Enabled: Bool = false) {
        writer = IMAPResponseEncoder(utf8Enabled: utf8Enabled)
    }

    /// The wire form of `command`.
    public mutating func encode(_ command: IMAPCommand) -> [UInt8] {
        writer.bytes = []
        write(command.tag + " ")
        writeKind(command.kind)
        return writer.takeBytes()
    }

    // MARK: - Commands

    private mutating func writeKind(_ kind: IMAPCommandKind) {
        switch kind {
        case .capability: write("CAPABILITY")
        case .noop: write("NOOP")
        case .logout: write("LOGOUT")
        case .startTLS: write("STARTTLS")
        case .namespace: write("NAMESPACE")
        case .idle: write("IDLE")
        case .check: write("CHECK")
        case .close: write("CLOSE")
        case .unselect: write("UNSELECT")
        case .expunge: write("EXPUNGE")
        case .authenticate(let mechanism, let initialResponse):
            write("AUTHENTICATE " + mechanism)
            if let initialResponse { write(" "); writer.bytes.append(contentsOf: initialResponse) }
        case .login(let user, let password):
            write("LOGIN ")
            writer.writeAString(user)
            write(" ")
            writer.writeAString(password)
        case .enable(let capabilities): write((["ENABLE"] + capabilities).joined(separator: " "))
        case .select(let mailbox, let condStore, let qresync), .examine(let mailbox, let condStore, let qresync):
            if case .select = kind { write("SELECT ") } else { write("EXAMINE ") }
            writer.writeAString(mailbox.bytes)
            let parameters = (condStore ? ["CONDSTORE"] : []) + (qresync.map { [$0.description] } ?? [])
            if !parameters.isEmpty { write(" (" + parameters.joined(separator: " ") + ")") }
        case .create(let mailbox, let specialUse):
            write("CREATE ")
            writer.writeAString(mailbox.bytes)
            if !specialUse.isEmpty { write(" (USE (" + specialUse.map(\.name).joined(separator: " ") + "))") }
        case .delete(let mailbox): writeCommand("DELETE", mailbox)
        case .subscribe(let mailbox): writeCommand("SUBSCRIBE", mailbox)
        case .getQuota(let root):
            write("GETQUOTA ")
            writer.writeAString(root)
        case .getQuotaRoot(let mailbox): writeCommand("GETQUOTAROOT", mailbox)
        case .unsubscribe(let mailbox): writeCommand("UNSUBSCRIBE", mailbox)
        case .rename(let from, let to):
            writeCommand("RENAME", from)
            write(" ")
            writer.writeAString(to.bytes)
        case .list(let list): writeList(list)
        case .lsub(let reference, let pattern):
            writeCommand("LSUB", reference)
            write(" ")
            writePattern(pattern)
        case .status(let mailbox, let attributes):
            writeCommand("STATUS", mailbox)
            write(" (" + attributes.map(\.rawValue).joined(separator: " ") + ")")
        case .append(let mailbox, let messages):
            writeCommand("APPEND", mailbox)
            for message in messages {
                if let flags = message.flags { write(" (" + flags.map(\.name).joined(separator: " ") + ")") }
                if let date = message.internalDate { write(" \"\(date)\"") }
                write(" ")
                if message.isUTF8 {
                    write("UTF8 (")
                    writer.writeLiteral(message.data, binary: true)
                    write(")")
                } else {
                    writer.writeLiteral(message.data, binary: message.isBinary)
                }
            }
        case .replace(let number, let mailbox, let message, let uid):
            write(uid ? "UID REPLACE \(number) " : "REPLACE \(number) ")
            writer.writeAString(mailbox.bytes)
            if let flags = message.flags { write(" (" + flags.map(\.name).joined(separator: " ") + ")") }
            if let date = message.internalDate { write(" \"\(date)\"") }
            write(" ")
            if message.isUTF8 {
                write("UTF8 (")
                writer.writeLiteral(message.data, binary: true)
                write(")")
            } else {
                writer.writeLiteral(message.data, binary: message.isBinary)
            }
        case .uidExpunge(let set):
            write("UID EXPUNGE ")
            writeMessageSet(set)
        case .search(let search, let uid):
            write(uid ? "UID SEARCH" : "SEARCH")
            if let options = search.returnOptions {
                write(" RETURN (" + options.map(\.rawValue).joined(separator: " ") + ")")
            }
            if let charset = search.charset {
                write(" CHARSET ")
                writeCharset(charset)
            }
            write(" ")
            writeTopLevelSearchKey(search.key)
        case .fetch(let set, let attributes, let changedSince, let uid, let vanished):
            write(uid ? "UID FETCH " : "FETCH ")
            writeMessageSet(set)
            write(" (")
            for (index, attribute) in attributes.enumerated() {
                if index > 0 { write(" ") }
                writeFetchAttribute(attribute)
            }
            write(")")
            if let changedSince { write(" (CHANGEDSINCE \(changedSince)" + (vanished ? " VANISHED)" : ")")) }
        case .store(let set, let action, let unchangedSince, let uid):
            write(uid ? "UID STORE " : "STORE ")
            writeMessageSet(set)
            if let unchangedSince { write(" (UNCHANGEDSINCE \(unchangedSince))") }
            switch action.operation {
            case .add: write(" +FLAGS")
            case .remove: write(" -FLAGS")
            case .replace: write(" FLAGS")
            }
            if action.silent { write(".SILENT") }
            write(" (" + action.flags.map(\.name).joined(separator: " ") + ")")
        case .copy(let set, let mailbox, let uid), .move(let set, let mailbox, let uid):
            if case .copy = kind { write(uid ? "UID COPY " : "COPY ") } else { write(uid ? "UID MOVE " : "MOVE ") }
            writeMessageSet(set)
            write(" ")
            writer.writeAString(mailbox.bytes)
        case .sort(let sort, let uid):
            write(uid ? "UID SORT (" : "SORT (")
            write(sort.criteria.map { ($0.reverse ? "REVERSE " : "") + $0.key.rawValue }.joined(separator: " "))
            write(") ")
            writeCharset(sort.charset)
            write(" ")
            writeTopLevelSearchKey(sort.key)
        case .compress(let mechanism):
            write("COMPRESS " + mechanism)
        case .notify(let notify):
            writeNotify(notify)
        case .thread(let thread, let uid):
            write((uid ? "UID THREAD " : "THREAD ") + thread.algorithm.rawValue + " ")
            writeCharset(thread.charset)
            write(" ")
            writeTopLevelSearchKey(thread.key)
        case .id(let fields):
            guard let fields else { write("ID NIL"); return }
            write("ID (")
            for (index, field) in fields.enumerated() {
                if index > 0 { write(" ") }
                writer.writeString(field.name)
                write(" ")
                writer.writeNString(field.value)
            }
            write(")")
        }
    }

    private mutating func writeCommand(_ name: String, _ mailbox: IMAPMailboxName) {
        write(name + " ")
        writer.writeAString(mailbox.bytes)
    }

    private mutating func writeList(_ list: IMAPListCommand) {
        write("LIST ")
        if !list.selectionOptions.isEmpty {
            write("(" + list.selectionOptions.map { option in
                switch option {
                case .subscribed: "SUBSCRIBED"
                case .remote: "REMOTE"
                case .recursiveMatch: "RECURSIVEMATCH"
                case .specialUse: "SPECIAL-USE"
                }
            }.joined(separator: " ") + ") ")
        }
        writer.writeAString(list.reference.bytes)
        write(" ")
        if list.patterns.count == 1 {
            writePattern(list.patterns[0])
        } else {
            write("(")
            for (index, pattern) in list.patterns.enumerated() {
                if index > 0 { write(" ") }
                writePattern(pattern)
            }
            write(")")
        }
        guard !list.returnOptions.isEmpty else { return }
        write(" RETURN (")
        for (index, option) in list.returnOptions.enumerated() {
            if index > 0 { write(" ") }
            switch option {
            case .subscribed: write("SUBSCRIBED")
            case .children: write("CHILDREN")
            case .specialUse: write("SPECIAL-USE")
            case .status(let attributes): write("STATUS (" + attributes.map(\.rawValue).joined(separator: " ") + ")")
            }
        }
        write(")")
    }

    private mutating func writePattern(_ pattern: IMAPMailboxName) {
        if !pattern.bytes.isEmpty && pattern.bytes.allSatisfy(IMAPGrammar.isListChar) {
            writer.bytes.append(contentsOf: pattern.bytes)
        } else {
            writer.writeString(pattern.bytes)
        }
    }

    private mutating func writeCharset(_ charset: String) {
        let bytes = Array(charset.utf8)
        if !bytes.isEmpty && bytes.allSatisfy(IMAPGrammar.isAtomChar) { write(charset) } else { writer.writeString(bytes) }
    }

    private mutating func writeMessageSet(_ set: IMAPMessageSet) {
        switch set {
        case .lastSearchResult: write("$")
        case .set(let sequenceSet): write(sequenceSet.description)
        }
    }

    // MARK: - Search keys

    /// Several top-level keys are written side by side; the parser reads them back as `.and`.
    private mutating func writeTopLevelSearchKey(_ key: IMAPSearchKey) {
        if case .and(let keys) = key, keys.count > 1 {
            for (index, key) in keys.enumerated() {
                if index > 0 { write(" ") }
                writeSearchKey(key)
            }
        } else {
            writeSearchKey(key)
        }
    }

    private mutating func writeSearchKey(_ key: IMAPSearchKey) {
        switch key {
        case .all: write("ALL")
        case .answered: write("ANSWERED")
        case .deleted: write("DELETED")
        case .draft: write("DRAFT")
        case .flagged: write("FLAGGED")
        case .new: write("NEW")
        case .old: write("OLD")
        case .recent: write("RECENT")
        case .seen: write("SEEN")
        case .unanswered: write("UNANSWERED")
        case .undeleted: write("UNDELETED")
        case .undraft: write("UNDRAFT")
        case .unflagged: write("UNFLAGGED")
        case .unseen: write("UNSEEN")
        case .bcc(let value): writeStringKey("BCC", value)
        case .body(let value): writeStringKey("BODY", value)
        case .cc(let value): writeStringKey("CC", value)
        case .from(let value): writeStringKey("FROM", value)
        case .subject(let value): writeStringKey("SUBJECT", value)
        case .text(let value): writeStringKey("TEXT", value)
        case .to(let value): writeStringKey("TO", value)
        case .keyword(let flag): write("KEYWORD " + flag.name)
        case .unkeyword(let flag): write("UNKEYWORD " + flag.name)
        case .before(let date): write("BEFORE \(date)")
        case .on(let date): write("ON \(date)")
        case .since(let date): write("SINCE \(date)")
        case .sentBefore(let date): write("SENTBEFORE \(date)")
        case .sentOn(let date): write("SENTON \(date)")
        case .sentSince(let date): write("SENTSINCE \(date)")
        case .header(let name, let value):
            write("HEADER ")
            writer.writeAString(Array(name.utf8))
            write(" ")
            writer.writeAString(value)
        case .larger(let size): write("LARGER \(size)")
        case .smaller(let size): write("SMALLER \(size)")
        case .uid(let set):
            write("UID ")
            writeMessageSet(set)
        case .sequenceNumbers(let set): writeMessageSet(set)
        case .emailID(let id): write("EMAILID \(id)")
        case .threadID(let id): write("THREADID \(id)")
        case .savedBefore(let date): write("SAVEDBEFORE \(date)")
        case .savedOn(let date): write("SAVEDON \(date)")
        case .savedSince(let date): write("SAVEDSINCE \(date)")
        case .older(let seconds): write("OLDER \(seconds)")
        case .younger(let seconds): write("YOUNGER \(seconds)")
        case .modSeq(let value, let entry):
            write("MODSEQ ")
            if let entry {
                writer.writeString(Array(("/flags/" + entry.flag.name).utf8))
                write(" " + entry.type.rawValue + " ")
            }
            write(String(value))
        case .not(let inner):
            write("NOT ")
            writeSearchKey(inner)
        case .or(let left, let right):
            write("OR ")
            writeSearchKey(left)
            write(" ")
            writeSearchKey(right)
        case .and(let keys):
            write("(")
            for (index, key) in keys.enumerated() {
                if index > 0 { write(" ") }
                writeSearchKey(key)
            }
            write(")")
        }
    }

    private mutating func writeStringKey(_ name: String, _ value: [UInt8]) {
        write(name + " ")
        writer.writeAString(value)
    }

    // MARK: - Fetch attributes

    private mutating func writeFetchAttribute(_ attribute: IMAPFetchAttribute) {
        switch attribute {
        case .envelope: write("ENVELOPE")
        case .flags: write("FLAGS")
        case .internalDate: write("INTERNALDATE")
        case .rfc822: write("RFC822")
        case .rfc822Header: write("RFC822.HEADER")
        case .rfc822Size: write("RFC822.SIZE")
        case .rfc822Text: write("RFC822.TEXT")
        case .body: write("BODY")
        case .bodyStructure: write("BODYSTRUCTURE")
        case .uid: write("UID")
        case .modSeq: write("MODSEQ")
        case .emailID: write("EMAILID")
        case .threadID: write("THREADID")
        case .saveDate: write("SAVEDATE")
        case .bodySection(let section, let partial, let peek):
            write(peek ? "BODY.PEEK[" : "BODY[")
            writer.writeSection(section)
            write("]")
            writePartial(partial)
        case .binary(let part, let partial, let peek):
            write((peek ? "BINARY.PEEK[" : "BINARY[") + part.map(String.init).joined(separator: ".") + "]")
            writePartial(partial)
        case .binarySize(let part):
            write("BINARY.SIZE[" + part.map(String.init).joined(separator: ".") + "]")
        case .preview(let lazy):
            write(lazy ? "PREVIEW (LAZY)" : "PREVIEW")
        }
    }

    /// NOTIFY (RFC 5465 §8).
    private mutating func writeNotify(_ notify: IMAPNotifyCommand) {
        guard case .set(let status, let groups) = notify else { return write("NOTIFY NONE") }
        write(status ? "NOTIFY SET STATUS" : "NOTIFY SET")
        for group in groups {
            write(" (")
            switch group.filter {
            case .selected: write("SELECTED")
            case .selectedDelayed: write("SELECTED-DELAYED")
            case .inboxes: write("INBOXES")
            case .personal: write("PERSONAL")
            case .subscribed: write("SUBSCRIBED")
            case .subtree(let names), .mailboxes(let names):
                if case .subtree = group.filter { write("SUBTREE (") } else { write("MAILBOXES (") }
                for (index, name) in names.enumerated() {
                    if index > 0 { write(" ") }
                    writer.writeAString(name.bytes)
                }
                write(")")
            }
            if group.events.isEmpty {
                write(" NONE)")
                continue
            }
            write(" (")
            for (index, event) in group.events.enumerated() {
                if index > 0 { write(" ") }
                write(event.name)
                if case .messageNew(let attributes) = event, !attributes.isEmpty {
                    write(" (")
                    for (k, attribute) in attributes.enumerated() {
                        if k > 0 { write(" ") }
                        writeFetchAttribute(attribute)
                    }
                    write(")")
                }
            }
            write("))")
        }
    }

    private mutating func writePartial(_ partial: IMAPPartial?) {
        if let partial { write("<\(partial.offset).\(partial.length)>") }
    }

    private mutating func write(_ text: String) { writer.bytes.append(contentsOf: text.utf8) }
}

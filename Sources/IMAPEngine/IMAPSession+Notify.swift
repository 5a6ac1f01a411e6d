import IMAPProtocol
import Maildir

/// What NOTIFY SET (RFC 5465) asked for. Supported: the `selected` (and `selected-delayed`)
/// filter and the `inboxes` and `personal` filters, with the events MessageNew (without fetch
/// attributes), MessageExpunge and FlagChange. Everything else is refused with BADEVENT.
struct IMAPNotifyState {
    /// Events for the selected mailbox: EXISTS, EXPUNGE (or VANISHED) and FETCH FLAGS as IDLE
    /// sends them.
    var selectedEvents: Set<Event> = []
    /// Events for the other watched mailboxes: STATUS responses.
    var otherEvents: Set<Event> = []
    /// The other watched mailboxes (nil is INBOX), fixed when NOTIFY SET ran: a mailbox
    /// created later is not watched (MailboxName is not supported).
    var folders: [String?] = []
    /// MESSAGES, UIDNEXT and UNSEEN of each other mailbox as last reported (key "" is INBOX).
    var known: [String: [UInt64]] = [:]
    /// The new/ and cur/ directories whose changes wake the session.
    var directories: [String] = []

    enum Event: Hashable { case messageNew, messageExpunge, flagChange }

    /// The events the BADEVENT response code lists (RFC 5465 §5).
    static let supportedNames = "MessageNew MessageExpunge FlagChange"
}

extension IMAPSession {
    /// Whether NOTIFY SET is in force: the host then watches `watchedDirectories` outside IDLE
    /// too and calls `idleCheck()` when they change.
    public var isNotifying: Bool { notify != nil }

    /// The directories NOTIFY watches besides the selected mailbox's.
    var notifyDirectories: [String] { notify?.directories ?? [] }

    /// Whether the selected mailbox's changes are to be sent outside IDLE.
    var notifiesSelected: Bool { !(notify?.selectedEvents.isEmpty ?? true) }

    func notifyCommand(tag: String, _ command: IMAPNotifyCommand, store: IMAPMailStore) {
        guard case .set(let wantsStatus, let groups) = command else {
            notify = nil
            return ok(tag, "NOTIFY completed")
        }
        var state = IMAPNotifyState()
        var others: Set<String> = []
        var includesInbox = false
        for group in groups {
            var events: Set<IMAPNotifyState.Event> = []
            for event in group.events {
                switch event {
                case .messageNew(let attributes):
                    guard attributes.isEmpty else {
                        return badEvent(tag, "MessageNew with fetch attributes is not supported")
                    }
                    events.insert(.messageNew)
                case .messageExpunge: events.insert(.messageExpunge)
                case .flagChange: events.insert(.flagChange)
                default: return badEvent(tag, "\(event.name.prefix(64)) is not supported")
                }
            }
            // RFC 5465 §5: MessageNew and MessageExpunge go together, and FlagChange needs both.
            if events.contains(.messageNew) != events.contains(.messageExpunge) {
                return bad(tag, "MessageNew and MessageExpunge must be requested together")
            }
            if events.contains(.flagChange) && !events.contains(.messageNew) {
                return bad(tag, "FlagChange requires MessageNew and MessageExpunge")
            }
            switch group.filter {
            case .selected, .selectedDelayed:
                state.selectedEvents = events
            case .inboxes:
                state.otherEvents.formUnion(events)
                if !events.isEmpty { includesInbox = true }
            case .personal:
                state.otherEvents.formUnion(events)
                if !events.isEmpty {
                    includesInbox = true
                    others.formUnion(store.list())
                }
            case .subscribed, .subtree, .mailboxes:
                return bad(tag, "Only the selected, inboxes and personal mailbox filters are supported")
            }
        }
        state.folders = (includesInbox ? [nil] : []) + others.sorted().map { Optional($0) }
        state.directories = state.folders.flatMap { folder -> [String] in
            let path = store.maildir(folder).path
            return ["\(path)/new", "\(path)/cur"]
        }
        notify = state
        // RFC 5465 §3.1: with STATUS, the current state of each watched mailbox but the selected.
        reportOtherMailboxes(store: store, initial: true, send: wantsStatus)
        ok(tag, "NOTIFY completed")
    }

    /// An event this server does not report: a tagged NO (not BAD: the command is well formed)
    /// with BADEVENT listing the events it does report (RFC 5465 §3.1, §5; go-imap's client
    /// expects the same).
    private func badEvent(_ tag: String, _ text: String) {
        out.tagged(tag, .no, code: .other("BADEVENT", "(\(IMAPNotifyState.supportedNames))"), text)
    }

    /// STATUS for each watched mailbox (not the selected one) whose MESSAGES, UIDNEXT or UNSEEN
    /// changed since the last report (RFC 5465 §5.2 and §5.4).
    func reportOtherMailboxes(store: IMAPMailStore? = nil, initial: Bool = false, send: Bool = true) {
        guard var state = notify, let store = store ?? self.store else { return }
        for folder in state.folders {
            if let selected, selected.folder == folder { continue }
            guard store.exists(folder),
                  let values = try? status(folder, [.messages, .uidNext, .unseen], store: store) else { continue }
            let numbers = values.map(\.1)
            let key = folder ?? ""
            let before = state.known[key]
            state.known[key] = numbers
            guard send, before != numbers else { continue }
            let name = folder.map { store.wireName($0, utf8Enabled: utf8Enabled) } ?? IMAPMailboxName(bytes: Array("INBOX".utf8))
            if initial {
                out.status(name, values)
            } else if let before, before[0] == numbers[0], before[1] == numbers[1] {
                // Only flags changed: FlagChange reports the new UNSEEN.
                if state.otherEvents.contains(.flagChange) { out.status(name, [values[2]]) }
            } else if state.otherEvents.contains(.messageNew) {
                out.status(name, values)
            }
        }
        notify = state
    }
}

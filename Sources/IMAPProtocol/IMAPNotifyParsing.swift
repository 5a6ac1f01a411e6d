/// NOTIFY (RFC 5465 §3 and §8):
///
///     notify           = "NOTIFY" SP (notify-set / notify-none)
///     notify-none      = "NONE"
///     notify-set       = "SET" [status-indicator] SP event-groups
///     status-indicator = SP "STATUS"
///     event-groups     = event-group *(SP event-group)
///     event-group      = "(" filter-mailboxes SP events ")"
///     events           = ( "(" event *(SP event) ")" ) / "NONE"
///
/// The parser checks syntax only: an event or filter this server does not implement is kept
/// (`IMAPNotifyEvent.other`, `IMAPNotifyFilter.subtree`…) so the session can answer it with
/// the BADEVENT response code, as §5 asks.
public enum IMAPNotifyCommand: Sendable, Equatable {
    case none
    case set(status: Bool, groups: [IMAPNotifyEventGroup])
}

public struct IMAPNotifyEventGroup: Sendable, Equatable {
    public var filter: IMAPNotifyFilter
    /// Empty for `NONE`.
    public var events: [IMAPNotifyEvent]

    public init(filter: IMAPNotifyFilter, events: [IMAPNotifyEvent]) {
        self.filter = filter
        self.events = events
    }
}

/// `filter-mailboxes` (RFC 5465 §6).
public enum IMAPNotifyFilter: Sendable, Equatable {
    case selected, selectedDelayed, inboxes, personal, subscribed
    case subtree([IMAPMailboxName])
    case mailboxes([IMAPMailboxName])

    public var isSelected: Bool { self == .selected || self == .selectedDelayed }
}

/// `event` (RFC 5465 §5 and §8).
public enum IMAPNotifyEvent: Sendable, Equatable {
    /// MessageNew, with the fetch attributes to send for a new message in the selected mailbox.
    case messageNew([IMAPFetchAttribute])
    case messageExpunge
    case flagChange
    case annotationChange
    case mailboxName
    case subscriptionChange
    case mailboxMetadataChange
    case serverMetadataChange
    /// Any other `event-ext` atom, as written.
    case other(String)

    /// The event's name as RFC 5465 §8 spells it.
    public var name: String {
        switch self {
        case .messageNew: "MessageNew"
        case .messageExpunge: "MessageExpunge"
        case .flagChange: "FlagChange"
        case .annotationChange: "AnnotationChange"
        case .mailboxName: "MailboxName"
        case .subscriptionChange: "SubscriptionChange"
        case .mailboxMetadataChange: "MailboxMetadataChange"
        case .serverMetadataChange: "ServerMetadataChange"
        case .other(let name): name
        }
    }
}

extension IMAPByteCursor {
    mutating func parseNotify() throws(IMAPParseError) -> IMAPCommandKind {
        try expectSpace()
        if consumeKeyword("NONE") { return .notify(.none) }
        guard consumeKeyword("SET") else { throw error("Expected SET or NONE") }
        try expectSpace()
        let status = consumeKeyword("STATUS")
        if status { try expectSpace() }
        var groups: [IMAPNotifyEventGroup] = []
        repeat {
            guard groups.count < limits.maxListItems else { throw error("Too many event groups", .limitExceeded) }
            groups.append(try parseNotifyEventGroup())
        } while consume(UInt8(ascii: " "))
        return .notify(.set(status: status, groups: groups))
    }

    private mutating func parseNotifyEventGroup() throws(IMAPParseError) -> IMAPNotifyEventGroup {
        try expect(UInt8(ascii: "("), "( to open an event group")
        let filter = try parseNotifyFilter()
        try expectSpace()
        var events: [IMAPNotifyEvent] = []
        if !consumeKeyword("NONE") {
            try expect(UInt8(ascii: "("), "( to open the events or NONE")
            repeat {
                guard events.count < limits.maxListItems else { throw error("Too many events", .limitExceeded) }
                events.append(try parseNotifyEvent())
            } while consume(UInt8(ascii: " "))
            try expect(UInt8(ascii: ")"), ") to close the events")
        }
        try expect(UInt8(ascii: ")"), ") to close the event group")
        return IMAPNotifyEventGroup(filter: filter, events: events)
    }

    private mutating func parseNotifyFilter() throws(IMAPParseError) -> IMAPNotifyFilter {
        let name = IMAPGrammar.uppercasedString(try readAtom("a mailbox filter"))
        switch name {
        case "SELECTED": return .selected
        case "SELECTED-DELAYED": return .selectedDelayed
        case "INBOXES": return .inboxes
        case "PERSONAL": return .personal
        case "SUBSCRIBED": return .subscribed
        case "SUBTREE", "MAILBOXES":
            try expectSpace()
            var names: [IMAPMailboxName] = []
            if consume(UInt8(ascii: "(")) {
                repeat {
                    guard names.count < limits.maxListItems else { throw error("Too many mailboxes", .limitExceeded) }
                    names.append(try readMailbox())
                } while consume(UInt8(ascii: " "))
                try expect(UInt8(ascii: ")"), ") to close the mailboxes")
            } else {
                names.append(try readMailbox())
            }
            return name == "SUBTREE" ? .subtree(names) : .mailboxes(names)
        default:
            throw error("Unknown mailbox filter \(name.prefix(32))")
        }
    }

    private mutating func parseNotifyEvent() throws(IMAPParseError) -> IMAPNotifyEvent {
        let atom = try readAtom("an event")
        let name = IMAPGrammar.uppercasedString(atom)
        switch name {
        case "MESSAGENEW":
            // `"MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"]`
            var attributes: [IMAPFetchAttribute] = []
            if peek() == UInt8(ascii: " "), peek(1) == UInt8(ascii: "(") {
                index += 2
                repeat {
                    guard attributes.count < limits.maxListItems else { throw error("Too many fetch attributes", .limitExceeded) }
                    attributes.append(try parseFetchAttribute())
                } while consume(UInt8(ascii: " "))
                try expect(UInt8(ascii: ")"), ") to close the fetch attributes")
            }
            return .messageNew(attributes)
        case "MESSAGEEXPUNGE": return .messageExpunge
        case "FLAGCHANGE": return .flagChange
        case "ANNOTATIONCHANGE": return .annotationChange
        case "MAILBOXNAME": return .mailboxName
        case "SUBSCRIPTIONCHANGE": return .subscriptionChange
        case "MAILBOXMETADATACHANGE": return .mailboxMetadataChange
        case "SERVERMETADATACHANGE": return .serverMetadataChange
        default: return .other(String(decoding: atom.prefix(64), as: UTF8.self))
        }
    }
}

import Testing
@testable import IMAPProtocol

/// NOTIFY (RFC 5465 §8 grammar; the commands of its §3 and §7 examples).
@Suite struct NotifyParsingTests {
    @Test func none() throws {
        #expect(try parse("a NOTIFY NONE").kind == .notify(.none))
        #expect(try parse("a notify none").kind == .notify(.none))
    }

    @Test func selectedAndPersonal() throws {
        let command = try parse("a NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge))")
        #expect(command.kind == .notify(.set(status: false, groups: [
            IMAPNotifyEventGroup(filter: .selected, events: [.messageNew([]), .messageExpunge, .flagChange]),
            IMAPNotifyEventGroup(filter: .personal, events: [.messageNew([]), .messageExpunge]),
        ])))
    }

    /// RFC 5465 §3: MessageNew with fetch attributes for the selected mailbox, a subtree, STATUS.
    @Test func statusFetchAttributesAndMailboxLists() throws {
        let command = try parse("a notify set status (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge MailboxName)) (mailboxes (INBOX \"Sent Items\") NONE)")
        guard case .notify(.set(let status, let groups)) = command.kind else { Issue.record("\(command)"); return }
        #expect(status)
        #expect(groups.count == 3)
        guard case .messageNew(let attributes) = groups[0].events[0] else { Issue.record("\(groups[0])"); return }
        #expect(attributes.count == 2 && attributes[0] == .uid)
        #expect(groups[1] == IMAPNotifyEventGroup(filter: .subtree([mailbox("Lists")]), events: [.messageNew([]), .messageExpunge, .mailboxName]))
        #expect(groups[2] == IMAPNotifyEventGroup(filter: .mailboxes([mailbox("INBOX"), mailbox("Sent Items")]), events: []))
    }

    @Test func otherEventsAreKeptForTheSession() throws {
        let command = try parse("a NOTIFY SET (inboxes (SubscriptionChange XFoo)) (selected-delayed NONE)")
        #expect(command.kind == .notify(.set(status: false, groups: [
            IMAPNotifyEventGroup(filter: .inboxes, events: [.subscriptionChange, .other("XFoo")]),
            IMAPNotifyEventGroup(filter: .selectedDelayed, events: []),
        ])))
    }

    @Test(arguments: [
        "a NOTIFY",
        "a NOTIFY SET",
        "a NOTIFY SET STATUS",
        "a NOTIFY SET selected (MessageNew)",
        "a NOTIFY SET (selected)",
        "a NOTIFY SET (selected ())",
        "a NOTIFY SET (everything (MessageNew))",
        "a NOTIFY SET (subtree (MessageNew))",
        "a NOTIFY SET (selected (MessageNew)",
        "a NOTIFY SET (selected (MessageNew (FROB)))",
        "a NOTIFY NONE extra",
        "a NOTIFY OFF",
    ])
    func malformed(_ line: String) {
        #expect(throws: IMAPParseError.self) { try parse(line) }
    }

    @Test func roundTrip() throws {
        for line in ["a NOTIFY NONE",
                     "a NOTIFY SET STATUS (SELECTED (MessageNew MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge))",
                     "a NOTIFY SET (MAILBOXES (INBOX Lists) NONE) (INBOXES (MessageNew (UID) MessageExpunge))"] {
            let command = try parse(line)
            var encoder = IMAPCommandEncoder()
            let encoded = String(decoding: encoder.encode(command), as: UTF8.self)
            #expect(try parse(encoded) == command, "\(encoded)")
        }
    }
}

import Foundation
import MailCore
import MailNet
@testable import SMTPProtocol
import Testing
@testable import SMTPServer

/// A fresh directory per test, removed afterwards (TestSupport's).
typealias ScratchDirectory = TemporaryDirectory

@Suite("greylisting")
struct GreylistTests {
    let client = IPAddress("192.0.2.10")!
    let settings = Greylist.Settings(delaySeconds: 300, retryWindowSeconds: 3600, maxAgeSeconds: 86400, autoAllow: 2, maxEntries: 64)

    @Test("a new triplet waits the delay, then passes and stays passed")
    func delay() throws {
        let dir = ScratchDirectory()
        let list = Greylist(path: "\(dir.path)/greylist", settings: settings)
        #expect(try list.check(client: client, sender: "a@x.example", recipient: "u@y.example", now: 1000) == .deferred)
        #expect(try list.check(client: client, sender: "a@x.example", recipient: "u@y.example", now: 1299) == .deferred)
        #expect(try list.check(client: client, sender: "a@x.example", recipient: "u@y.example", now: 1300) == .passedRetry)
        #expect(try list.check(client: client, sender: "A@X.example", recipient: "U@y.example", now: 1301) == .known)
        // Another recipient is another triplet; the same /24 is the same client.
        #expect(try list.check(client: IPAddress("192.0.2.77")!, sender: "a@x.example", recipient: "v@y.example", now: 1302) == .deferred)
        #expect(try list.check(client: IPAddress("192.0.3.10")!, sender: "a@x.example", recipient: "u@y.example", now: 1302) == .deferred)
    }

    @Test("a retry after the retry window starts over; a passed triplet unseen for max age is forgotten")
    func expiry() throws {
        let dir = ScratchDirectory()
        let list = Greylist(path: "\(dir.path)/greylist", settings: settings)
        #expect(try list.check(client: client, sender: "a@x", recipient: "u@y", now: 1000) == .deferred)
        #expect(try list.check(client: client, sender: "a@x", recipient: "u@y", now: 1000 + 3601) == .deferred)
        #expect(try list.check(client: client, sender: "a@x", recipient: "u@y", now: 1000 + 3601 + 300) == .passedRetry)
        #expect(try list.check(client: client, sender: "a@x", recipient: "u@y", now: 1000 + 3901 + 86401) == .deferred)
    }

    @Test("a client whose triplets passed auto_allow times is no longer greylisted")
    func autoAllow() throws {
        let dir = ScratchDirectory()
        let list = Greylist(path: "\(dir.path)/greylist", settings: settings)
        for recipient in ["1@y", "2@y"] {
            #expect(try list.check(client: client, sender: "a@x", recipient: recipient, now: 1000) == .deferred)
            #expect(try list.check(client: client, sender: "a@x", recipient: recipient, now: 2000) == .passedRetry)
        }
        #expect(try list.check(client: IPAddress("192.0.2.200")!, sender: "new@x", recipient: "3@y", now: 2001) == .clientAllowed)
        var off = settings
        off.autoAllow = 0
        let strict = Greylist(path: "\(dir.path)/greylist", settings: off)
        #expect(try strict.check(client: client, sender: "other@x", recipient: "4@y", now: 2002) == .deferred)
    }

    @Test("the database keeps its size however many triplets come; the oldest give way")
    func bounded() throws {
        let dir = ScratchDirectory()
        let path = "\(dir.path)/greylist"
        let list = Greylist(path: path, settings: settings)
        for i in 0..<1000 {
            #expect(try list.check(client: client, sender: "s\(i)@x", recipient: "u@y", now: 1000 + Int64(i)) == .deferred)
        }
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size == GreylistTable.headerSize + 64 * GreylistTable.slotSize)
        // The newest is still there.
        #expect(try list.check(client: client, sender: "s999@x", recipient: "u@y", now: 1999 + 300) == .passedRetry)
    }

    @Test("a file that is not a greylist, or made for another size, is started afresh")
    func foreignFile() throws {
        let dir = ScratchDirectory()
        let path = "\(dir.path)/greylist"
        try Data("not a database".utf8).write(to: URL(fileURLWithPath: path))
        let list = Greylist(path: path, settings: settings)
        #expect(try list.check(client: client, sender: "a@x", recipient: "u@y", now: 1000) == .deferred)
        var bigger = settings
        bigger.maxEntries = 128
        let resized = Greylist(path: path, settings: bigger)
        #expect(try resized.check(client: client, sender: "a@x", recipient: "u@y", now: 2000) == .deferred)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size == GreylistTable.headerSize + 128 * GreylistTable.slotSize)
    }

    @Test("the client network", arguments: [
        ("192.0.2.77", "192.0.2.0/24"), ("::ffff:198.51.100.9", "198.51.100.0/24"), ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ])
    func network(address: String, expected: String) {
        #expect(Greylist.network(of: IPAddress(address)!) == expected)
    }
}

@Suite("per-user sending limits")
struct SendingLimitsTests {
    @Test("counts slide by the minute over one hour")
    func window() throws {
        let dir = ScratchDirectory()
        let limits = SendingLimits(directory: dir.path, messagesPerHour: 3, recipientsPerHour: 10)
        #expect(try limits.usage(of: "alice", now: 6000) == SendingLimits.Usage())
        try limits.record(user: "alice", recipients: 2, now: 6000)
        try limits.record(user: "alice", recipients: 3, now: 6030)
        try limits.record(user: "alice", recipients: 1, now: 6100)
        try limits.record(user: "bob", recipients: 7, now: 6100)
        #expect(try limits.usage(of: "alice", now: 6100) == SendingLimits.Usage(messages: 3, recipients: 6))
        // An hour after the first minute, the first two messages have left the window.
        #expect(try limits.usage(of: "alice", now: 6000 + 3600) == SendingLimits.Usage(messages: 1, recipients: 1))
        #expect(try limits.usage(of: "alice", now: 6100 + 3600) == SendingLimits.Usage())
    }

    @Test("user names cannot leave the directory", arguments: [
        ("alice", "alice"), ("../etc/passwd", "%2E%2E%2Fetc%2Fpasswd"), ("a.b@example.org", "a%2Eb%40example%2Eorg"), ("jörg", "j%C3%B6rg"),
    ])
    func fileNames(user: String, expected: String) {
        #expect(SendingLimits.fileName(for: user) == expected)
    }

    @Test("lines that do not parse are skipped")
    func damaged() {
        let buckets = SendingLimits.parse(Array("100 1 2\ngarbage\n101 -1 3\n102 2".utf8))
        #expect(SendingLimits.total(buckets, now: 102 * 60) == SendingLimits.Usage(messages: 1, recipients: 2))
    }
}

@Suite("screening settings and policy")
struct ScreeningPolicyTests {
    /// The address policy under the screen: accepts everyone, counts what it was asked.
    final class AcceptingPolicy: SMTPPolicy {
        var recipientsAsked = 0
        func isLocalDomain(_ domain: String) -> Bool { true }
        func checkRecipient(_ recipient: SMTPRecipient, session: SMTPSessionFacts) -> SMTPRecipientVerdict {
            recipientsAsked += 1
            return recipient.mailbox.text.hasPrefix("nobody@") ? .unknownUser : .accept
        }
    }

    func configuration(_ pairs: [String: String], state: String) -> Configuration {
        var configuration = Configuration(root: "/nonexistent")
        configuration.set("state_directory", state)
        for (key, value) in pairs { configuration.set(key, value) }
        return configuration
    }

    func facts(user: String? = nil, trusted: Bool = false) -> SMTPSessionFacts {
        SMTPSessionFacts(role: user == nil ? .mx : .submission, peerAddress: "192.0.2.10", peerReverseName: nil, trustedClient: trusted,
                         heloName: "client.example", usedEHLO: true, tls: nil, authenticatedUser: user)
    }

    func recipient(_ text: String) throws -> SMTPRecipient {
        SMTPRecipient(mailbox: try #require(try SMTPPathParser.parse("<\(text)>")))
    }

    func sender(_ text: String) throws -> SMTPReversePath {
        .mailbox(try #require(try SMTPPathParser.parse("<\(text)>")))
    }

    @Test("defaults: nothing screened on the mx role, generous sending limits")
    func defaults() {
        let settings = ScreeningSettings(configuration: Configuration(root: "/r"), role: .mx)
        #expect(settings.problems.isEmpty)
        #expect(settings.greetWaitSeconds == 0 && settings.dnsListSites.isEmpty && settings.greylist == nil)
        #expect(settings.messagesPerHour == 200 && settings.recipientsPerHour == 1000)
        #expect(settings.stateDirectory == "/r/var/lib/postamt/smtpd")
    }

    @Test("client checks are for the mx role only")
    func mxOnly() {
        let pairs = ["smtpd_greet_wait": "2s", "smtpd_dnsbl_sites": "bl.example", "smtpd_greylist": "yes"]
        let mx = ScreeningSettings(configuration: configuration(pairs, state: "/s"), role: .mx)
        #expect(mx.greetWaitSeconds == 2 && mx.dnsListSites.count == 1 && mx.greylist != nil)
        let submission = ScreeningSettings(configuration: configuration(pairs, state: "/s"), role: .submission)
        #expect(submission.greetWaitSeconds == 0 && submission.dnsListSites.isEmpty && submission.greylist == nil)
    }

    @Test("list weights")
    func weights() {
        let settings = ScreeningSettings(configuration: configuration(["smtpd_dnsbl_sites": "a.example*2, B.example c.example*1"], state: "/s"), role: .mx)
        #expect(settings.dnsListSites == [.init(zone: "a.example", weight: 2), .init(zone: "b.example", weight: 1), .init(zone: "c.example", weight: 1)])
    }

    @Test("bad values are reported, one line each", arguments: [
        ("smtpd_pregreet_action", "reject"), ("smtpd_dnsbl_action", "yes"), ("smtpd_dnsbl_sites", "bl.example*0"),
        ("smtpd_dnsbl_sites", "bl.example*x"), ("smtpd_dnsbl_sites", "*2"), ("smtpd_dnsbl_sites", "a*2*3"), ("smtpd_dns_server", "not an address"),
    ])
    func badValues(key: String, value: String) {
        let settings = ScreeningSettings(configuration: configuration([key: value], state: "/s"), role: .mx)
        #expect(settings.problems.count == 1)
        #expect(settings.problems.first?.hasPrefix("\(key): '\(value)'") == true)
    }

    @Test("message and recipient rates: 452 4.7.1 past them, counted when queued")
    func rates() throws {
        let dir = ScratchDirectory()
        let settings = ScreeningSettings(configuration: configuration(["smtpd_user_message_rate": "2", "smtpd_user_recipient_rate": "3"],
                                                                      state: dir.path), role: .submission)
        try FileManager.default.createDirectory(atPath: settings.ratesDirectory, withIntermediateDirectories: true)
        let policy = ScreeningPolicy(wrapping: AcceptingPolicy(), settings: settings, peer: IPAddress("192.0.2.10"), trusted: false,
                                     log: Log(program: "test"))
        policy.now = { 100_000 }
        let alice = facts(user: "alice")
        // Message 1: two recipients.
        #expect(policy.checkSender(try sender("alice@example.org"), session: alice) == .accept)
        #expect(policy.checkRecipient(try recipient("a@example.net"), session: alice) == .accept)
        #expect(policy.checkRecipient(try recipient("b@example.net"), session: alice) == .accept)
        policy.messageAccepted(recipients: 2, session: alice)
        // Message 2: the third recipient of the hour passes, the fourth does not.
        #expect(policy.checkSender(try sender("alice@example.org"), session: alice) == .accept)
        #expect(policy.checkRecipient(try recipient("c@example.net"), session: alice) == .accept)
        guard case .reject(let reply) = policy.checkRecipient(try recipient("d@example.net"), session: alice) else {
            Issue.record("fourth recipient accepted")
            return
        }
        #expect(reply.code == 452 && reply.enhancedCode?.description == "4.7.1")
        policy.messageAccepted(recipients: 1, session: alice)
        // Message 3: past the message rate.
        guard case .reject(let mailReply) = policy.checkSender(try sender("alice@example.org"), session: alice) else {
            Issue.record("third message accepted")
            return
        }
        #expect(mailReply.code == 452 && mailReply.enhancedCode?.description == "4.7.1")
        // Another user is not affected; an hour later alice may send again.
        #expect(policy.checkSender(try sender("bob@example.org"), session: facts(user: "bob")) == .accept)
        policy.now = { 100_000 + 3600 }
        #expect(policy.checkSender(try sender("alice@example.org"), session: alice) == .accept)
    }

    @Test("greylisting: after the address check, never for trusted or authenticated clients")
    func greylisting() throws {
        let dir = ScratchDirectory()
        try FileManager.default.createDirectory(atPath: "\(dir.path)/smtpd", withIntermediateDirectories: true)
        let settings = ScreeningSettings(configuration: configuration(["smtpd_greylist": "yes"], state: dir.path), role: .mx)
        let inner = AcceptingPolicy()
        let policy = ScreeningPolicy(wrapping: inner, settings: settings, peer: IPAddress("192.0.2.10"), trusted: false, log: Log(program: "test"))
        policy.now = { 50_000 }
        #expect(policy.checkSender(try sender("someone@example.net"), session: facts()) == .accept)
        #expect(policy.checkRecipient(try recipient("nobody@example.org"), session: facts()) == .unknownUser)
        guard case .reject(let reply) = policy.checkRecipient(try recipient("alice@example.org"), session: facts()) else {
            Issue.record("new triplet accepted")
            return
        }
        #expect(reply.code == 450 && reply.enhancedCode?.description == "4.7.1")
        #expect(policy.checkRecipient(try recipient("bob@example.org"), session: facts(trusted: true)) == .accept)
        #expect(policy.checkRecipient(try recipient("bob@example.org"), session: facts(user: "alice")) == .accept)
        policy.now = { 50_000 + 300 }
        #expect(policy.checkRecipient(try recipient("alice@example.org"), session: facts()) == .accept)
    }

    @Test("an unusable greylist lets mail through")
    func failsOpen() throws {
        let settings = ScreeningSettings(configuration: configuration(["smtpd_greylist": "yes"], state: "/nonexistent/state"), role: .mx)
        let policy = ScreeningPolicy(wrapping: AcceptingPolicy(), settings: settings, peer: IPAddress("192.0.2.10"), trusted: false, log: Log(program: "test"))
        #expect(policy.checkSender(try sender("someone@example.net"), session: facts()) == .accept)
        #expect(policy.checkRecipient(try recipient("alice@example.org"), session: facts()) == .accept)
    }
}

@Suite("DNS list query names")
struct DNSListNameTests {
    @Test("RFC 5782 query names", arguments: [
        ("127.0.0.2", "bl.example", "2.0.0.127.bl.example"),
        ("192.0.2.99", "bl.example.", "99.2.0.192.bl.example"),
        ("2001:db8:1:2:3:4:567:89ab", "bl.example", "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.example"),
    ])
    func names(address: String, zone: String, expected: String) {
        #expect(DNSList.queryName(for: IPAddress(address)!, in: zone) == expected)
    }
}

import MailCore
import MailNet
import MailSystem
@testable import SMTPProtocol
import Testing
@testable import SMTPServer

@Suite("smtpd trusted networks and recipient policy")
struct SMTPServerPolicyTests {
    @Test("CIDR matching", arguments: [
        ("127.0.0.0/8", "127.1.2.3", true), ("127.0.0.0/8", "128.0.0.1", false),
        ("192.0.2.0/25", "192.0.2.127", true), ("192.0.2.0/25", "192.0.2.128", false),
        ("::1/128", "::1", true), ("::1", "::2", false), ("2001:db8::/32", "2001:db8:1::5", true),
        ("10.0.0.0/8", "::ffff:10.1.1.1", true), ("0.0.0.0/0", "203.0.113.9", true),
        ("192.0.2.1", "192.0.2.1", true), ("192.0.2.1", "192.0.2.2", false),
    ])
    func cidr(network: String, address: String, expected: Bool) {
        #expect(NetworkList([network]).contains(IPAddress(address)!) == expected)
    }

    @Test("entries that are not networks are reported and never match")
    func invalid() {
        let list = NetworkList(["localhost", "10.0.0.0/33", "::1/129"])
        #expect(list.invalid == ["localhost", "10.0.0.0/33", "::1/129"])
        #expect(!list.contains(IPAddress("10.0.0.1")!))
    }

    func policy() -> SMTPDaemonPolicy {
        let aliases = AliasTable(text: "postmaster: root\nsales: alice, bob\nroot: alice\n")
        let users: Set<String> = ["alice", "bob", "root"]
        let resolver = AddressResolver(aliases: aliases, delimiters: "+", localDomains: ["example.org"],
                                              hostname: "mx.example.org", expansionLimit: 100,
                                              readInclude: { _ in nil },
                                              lookupUser: { users.contains($0) ? SystemUser(name: $0, uid: 1000, gid: 1000, home: "/home/\($0)", shell: "/bin/sh") : nil })
        return SMTPDaemonPolicy(resolver: resolver, authClient: nil)
    }

    func facts() -> SMTPSessionFacts {
        SMTPSessionFacts(role: .mx, peerAddress: "192.0.2.1", peerReverseName: nil, trustedClient: false, heloName: "x",
                         usedEHLO: true, tls: nil, authenticatedUser: nil)
    }

    @Test("recipients at RCPT time", arguments: [
        ("alice@example.org", SMTPRecipientVerdict.accept),
        ("alice+lists@example.org", .accept),
        ("sales@example.org", .accept),
        ("PostMaster@example.org", .accept),
        ("nobody@example.org", .unknownUser),
        ("nobody+ext@example.org", .unknownUser),
        ("someone@elsewhere.example", .accept),
        // RFC 5321 §4.1.2 quoted local parts: valid, resolved like any other address.
        ("\"alice\"@example.org", .accept),
        ("\"john doe\"@example.org", .unknownUser),
        ("\"john doe\"@elsewhere.example", .accept),
    ])
    func recipients(address: String, expected: SMTPRecipientVerdict) throws {
        let mailbox = try #require(try SMTPPathParser.parse("<\(address)>"))
        #expect(policy().checkRecipient(SMTPRecipient(mailbox: mailbox), session: facts()) == expected)
    }

    @Test("shell characters never pass", arguments: ["`id`@example.org", "\"$(reboot)\"@example.org", "a$b@example.org", "a|b@example.org",
                                                    "\"a\\\"b\"@example.org", "\"a;b c\"@elsewhere.example"])
    func shell(address: String) throws {
        let mailbox = try #require(try SMTPPathParser.parse("<\(address)>"))
        if case .reject(let reply) = policy().checkRecipient(SMTPRecipient(mailbox: mailbox), session: facts()) {
            #expect(reply.code == 553)
        } else {
            Issue.record("accepted \(address)")
        }
        if case .reject = policy().checkSender(.mailbox(mailbox), session: facts()) {} else { Issue.record("sender accepted") }
    }

    @Test("the queue gets the canonical form", arguments: [
        ("\"alice\"@example.org", "alice@example.org"), ("\"john doe\"@example.org", "\"john doe\"@example.org"),
        ("alice@example.org", "alice@example.org"), ("\"a..b\"@example.org", "\"a..b\"@example.org"),
    ])
    func canonical(address: String, expected: String) throws {
        let mailbox = try #require(try SMTPPathParser.parse("<\(address)>"))
        #expect(mailbox.canonicalText == expected)
    }
}

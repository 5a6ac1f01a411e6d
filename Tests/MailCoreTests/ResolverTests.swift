import Testing
import MailSystem
@testable import MailCore

@Suite struct ResolverTests {
    let users: [String: SystemUser] = [
        "alice": SystemUser(name: "alice", uid: 1001, gid: 1001, home: "/home/alice", shell: "/bin/sh"),
        "bob": SystemUser(name: "bob", uid: 1002, gid: 1002, home: "/home/bob", shell: "/bin/sh"),
        "www-data": SystemUser(name: "www-data", uid: 33, gid: 33, home: "/var/www", shell: "/bin/sh"),
        "root": SystemUser(name: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/sh"),
    ]

    func resolver(_ aliases: String, includes: [String: String] = [:]) -> AddressResolver {
        let users = self.users
        return AddressResolver(aliases: AliasTable(text: aliases), delimiters: "+-",
                                      localDomains: ["example.org", "localhost"], hostname: "example.org",
                                      readInclude: { includes[$0] }, lookupUser: { users[$0] })
    }

    @Test func userWithExtension() {
        let r = resolver("")
        #expect(r.resolve("alice+news@example.org") == [.user(name: "alice", extension: "news", address: "alice+news@example.org")])
        #expect(r.resolve("alice-news@localhost") == [.user(name: "alice", extension: "news", address: "alice-news@localhost")])
        // A user whose name holds the delimiter wins over the split.
        #expect(r.resolve("www-data@example.org") == [.user(name: "www-data", extension: nil, address: "www-data@example.org")])
        #expect(r.resolve("ALICE@example.org") == [.user(name: "alice", extension: nil, address: "ALICE@example.org")])
    }

    /// Each passwd lookup reads and parses the file (or asks an NSS module) for every recipient,
    /// in smtpd at RCPT and in the runner at pickup: one for a user, two with an extension.
    @Test func aUserIsLookedUpOncePerRecipient() {
        final class Count: @unchecked Sendable { var names: [String] = [] }
        let count = Count()
        let users = self.users
        let r = AddressResolver(aliases: AliasTable(text: ""), delimiters: "+", localDomains: ["example.org"], hostname: "example.org",
                                readInclude: { _ in nil }, lookupUser: { count.names.append($0); return users[$0] })
        #expect(r.resolve("alice@example.org") == [.user(name: "alice", extension: nil, address: "alice@example.org")])
        #expect(count.names == ["alice"])
        count.names = []
        #expect(r.resolve("alice+news@example.org") == [.user(name: "alice", extension: "news", address: "alice+news@example.org")])
        #expect(count.names == ["alice+news", "alice"])
        count.names = []
        #expect(r.resolve("carol@example.org") == [.unknown(address: "carol@example.org", reason: "no such user")])
        #expect(count.names == ["carol"])
    }

    @Test func unknownUserAndRoot() {
        let r = resolver("")
        #expect(r.resolve("carol@example.org") == [.unknown(address: "carol@example.org", reason: "no such user")])
        guard case .unknown = r.resolve("root@example.org").first else { Issue.record("root must not resolve to a mailbox"); return }
    }

    @Test func remoteAddressStaysRemote() {
        #expect(resolver("").resolve("x@elsewhere.net") == [.remote(address: "x@elsewhere.net")])
    }

    @Test func aliasesExpandRecursivelyAndDeduplicate() {
        let r = resolver("""
        postmaster: root
        root: alice
        team: alice, bob, team2, "|/bin/logger", /tmp/team.mbox
        team2: bob, outside@elsewhere.net
        """)
        #expect(r.resolve("postmaster@example.org") == [.user(name: "alice", extension: nil, address: "alice@example.org")])
        #expect(r.resolve("team@example.org") == [
            .user(name: "alice", extension: nil, address: "alice@example.org"),
            .user(name: "bob", extension: nil, address: "bob@example.org"),
            .remote(address: "outside@elsewhere.net"),
            .aliasCommand(command: "/bin/logger", alias: "team"),
            .aliasFile(path: "/tmp/team.mbox", alias: "team"),
        ])
    }

    @Test func selfReferenceDeliversToTheMailbox() {
        let r = resolver("alice: alice, bob\nloop1: loop2\nloop2: loop1\n")
        #expect(r.resolve("alice@example.org") == [
            .user(name: "alice", extension: nil, address: "alice@example.org"),
            .user(name: "bob", extension: nil, address: "bob@example.org"),
        ])
        // A cycle ends: loop1 → loop2 → loop1 stops at the second visit (no such user).
        let looped = r.resolve("loop1@example.org")
        #expect(looped.count == 1)
    }

    @Test func includeFiles() {
        let r = resolver("list: :include:/etc/list\n", includes: ["/etc/list": "# members\nalice\nbob, \\alice\n"])
        #expect(r.resolve("list@example.org") == [
            .user(name: "alice", extension: nil, address: "alice@example.org"),
            .user(name: "bob", extension: nil, address: "bob@example.org"),
        ])
        let missing = resolver("list: :include:/nope\n").resolve("list@example.org")
        guard case .unknown = missing.first else { Issue.record("unreadable include must fail"); return }
    }

    @Test func expansionLimit() {
        var text = "big: "
        text += (0..<50).map { "x\($0)@elsewhere.net" }.joined(separator: ", ")
        let users = self.users
        let r = AddressResolver(aliases: AliasTable(text: text), delimiters: "+", localDomains: ["example.org"],
                                       hostname: "example.org", expansionLimit: 10, readInclude: { _ in nil }, lookupUser: { users[$0] })
        #expect(r.resolve("big@example.org").contains { if case .unknown = $0 { return true }; return false })
    }
}

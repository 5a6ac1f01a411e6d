import MailCore
import MailSystem
import Testing
@testable import WebmailServer

/// Autodiscover's LoginName and autoconfig's username: the system user an address routes to.
@Suite struct AutoconfigLoginNameTests {
    static let users: [String: SystemUser] = [
        "alice": SystemUser(name: "alice", uid: 1001, gid: 1001, home: "/home/alice", shell: "/bin/sh"),
        "bob": SystemUser(name: "bob", uid: 1002, gid: 1002, home: "/home/bob", shell: "/bin/sh"),
    ]

    let resolver = AddressResolver(
        aliases: AliasTable(text: "postmaster: alice\n"), delimiters: "+", localDomains: ["mail.example.net"],
        hostname: "mail.example.net", virtualDomains: ["example.org"],
        virtual: TextTable.virtual(text: "a.smith@example.org alice\nteam@example.org alice, bob\nfwd@example.org someone@remote.example\n", file: "virtual"),
        readInclude: { _ in nil }, lookupUser: { AutoconfigLoginNameTests.users[$0] })

    @Test(arguments: [
        ("a.smith@example.org", "alice"),        // a virtual address: the user it routes to
        ("bob@mail.example.net", "bob"),         // a local address: the user of its name
        ("bob+lists@mail.example.net", "bob"),   // without the extension
        ("postmaster@mail.example.net", "alice"),// an alias reaching one user
        ("team@example.org", "team"),            // two users: no single answer, the local part
        ("fwd@example.org", "fwd"),              // routed elsewhere
        ("x@elsewhere.example", "x"),            // not ours
    ])
    func loginName(_ address: String, _ expected: String) {
        #expect(Autoconfig.loginName(for: address, resolver: resolver) == expected)
    }

    @Test func thunderbirdCarriesTheResolvedName() {
        let xml = Autoconfig.thunderbird(hostname: "mail.example.net", domain: "example.org",
                                         services: [AutoconfigService(proto: .imap, port: 993, security: .ssl)], username: "alice")
        #expect(xml.contains("<username>alice</username>") && !xml.contains("%EMAILLOCALPART%"))
    }

    @Test func appleProfile() {
        let services = [AutoconfigService(proto: .pop3, port: 995, security: .ssl), AutoconfigService(proto: .imap, port: 143, security: .starttls),
                        AutoconfigService(proto: .imap, port: 993, security: .ssl), AutoconfigService(proto: .smtp, port: 587, security: .starttls)]
        let profile = Autoconfig.appleProfile(hostname: "mail.example.net", address: "a&b@example.net", loginName: "alice", services: services,
                                              uuid: { Autoconfig.uuid(hex: String(repeating: "f", count: 64)) })!
        #expect(profile.contains("<key>EmailAccountType</key><string>EmailTypeIMAP</string>"))
        #expect(profile.contains("<key>IncomingMailServerPortNumber</key><integer>993</integer>"), "implicit TLS preferred")
        #expect(profile.contains("<key>OutgoingMailServerPortNumber</key><integer>587</integer>"))
        #expect(profile.contains("<string>a&amp;b@example.net</string>") && !profile.contains("a&b"))
        #expect(profile.contains("<string>FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF</string>"))
        #expect(Autoconfig.appleProfile(hostname: "h", address: "a@h", loginName: "a", services: [services[0]], uuid: { "" }) == nil)
    }
}

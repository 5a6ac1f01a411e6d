import Foundation
import Testing
import MailSystem
@testable import MailCore

@Suite struct ConstantDatabaseTests {
    func temporaryDirectory() throws -> String {
        makeTemporaryDirectory(prefix: "postamt-cdb")
    }

    @Test func everyKeyIsFoundAndNoOtherOne() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var builder = ConstantDatabase.Builder()
        var rng = SystemRandomNumberGenerator()
        var pairs: [String: [UInt8]] = [:]
        for i in 0..<5000 {
            let key = "user\(i)-\(UInt32.random(in: 0...UInt32.max, using: &rng))@example.org"
            let data = Array("value \(i)".utf8) + (i % 7 == 0 ? [] : [0, 1, 2])
            pairs[key] = data
            try builder.add(key: key, data: data)
        }
        try builder.add(key: "", data: Array("empty key".utf8))
        try builder.write(to: "\(dir)/t.cdb")
        let db = try ConstantDatabase(path: "\(dir)/t.cdb")
        for (key, data) in pairs { #expect(try db.find(key) == data) }
        #expect(try db.find("") == Array("empty key".utf8))
        #expect(try db.find("user1@example.org") == nil)
        #expect(try db.find("nobody") == nil)
    }

    @Test func theHashIsBernsteins() {
        // cdb's hash of "" is its seed, of "a" is (5381*33)^97.
        #expect(ConstantDatabase.hash([UInt8]()) == 5381)
        #expect(ConstantDatabase.hash(Array("a".utf8)) == (5381 &* 33) ^ 97)
    }

    @Test func damagedFilesAreErrorsNotCrashes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileIO.writeAtomically("\(dir)/short.cdb", Array(repeating: 0, count: 100))
        #expect(throws: (any Error).self) { _ = try ConstantDatabase(path: "\(dir)/short.cdb") }
        // A header that points past the end.
        var bytes = [UInt8](repeating: 0xff, count: 2048)
        bytes += Array("tail".utf8)
        try FileIO.writeAtomically("\(dir)/bad.cdb", bytes)
        let db = try ConstantDatabase(path: "\(dir)/bad.cdb")
        #expect(throws: (any Error).self) { _ = try db.find("x") }
    }
}

@Suite struct AddressTableTests {
    @Test func virtualTableSyntaxAndProblems() {
        let table = TextTable.virtual(text: """
            # the sales team
            sales@example.org   alice, bob
                                carol@example.net
            alice@example.org alice
            @example.org catchall
            bad line
            x@example.org |/bin/sh
            y@example.org /tmp/file
            alice@example.org bob
            nodomain alice
            """, file: "virtual")
        #expect(table.lookup("sales@example.org") == TableEntry(values: ["alice", "bob", "carol@example.net"], line: 2))
        #expect(table.lookup("@example.org")?.values == ["catchall"])
        #expect(table.lookup("alice@example.org") == TableEntry(values: ["alice"], line: 4))
        let lines = table.problems.map(\.line)
        #expect(lines == [6, 7, 8, 9, 10], "\(table.problems)")
        #expect(table.problems.allSatisfy { $0.file == "virtual" })
    }

    @Test func domainsFile() {
        let table = DomainTable(text: "example.org\nexample.net local\nEXAMPLE.ORG\nbad_domain!\nexample.com weird\n", file: "domains")
        #expect(table.virtualDomains == ["example.org"])
        #expect(table.localDomains == ["example.net"])
        #expect(table.problems.map(\.line) == [3, 4, 5])
    }

    @Test func compiledTableAnswersLikeTheText() throws {
        let dir = makeTemporaryDirectory(prefix: "postamt-vt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/virtual"
        try FileIO.writeAtomically(path, Array("a@example.org alice\n@example.org bob, x@remote.example\n".utf8))
        let text = TextTable.virtual(text: String(decoding: try FileIO.readFile(path)!, as: UTF8.self), file: path)
        try text.compile(source: FileIO.status(path)!).write(to: "\(path).cdb")
        let compiled = try #require(CompiledTable(file: path, compiledPath: "\(path).cdb"))
        for key in ["a@example.org", "@example.org", "b@example.org"] {
            #expect(compiled.lookup(key) == text.lookup(key))
        }
        // The identity key is not an address.
        #expect(compiled.lookup("\0source") == nil)
        // An edit of the text makes the compiled form stale: it is not used.
        usleep(10_000)
        try FileIO.writeAtomically(path, Array("a@example.org bob\n".utf8))
        #expect(CompiledTable(file: path, compiledPath: "\(path).cdb") == nil)
    }
}

@Suite struct VirtualResolverTests {
    static let users: [String: SystemUser] = [
        "alice": SystemUser(name: "alice", uid: 1001, gid: 1001, home: "/home/alice", shell: "/bin/sh"),
        "bob": SystemUser(name: "bob", uid: 1002, gid: 1002, home: "/home/bob", shell: "/bin/sh"),
        "carol": SystemUser(name: "carol", uid: 1003, gid: 1003, home: "/home/carol", shell: "/bin/sh"),
        "root": SystemUser(name: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/sh"),
    ]

    func resolver(virtual: String = "", senders: String = "", aliases: String = "") -> AddressResolver {
        let users = VirtualResolverTests.users
        return AddressResolver(aliases: AliasTable(text: aliases), delimiters: "+", localDomains: ["mail.example.net", "localhost"],
                               hostname: "mail.example.net", virtualDomains: ["example.org", "example.com"],
                               virtual: TextTable.virtual(text: virtual, file: "virtual"),
                               senders: TextTable.senders(text: senders, file: "senders"),
                               readInclude: { _ in nil }, lookupUser: { users[$0] })
    }

    let table = """
        alice@example.org    alice
        sales@example.org    alice, bob, partner@remote.example
        info@example.org     team
        @example.org         carol
        bob@example.com      bob+work
        loop1@example.com    loop2@example.com
        loop2@example.com    loop1@example.com
        """

    @Test func exactEntriesExtensionsAndTheCatchAll() {
        let r = resolver(virtual: table, aliases: "team: bob\n")
        #expect(r.resolve("alice@example.org") == [.user(name: "alice", extension: nil, address: "alice@mail.example.net")])
        // The extension is passed on to the target (propagate_unmatched_extensions).
        #expect(r.resolve("Alice+Lists@Example.org") == [.user(name: "alice", extension: "lists", address: "alice+lists@mail.example.net")])
        #expect(r.resolve("sales@example.org") == [
            .user(name: "alice", extension: nil, address: "alice@mail.example.net"),
            .user(name: "bob", extension: nil, address: "bob@mail.example.net"),
            .remote(address: "partner@remote.example"),
        ])
        // A local name goes through the alias file.
        #expect(r.resolve("info@example.org") == [.user(name: "bob", extension: nil, address: "bob@mail.example.net")])
        // Unlisted addresses fall to the catch-all, the lowest precedence.
        #expect(r.resolve("whoever@example.org") == [.user(name: "carol", extension: nil, address: "carol@mail.example.net")])
        // A target with its own extension keeps it.
        #expect(r.resolve("bob+x@example.com") == [.user(name: "bob", extension: "work", address: "bob+work@mail.example.net")])
    }

    @Test func unknownAddressesAndPostmaster() {
        let r = resolver(virtual: table, aliases: "postmaster: bob\n")
        #expect(r.resolve("nobody@example.com") == [.unknown(address: "nobody@example.com", reason: "no such address in virtual domain example.com")])
        // RFC 5321 §4.5.1: every domain has a postmaster; without an entry it is the local one.
        #expect(r.resolve("postmaster@example.com") == [.user(name: "bob", extension: nil, address: "bob@mail.example.net")])
        #expect(r.isOurs("x@example.com") && r.isOurs("x@localhost") && !r.isOurs("x@remote.example"))
        #expect(r.isOurDomain("EXAMPLE.org") && !r.isOurDomain("remote.example"))
    }

    @Test func loopsEndAndExplanationsNameTheLines() {
        let r = resolver(virtual: table)
        #expect(r.resolve("loop1@example.com") == [.unknown(address: "loop1@example.com", reason: "virtual table loop at loop1@example.com")])
        let (destinations, steps) = r.explain("alice+x@example.org")
        #expect(destinations.count == 1)
        #expect(steps.first == "<alice+x@example.org>: virtual:1: alice@example.org → alice")
    }

    @Test("who owns an address", arguments: [
        ("alice", "alice@mail.example.net", true),     // own address in a local domain
        ("alice", "alice+news@localhost", true),       // with an extension
        ("bob", "alice@mail.example.net", false),
        ("bob", "team@mail.example.net", false),       // aliases grant nothing
        ("bob", "root@mail.example.net", false),
        ("alice", "alice@example.org", true),          // a virtual entry reaching the user
        ("alice", "alice+x@example.org", true),
        ("bob", "sales@example.org", true),            // one of several targets
        ("carol", "sales@example.org", false),         // an exact entry wins over the catch-all
        ("carol", "anything@example.org", true),       // the catch-all's addresses
        ("alice", "anything@example.org", false),
        ("alice", "nobody@example.com", false),        // no entry
        ("alice", "alice@gmail.example", false),       // not our domain
        ("alice", "noreply@example.com", true),        // granted by the sender table
        ("bob", "noreply@example.com", false),
        ("bob", "anyone@shared.example", true),        // a @domain grant
        ("root", "alice@example.org", true),           // root is exempt
    ])
    func ownership(user: String, address: String, owned: Bool) {
        let r = resolver(virtual: table, senders: "noreply@example.com alice\n@shared.example bob\n", aliases: "team: bob\nroot: bob\n")
        let answer = r.ownership(of: address, by: user)
        #expect(answer.owned == owned, "\(user) / \(address): \(answer.reason)")
    }
}

@Suite struct TableEditorTests {
    func editor(_ format: TableEditor.Format, _ text: String?) throws -> (TableEditor, String) {
        let dir = makeTemporaryDirectory(prefix: "postamt-edit")
        let path = "\(dir)/table"
        if let text { try FileIO.writeAtomically(path, Array(text.utf8), mode: 0o640) }
        let check: (String) -> [ConfigProblem]
        switch format {
        case .aliases: check = { AliasTable(text: $0, file: path).problems }
        case .keyed: check = { TextTable.virtual(text: $0, file: path).problems }
        case .domains: check = { DomainTable(text: $0, file: path).problems }
        }
        return (TableEditor(path: path, format: format, problems: check), dir)
    }

    func read(_ path: String) -> String { String(decoding: (try? FileIO.readFile(path)) ?? nil ?? [], as: UTF8.self) }

    @Test func addMergesKeepsCommentsAndBacksUp() throws {
        let (e, dir) = try editor(.keyed, "# sales\nsales@example.org alice,\n  bob\nx@example.org y\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try e.add("Sales@example.org", ["carol", "alice"]) == ["alice", "bob", "carol"])
        #expect(read(e.path) == "# sales\nsales@example.org\talice, bob, carol\nx@example.org y\n")
        #expect(read(e.path + ".bak") == "# sales\nsales@example.org alice,\n  bob\nx@example.org y\n")
        var st = stat()
        stat(e.path, &st)
        #expect(st.st_mode & 0o777 == 0o640)
        try e.add("new@example.org", ["dave"])
        #expect(read(e.path).hasSuffix("new@example.org\tdave\n"))
    }

    @Test func removeValuesOrWholeEntries() throws {
        let (e, dir) = try editor(.keyed, "a@example.org alice, bob\nb@example.org carol\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try e.remove("a@example.org", ["bob"]) == ["alice"])
        #expect(try e.remove("b@example.org") == [])
        #expect(read(e.path) == "a@example.org\talice\n")
        #expect(throws: TableEditor.Failure.self) { try e.remove("zz@example.org") }
        #expect(throws: TableEditor.Failure.self) { try e.remove("a@example.org", ["nobody"]) }
    }

    @Test func anEditThatBreaksTheTableChangesNothing() throws {
        let (e, dir) = try editor(.keyed, "a@example.org alice\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: TableEditor.Failure.self) { try e.add("b@example.org", ["|/bin/sh -c evil"]) }
        #expect(throws: TableEditor.Failure.self) { try e.add("not-an-address", ["alice"]) }
        #expect(read(e.path) == "a@example.org alice\n")
        #expect(!FileManager.default.fileExists(atPath: e.path + ".bak"))
    }

    @Test func aliasesAndDomainsFormats() throws {
        let (a, dirA) = try editor(.aliases, "root: admin\n")
        defer { try? FileManager.default.removeItem(atPath: dirA) }
        try a.add("postmaster", ["root"])
        try a.add("root", ["\"|/usr/bin/logger -t mail\""])
        #expect(read(a.path) == "root: admin, \"|/usr/bin/logger -t mail\"\npostmaster: root\n")
        #expect(AliasTable(text: read(a.path)).problems.isEmpty)
        let (d, dirD) = try editor(.domains, nil)
        defer { try? FileManager.default.removeItem(atPath: dirD) }
        try d.add("example.org", ["virtual"])
        try d.add("example.net", ["local"])
        #expect(throws: TableEditor.Failure.self) { try d.add("example.org", ["virtual"]) }
        #expect(read(d.path) == "example.org\tvirtual\nexample.net\tlocal\n")
        #expect(try d.entries().map(\.key) == ["example.org", "example.net"])
    }
}

import Foundation
import Testing
@testable import MailCore

@Suite struct ConfigurationTests {
    @Test func defaultsAndRoot() {
        let c = Configuration(root: "/srv/pa")
        #expect(c.queueDirectory == "/srv/pa/var/spool/postamt")
        #expect(c.string("alias_file") == "/srv/pa/etc/aliases")
        #expect(c.duration("queue_lifetime") == 5 * 86400)
        #expect(c.size("message_size_limit") == 50 << 20)
        #expect(c.localDomains.contains("localhost"))
        #expect(c.localDomains.contains(c.hostname.lowercased()))
    }

    @Test func parsesAndReportsEveryProblem() {
        var c = Configuration(root: "", file: "t.conf")
        let problems = c.apply(text: """
        # comment
        myhostname = mail.example.org
        minimal_backoff = 10m
        bogus = 1
        delivery_concurrency = many
        no equals sign
        queue_directory = relative/path
        """)
        #expect(problems.map(\.description) == [
            "t.conf:4: unknown setting 'bogus'",
            "t.conf:5: delivery_concurrency: 'many' is not a whole number",
            "t.conf:6: expected 'key = value'",
            "t.conf:7: queue_directory: 'relative/path' is not an absolute path",
        ])
        #expect(c.hostname == "mail.example.org")
        #expect(c.duration("minimal_backoff") == 600)
        #expect(c.localDomains.contains("mail.example.org"))
    }

    @Test func selfReferenceAndInlineComments() {
        var c = Configuration(root: "")
        c.apply(text: "myhostname = $myhostname.example\nminimal_backoff = 10s  # ten seconds\nprogram_directory =\n")
        #expect(c.hostname == "$myhostname.example")
        #expect(c.duration("minimal_backoff") == 10)
        #expect(!c.programDirectory.isEmpty)
    }

    @Test func commentsAfterTabsAndHashesInValues() {
        var c = Configuration(root: "")
        let problems = c.apply(text: "postmaster = a#b\t# tab comment\nlocal_domains = x.example #c # d\nalias_file = /etc/a#b\n")
        #expect(problems.isEmpty)
        #expect(c.string("postmaster") == "a#b")
        #expect(c.string("local_domains") == "x.example")
        #expect(c.string("alias_file") == "/etc/a#b")
    }

    /// `load` keeps the last configuration it read for as long as the file is unchanged; a
    /// replaced file, one rewritten in place, and one removed are all read again.
    @Test func aChangedConfigurationIsReadAgain() throws {
        let root = makeTemporaryDirectory(prefix: "postamt-conf-cache")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/etc/postamt", withIntermediateDirectories: true)
        let file = Configuration.configurationFile(root: root)
        try "minimal_backoff = 11s\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try Configuration.load(root: root).duration("minimal_backoff") == 11)
        #expect(try Configuration.load(root: root).duration("minimal_backoff") == 11)
        try "minimal_backoff = 22s\n".write(toFile: file, atomically: true, encoding: .utf8) // a new inode
        #expect(try Configuration.load(root: root).duration("minimal_backoff") == 22)
        usleep(20_000) // past the file system's timestamp tick
        let fd = open(file, O_WRONLY | O_TRUNC)
        #expect(fd >= 0)
        _ = "minimal_backoff = 33s\n".withCString { write(fd, $0, strlen($0)) } // same inode, same size
        close(fd)
        #expect(try Configuration.load(root: root).duration("minimal_backoff") == 33)
        unlink(file)
        #expect(try Configuration.load(root: root).duration("minimal_backoff") == 300)
        // Another root is another file.
        #expect(try Configuration.load(root: "\(root)/none").duration("minimal_backoff") == 300)
    }

    @Test func everySettingIsFoundByNameAndNoOtherOne() {
        for setting in knownSettings {
            let found = settingsByName.find(setting.name)
            #expect(found != nil, "\(setting.name)")
            if let found { #expect(settingsByName.groups[found.group][found.index].name == setting.name) }
        }
        #expect(settingsByName.find("") == nil)
        #expect(settingsByName.find("myhostnam") == nil)
        #expect(settingsByName.find("myhostname ") == nil)
        #expect(settingsByName.find("MYHOSTNAME") == nil)
        // The first of a name wins, as the dictionary before it kept the first.
        let doubled = SettingTable([[Setting(name: "x", kind: .text, defaultValue: "1", summary: "")],
                                    [Setting(name: "x", kind: .text, defaultValue: "2", summary: "")]])
        #expect(doubled.find("x")?.group == 0)
    }

    @Test func replacingAllMatchesBytes() {
        #expect("a.b.c".replacingAll(".", with: ":") == "a:b:c")
        #expect("x\r\ny\r\n".replacingAll("\r\n", with: "\n") == "x\ny\n")
        #expect("abc".replacingAll("", with: "z") == "abc")
        #expect("abc".replacingAll("d", with: "z") == "abc")
        #expect("$myhostname$myhostname".replacingAll("$myhostname", with: "h") == "hh")
        #expect("é.".replacingAll(".", with: "!") == "é!")
        #expect("abc".containsBytes("bc") && !"abc".containsBytes("cb") && "abc".containsBytes(""))
    }

    @Test(arguments: [("300", 300), ("300s", 300), ("5m", 300), ("4h", 14400), ("5d", 432000), ("1w", 604800)])
    func durations(text: String, seconds: Int64) { #expect(Configuration.parseDuration(text) == seconds) }

    @Test(arguments: ["", "5x", "-1", "m", "1.5h"])
    func badDurations(text: String) { #expect(Configuration.parseDuration(text) == nil) }

    @Test func sizes() {
        #expect(Configuration.parseSize("50M") == 52428800)
        #expect(Configuration.parseSize("64k") == 65536)
        #expect(Configuration.parseSize("99999999999999999G") == nil)
    }
}

@Suite struct AliasTableTests {
    @Test func parsesTheUsualSyntax() {
        let table = AliasTable(text: """
        # comment
        postmaster: root
        Team: alice, bob@example.org,
          "|/usr/bin/procmail -a team",
        \t/var/log/team.mbox
        lists: :include:/etc/postamt/lists.txt, \\carol
        quoted: "alice"
        """)
        #expect(table.problems.isEmpty)
        #expect(table.lookup("POSTMASTER") == [.address("root")])
        #expect(table.lookup("team") == [.address("alice"), .address("bob@example.org"),
                                          .command("/usr/bin/procmail -a team"), .file("/var/log/team.mbox")])
        #expect(table.lookup("lists") == [.include("/etc/postamt/lists.txt"), .mailbox("carol")])
        #expect(table.lookup("quoted") == [.address("alice")])
        #expect(table.lookup("nobody-here") == nil)
    }

    @Test func reportsProblemsWithLines() {
        let table = AliasTable(text: """
          leading continuation
        a: b
        a: c
        broken line
        empty:
        q: "|unterminated
        inc: :include:relative
        """, file: "aliases")
        #expect(table.problems.map(\.description) == [
            "aliases:1: continuation line without an entry",
            "aliases:3: a: duplicate entry, the one on line 2 is used",
            "aliases:4: expected 'name: target, …'",
            "aliases:5: empty: no targets",
            "aliases:6: q: unbalanced quote",
            "aliases:7: inc: :include: needs an absolute path",
        ])
        #expect(table.lookup("a") == [.address("b")])
    }
}

import Foundation
import MailSystem
import Testing
@testable import Maildir

/// maildirsize (Maildir++ quota) and taking over Dovecot's and Courier's uid lists.
struct MaildirQuotaTests {
    @Test(arguments: [
        ("1048576S,1000C\n", QuotaLimit(bytes: 1_048_576, messages: 1000), QuotaUsage(bytes: 0, messages: 0)),
        ("5000S\n1200 3\n-200 -1\n", QuotaLimit(bytes: 5000), QuotaUsage(bytes: 1000, messages: 2)),
        ("10C\n  100   1\n", QuotaLimit(messages: 10), QuotaUsage(bytes: 100, messages: 1)),
        // An append a crash cut short does not count.
        ("5000S\n100 1\n20", QuotaLimit(bytes: 5000), QuotaUsage(bytes: 100, messages: 1)),
    ])
    func parsesMaildirsize(text: String, limit: QuotaLimit, usage: QuotaUsage) throws {
        let parsed = try #require(MaildirQuota.parse(Array(text.utf8)))
        #expect(parsed.limit == limit)
        #expect(parsed.usage == usage)
    }

    @Test(arguments: ["", "lots\n", "5000S\nten 1\n", "5000X\n", "5000S\n1 2 3\n"])
    func refusesDamagedMaildirsize(text: String) {
        #expect(MaildirQuota.parse(Array(text.utf8)) == nil)
    }

    @Test func definitionRoundTrips() {
        #expect(QuotaLimit(bytes: 6144).description == "6144S")
        #expect(QuotaLimit(bytes: 6144, messages: 3).description == "6144S,3C")
        #expect(QuotaLimit(bytes: 0, messages: 0).isUnlimited)
        #expect(QuotaLimit(definition: "6144S,3C") == QuotaLimit(bytes: 6144, messages: 3))
    }

    @Test func refusesOnlyAfterRecountingAndCountsDeliveries() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        try md.create()
        let quota = MaildirQuota(root: dir.path, limit: QuotaLimit(bytes: 100, messages: 3))
        #expect(try quota.check(adding: 60) == .fits(QuotaUsage(bytes: 0, messages: 0)))
        let name = try deliver(md, String(repeating: "x", count: 59) + "\n")
        try quota.record(QuotaUsage(bytes: 60, messages: 1))
        #expect(readText(quota.filePath) == "100S,3C\n0 0\n60 1\n")
        guard case .exceeds(let usage) = try quota.check(adding: 60) else { Issue.record("admitted over the limit"); return }
        #expect(usage == QuotaUsage(bytes: 60, messages: 1))
        // Removed by someone who does not write maildirsize (an IMAP expunge, a MUA): the
        // stale count does not refuse the next message.
        try FileManager.default.removeItem(atPath: "\(dir.path)/new/\(name)")
        #expect(try quota.check(adding: 60) == .fits(QuotaUsage(bytes: 0, messages: 0)))
        #expect(readText(quota.filePath) == "100S,3C\n0 0\n")
    }

    @Test func countsFoldersAndSizesFromNames() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        try md.create()
        try deliver(md, "12345\n")
        try deliver(try md.folder("Trash"), "123\n")
        // A name without ",S=": the file's size counts.
        try writeFile("\(dir.path)/cur/1700000000.M1P1.host:2,S", "1234567890")
        #expect(try MaildirQuota.count(root: dir.path) == QuotaUsage(bytes: 6 + 4 + 10, messages: 3))
    }

    @Test func anotherDefinitionIsRecalculated() throws {
        let dir = TemporaryDirectory()
        try Maildir(path: dir.path).create()
        try deliver(Maildir(path: dir.path), "12345\n")
        // The user raised their own limit in the file: the configured one counts again.
        try writeFile("\(dir.path)/maildirsize", "999999999S\n0 0\n")
        let quota = MaildirQuota(root: dir.path, limit: QuotaLimit(bytes: 1000))
        #expect(try quota.usage() == QuotaUsage(bytes: 6, messages: 1))
        #expect(readText(quota.filePath) == "1000S\n6 1\n")
    }
}

struct UIDListAdoptionTests {
    @Test func parsesDovecotVersion3() throws {
        // As Dovecot 2.3 writes it: N can lag behind the UIDs (its index holds the next UID).
        let text = "3 V1796527560 N1 G203a1629c8d5146b5e53000083ecc375\n1 :1796527560.M689029P21342.vm,S=23,W=26\n5 W27 :1796527560.M741278P21347.vm,S=24,W=27:2,S\n"
        let parsed = try #require(UIDListAdoption.parse(Array(text.utf8)))
        #expect(parsed.uidValidity == 1_796_527_560)
        #expect(parsed.nextUID == 6)
        #expect(parsed.entries.map(\.uid) == [1, 5])
        #expect(parsed.entries.map(\.baseName) == ["1796527560.M689029P21342.vm,S=23,W=26", "1796527560.M741278P21347.vm,S=24,W=27"])
    }

    @Test func parsesCourierAndDovecotVersion1() throws {
        let parsed = try #require(UIDListAdoption.parse(Array("1 1234 40\n7 1700000000.1.host:2,S\n9 1700000001.2.host\n".utf8)))
        #expect(parsed.uidValidity == 1234 && parsed.nextUID == 40)
        #expect(parsed.entries.map(\.uid) == [7, 9])
        #expect(parsed.entries.map(\.baseName) == ["1700000000.1.host", "1700000001.2.host"])
    }

    @Test(arguments: ["", "2 1 1\n", "3 N5\n", "1 1234 40\n9 a\n7 b\n", "1 1234 40\n7 a\n8 a\n", "3 V1 N2\n1 noname\n", "1 1234 40\n7 a"])
    func refusesWhatItCannotTrust(text: String) {
        #expect(UIDListAdoption.parse(Array(text.utf8)) == nil)
    }

    @Test func aFolderTakenOverKeepsItsUIDsAndKeywords() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        let a = try deliver(md, "a\n"), b = try deliver(md, "b\n")
        try FileManager.default.moveItem(atPath: "\(dir.path)/new/\(a)", toPath: "\(dir.path)/cur/\(a):2,Sa")
        try writeFile("\(dir.path)/dovecot-uidlist", "3 V777 N20 Gx\n10 :\(a)\n12 :\(b)\n15 :gone.host\n")
        try writeFile("\(dir.path)/dovecot-keywords", "0 $Forwarded\n")
        try deliver(md, "c\n") // unknown to Dovecot: the next UID after its N
        let snapshot = try UIDList(folderPath: dir.path).synchronize()
        #expect(snapshot.uidValidity == 777)
        #expect(snapshot.messages.map(\.uid) == [10, 12, 20])
        let file = try #require(try UIDList(folderPath: dir.path).read())
        #expect(file.nextUID == 21)
        #expect(file.entries.first?.flags == MaildirFileName(parsing: "x:2,Sa").flags)
        #expect(try MaildirKeywords.load(folderPath: dir.path).names == [0: "$Forwarded"])
        // Once Postamt has its own list, Dovecot's is not read again.
        try writeFile("\(dir.path)/dovecot-uidlist", "3 V999 N2\n1 :\(a)\n")
        #expect(try UIDList(folderPath: dir.path).synchronize().uidValidity == 777)
        // A list lost after the takeover is not adopted again: Postamt numbered messages
        // after Dovecot's list, so the old UIDVALIDITY would mean other messages now.
        try FileManager.default.removeItem(atPath: "\(dir.path)/\(UIDList.fileName)")
        #expect(try UIDList(folderPath: dir.path).synchronize().uidValidity > 777)
    }

    @Test func dovecotDefaultUIDLs() {
        // Dovecot's pop3_uidl_format = %08Xu%08Xv, as its pop3 answers for UID 1 of a folder
        // with UIDVALIDITY 1796527560.
        #expect(POP3Maildir.dovecotUIDL(uid: 1, uidValidity: 1_796_527_560) == "000000016B14D5C8")
        #expect(POP3Maildir.dovecotUIDL(uid: 0xABCDEF01, uidValidity: 7) == "ABCDEF0100000007")
    }

    @Test func dovecotSubscriptionsAreRead() throws {
        let dir = TemporaryDirectory()
        try Maildir(path: dir.path).create()
        try writeFile("\(dir.path)/subscriptions", "V\t2\n\nWork\nINBOX\nLists\tWork\n")
        #expect(try MaildirFolders(root: Maildir(path: dir.path)).subscriptions() == ["Work", "INBOX", "Lists.Work"])
    }
}

import Foundation
import Testing
import MailSystem
@testable import Maildir

struct CacheTests {
    @Test(arguments: [
        ("", 0), ("a", 1), ("a\n", 3), ("a\r\n", 3), ("\n\n", 4), ("a\r\nb\nc", 7), ("\r", 1), ("\r\r\n", 3),
    ])
    func crlfSize(text: String, expected: Int) throws {
        #expect(MessageSize.crlfSize(of: Array(text.utf8)) == expected)
        // The same in chunks that split CR from LF.
        var c = MessageSize.Counter()
        for b in text.utf8 { c.add([b]) }
        #expect(c.size == expected)
        let dir = TemporaryDirectory()
        try writeFile("\(dir.path)/m", text)
        #expect(try MessageSize.crlfSize(fileAt: "\(dir.path)/m") == expected)
        #expect(try MessageSize.crlfSize(fileAt: "\(dir.path)/missing") == nil)
    }

    @Test func cacheRoundTripAndDamageDiscarded() throws {
        var cache = MessageCache(uidValidity: 42)
        cache.entries[1] = MessageCacheEntry(baseName: "1.M1P1.h", size: 10, crlfSize: 12, internalDate: 1_700_000_000, blob: [1, 2, 3])
        cache.entries[5] = MessageCacheEntry(baseName: "2.M1P1.h", size: 20, crlfSize: nil, internalDate: -5)
        let bytes = cache.encoded()
        #expect(MessageCache.decode(bytes) == cache)
        // Any flipped byte, truncation or extra byte: discarded whole.
        for i in stride(from: 0, to: bytes.count, by: 7) {
            var bad = bytes
            bad[i] ^= 0x40
            #expect(MessageCache.decode(bad) == nil)
        }
        #expect(MessageCache.decode(Array(bytes.dropLast())) == nil)
        // A byte after the base is the start of a record cut short: ignored.
        #expect(MessageCache.decode(bytes + [0]) == cache)

        let dir = TemporaryDirectory()
        try cache.save(folderPath: dir.path)
        #expect(MessageCache.load(folderPath: dir.path, uidValidity: 42) == cache)
        #expect(MessageCache.load(folderPath: dir.path, uidValidity: 43).entries.isEmpty) // other UIDVALIDITY
        try writeFile("\(dir.path)/\(MessageCache.fileName)", "garbage")
        #expect(MessageCache.load(folderPath: dir.path, uidValidity: 42).entries.isEmpty)
    }

    @Test func mailboxUsesCacheAndIgnoresMismatch() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        try deliver(md, "one\ntwo\n")
        let box = MaildirMailbox(maildir: md)
        try box.synchronize()
        let info = try #require(try box.info(uid: 1, crlfSize: true))
        #expect(info.size == 8)
        #expect(info.crlfSize == 10)
        try box.setBlob(uid: 1, Array("(envelope)".utf8))
        try box.saveCache()
        // A later session reads the cached values (prove it by planting a value only the cache has).
        var cache = MessageCache.load(folderPath: md.path, uidValidity: box.snapshot.uidValidity)
        cache.entries[1]!.crlfSize = 999
        try cache.save(folderPath: md.path)
        let later = MaildirMailbox(maildir: md)
        try later.synchronize()
        #expect(try later.info(uid: 1, crlfSize: true)?.crlfSize == 999)
        #expect(try later.info(uid: 1)?.blob == Array("(envelope)".utf8))
        // An entry for another message under the same UID is not believed.
        cache.entries[1]!.baseName = "someone-else"
        try cache.save(folderPath: md.path)
        let third = MaildirMailbox(maildir: md)
        try third.synchronize()
        #expect(try third.info(uid: 1, crlfSize: true)?.crlfSize == 10)
        #expect(try third.info(uid: 1)?.blob == [])
        // A damaged file: recomputed, then rewritten whole.
        try writeFile("\(md.path)/\(MessageCache.fileName)", "PAMC\u{1}\u{0}")
        let fourth = MaildirMailbox(maildir: md)
        try fourth.synchronize()
        #expect(try fourth.info(uid: 1, crlfSize: true)?.crlfSize == 10)
        try fourth.saveCache()
        #expect(MessageCache.load(folderPath: md.path, uidValidity: fourth.snapshot.uidValidity).entries[1]?.crlfSize == 10)
    }
}

struct FolderTests {
    @Test(arguments: [
        ("Sent", true), ("Lists.Work", true), ("Entwürfe", true), ("a b", true),
        ("", false), ("..", false), ("a/../../b", false), ("/etc/passwd", false), ("a\0b", false),
        (".hidden", false), ("a..b", false), ("a.", false), (".", false), ("a\nb", false),
        ("INBOX", false), ("inbox", false), (String(repeating: "x", count: 255), false),
    ])
    func validation(name: String, valid: Bool) {
        #expect(((try? MaildirFolders.validate(name)) != nil) == valid, "\(name.debugDescription)")
    }

    @Test func createListDelete() throws {
        let dir = TemporaryDirectory()
        let folders = MaildirFolders(root: Maildir(path: dir.path))
        try folders.create("Lists.Work")
        try folders.create("Lists")
        #expect(throws: MaildirError.folderExists("Lists")) { try folders.create("Lists") }
        #expect(throws: MaildirError.invalidFolderName("../x", reason: "contains \"/\"")) { try folders.create("../x") }
        try writeFile("\(dir.path)/.not-a-folder-file", "x")
        #expect(try folders.list() == ["Lists", "Lists.Work"])
        #expect(FileIO.exists("\(dir.path)/.Lists.Work/maildirfolder"))
        #expect(Maildir(path: "\(dir.path)/.Lists.Work").exists)
        // Deleting a parent leaves its children (RFC 3501 §6.3.4).
        try deliver(Maildir(path: "\(dir.path)/.Lists"), "x\n")
        try folders.delete("Lists")
        #expect(try folders.list() == ["Lists.Work"])
        #expect(names(in: "\(dir.path)/tmp").isEmpty)
        #expect(try FileIO.listDirectory("\(dir.path)/tmp").isEmpty) // moved aside, then removed
        #expect(throws: MaildirError.folderMissing("Lists")) { try folders.delete("Lists") }
        // Special folders on demand, idempotent.
        for name in MaildirFolders.specialFolders { _ = try folders.specialFolder(name) }
        _ = try folders.specialFolder("Sent")
        #expect(try folders.list() == ["Archive", "Drafts", "Junk", "Lists.Work", "Sent", "Trash"])
    }

    @Test func renameTakesChildren() throws {
        let dir = TemporaryDirectory()
        let folders = MaildirFolders(root: Maildir(path: dir.path))
        for n in ["A", "A.B", "A.B.C", "AB", "X"] { try folders.create(n) }
        let base = try deliver(Maildir(path: "\(dir.path)/.A.B"), "kept\n")
        try folders.rename("A", to: "Z.A")
        #expect(try folders.list() == ["AB", "X", "Z.A", "Z.A.B", "Z.A.B.C"]) // "AB" is not a child
        #expect(names(in: "\(dir.path)/.Z.A.B/new") == [base])
        #expect(throws: MaildirError.folderExists("X")) { try folders.rename("AB", to: "X") }
        #expect(throws: MaildirError.folderMissing("Nope")) { try folders.rename("Nope", to: "Q") }
        #expect(throws: MaildirError.invalidFolderName("Z.A.B.D", reason: "inside the folder being renamed")) {
            try folders.rename("Z.A", to: "Z.A.B.D")
        }
        #expect(throws: (any Error).self) { try folders.rename("X", to: "../../etc") }
    }

    @Test func subscriptions() throws {
        let dir = TemporaryDirectory()
        let folders = MaildirFolders(root: Maildir(path: dir.path))
        try folders.subscribe("Sent")
        try folders.subscribe("Lists.Work")
        try folders.subscribe("Sent")
        #expect(readText("\(dir.path)/subscriptions") == "Sent\nLists.Work\n")
        try folders.unsubscribe("Sent")
        #expect(try folders.subscriptions() == ["Lists.Work"])
        // Courier's file, CRLF and blank lines tolerated.
        try writeFile("\(dir.path)/subscriptions", "INBOX.Sent\r\n\nINBOX.Trash\n")
        #expect(try folders.subscriptions() == ["INBOX.Sent", "INBOX.Trash"])
        #expect(throws: (any Error).self) { try folders.subscribe("a\nb") }
    }
}

struct POP3Tests {
    @Test func snapshotSizesUIDLsAndDeletion() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        let a = try deliver(md, "From: a\n\nhello\n")
        let b = try deliver(md, "From: b\r\n\r\nbye\r\n")
        let pop = POP3Maildir(inbox: md)
        try pop.takeSnapshot()
        #expect(pop.messages.map(\.baseName) == [a, b])
        #expect(pop.messages.map(\.uidl) == [a, b])
        #expect(pop.messages.map(\.crlfSize) == [18, 16]) // bare LFs count twice, CRLF once
        #expect(names(in: "\(md.path)/new").isEmpty) // POP3 moves new to cur too
        // IMAP sees the same messages with the same UIDs.
        let imap = try MaildirMailbox(maildir: md).synchronize()
        #expect(imap.messages.map(\.baseName) == [a, b])
        #expect(pop.messages.map(\.uid) == imap.messages.map(\.uid))
        // UIDLs are stable across sessions and flag changes.
        _ = try MaildirMailbox(maildir: md).store(uids: [1], .add(.seen))
        let second = POP3Maildir(inbox: md)
        try second.takeSnapshot()
        #expect(second.messages.map(\.uidl) == [a, b])
        #expect(try contents(second.open(number: 1)) == Array("From: a\n\nhello\n".utf8))
        #expect(try contents(second.open(number: 3)) == nil)
        // QUIT: delete; one already gone via IMAP.
        #expect(unlink("\(md.path)/cur/\(b):2,") == 0)
        #expect(try second.delete(baseNames: [a, b]) == [a])
        #expect(names(in: "\(md.path)/cur").isEmpty)
        let third = POP3Maildir(inbox: md)
        try third.takeSnapshot()
        #expect(third.messages.isEmpty)
    }

    @Test(arguments: [
        ("1700000000.M1P2Q3.host,S=10", "1700000000.M1P2Q3.host,S=10"),
        (String(repeating: "x", count: 70), String(repeating: "x", count: 70)),
    ])
    func uidlKeepsValidBaseNames(base: String, uidl: String) {
        #expect(POP3Maildir.uidl(forBaseName: base) == uidl)
    }

    @Test func uidlHashesWhatRFC1939Forbids() {
        for base in [String(repeating: "x", count: 71), "1.M1.höst", "a b"] {
            let u = POP3Maildir.uidl(forBaseName: base)
            #expect(u.count == 17 && u.hasPrefix("X"))
            #expect(u.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E })
            #expect(u == POP3Maildir.uidl(forBaseName: base))
        }
        #expect(POP3Maildir.uidl(forBaseName: "a b") != POP3Maildir.uidl(forBaseName: "a  b"))
    }

    @Test func recordsAreAppendedAndReplaceEarlierEntries() throws {
        let dir = TemporaryDirectory()
        var cache = MessageCache(uidValidity: 7)
        cache.entries[1] = MessageCacheEntry(baseName: "a", size: 1, internalDate: 1)
        let layout = try #require(try cache.save(folderPath: dir.path))
        let path = "\(dir.path)/\(MessageCache.fileName)"
        cache.entries[1]!.blob = [9, 9]
        cache.entries[2] = MessageCacheEntry(baseName: "b", size: 2, crlfSize: 3, internalDate: 2, blob: [1])
        #expect(try cache.append([1, 2], folderPath: dir.path, layout: layout))
        #expect(FileIO.status(path)?.st_ino == ino_t(layout.inode))
        #expect(MessageCache.load(folderPath: dir.path, uidValidity: 7) == cache)
        let whole = try #require(try FileIO.readFile(path))
        // A record cut short, or one that does not check, ends the reading; what came before counts.
        #expect(MessageCache.decode(Array(whole.dropLast(3)))?.entries[2] == nil)
        #expect(MessageCache.decode(Array(whole.dropLast(3)))?.entries[1]?.blob == [9, 9])
        var flipped = whole
        flipped[whole.count - 12] ^= 1
        #expect(MessageCache.decode(flipped)?.entries[2] == nil)
        // Records of another UIDVALIDITY (a writer that knew an older file) are skipped.
        var other = MessageCache(uidValidity: 8)
        other.entries[3] = MessageCacheEntry(baseName: "c", size: 3, internalDate: 3)
        #expect(try other.append([3], folderPath: dir.path, layout: layout))
        #expect(MessageCache.load(folderPath: dir.path, uidValidity: 7) == cache)
        // Another file in its place, or one gone: no append, the caller writes it whole.
        try cache.save(folderPath: dir.path)
        #expect(try !cache.append([1], folderPath: dir.path, layout: layout))
        #expect(unlink(path) == 0)
        #expect(try !cache.append([1], folderPath: dir.path, layout: layout))
    }

    @Test func mailboxAppendsWhatItLearntAndRewritesPastTheLimit() throws {
        let dir = TemporaryDirectory()
        let (md, box) = try makeMailbox(in: dir, messages: 3, prefix: "message ")
        try box.synchronize()
        _ = try box.info(uid: 1)
        try box.saveCache() // the first save writes the file
        let path = "\(md.path)/\(MessageCache.fileName)"
        let inode = try #require(FileIO.status(path)).st_ino
        _ = try box.info(uid: 2)
        try box.saveCache()
        #expect(FileIO.status(path)?.st_ino == inode) // appended
        let blob = [UInt8](repeating: 7, count: 20_000)
        var rounds = 0
        while FileIO.status(path)?.st_ino == inode {
            try box.setBlob(uid: 3, blob + [UInt8(rounds & 0xFF)])
            try box.saveCache()
            rounds += 1
        }
        #expect(rounds > 2) // several appends, then one whole write past 64 KiB of records
        let later = MaildirMailbox(maildir: md)
        try later.synchronize()
        #expect(try later.info(uid: 3)?.blob == blob + [UInt8((rounds - 1) & 0xFF)])
        #expect(try later.info(uid: 2)?.size == 10)
    }
}

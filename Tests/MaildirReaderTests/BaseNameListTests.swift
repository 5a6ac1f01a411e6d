import Testing
@testable import Maildir

struct BaseNameListTests {
    let long = "1764441600.M20P7Q1.host.example.org,S=812,W=830" // longer than a String's inline form

    @Test func namesAreReadAsWritten() {
        var names = BaseNameList()
        names.append(long)
        names.append("b")
        names.append("")
        #expect(Array(names) == [long, "b", ""])
        #expect(names.nameEquals(at: 0, long) && !names.nameEquals(at: 0, "b") && names.nameEquals(at: 2, ""))
        names.withUTF8(at: 1) { #expect(Array($0) == Array("b".utf8)) }
        let literal: BaseNameList = [long, "b", ""]
        #expect(literal == names)
    }

    @Test func contiguousNamesAreInListOrder() throws {
        let bytes = Array("postamt-uidlist 1 V1 N9 M2\n1 M1 F :a\n2 M1 F :\(long)\n3 M2 FS :c\n".utf8)
        var names = try #require(UIDListFile.parse(bytes)).entries.baseNames
        names.append("added")
        names[0] = "replaced"
        names.remove(atSortedIndexes: [2])
        let (gathered, spans) = names.contiguous()
        #expect(gathered == Array("replaced\(long)added".utf8))
        #expect(BaseNameList(bytes: gathered, spans: spans) == names)
        // Names already one after the other are handed back as they are.
        let again = BaseNameList(bytes: gathered, spans: spans).contiguous()
        #expect(again.bytes == gathered && again.spans == spans)
    }

    @Test func parsedNamesStayInTheFileBytes() throws {
        let text = "postamt-uidlist 1 V1 N4 M2\n1 M1 F :\(long)\n3 M2 FS :c\n"
        let bytes = Array(text.utf8)
        let file = try #require(UIDListFile.parse(bytes))
        #expect(Array(file.entries.baseNames) == [long, "c"])
        #expect(file.entries.baseNames.bytes == bytes) // no name copied
        #expect(file.entries.baseNames.added.isEmpty)
        #expect(file.entries.uids == [1, 3] && file.entries.modSeqs == [1, 2] && file.entries.flags == [[], .seen])
    }

    @Test func changesGoToTheAddedBufferAndLeaveTheParsedOneAlone() throws {
        let bytes = Array("postamt-uidlist 1 V1 N4 M2\n1 M1 F :a\n2 M1 F :b\n3 M2 FS :c\n".utf8)
        let parsed = try #require(UIDListFile.parse(bytes)).entries.baseNames
        var names = parsed
        names[1] = "b" // the same name: nothing stored
        #expect(names.added.isEmpty)
        names[1] = long
        names.append("d")
        #expect(Array(names) == ["a", long, "c", "d"])
        #expect(names.bytes == bytes && names.added == Array((long + "d").utf8))
        #expect(Array(parsed) == ["a", "b", "c"]) // the copy is untouched
        names.remove(atSortedIndexes: [0, 3])
        #expect(Array(names) == [long, "c"])
        #expect(names.unused == 1) // "d" in the added buffer; "a" was in the parsed bytes
        names.replaceSubrange(0..<1, with: ["x", "y"])
        #expect(Array(names) == ["x", "y", "c"])
    }

    @Test func equalityAndHashIgnoreWhereTheBytesLie() throws {
        let parsed = try #require(UIDListFile.parse(Array("postamt-uidlist 1 V1 N3 M2\n1 M1 F :a\n2 M1 F :\(long)\n".utf8)))
        let built: BaseNameList = ["a", long]
        #expect(parsed.entries.baseNames == built)
        #expect(parsed.entries.baseNames.hashValue == built.hashValue)
        #expect(built != ["a", "b"] && built != ["a"])
    }

    @Test func aNameAmongManyIsFoundByItsBytes() throws {
        let parsed = try #require(UIDListFile.parse(Array("postamt-uidlist 1 V1 N4 M2\n1 M1 F :a\n2 M1 F :\(long)\n".utf8)))
        var names = parsed.entries.baseNames
        #expect(names.containsAny(of: [long]) && names.containsAny(of: ["z", "a"]))
        #expect(!names.containsAny(of: ["z", long + "x", ""]) && !names.containsAny(of: []))
        names.append("added")
        #expect(names.containsAny(of: ["added"]) && !names.containsAny(of: ["adde"]))
    }

    @Test func unusedBytesAreDroppedOnceTheyAreMost() {
        var names: BaseNameList = ["first"]
        for i in 0..<5_000 { names[0] = "\(long).\(i)" }
        #expect(names[0] == "\(long).4999" && names.count == 1)
        #expect(names.added.count < 200_000) // not every name ever set (over 250,000 bytes)
    }
}

struct UIDListEntriesTests {
    func entry(_ uid: UInt32, _ name: String, flags: MaildirFlags = []) -> UIDListEntry {
        UIDListEntry(uid: uid, modSeq: UInt64(uid), flags: flags, baseName: name)
    }

    @Test func columnsMatchTheEntries() {
        var entries: UIDListEntries = [entry(2, "b"), entry(5, "e", flags: .seen)]
        entries.append(entry(9, "i"))
        #expect(entries.uids == [2, 5, 9] && entries.modSeqs == [2, 5, 9] && entries.flags == [[], .seen, []])
        #expect(Array(entries.baseNames) == ["b", "e", "i"])
        #expect(entries[1] == entry(5, "e", flags: .seen))
        #expect(entries.index(ofUID: 5) == 1 && entries.index(ofUID: 6) == nil)
        #expect(entries.firstIndex(ofUIDAtLeast: 6) == 2 && entries.firstIndex(ofUIDAtLeast: 10) == 3)
        entries.setFlags(.flagged, modSeq: 11, at: 0)
        #expect(entries[0] == UIDListEntry(uid: 2, modSeq: 11, flags: .flagged, baseName: "b"))
        entries[2] = entry(9, "renamed")
        entries.insert(entry(3, "c"), at: 1)
        #expect(entries.map(\.baseName) == ["b", "c", "e", "renamed"])
        entries.remove(uids: [9, 4, 3])
        #expect(Array(entries) == [UIDListEntry(uid: 2, modSeq: 11, flags: .flagged, baseName: "b"), entry(5, "e", flags: .seen)])
        #expect(entries == [UIDListEntry(uid: 2, modSeq: 11, flags: .flagged, baseName: "b"), entry(5, "e", flags: .seen)])
        #expect(entries.entryEquals(at: 1, [entry(5, "e", flags: .seen)], at: 0))
        #expect(!entries.entryEquals(at: 1, [entry(5, "f", flags: .seen)], at: 0))
    }

    @Test func aSnapshotSharesTheListsColumns() throws {
        let file = try #require(UIDListFile.parse(Array("postamt-uidlist 1 V1 N4 M2\n1 M1 F :a\n3 M2 FS :c\n".utf8)))
        let snapshot = UIDList.snapshot(file)
        #expect(snapshot.messages.uids == [1, 3] && snapshot.messages.flags == [[], .seen])
        #expect(snapshot.messages.map(\.baseName) == ["a", "c"])
        #expect(snapshot.messages.map(\.relativePath) == ["cur/a:2,", "cur/c:2,S"])
        snapshot.messages.uids.withUnsafeBufferPointer { a in
            file.entries.uids.withUnsafeBufferPointer { b in #expect(a.baseAddress == b.baseAddress) }
        }
    }

    @Test func messagesKeepUnusualPathsByUID() {
        var messages: MaildirMessages = [
            MaildirMessage(uid: 1, modSeq: 1, baseName: "a", flags: []),
            MaildirMessage(uid: 2, modSeq: 1, baseName: "b", relativePath: "new/b", flags: []),
        ]
        #expect(messages[1].relativePath == "new/b" && messages[0].relativePath == "cur/a:2,")
        messages[0].relativePath = "cur/a:2,XY"
        #expect(messages.unusualPaths == [1: "cur/a:2,XY", 2: "new/b"])
        messages.setFlags(.seen, modSeq: 4, at: 1)
        #expect(messages[1].relativePath == "cur/b:2,S" && messages[1].modSeq == 4)
        messages.remove(uids: [1])
        #expect(messages.unusualPaths.isEmpty && messages.map(\.uid) == [2])
    }
}

struct SortedIndexRemovalTests {
    @Test(arguments: [[], [0], [4], [0, 1, 2, 3, 4], [1, 3], [2, 3, 4]])
    func removesExactlyThoseIndexes(_ indexes: [Int]) {
        var a = Array(10..<15)
        a.remove(atSortedIndexes: indexes)
        #expect(a == (10..<15).enumerated().filter { !indexes.contains($0.offset) }.map(\.element))
    }
}

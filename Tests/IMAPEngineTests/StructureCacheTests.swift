import Foundation
import Testing
import IMAPProtocol
@testable import IMAPEngine

@Suite struct StructureCacheTests {
    @Test func roundTripsEveryMessage() throws {
        for text in EngineFixture.messages {
            let data = IMAPMessageData(fileBytes: Array(text.utf8))
            let blob = IMAPStructureCache.encode(data.envelope, data.bodyStructure)
            let decoded = try #require(IMAPStructureCache.decode(blob))
            #expect(decoded.0 == data.envelope)
            #expect(decoded.1 == data.bodyStructure)
            // Truncated or extended blobs are refused, never trusted.
            #expect(IMAPStructureCache.decode(Array(blob.dropLast())) == nil)
            #expect(IMAPStructureCache.decode(blob + [0]) == nil)
            // SEARCH reads single fields without decoding the rest.
            #expect(IMAPStructureCache.decodeEnvelope(blob) == data.envelope)
            #expect(IMAPStructureCache.decodeSubject(blob) == .some(data.envelope.subject))
            let lists: [(IMAPStructureCache.AddressList, [IMAPAddress])] = [
                (.from, data.envelope.from), (.sender, data.envelope.sender), (.replyTo, data.envelope.replyTo),
                (.to, data.envelope.to), (.cc, data.envelope.cc), (.bcc, data.envelope.bcc)]
            for (which, list) in lists { #expect(IMAPStructureCache.decodeAddresses(blob, which) == list) }
            #expect(IMAPStructureCache.decodeAddresses(Array(blob.prefix(3)), .from) == nil)
            #expect(IMAPStructureCache.decodeSubject([9]) == nil)
        }
    }

    /// A second session answers BODYSTRUCTURE from the folder's cache, byte for byte alike.
    @Test func secondSessionUsesTheCache() throws {
        let fixture = try EngineFixture()
        _ = fixture.send("a SELECT INBOX")
        let first = fixture.send("b FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY)")
        _ = fixture.send("c LOGOUT")
        #expect(FileManager.default.fileExists(atPath: fixture.root + "/Maildir/postamt-cache"))
        let other = IMAPSession(preauthenticatedUser: "tester", maildirPath: fixture.root + "/Maildir")
        _ = other.receive(Array("a SELECT INBOX\r\n".utf8))
        let second = String(decoding: other.receive(Array("b FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY)\r\n".utf8)), as: UTF8.self)
        #expect(first == second)
    }
}

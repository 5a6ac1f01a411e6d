import Foundation
import Testing
import SpamFilter
@testable import SpamCheck

struct SnapshotCacheTests {
    /// The same database file gives the same mapping; a version written since (by rename) is
    /// mapped afresh with its new counts; a removed database is not served from the cache.
    @Test func aKeptMappingLastsWhileTheFileIsTheSame() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/tokens.db"
        let database = TokenDatabase(path: path)
        try database.learn([LearnableMessage(key: 1, tokens: [10, 11, 12])], as: .spam)
        let first = try SnapshotCache.snapshot(path)
        #expect(first.spamMessageCount == 1 && first.hamMessageCount == 0)
        #expect(try SnapshotCache.snapshot(path) === first)
        try database.learn([LearnableMessage(key: 2, tokens: [20, 21])], as: .ham)
        let second = try SnapshotCache.snapshot(path)
        #expect(second !== first)
        #expect(second.spamMessageCount == 1 && second.hamMessageCount == 1)
        #expect(first.hamMessageCount == 0, "the old mapping is still the old version")
        try FileManager.default.removeItem(atPath: path)
        #expect(throws: TokenDatabaseError.self) { try SnapshotCache.snapshot(path) }
    }
}

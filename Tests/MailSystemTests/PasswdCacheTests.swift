import Foundation
import Testing
import Glibc
import Synchronization
@testable import MailSystem

/// PasswdCache: a user looked up once is answered from memory while the passwd file is the same
/// and the entry is younger than the lifetime; a changed file, an old entry, an unknown user
/// and a cache turned off all go to the lookup again.
@Suite struct PasswdCacheTests {
    /// A test's monotonic clock, moved by hand.
    final class TestClock: Sendable {
        let nanoseconds = Synchronization.Mutex<Int64>(1_000_000_000)
        func read() -> Int64 { nanoseconds.withLock { $0 } }
    }

    final class Fixture: Sendable {
        let path = NSTemporaryDirectory() + "postamt-passwd-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let clock = TestClock()
        let lookups = Synchronization.Mutex(0)
        let cache: PasswdCache
        init() throws {
            try "alice:x:1001:1001::/home/alice:/bin/sh\n".write(toFile: path, atomically: true, encoding: .utf8)
            let clock = self.clock
            cache = PasswdCache(file: path, clock: { clock.read() })
        }
        deinit { unlink(path) }
        /// The lookup the cache falls back to: counted, answering `home` for alice, nil for others.
        func user(_ key: PasswdCache.Key, home: String = "/home/alice") -> SystemUser? {
            cache.user(key) {
                lookups.withLock { $0 += 1 }
                switch key {
                case .name("alice"), .id(1001): return SystemUser(name: "alice", uid: 1001, gid: 1001, home: home, shell: "/bin/sh")
                default: return nil
                }
            }
        }
        var count: Int { lookups.withLock { $0 } }
        func advance(seconds: Int64) { clock.nanoseconds.withLock { $0 += seconds * 1_000_000_000 } }
    }

    @Test func offUntilTurnedOn() throws {
        let f = try Fixture()
        _ = f.user(.name("alice"))
        _ = f.user(.name("alice"))
        #expect(f.count == 2)
        f.cache.keep(forSeconds: 60)
        _ = f.user(.name("alice"))
        _ = f.user(.name("alice"))
        #expect(f.count == 3)
        f.cache.keep(forSeconds: 0)
        #expect(f.user(.name("alice"))?.home == "/home/alice")
        #expect(f.count == 4)
    }

    @Test func keptForTheLifetimeByNameAndByID() throws {
        let f = try Fixture()
        f.cache.keep(forSeconds: 60)
        #expect(f.user(.name("alice"))?.uid == 1001)
        #expect(f.user(.id(1001))?.name == "alice")
        #expect(f.count == 2)
        f.advance(seconds: 59)
        #expect(f.user(.name("alice"))?.uid == 1001)
        #expect(f.user(.id(1001))?.name == "alice")
        #expect(f.count == 2)
        f.advance(seconds: 1)
        #expect(f.user(.name("alice"), home: "/srv/alice")?.home == "/srv/alice")
        #expect(f.count == 3)
        #expect(f.user(.name("alice"))?.home == "/srv/alice")
        #expect(f.count == 3)
    }

    @Test func aChangedFileEmptiesIt() throws {
        let f = try Fixture()
        f.cache.keep(forSeconds: 60)
        _ = f.user(.name("alice"))
        _ = f.user(.id(1001))
        // Rewritten in place, one byte longer (usermod, vipw) …
        try "alice:x:1001:1001::/home/alice2:/bin/sh\n".write(toFile: f.path, atomically: false, encoding: .utf8)
        #expect(f.user(.name("alice"), home: "/home/alice2")?.home == "/home/alice2")
        #expect(f.user(.id(1001), home: "/home/alice2")?.home == "/home/alice2")
        #expect(f.count == 4)
        // … or replaced by another file of the same size (useradd, userdel: a new inode).
        try "alice:x:1001:1001::/home/alice3:/bin/sh\n".write(toFile: f.path, atomically: true, encoding: .utf8)
        #expect(f.user(.name("alice"), home: "/home/alice3")?.home == "/home/alice3")
        #expect(f.count == 5)
        // … or gone.
        unlink(f.path)
        #expect(f.user(.name("alice"), home: "/home/alice4")?.home == "/home/alice4")
        #expect(f.count == 6)
        #expect(f.user(.name("alice"))?.home == "/home/alice4")
        #expect(f.count == 6)
    }

    @Test func anUnknownUserIsLookedUpEachTime() throws {
        let f = try Fixture()
        f.cache.keep(forSeconds: 60)
        #expect(f.user(.name("bob")) == nil)
        #expect(f.user(.name("bob")) == nil)
        #expect(f.user(.id(1002)) == nil)
        #expect(f.count == 3)
    }

    /// The process's own cache, on: the same answers as the database itself.
    @Test func sharedAnswersAsTheDatabase() throws {
        PasswdCache.shared.keep(forSeconds: 60)
        defer { PasswdCache.shared.keep(forSeconds: 0) }
        let root = try #require(getpwuid(0)).pointee
        for _ in 0..<2 {
            let user = try #require(SystemUser.withID(0))
            #expect(user.name == String(cString: root.pw_name) && user.home == String(cString: root.pw_dir))
            #expect(SystemUser.named(user.name) == user)
            #expect(SystemUser.named("no-such-user-\(getpid())") == nil)
        }
    }
}

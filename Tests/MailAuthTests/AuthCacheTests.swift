import Testing
import MailCore
@testable import MailAuth

@Suite struct AuthCacheTests {
    let fingerprinter = SecretFingerprinter(keys: (11, 22, 33, 44))
    let second: Int64 = 1_000_000_000

    func key(_ user: String, _ password: String, service: String = "imap") -> AuthCache.Key {
        AuthCache.Key(service: service, user: Array(user.utf8), password: fingerprinter.fingerprint(Array(password.utf8)))
    }

    @Test func positiveAndNegativeEntriesExpireSeparately() {
        var cache = AuthCache(positiveLifetime: 3600 * second, negativeLifetime: 30 * second, capacity: 100)
        cache.store(.success(user: Array("alice".utf8)), for: key("alice", "right"), now: 0)
        cache.store(.failure, for: key("alice", "wrong"), now: 0)
        #expect(cache.lookup(key("alice", "right"), now: 29 * second) == .success(user: Array("alice".utf8)))
        #expect(cache.lookup(key("alice", "wrong"), now: 29 * second) == .failure)
        #expect(cache.lookup(key("alice", "wrong"), now: 30 * second) == nil)
        #expect(cache.lookup(key("alice", "right"), now: 3599 * second) != nil)
        #expect(cache.lookup(key("alice", "right"), now: 3600 * second) == nil)
        #expect(cache.count == 0)
    }

    @Test func aCachedFailureDoesNotAnswerTheRightPassword() {
        var cache = AuthCache(positiveLifetime: 60 * second, negativeLifetime: 60 * second, capacity: 100)
        cache.store(.failure, for: key("alice", "typo"), now: 0)
        #expect(cache.lookup(key("alice", "right"), now: 1) == nil)
        #expect(cache.lookup(key("alice", "typo"), now: 1) == .failure)
    }

    @Test func serviceAndUserArePartOfTheKey() {
        var cache = AuthCache(positiveLifetime: 60 * second, negativeLifetime: 60 * second, capacity: 100)
        cache.store(.success(user: Array("alice".utf8)), for: key("alice", "pw", service: "imap"), now: 0)
        #expect(cache.lookup(key("alice", "pw", service: "smtp"), now: 1) == nil)
        #expect(cache.lookup(key("bob", "pw", service: "imap"), now: 1) == nil)
    }

    @Test func zeroLifetimeOrCapacityDisables() {
        var noNegative = AuthCache(positiveLifetime: 60 * second, negativeLifetime: 0, capacity: 100)
        noNegative.store(.failure, for: key("a", "b"), now: 0)
        #expect(noNegative.lookup(key("a", "b"), now: 0) == nil)
        var none = AuthCache(positiveLifetime: 60 * second, negativeLifetime: 60 * second, capacity: 0)
        none.store(.success(user: [1]), for: key("a", "b"), now: 0)
        #expect(none.count == 0)
    }

    @Test func capacityEvictsTheOldest() {
        var cache = AuthCache(positiveLifetime: 60 * second, negativeLifetime: 60 * second, capacity: 3)
        for i in 0..<5 { cache.store(.failure, for: key("user\(i)", "pw"), now: Int64(i)) }
        #expect(cache.count == 3)
        #expect(cache.lookup(key("user0", "pw"), now: 10) == nil)
        #expect(cache.lookup(key("user1", "pw"), now: 10) == nil)
        #expect(cache.lookup(key("user4", "pw"), now: 10) == .failure)
        // Storing a key again refreshes it: it is no longer the oldest.
        cache.store(.failure, for: key("user2", "pw"), now: 11)
        cache.store(.failure, for: key("user5", "pw"), now: 12)
        #expect(cache.lookup(key("user2", "pw"), now: 13) == .failure)
        #expect(cache.lookup(key("user3", "pw"), now: 13) == nil)
    }

    @Test func manyStoresStayBounded() {
        var cache = AuthCache(positiveLifetime: 5, negativeLifetime: 5, capacity: 50)
        for i in 0..<20_000 { cache.store(.failure, for: key("u\(i % 700)", "p"), now: Int64(i)) }
        #expect(cache.count <= 50)
    }

    @Test func forgetRemovesAUser() {
        var cache = AuthCache(positiveLifetime: 60 * second, negativeLifetime: 60 * second, capacity: 10)
        cache.store(.failure, for: key("alice", "x"), now: 0)
        cache.store(.failure, for: key("bob", "x"), now: 0)
        cache.forget(user: Array("alice".utf8))
        #expect(cache.lookup(key("alice", "x"), now: 1) == nil)
        #expect(cache.lookup(key("bob", "x"), now: 1) == .failure)
    }
}

@Suite struct AuthSettingsTests {
    @Test func defaultsWithoutAFile() {
        let settings = AuthConfiguration(Configuration(root: "/srv/mail"))
        #expect(settings.socketPath == "/srv/mail/run/postamt/auth")
        #expect(settings.pamService == "postamt")
        #expect(settings.cacheLifetime == 3600)
        #expect(settings.negativeCacheLifetime == 30)
        #expect(settings.failureDelay == 2)
        #expect(settings.workerLimit == 8)
        #expect(settings.passwdFile == "")
    }

    @Test func valuesSetOverrideDefaults() {
        var configuration = Configuration(root: "")
        configuration.set("pam_service", "postamt-%s")
        configuration.set("auth_cache_ttl", "5m")
        let settings = AuthConfiguration(configuration)
        #expect(settings.pamService(for: "imap") == "postamt-imap")
        #expect(settings.cacheLifetime == 300)
    }

    @Test func everySettingHasAValidDefault() {
        for setting in knownSettings {
            #expect(Configuration.validate(setting.defaultValue.replacingAll("{root}", with: "/srv"), as: setting.kind) == nil, "\(setting.name)")
        }
    }
}

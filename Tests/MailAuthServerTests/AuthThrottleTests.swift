import Testing
@testable import MailAuthServer

/// The throttle's bookkeeping, with time passed in (seconds turned into monotonic nanoseconds).
@Suite struct AuthThrottleTests {
    static func at(_ seconds: Int64) -> Int64 { 1_000_000_000_000 + seconds * 1_000_000_000 }
    let attacker = Array("192.0.2.7".utf8)
    let home = Array("198.51.100.1".utf8)
    let alice = Array("alice".utf8)

    static func policy(window: Int64 = 600, delayAfter: Int = 0, maxDelay: Int64 = 8, blockAfter: Int = 0, blockTime: Int64 = 900,
                       userBlockAfter: Int = 0, userBlockTime: Int64 = 300) -> AuthThrottlePolicy {
        var p = AuthThrottlePolicy()
        p.window = window; p.delayAfter = delayAfter; p.maxDelay = maxDelay
        p.blockAfter = blockAfter; p.blockTime = blockTime
        p.userBlockAfter = userBlockAfter; p.userBlockTime = userBlockTime
        return p
    }

    @Test func delaysGrowPastTheFirstThresholdUpToTheMaximum() {
        var throttle = AuthThrottle(policy: Self.policy(delayAfter: 3, maxDelay: 8))
        let delays = (0..<8).map { i in
            throttle.recordFailure(source: attacker, user: Array("u\(i)".utf8), now: Self.at(Int64(i))).extraDelay / 1_000_000_000
        }
        #expect(delays == [0, 0, 0, 1, 2, 4, 8, 8])
    }

    @Test func aSourcePastTheLimitIsBlockedEvenForTheRightPasswordUntilTheBlockEnds() {
        var throttle = AuthThrottle(policy: Self.policy(blockAfter: 3, blockTime: 60))
        for i in 0..<2 {
            #expect(throttle.recordFailure(source: attacker, user: Array("u\(i)".utf8), now: Self.at(Int64(i))).newBlocks.isEmpty)
        }
        #expect(throttle.block(source: attacker, user: alice, now: Self.at(2)) == nil)
        let third = throttle.recordFailure(source: attacker, user: Array("u2".utf8), now: Self.at(2))
        #expect(third.newBlocks == [AuthThrottle.Block(subject: .source("192.0.2.7"), failures: 3, until: Self.at(62))])
        #expect(throttle.block(source: attacker, user: alice, now: Self.at(3)) == .source("192.0.2.7"))
        #expect(throttle.block(source: Array("::ffff:192.0.2.7".utf8), user: alice, now: Self.at(61)) == .source("192.0.2.7"))
        #expect(throttle.block(source: home, user: alice, now: Self.at(3)) == nil)
        #expect(throttle.block(source: attacker, user: alice, now: Self.at(62)) == nil)
        // Counting starts afresh after the block: one more failure does not block again.
        #expect(throttle.recordFailure(source: attacker, user: alice, now: Self.at(63)).newBlocks.isEmpty)
    }

    @Test func failuresOutsideTheWindowDoNotCount() {
        var throttle = AuthThrottle(policy: Self.policy(window: 10, blockAfter: 3))
        for t: Int64 in [0, 5, 11, 17] {
            #expect(throttle.recordFailure(source: attacker, user: alice, now: Self.at(t)).newBlocks.isEmpty, "t=\(t)")
        }
        #expect(!throttle.recordFailure(source: attacker, user: alice, now: Self.at(19)).newBlocks.isEmpty)
    }

    @Test func aBlockedUserNameStillLogsInFromAnAddressItUsedBefore() {
        var throttle = AuthThrottle(policy: Self.policy(userBlockAfter: 3, userBlockTime: 300))
        throttle.recordSuccess(source: home, user: alice, now: Self.at(0))
        var blocks: [AuthThrottle.Block] = []
        for i in 0..<3 {   // a distributed guesser: each address fails once
            blocks += throttle.recordFailure(source: Array("203.0.113.\(i)".utf8), user: Array("Alice".utf8), now: Self.at(Int64(1 + i))).newBlocks
        }
        #expect(blocks.map(\.subject) == [.user(alice)])
        #expect(throttle.block(source: Array("203.0.113.99".utf8), user: alice, now: Self.at(10)) == .user(alice))
        #expect(throttle.block(source: Array("203.0.113.99".utf8), user: Array("ALICE".utf8), now: Self.at(10)) == .user(alice))
        #expect(throttle.block(source: home, user: alice, now: Self.at(10)) == nil)
        #expect(throttle.block(source: Array("203.0.113.99".utf8), user: alice, now: Self.at(304)) == nil)
    }

    @Test func aSuccessForgivesTheUsersFailuresButNotTheSources() {
        var throttle = AuthThrottle(policy: Self.policy(blockAfter: 3, userBlockAfter: 2))
        _ = throttle.recordFailure(source: attacker, user: alice, now: Self.at(0))
        throttle.recordSuccess(source: attacker, user: alice, now: Self.at(1))
        #expect(throttle.recordFailure(source: attacker, user: alice, now: Self.at(2)).newBlocks.isEmpty)
        #expect(throttle.recordFailure(source: attacker, user: Array("bob".utf8), now: Self.at(3)).newBlocks.map(\.subject) == [.source("192.0.2.7")])
    }

    @Test func offMeansNothingIsCountedOrBlocked() {
        var throttle = AuthThrottle(policy: Self.policy(window: 0, delayAfter: 1, blockAfter: 1, userBlockAfter: 1))
        for i in 0..<5 {
            #expect(throttle.recordFailure(source: attacker, user: alice, now: Self.at(Int64(i))) == AuthThrottle.FailureOutcome())
        }
        #expect(throttle.block(source: attacker, user: alice, now: Self.at(5)) == nil)
    }

    @Test func callersWithoutAnAddressAreCountedOnlyByUser() {
        var throttle = AuthThrottle(policy: Self.policy(blockAfter: 1, userBlockAfter: 0))
        for peer in ["", "-"] {
            #expect(throttle.recordFailure(source: Array(peer.utf8), user: alice, now: Self.at(0)).newBlocks.isEmpty)
        }
        #expect(throttle.block(source: [], user: alice, now: Self.at(1)) == nil)
    }

    @Test func theTableStaysWithinItsLimitAndKeepsBlocks() {
        var policy = Self.policy(blockAfter: 2, userBlockAfter: 0)
        policy.maxEntries = 10
        var throttle = AuthThrottle(policy: policy)
        _ = throttle.recordFailure(source: attacker, user: alice, now: Self.at(0))
        _ = throttle.recordFailure(source: attacker, user: alice, now: Self.at(0))
        for i in 0..<50 {   // one failure each: counted, never blocked
            _ = throttle.recordFailure(source: Array("203.0.113.\(i)".utf8), user: alice, now: Self.at(Int64(1 + i)))
        }
        #expect(throttle.records.count <= 10)
        #expect(throttle.block(source: attacker, user: alice, now: Self.at(60)) == .source("192.0.2.7"))
    }

    @Test func theStateFileKeepsBlocksInForceAndDropsEndedAndMalformedLines() {
        var throttle = AuthThrottle(policy: Self.policy(blockAfter: 1, blockTime: 100, userBlockAfter: 1, userBlockTime: 10))
        _ = throttle.recordFailure(source: attacker, user: alice, now: Self.at(0))
        let file = AuthThrottleState.encode(throttle.blocks(now: Self.at(5)), wallNow: 1_765_000_005, monotonicNow: Self.at(5))
        let text = String(decoding: file, as: UTF8.self)
        #expect(text.contains("\nsource 192.0.2.7 1765000100\n"))
        #expect(text.contains("\nuser YWxpY2U= 1765000010\n"))
        // Read back 20 s later by a new process with another monotonic clock: the user block has ended.
        let garbage = Array("source\nuser !!! 1765000100\nnonsense x 1\nsource 192.0.2.9 12\n".utf8)
        let (blocks, bad) = AuthThrottleState.decode(file + garbage, wallNow: 1_765_000_025, monotonicNow: 7_000_000_000)
        #expect(bad == 3)
        #expect(blocks.count == 1)
        var restarted = AuthThrottle(policy: throttle.policy)
        for block in blocks { restarted.restore(block.subject, until: block.until, now: 7_000_000_000) }
        #expect(restarted.block(source: attacker, user: alice, now: 7_000_000_000 + 74_000_000_000) == .source("192.0.2.7"))
        #expect(restarted.block(source: attacker, user: alice, now: 7_000_000_000 + 75_000_000_000) == nil)
    }
}

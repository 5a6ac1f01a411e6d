import Foundation
import Glibc
import Testing

/// Invariant 1: an accepted message is never lost; kill -9 of any program at any moment loses
/// nothing, and a delivery repeats only in the documented window (deliveries that were running
/// when the runner died: at most delivery_concurrency per kill).
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct CrashSafetyTests {
    func message(_ i: Int, size: Int = 300) -> Data {
        let filler = String(repeating: "x", count: size)
        return Data("Subject: crash-\(i)\n\n\(filler)\nend-of-message-\(i)\n".utf8)
    }

    @Test func runnerKilledAtRandomMomentsLosesNothing() throws {
        let users = try (0..<3).map { _ in try TestUser() }
        let concurrency = 5
        let system = try Installation(config: "delivery_concurrency = \(concurrency)")
        try system.startRunner()
        let total = 300
        var injected = 0
        var kills = 0
        let injector = DispatchQueue(label: "inject")
        let done = DispatchSemaphore(value: 0)
        var failures: [String] = []
        injector.async {
            for i in 0..<total {
                let user = users[i % users.count]
                let r = try? system.queueInject(message: self.message(i), envelope: envelope("s@x", ["\(user.name)@\(system.hostname)"]))
                if r?.status != 0 { failures.append("inject \(i): \(r?.stderr ?? "no result")") }
                injected += 1
            }
            done.signal()
        }
        // Kill the runner with SIGKILL at random moments while mail flows, and restart it.
        var finished = false
        while !finished {
            usleep(UInt32.random(in: 50_000...400_000))
            system.stopRunner(signal: SIGKILL)
            kills += 1
            try system.startRunner()
            finished = done.wait(timeout: .now()) == .success
        }
        #expect(failures.isEmpty, "\(failures)")
        #expect(injected == total)
        do {
            try waitFor("all delivered", timeout: 300) {
                system.queueIsEmpty && users.reduce(0) { $0 + $1.messageData().count } >= total
            }
        } catch {
            print("crash test: delivered \(users.map { $0.messageData().count }), state \(system.queueFiles("state")), incoming \(system.queueFiles("incoming")), failures \(failures.count), injected \(injected)")
            throw error
        }
        var seen: [Int: Int] = [:]
        var files = 0
        for (k, user) in users.enumerated() {
            for text in user.messages() {
                files += 1
                guard let subject = text.split(separator: "\n").first(where: { $0.hasPrefix("Subject: crash-") }),
                      let i = Int(subject.dropFirst("Subject: crash-".count)) else {
                    Issue.record("unexpected message: \(text.prefix(200))")
                    continue
                }
                #expect(i % users.count == k, "message \(i) in the wrong Maildir")
                #expect(text.hasSuffix("end-of-message-\(i)\n"), "message \(i) is not whole")
                seen[i, default: 0] += 1
            }
        }
        #expect(Set(seen.keys) == Set(0..<total), "missing: \(Set(0..<total).subtracting(seen.keys).sorted())")
        let duplicates = files - seen.count
        print("crash test: \(kills) kills, \(total) messages, \(duplicates) duplicate deliveries (window: \(kills * concurrency))")
        #expect(duplicates <= kills * concurrency)
        #expect(kills >= 3)
    }

    @Test func queueInjectorKilledMidWriteLeavesNothingVisible() throws {
        let user = try TestUser()
        let system = try Installation(config: "orphan_age = 1s")
        try system.startRunner()
        system.stopRunner()
        var committed = 0
        for round in 0..<20 {
            let envPipe = Pipe()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "\(system.root)/bin/postamt-queue")
            p.environment = system.environment
            let input = Pipe()
            p.standardInput = input
            p.standardOutput = envPipe // fd 1 is where the envelope is read from
            p.standardError = FileHandle.nullDevice
            try p.run()
            let msg = message(round, size: 200_000)
            let cut = Int.random(in: 0...msg.count)
            try? input.fileHandleForWriting.write(contentsOf: msg.prefix(cut))
            if round % 2 == 1 {
                // Sometimes finish everything and race the kill against the commit.
                try? input.fileHandleForWriting.write(contentsOf: msg.dropFirst(cut))
                try? input.fileHandleForWriting.close()
                try? envPipe.fileHandleForWriting.write(contentsOf: envelope("s@x", ["\(user.name)@\(system.hostname)"]))
                try? envPipe.fileHandleForWriting.close()
                usleep(UInt32.random(in: 0...3000))
            } else {
                usleep(UInt32.random(in: 0...2000))
            }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            if p.terminationReason == .exit && p.terminationStatus == 0 { committed += 1 }
            // Whatever is visible in incoming/ is whole: a valid envelope and a message of its size.
            for id in system.queueFiles("incoming") {
                let (env, messageSize) = try system.queuedEnvelope(id)
                #expect(env.hasPrefix("POSTAMT-ENVELOPE 1\n") && env.hasSuffix("end\n"))
                let size = env.split(separator: "\n").first { $0.hasPrefix("size ") }.map { Int($0.dropFirst(5))! }
                #expect(messageSize == size)
            }
        }
        let visible = system.queueFiles("incoming").count
        #expect(visible >= committed)
        sleep(2)
        try system.startRunner()
        try waitFor("visible messages delivered and leftovers cleaned") {
            user.messages().count == visible && system.queueIsEmpty && system.queueFiles("tmp").isEmpty && system.queueFiles("mess").isEmpty
        }
        for text in user.messages() {
            #expect(text.contains("end-of-message-"), "a partial message was delivered")
        }
    }

    @Test func localDeliveryKilledMidWriteLeavesNoPartialMessage() throws {
        let user = try TestUser()
        let system = try Installation()
        let big = message(1, size: 8_000_000)
        for _ in 0..<12 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            p.arguments = ["-u", user.name, "--", "\(system.root)/bin/postamt-local", "-n", "-f", "s@x", user.name]
            p.environment = system.environment
            let input = Pipe()
            p.standardInput = input
            p.standardError = FileHandle.nullDevice
            try p.run()
            DispatchQueue.global().async {
                try? input.fileHandleForWriting.write(contentsOf: big)
                try? input.fileHandleForWriting.close()
            }
            usleep(UInt32.random(in: 0...200_000))
            // runuser forks postamt-local: kill the whole process group below it.
            _ = try? run("/usr/bin/pkill", ["-KILL", "-u", user.name, "-f", "postamt-local"])
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        for data in user.messageData() {
            #expect(data.count > big.count && String(decoding: data.suffix(40), as: UTF8.self).hasSuffix("end-of-message-1\n"),
                    "a partial message is visible in new/")
        }
    }
}

import Foundation
import Testing
import MailSystem
@testable import Maildir

final class Observations: @unchecked Sendable {
    private let lock = NSLock()
    private var snapshots: [[Int: [MaildirMessage]]] = []
    var errors: [String] = []
    private var stopRequested = false
    private var finishedThreads = 0
    var shouldStop: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested }
    func requestStop() { lock.lock(); stopRequested = true; lock.unlock() }
    func threadFinished() { lock.lock(); finishedThreads += 1; lock.unlock() }
    var finished: Int { lock.lock(); defer { lock.unlock() }; return finishedThreads }
    func add(thread: Int, _ s: MaildirSnapshot) {
        lock.lock(); defer { lock.unlock() }
        while snapshots.count <= thread { snapshots.append([:]) }
        snapshots[thread][snapshots[thread].count] = Array(s.messages)
    }
    func fail(_ text: String) { lock.lock(); errors.append(text); lock.unlock() }
    var perThread: [[[MaildirMessage]]] {
        lock.lock(); defer { lock.unlock() }
        return snapshots.map { d in d.keys.sorted().map { d[$0]! } }
    }
}

struct LockTests {
    @Test func staleLockOfDeadProcessIsBroken() throws {
        let dir = TemporaryDirectory()
        let file = "\(dir.path)/postamt-uidlist"
        let pid = try Spawn.start("/bin/true", arguments: ["true"], environment: [], fds: [])
        _ = try Spawn.wait(pid) // now certainly dead
        try writeFile(file + ".lock", "\(pid) \(MaildirName.hostName())\n")
        let start = Clock.monotonicNanoseconds()
        let lock = try DotLock.acquire(for: file, options: DotLock.Options(timeoutMilliseconds: 5000))
        #expect(Clock.monotonicNanoseconds() - start < 2_000_000_000)
        #expect(readText(file + ".lock") == "\(getpid()) \(MaildirName.hostName())\n")
        lock.release()
        #expect(!FileIO.exists(file + ".lock"))
    }

    @Test func oldLockFromOtherHostIsBrokenByAge() throws {
        let dir = TemporaryDirectory()
        let file = "\(dir.path)/x"
        try writeFile(file + ".lock", "1 some-other-host\n")
        // A live holder elsewhere: only its age tells; make it older than staleAfter.
        var times = [timespec(tv_sec: Int(Clock.seconds() - 600), tv_nsec: 0), timespec(tv_sec: Int(Clock.seconds() - 600), tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, file + ".lock", &times, 0) == 0)
        let lock = try DotLock.acquire(for: file, options: DotLock.Options(staleAfterSeconds: 120, timeoutMilliseconds: 2000))
        lock.release()
    }

    @Test func emptyLockIsBrokenOnlyWhenOld() throws {
        let dir = TemporaryDirectory()
        let file = "\(dir.path)/x"
        // Its holder died between creating and writing it: respected while young…
        try writeFile(file + ".lock", "")
        #expect(throws: MaildirError.lockTimeout(file + ".lock")) {
            _ = try DotLock.acquire(for: file, options: DotLock.Options(timeoutMilliseconds: 200))
        }
        // …broken once older than ten seconds.
        var times = [timespec(tv_sec: Int(Clock.seconds() - 11), tv_nsec: 0), timespec(tv_sec: Int(Clock.seconds() - 11), tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, file + ".lock", &times, 0) == 0)
        let lock = try DotLock.acquire(for: file, options: DotLock.Options(timeoutMilliseconds: 2000))
        #expect(readText(file + ".lock") == "\(getpid()) \(MaildirName.hostName())\n")
        lock.release()
        #expect(!FileIO.exists(file + ".lock"))
    }

    @Test func fileLockIsExclusiveAndFreedWithItsHolder() throws {
        let dir = TemporaryDirectory()
        let file = "\(dir.path)/postamt-uidlist"
        let options = DotLock.Options(timeoutMilliseconds: 100)
        let held = try FileLock.acquire(for: file, options: options)
        // Another open of the lock file (another session; OFD locks conflict within a process too).
        #expect(throws: MaildirError.lockTimeout(file + ".lock")) { _ = try FileLock.acquire(for: file, options: options) }
        held.release()
        try FileLock.withLock(for: file, options: options) { _ in }
        // A holder in another process (a POSIX lock, which conflicts with OFD locks) that is
        // killed without letting go: the kernel releases its lock.
        let script = "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR)\nfcntl.lockf(fd, fcntl.LOCK_EX)\ntime.sleep(60)\n"
        let holder = try Spawn.start("/usr/bin/python3", arguments: ["python3", "-c", script, file + ".lock"], environment: [], fds: [])
        var holds = false
        for _ in 0..<250 where !holds {
            do {
                try FileLock.withLock(for: file, options: DotLock.Options(timeoutMilliseconds: 0)) { _ in }
                usleep(20_000)
            } catch MaildirError.lockTimeout {
                holds = true
            }
        }
        #expect(holds, "the holder never took the lock")
        kill(holder, SIGKILL)
        _ = try Spawn.wait(holder)
        try FileLock.withLock(for: file, options: options) { _ in }
        // The lock file was removed while a waiter held its descriptor: the waiter locks the one at the path.
        let first = try FileLock.acquire(for: file, options: options)
        #expect(unlink(file + ".lock") == 0)
        let second = try FileLock.acquire(for: file, options: options)
        #expect(FileIO.exists(file + ".lock"))
        #expect(throws: MaildirError.lockTimeout(file + ".lock")) { _ = try FileLock.acquire(for: file, options: options) }
        second.release()
        first.release()
    }

    @Test func liveLockTimesOutAndIsLeftAlone() throws {
        let dir = TemporaryDirectory()
        let file = "\(dir.path)/x"
        try writeFile(file + ".lock", "1 some-other-host\n") // fresh, other host: must be respected
        #expect(throws: MaildirError.lockTimeout(file + ".lock")) {
            _ = try DotLock.acquire(for: file, options: DotLock.Options(timeoutMilliseconds: 200))
        }
        #expect(readText(file + ".lock") == "1 some-other-host\n")
        // And a session holding the uid list lock blocks a synchroniser until it lets go.
        #expect(unlink(file + ".lock") == 0)
        let md = Maildir(path: dir.path)
        try deliver(md, "a\n")
        let held = try FileLock.acquire(for: "\(md.path)/\(UIDList.fileName)")
        let quick = UIDList(folderPath: md.path, lockOptions: DotLock.Options(timeoutMilliseconds: 100))
        #expect(throws: MaildirError.lockTimeout("\(md.path)/\(UIDList.fileName).lock")) { _ = try quick.synchronize() }
        held.release()
        #expect(try quick.synchronize().messages.count == 1)
    }
}

struct ConcurrencyTests {
    /// Shell processes deliver with mv into new/ and rename flags in cur/ while three threads
    /// (each a fresh "session" every round) synchronise the uid list.
    @Test(.timeLimit(.minutes(1)))
    func concurrentDeliveriesAndSessions() throws {
        let dir = TemporaryDirectory()
        let md = Maildir(path: dir.path)
        try md.create()
        let writers = 3, perWriter = 40
        let deliverScript = """
            i=0; while [ $i -lt \(perWriter) ]; do i=$((i+1))
              n="$(date +%s).M${i}P$$Q$1.shtest"
              echo "message $i from $$" > "tmp/$n" && mv "tmp/$n" "new/$n"
            done
            """
        let flipScript = """
            end=$(($(date +%s)+60)); while [ ! -e stop ] && [ $(date +%s) -lt $end ]; do
              for f in cur/*:2,; do [ -e "$f" ] && mv "$f" "${f}S" 2>/dev/null; done
            done
            """
        let processes: [Process] = try (0..<writers).map { w in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", deliverScript, "sh", "\(w)"]
            p.currentDirectoryURL = URL(fileURLWithPath: md.path)
            try p.run()
            return p
        }
        let flipper = Process()
        flipper.executableURL = URL(fileURLWithPath: "/bin/sh")
        flipper.arguments = ["-c", flipScript]
        flipper.currentDirectoryURL = URL(fileURLWithPath: md.path)
        try flipper.run()

        let observations = Observations()
        for t in 0..<3 {
            Thread {
                while !observations.shouldStop {
                    do { observations.add(thread: t, try MaildirMailbox(maildir: md).synchronize()) }
                    catch { observations.fail("\(error)") }
                }
                observations.threadFinished()
            }.start()
        }
        for p in processes { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        observations.requestStop()
        while observations.finished < 3 { usleep(1000) }
        try writeFile("\(md.path)/stop", "")
        flipper.waitUntilExit()

        let final = try MaildirMailbox(maildir: md).synchronize()
        #expect(observations.errors.isEmpty, "\(observations.errors)")
        // No message lost, each exactly once, UIDs unique.
        #expect(final.messages.count == writers * perWriter)
        #expect(Set(final.messages.map(\.uid)).count == final.messages.count)
        #expect(names(in: "\(md.path)/cur").count == writers * perWriter)
        #expect(names(in: "\(md.path)/new").isEmpty)
        // The sessions really ran during the deliveries.
        #expect(observations.perThread.joined().contains { $0.count > 0 && $0.count < writers * perWriter })
        let finalUID = Dictionary(uniqueKeysWithValues: final.messages.map { ($0.baseName, $0.uid) })
        for snapshots in observations.perThread {
            var previousMax: UInt32 = 0
            var previousUIDs = Set<UInt32>()
            for messages in snapshots {
                // Every UID ever shown is the one the message keeps.
                for m in messages { #expect(finalUID[m.baseName] == m.uid, "uid of \(m.baseName) changed") }
                #expect(messages.map(\.uid) == messages.map(\.uid).sorted())
                // Assigned later means larger: anything new is above everything seen before.
                for m in messages where !previousUIDs.contains(m.uid) { #expect(m.uid > previousMax) }
                previousUIDs = Set(messages.map(\.uid))
                previousMax = max(previousMax, messages.map(\.uid).max() ?? 0)
            }
        }
        // Every holder let go: the lock (which stays in place) is free.
        let free = try FileLock.acquire(for: "\(md.path)/\(UIDList.fileName)", options: DotLock.Options(timeoutMilliseconds: 0))
        free.release()
    }
}

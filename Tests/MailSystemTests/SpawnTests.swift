import Testing
import Glibc
@testable import MailSystem

@Suite struct SpawnTests {
    @Test func mapsDescriptorsAndCollectsOutput() throws {
        let r = try Spawn.run("/bin/sh", arguments: ["sh", "-c", "cat; echo err >&2; exit 3"], environment: ["PATH=/bin:/usr/bin"],
                              input: [Array("hello ".utf8), Array("world\n".utf8)], timeout: 10)
        #expect(r.status == .exited(3))
        #expect(String(decoding: r.output, as: UTF8.self) == "hello world\nerr\n")
        #expect(!r.timedOut)
    }

    @Test func cleanEnvironment() throws {
        let r = try Spawn.run("/usr/bin/env", arguments: ["env"], environment: ["ONLY=this"], input: [], timeout: 10)
        #expect(String(decoding: r.output, as: UTF8.self) == "ONLY=this\n")
    }

    @Test func descriptorThreeAndSwappedOnes() throws {
        // fd 3 carries data into the child; 0 and 1 are swapped pipes.
        let p = try Pipe()
        try FileIO.writeAll(p.writeEnd.raw, Array("three".utf8))
        let out = try Pipe()
        let pid = try Spawn.start("/bin/sh", arguments: ["sh", "-c", "cat <&3"], environment: [],
                                  fds: [(0, -1), (1, out.writeEnd.raw), (2, -1), (3, p.readEnd.raw)])
        let readEnd = out.keepReadEnd()
        _ = p.keepReadEnd()
        let text = try FileIO.readAll(readEnd)
        close(readEnd)
        #expect(try Spawn.wait(pid) == .exited(0))
        #expect(text == Array("three".utf8))
    }

    @Test func timeoutKills() throws {
        let r = try Spawn.run("/bin/sleep", arguments: ["sleep", "30"], environment: [], input: [], timeout: 1)
        #expect(r.timedOut)
        #expect(r.status == .signaled(SIGKILL))
    }

    @Test func execFailureIsReported() {
        #expect(throws: Spawn.Failure.self) {
            _ = try Spawn.start("/nonexistent/program", arguments: ["x"], environment: [], fds: [])
        }
    }

    @Test func atomicWrite() throws {
        let dir = makeTemporaryDirectory(prefix: "fileio")
        defer { unlink("\(dir)/f"); rmdir(dir) }
        try FileIO.writeAtomically("\(dir)/f", Array("one".utf8))
        try FileIO.writeAtomically("\(dir)/f", Array("two".utf8))
        #expect(try FileIO.readFile("\(dir)/f") == Array("two".utf8))
        #expect(try FileIO.listDirectory(dir) == ["f"])
    }

    @Test func dates() {
        let d = Clock.rfc5322Date(0)
        #expect(d.contains("1970") || d.contains("1969"))
        #expect(d.split(separator: " ").count == 6)
    }
}

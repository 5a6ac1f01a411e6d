import Foundation
import Testing
import Glibc
@testable import MailSystem

/// FileIO's readers fill buffers they never zero first: what they return must be exactly the
/// bytes read, whatever the chunking.
@Suite struct FileIOReadTests {
    func file(_ bytes: [UInt8]) throws -> (Int32, String) {
        let path = NSTemporaryDirectory() + "postamt-fileio-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        try FileIO.writeAll(fd, bytes)
        lseek(fd, 0, SEEK_SET)
        return (fd, path)
    }

    @Test(arguments: [0, 1, 4095, 65536, 65537, 200_001])
    func readAllReturnsExactlyTheBytes(size: Int) throws {
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let (fd, path) = try file(bytes)
        defer { close(fd); unlink(path) }
        #expect(try FileIO.readAll(fd) == bytes)
        lseek(fd, 0, SEEK_SET)
        if size > 0 {
            #expect(throws: SystemError.self) { _ = try FileIO.readAll(fd, limit: size - 1) }
        }
    }

    @Test func readReturnsWhatOneReadGaveAndEmptyAtTheEnd() throws {
        let (fd, path) = try file(Array("hello, world".utf8))
        defer { close(fd); unlink(path) }
        #expect(try FileIO.read(fd, max: 5) == Array("hello".utf8))
        #expect(try FileIO.read(fd) == Array(", world".utf8))
        #expect(try FileIO.read(fd) == [])
        #expect(throws: SystemError.self) { _ = try FileIO.read(-1) }
    }
}

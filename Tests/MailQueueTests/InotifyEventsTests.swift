import Glibc
import Testing
@testable import MailQueue

struct InotifyEventsTests {
    /// One struct inotify_event as the kernel writes it: the name NUL-padded to `padTo`.
    func event(mask: Int32, name: String, padTo: Int = 16, wd: Int32 = 1) -> [UInt8] {
        var name = Array(name.utf8)
        if !name.isEmpty { name += [UInt8](repeating: 0, count: padTo - name.count % padTo) }
        var header: [UInt8] = []
        for value in [UInt32(bitPattern: wd), UInt32(bitPattern: mask), 0, UInt32(name.count)] {
            withUnsafeBytes(of: value) { header += $0 }
        }
        return header + name
    }

    @Test func namesInOrder() {
        let bytes = event(mask: IN_CREATE, name: "6B16BBEFB21227D63") + event(mask: IN_MOVED_TO, name: "A")
            + event(mask: IN_CREATE, name: "exactly-sixteen!", padTo: 16)
        #expect(InotifyEvents.names(in: bytes[...]) == ["6B16BBEFB21227D63", "A", "exactly-sixteen!"])
        #expect(InotifyEvents.names(in: [][...]) == [])
        // A slice that does not start at 0 (indices kept).
        let slice = ([9, 9] + bytes)[2...]
        #expect(InotifyEvents.names(in: slice)?.count == 3)
    }

    /// Events that cannot stand for what changed ask for a listing of the directory.
    @Test func overflowLostWatchOrPartialEventsAskForAListing() {
        let good = event(mask: IN_CREATE, name: "A")
        #expect(InotifyEvents.names(in: (good + event(mask: IN_Q_OVERFLOW, name: "", wd: -1))[...]) == nil)
        #expect(InotifyEvents.names(in: (event(mask: IN_IGNORED, name: "") + good)[...]) == nil)
        #expect(InotifyEvents.names(in: (good + good.prefix(10))[...]) == nil)
        #expect(InotifyEvents.names(in: good.dropLast(1)) == nil)
    }

    /// From the kernel itself: links made in a watched directory come back by name.
    @Test func theKernelsOwnEvents() throws {
        var template = Array("/tmp/postamt-inotify-XXXXXX".utf8CString)
        let dir = String(cString: try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }))
        defer { for n in ["x", "B7", "c"] { unlink("\(dir)/\(n)") }; rmdir(dir) }
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        defer { close(fd) }
        #expect(inotify_add_watch(fd, dir, UInt32(IN_CREATE | IN_MOVED_TO)) >= 0)
        close(open("\(dir)/x", O_CREAT | O_WRONLY, 0o600))
        #expect(link("\(dir)/x", "\(dir)/B7") == 0)
        #expect(rename("\(dir)/B7", "\(dir)/c") == 0)
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        #expect(n > 0)
        #expect(InotifyEvents.names(in: buffer[0..<max(0, n)]) == ["x", "B7", "c"])
    }
}

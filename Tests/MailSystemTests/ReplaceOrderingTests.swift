import Foundation
import Testing
import MailSystem

struct ReplaceOrderingTests {
    /// The answer (found from statfs and the device number in mountinfo) must agree with the
    /// mount whose mount point is the longest prefix of the directory in /proc/self/mounts.
    @Test func agreesWithTheMountTable() throws {
        #expect(ReplaceOrdering.of("/dev/shm") == .volatile) // tmpfs on every glibc Linux
        #expect(ReplaceOrdering.of("/proc") == .unknown)
        #expect(ReplaceOrdering.of("/no/such/directory") == .unknown)
        for dir in ["/tmp", "/var/tmp", FileManager.default.currentDirectoryPath] {
            let real = URL(fileURLWithPath: dir).resolvingSymlinksInPath().path
            let mounts = String(decoding: try Data(contentsOf: URL(fileURLWithPath: "/proc/self/mounts")), as: UTF8.self)
            var best: (point: String, type: String, options: [Substring])?
            for line in mounts.split(separator: "\n") {
                let f = line.split(separator: " ")
                guard f.count >= 4 else { continue }
                let point = String(f[1]).replacingOccurrences(of: "\\040", with: " ")
                let inside = point == "/" || real == point || real.hasPrefix(point + "/")
                if inside && point.count >= (best?.point.count ?? -1) {
                    best = (point, String(f[2]), f[3].split(separator: ","))
                }
            }
            let mount = try #require(best)
            let expected: ReplaceOrdering
            switch mount.type {
            case "tmpfs", "ramfs": expected = .volatile
            case "ext4" where !mount.options.contains("noauto_da_alloc") && !mount.options.contains("data=writeback"):
                expected = .dataBeforeRename
            default: expected = .unknown
            }
            #expect(ReplaceOrdering.of(dir) == expected, "\(dir) on \(mount.point) (\(mount.type))")
        }
    }
}

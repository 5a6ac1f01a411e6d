import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp (mkdtemp(3)) whose name starts with `prefix`; the caller removes
/// it (or uses TemporaryDirectory).
public func makeTemporaryDirectory(prefix: String = "postamt-test") -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp: \(String(cString: strerror(errno)))")
    return String(cString: template)
}

/// A fresh directory, removed with everything in it when the value is released.
public final class TemporaryDirectory {
    public let path: String
    public init(prefix: String = "postamt-test") { path = makeTemporaryDirectory(prefix: prefix) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

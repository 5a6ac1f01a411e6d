#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: the errno it left and what we were doing.
///
/// Syscall wrappers in this module throw it; libraries turn it into their own errors, and each
/// program's `main` maps those to an exit status (see STYLE.md, "three layers of errors").
public struct SystemError: Error, CustomStringConvertible, Equatable {
    public let errno: Int32
    public let operation: String

    public init(_ operation: String, errno: Int32 = Glibc.errno) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "\(operation): \(SystemError.describe(errno))" }

    /// `strerror` as a Swift string.
    public static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    /// Errors that mean "the disk or a quota is full": callers report them as temporary.
    public var isOutOfSpace: Bool { errno == ENOSPC || errno == EDQUOT }
}

/// Calls `body` until it does not fail with EINTR; throws on -1.
@inline(__always)
public func retryingEINTR<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result == -1 {
            if errno == EINTR { continue }
            throw SystemError(operation())
        }
        return result
    }
}

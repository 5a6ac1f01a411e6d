#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// Hands out UIDVALIDITY values for the folders of one Maildir, from `postamt-uidvalidity` in
/// its root (Dovecot's dovecot-uidvalidity does the same): each value is the current time or,
/// if that is not larger, the last value + 1. So a folder whose uid list was lost gets a
/// UIDVALIDITY larger than before even within the same second, and clients drop their caches
/// (RFC 3501 §2.3.1.1: "the unique identifier validity value MUST be greater").
public enum UIDValidityAllocator {
    public static let fileName = "postamt-uidvalidity"

    public static func next(root: String, atLeast minimum: UInt32 = 1, lockOptions: DotLock.Options = DotLock.Options()) throws -> UInt32 {
        let path = "\(root)/\(fileName)"
        return try DotLock.withLock(for: path, options: lockOptions) { _ in
            var last: UInt32 = 0
            if let bytes = try? FileIO.readFile(path, limit: 64) {
                last = UInt32(String(decoding: bytes, as: UTF8.self).trimmingNewline) ?? 0
            }
            let now = UInt32(truncatingIfNeeded: max(1, min(Clock.seconds(), Int64(UInt32.max - 1))))
            var value = max(now, minimum)
            if last != UInt32.max && value <= last { value = last + 1 }
            try mapSystemErrors { try FileIO.writeAtomically(path, Array("\(value)\n".utf8), mode: 0o600) }
            return value
        }
    }
}

extension String {
    var trimmingNewline: String {
        var s = self
        // Unicode scalars, not Characters: "\r\n" is one Character.
        while let last = s.unicodeScalars.last, last == "\n" || last == "\r" { s.unicodeScalars.removeLast() }
        return s
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// What a read(2) of an inotify descriptor returned (inotify(7)): `struct inotify_event`s, each
/// 16 bytes (wd, mask, cookie, len; host byte order) and then `len` bytes of name, NUL-padded.
enum InotifyEvents {
    /// The names the events carry, in order; nil when the events cannot stand for what changed
    /// — the kernel's queue overflowed (IN_Q_OVERFLOW) or the watch is gone (IN_IGNORED) — or
    /// the buffer is not whole events: the directory must be listed instead.
    static func names(in bytes: ArraySlice<UInt8>) -> [String]? {
        var names: [String] = []
        var at = bytes.startIndex
        func word(_ offset: Int) -> UInt32 {
            bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at - bytes.startIndex + offset, as: UInt32.self) }
        }
        while at < bytes.endIndex {
            guard bytes.endIndex - at >= 16 else { return nil }
            let mask = word(4)
            let length = Int(word(12))
            guard bytes.endIndex - at - 16 >= length else { return nil }
            if mask & UInt32(IN_Q_OVERFLOW | IN_IGNORED) != 0 { return nil }
            let name = bytes[(at + 16)..<(at + 16 + length)]
            let end = name.firstIndex(of: 0) ?? name.endIndex
            if end > name.startIndex { names.append(String(decoding: name[..<end], as: UTF8.self)) }
            at += 16 + length
        }
        return names
    }
}

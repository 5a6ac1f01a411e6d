#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// OBJECTID (RFC 8474) for Maildir folders and messages (see postamt-maildir(5)).
///
/// MAILBOXID: a random id kept in the folder's `postamt-mailboxid`, made the first time it is
/// asked for. The file lives in the folder's directory, so it moves with a RENAME.
///
/// EMAILID: a hash of the message's unique name, or the `,O=<id>` field a COPY or MOVE writes
/// into the copy's name: a copied or moved message keeps the EMAILID of the one it came from,
/// as RFC 8474 §5.1 asks, and nothing is stored anywhere else. THREADID: not computed (NIL,
/// RFC 8474 §5.2).
public enum MaildirObjectID {
    public static let mailboxIDFile = "postamt-mailboxid"

    /// The folder's MAILBOXID, made (and kept: the first writer wins) when there is none.
    public static func mailboxID(folderPath: String) throws -> String {
        let path = "\(folderPath)/\(mailboxIDFile)"
        if let id = read(path) { return id }
        var rng = SystemRandomNumberGenerator()
        let id = "F" + (0..<3).map { _ in hex(rng.next()) }.joined().prefix(24)
        // Written whole under another name, then linked: a reader never sees half of it, and
        // of two sessions making one at once, the first link wins and both return its id.
        let temporary = "\(path).\(getpid()).\(UInt32.random(in: 0...UInt32.max, using: &rng))"
        try mapSystemErrors { try FileIO.writeAtomically(temporary, Array("\(id)\n".utf8), mode: 0o600) }
        defer { unlink(temporary) }
        if link(temporary, path) != 0 {
            if errno == EEXIST, let existing = read(path) { return existing }
            // A damaged file (not an object id): replaced.
            if errno == EEXIST {
                guard rename(temporary, path) == 0 else { throw MaildirError.system(SystemError("rename \(path)")) }
                return id
            }
            throw MaildirError.system(SystemError("link \(path)"))
        }
        return id
    }

    static func read(_ path: String) -> String? {
        guard let bytes = try? FileIO.readFile(path, limit: 512) else { return nil }
        let id = String(decoding: bytes, as: UTF8.self).trimmingNewline
        return isObjectID(id) ? id : nil
    }

    /// `objectid` of RFC 8474 §7: 1 to 255 letters, digits, "_" and "-".
    public static func isObjectID(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 255 && text.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5F || byte == 0x2D
        }
    }

    /// The EMAILID of the message with this base name: its `,O=` field when a copy has one,
    /// else "M" and 16 hex digits of the FNV-1a hash of the unique part (before the first ",").
    public static func emailID(baseName: String) -> String {
        let utf8 = Array(baseName.utf8)
        var i = 0
        while i + 2 < utf8.count {
            if utf8[i] == UInt8(ascii: ","), utf8[i + 1] == UInt8(ascii: "O"), utf8[i + 2] == UInt8(ascii: "=") {
                var j = i + 3
                while j < utf8.count, utf8[j] != UInt8(ascii: ",") { j += 1 }
                let id = String(decoding: utf8[(i + 3)..<j], as: UTF8.self)
                if isObjectID(id) { return id }
            }
            i += 1
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in utf8 {
            if byte == UInt8(ascii: ",") { break }
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return "M" + hex(hash)
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

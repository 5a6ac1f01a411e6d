#if canImport(Glibc)
import Glibc
#endif
import CCrypt
import MailAuth
import MailSystem

/// Virtual users from a file (`auth_passwd_file`), checked with crypt(3) from libxcrypt.
///
/// One user a line, `user:hash` with the hash in crypt(3) form (`$y$…` yescrypt, `$6$…`
/// SHA-512-crypt, `$2b$…` bcrypt), optionally prefixed `{CRYPT}` as Dovecot writes it; fields
/// after a second colon are ignored (Dovecot's passwd-file has uid, gid, home there); empty
/// lines and lines starting with `#` are comments. The file is read for every check, so an edit
/// takes effect at once (the cache aside).
public enum PasswdFileAuthenticator {
    /// The largest file read.
    public static let maxFileSize = 16 << 20

    public static func authenticate(file: String, user: [UInt8], password: [UInt8]) -> AuthResponse {
        let bytes: [UInt8]?
        do {
            bytes = try FileIO.readFile(file, limit: maxFileSize)
        } catch {
            return .temporary(reason: "passwd file: \(error)")
        }
        guard let bytes else { return .temporary(reason: "passwd file \(file) is missing") }
        let entries = parse(bytes)
        guard let entry = entries.first(where: { $0.user == user }) else {
            // Spend the same time as for a known user, so timing does not tell who exists.
            if let any = entries.first { _ = verify(password: password, hash: any.hash) }
            return .fail
        }
        return verify(password: password, hash: entry.hash) ? .ok(user: entry.user) : .fail
    }

    /// The entries of a passwd file; malformed lines are skipped.
    public static func parse(_ bytes: [UInt8]) -> [(user: [UInt8], hash: [UInt8])] {
        var entries: [(user: [UInt8], hash: [UInt8])] = []
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            var line = line
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
            let fields = line.split(separator: UInt8(ascii: ":"), maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count >= 2, !fields[0].isEmpty else { continue }
            var hash = fields[1]
            let prefix = Array("{CRYPT}".utf8)
            if hash.starts(with: prefix) { hash = hash.dropFirst(prefix.count) }
            guard !hash.isEmpty else { continue }
            entries.append((Array(fields[0]), Array(hash)))
        }
        return entries
    }

    /// True when crypt(password, hash) gives hash back; compared in constant time.
    public static func verify(password: [UInt8], hash: [UInt8]) -> Bool {
        guard !password.isEmpty, !password.contains(0), !hash.contains(0) else { return false }
        var phrase = password.map { CChar(bitPattern: $0) } + [0]
        defer { for i in phrase.indices { phrase[i] = 0 } }
        let setting = hash.map { CChar(bitPattern: $0) } + [0]
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        data.initialize(to: crypt_data())
        defer {
            data.deinitialize(count: 1)
            data.deallocate()
        }
        // crypt_rn returns NULL on failure (an unknown method, a locked "!" hash), never "*0".
        guard let result = crypt_rn(phrase, setting, data, Int32(MemoryLayout<crypt_data>.size)) else { return false }
        let computed = Array(String(cString: result).utf8)
        explicit_bzero(data, MemoryLayout<crypt_data>.size)
        guard computed.count == hash.count else { return false }
        var difference: UInt8 = 0
        for i in computed.indices { difference |= computed[i] ^ hash[i] }
        return difference == 0
    }
}

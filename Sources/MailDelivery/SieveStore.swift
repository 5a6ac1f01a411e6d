#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem
import Maildir
import Sieve

/// Reading and compiling a script file under the configured limits.
public enum SieveLoader {
    public static func limits(_ configuration: Configuration) -> SieveParseLimits {
        SieveParseLimits(maxNesting: configuration.count("sieve_max_nesting"), maxSize: Int(configuration.size("sieve_max_script_size")))
    }

    /// nil when there is no such file; else the script or the error (with line:column).
    /// With `cache`, the compiled form is kept beside the script (`SCRIPT.postamt-bin`) and
    /// used while the script's device, inode, size and mtime are those recorded in it.
    public static func compile(path: String, configuration: Configuration, cache: Bool = false) -> Result<SieveScript, SieveError>? {
        guard let st = FileIO.status(path) else { return nil }
        let parseLimits = limits(configuration)
        let cachePath = "\(path).postamt-bin"
        let stamp = Array("\(st.st_dev) \(st.st_ino) \(st.st_size) \(st.st_mtim.tv_sec) \(st.st_mtim.tv_nsec)\n".utf8)
        if cache, let bytes = try? FileIO.readFile(cachePath, limit: 64 << 20), bytes.starts(with: stamp),
           let script = SieveBinary.decode(Array(bytes[stamp.count...]), limits: parseLimits) {
            return .success(script)
        }
        let limit = Int(configuration.size("sieve_max_script_size"))
        let bytes: [UInt8]
        do {
            guard let b = try FileIO.readFile(path, limit: limit + 1) else { return nil }
            bytes = b
        } catch let e as SystemError where e.errno == EFBIG {
            return .failure(SieveError("script is larger than sieve_max_script_size"))
        } catch {
            return .failure(SieveError("cannot read the script: \(error)"))
        }
        let script: SieveScript
        do { script = try SieveScript.compile(bytes, limits: parseLimits) } catch let e as SieveError {
            return .failure(e)
        } catch {
            return .failure(SieveError("\(error)"))
        }
        // Best effort: a directory we cannot write (the administrator's) just means no cache.
        if cache { try? FileIO.writeAtomically(cachePath, stamp + SieveBinary.encode(script, limits: parseLimits), mode: 0o600) }
        return .success(script)
    }
}

extension SieveLoader {
    /// The environment from the settings: limits, the spam tag score, and include looking in
    /// `personalDirectory` and sieve_global_directory.
    public static func environment(_ configuration: Configuration, personalDirectory: String, now: Int64, cache: Bool = false) -> SieveEnvironment {
        var env = SieveEnvironment()
        env.now = now
        env.recipientDelimiter = configuration.string("recipient_delimiter")
        env.spamTagScore = Double(configuration.string("spam_tag_score")) ?? 5
        env.limits.maxActions = configuration.count("sieve_max_actions")
        env.limits.maxRedirects = configuration.count("sieve_max_redirects")
        env.limits.maxSteps = configuration.count("sieve_max_steps")
        env.limits.maxIncludeDepth = configuration.count("sieve_max_include_depth")
        env.loadScript = { name, global in
            let path = global ? "\(configuration.string("sieve_global_directory"))/\(name).sieve" : "\(personalDirectory)/\(name).sieve"
            switch compile(path: path, configuration: configuration, cache: cache) {
            case .none: return nil
            case .some(.success(let s)): return s
            case .some(.failure(let e)): throw SieveError("include \"\(name)\": \(e)")
            }
        }
        return env
    }
}

/// The per-user record of vacation replies sent and duplicate ids seen (RFC 5230 §4.2,
/// RFC 7352): one line per key, `EXPIRY HASH`, the key hashed so the file holds no addresses.
/// Updated under a lock, replaced atomically, expired entries dropped on each write.
public struct SieveDuplicateDatabase: Sendable {
    public let path: String
    public init(path: String) { self.path = path }

    static func hash(_ key: String) -> String {
        // FNV-1a, 64 bits, twice with different offsets: 128 bits against accidental collisions.
        var a: UInt64 = 0xcbf29ce484222325, b: UInt64 = 0x84222325cbf29ce4
        for byte in key.utf8 {
            a = (a ^ UInt64(byte)) &* 0x100000001b3
            b = (b ^ UInt64(byte)) &* 0x100000001b3
        }
        return String(a, radix: 16) + String(b, radix: 16)
    }

    func load() -> [String: Int64] {
        guard let bytes = try? FileIO.readFile(path, limit: 16 << 20) else { return [:] }
        var out: [String: Int64] = [:]
        for line in bytes.split(separator: 0x0A) {
            let parts = line.split(separator: 0x20)
            guard parts.count == 2, let expiry = Int64(String(decoding: parts[0], as: UTF8.self)) else { continue }
            out[String(decoding: parts[1], as: UTF8.self)] = expiry
        }
        return out
    }

    public func contains(_ key: String, now: Int64) -> Bool {
        (load()[SieveDuplicateDatabase.hash(key)] ?? 0) > now
    }

    /// Records keys for their periods (seconds).
    public func record(_ entries: [(String, Int64)], now: Int64) throws {
        guard !entries.isEmpty else { return }
        try FileLock.withLock(for: path) { _ in try store(entries, now: now) }
    }

    /// Records `key` unless it is there already, in one step under the lock, so two deliveries
    /// at the same time cannot both send a vacation reply. True: the caller may go ahead.
    public func claim(_ key: String, period: Int64, now: Int64) throws -> Bool {
        try FileLock.withLock(for: path) { _ in
            if contains(key, now: now) { return false }
            try store([(key, period)], now: now)
            return true
        }
    }

    func store(_ entries: [(String, Int64)], now: Int64) throws {
        var table = load().filter { $0.value > now }
        for (key, period) in entries { table[SieveDuplicateDatabase.hash(key)] = now + period }
        let text = table.map { "\($0.value) \($0.key)\n" }.sorted().joined()
        try FileIO.writeAtomically(path, Array(text.utf8), mode: 0o600)
    }
}

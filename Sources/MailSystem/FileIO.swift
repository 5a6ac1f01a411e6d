#if canImport(Glibc)
import Glibc
#endif
import CSpawn

/// A file descriptor we own: it is closed exactly once, when the value ends.
///
/// `~Copyable` so that ownership is explicit, as in swift-subprocess's IODescriptor.
/// EBADF on close would be a bug in our code, not an error to report, so close ignores results.
public struct OwnedFD: ~Copyable {
    public let raw: Int32

    public init(adopting raw: Int32) { self.raw = raw }

    deinit { Glibc.close(raw) }

    /// Gives up ownership without closing (for a descriptor handed to a child or kept open).
    public consuming func release() -> Int32 {
        let fd = raw
        discard self
        return fd
    }

    /// Closes now and reports the result: a close that fails after writes means lost data on
    /// some file systems (NFS), so durable writers check it.
    public consuming func closeChecked() throws {
        let fd = raw
        discard self
        if Glibc.close(fd) != 0 && errno != EINTR { throw SystemError("close") }
    }
}

public enum FileIO {
    /// open(2) with O_CLOEXEC, retrying EINTR.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws -> OwnedFD {
        let fd = try retryingEINTR("open \(path)") { Glibc.open(path, flags | O_CLOEXEC, mode) }
        return OwnedFD(adopting: fd)
    }

    /// Writes every byte, retrying short writes and EINTR.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { if errno == EAGAIN { waitWritable(fd) }; continue }
                throw SystemError("write")
            }
            offset += n
        }
    }

    /// A file in memory holding `bytes`, positioned at its start, close-on-exec: memfd_create(2),
    /// else (an older kernel) an unlinked temporary file in `directory` ($TMPDIR or /tmp when
    /// nil). For handing bytes to code that reads a descriptor (a program's fd 0); nothing stays
    /// behind on disk.
    public static func memoryFile(_ name: String, _ bytes: [UInt8], directory: String? = nil) throws -> Int32 {
        var fd = postamt_memfd(name)
        if fd < 0 {
            let directory = directory ?? getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
            var template = Array("\(directory)/\(name).XXXXXX".utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard fd >= 0 else { throw SystemError("mkstemp \(directory)") }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            unlink(String(cString: template))
        }
        do {
            try writeAll(fd, bytes)
            guard lseek(fd, 0, SEEK_SET) == 0 else { throw SystemError("lseek") }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0) }
    }

    public static func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0) }
    }

    public static func writeAll(_ fd: Int32, _ text: String) throws {
        var text = text
        try text.withUTF8 { try writeAll(fd, UnsafeRawBufferPointer($0)) }
    }

    private static func waitWritable(_ fd: Int32) {
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = poll(&p, 1, 1000)
    }

    /// Reads up to `max` bytes; an empty result means end of file.
    /// (The read buffers here are never zero-filled first: read(2) fills what it returns, and a
    /// page of a buffer is touched only when data lands in it. Zeroing 64 KiB cost 16 page
    /// faults a call, in every forked delivery child.)
    public static func read(_ fd: Int32, max: Int = 65536) throws -> [UInt8] {
        var failure: SystemError? = nil
        let buffer = [UInt8](unsafeUninitializedCapacity: max) { raw, count in
            do {
                count = try retryingEINTR("read") { Glibc.read(fd, raw.baseAddress, max) }
            } catch {
                failure = error as? SystemError ?? SystemError("read")
                count = 0
            }
        }
        if let failure { throw failure }
        return buffer
    }

    /// Reads until end of file, refusing more than `limit` bytes.
    public static func readAll(_ fd: Int32, limit: Int = Int.max) throws -> [UInt8] {
        var result: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = try retryingEINTR("read") { Glibc.read(fd, chunk.baseAddress, chunk.count) }
            if n == 0 { return result }
            if result.count + n > limit { throw SystemError("read", errno: EFBIG) }
            result.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
        }
    }

    /// Reads a whole file; nil when it does not exist.
    public static func readFile(_ path: String, limit: Int = 64 << 20) throws -> [UInt8]? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SystemError("open \(path)")
        }
        let owned = OwnedFD(adopting: fd)
        return try readAll(owned.raw, limit: limit)
    }

    public static func fsync(_ fd: Int32, _ what: @autoclosure () -> String = "fsync") throws {
        _ = try retryingEINTR(what()) { Glibc.fsync(fd) }
    }

    /// fsync of a directory, the step that makes a link/rename/unlink in it durable.
    public static func fsyncDirectory(_ path: String) throws {
        let dir = try open(path, O_RDONLY | O_DIRECTORY)
        try fsync(dir.raw, "fsync \(path)")
    }

    /// rename(2) that never replaces: false with errno EEXIST when `to` exists (ENOENT when
    /// `from` does not; EINVAL or ENOSYS where the file system or kernel cannot do it).
    public static func renameNoReplace(_ from: String, _ to: String) -> Bool {
        postamt_rename_noreplace(from, to) == 0
    }

    /// A file with no name in `directory`'s file system (O_TMPFILE), open for writing (the
    /// caller owns the descriptor); it is freed when closed unless `linkOpenFile` gave it a
    /// name. nil with errno where the file system or kernel cannot make one (EOPNOTSUPP,
    /// EISDIR, EINVAL): the caller names a file itself.
    public static func openUnnamed(in directory: String, mode: mode_t = 0o600) -> Int32? {
        let fd = postamt_open_unnamed(directory, UInt32(mode))
        return fd >= 0 ? fd : nil
    }

    /// Gives the open file `fd` (from `openUnnamed`) the name `path`, never replacing one:
    /// false with errno (EEXIST when `path` exists; ENOENT without /proc).
    public static func linkOpenFile(_ fd: Int32, to path: String) -> Bool {
        postamt_link_open_file(fd, path) == 0
    }

    /// Makes the first `length` bytes of the open file read as zeros while keeping its blocks
    /// allocated (fallocate ZERO_RANGE, size unchanged): a file that will be written again is
    /// wiped without freeing blocks to allocate them anew. False with errno where the file
    /// system cannot (EOPNOTSUPP: tmpfs, older kernels).
    public static func zeroKeepingBlocks(_ fd: Int32, length: Int64) -> Bool {
        postamt_zero_range(fd, length) == 0
    }

    /// Writes `bytes` to `path` durably and atomically: a temporary file in the same directory,
    /// fsync, rename over `path`, fsync of the directory. A reader sees the old or the new file,
    /// never a torn one. A failed fsync is not retried: the attempt is discarded and thrown.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o640) throws {
        try replace(path, bytes, mode: mode, durability: .full)
    }

    /// How much of a replacement survives a crash.
    public enum Durability: Sendable {
        /// No fsync: a crash may leave the old file or (on file systems that do not order the
        /// data before the rename) a short one — for caches that check their own integrity.
        case none
        /// The new file's contents are fsync'd before the rename, the directory is not: a crash
        /// leaves the old file or the new one, whole, never a torn one.
        case contents
        /// Contents and directory fsync'd: once this returns, the new file survives a crash.
        case full
    }

    /// Replaces `path` with `bytes` through a temporary file and rename(2): a reader sees the
    /// old or the new file, never a torn one; `durability` says what a crash can do.
    public static func replace(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o640, durability: Durability) throws {
        let dir = directoryName(path)
        let temp = "\(dir)/.tmp.\(getpid()).\(Clock.monotonicNanoseconds()).\(baseName(path))"
        do {
            let fd = try open(temp, O_WRONLY | O_CREAT | O_EXCL, mode: mode)
            try writeAll(fd.raw, bytes)
            if durability != .none { try fsync(fd.raw, "fsync \(temp)") }
            try fd.closeChecked()
            _ = try retryingEINTR("rename \(temp)") { Glibc.rename(temp, path) }
        } catch {
            Glibc.unlink(temp)
            throw error
        }
        if durability == .full { try fsyncDirectory(dir) }
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// mkdir -p with a mode for the directories it creates.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        if isDirectory(path) { return }
        let parent = directoryName(path)
        if parent != path && !parent.isEmpty { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 {
            if errno != EEXIST { throw SystemError("mkdir \(path)") }
        } else {
            chmod(path, mode) // the mode asked for, whatever the umask
        }
    }

    /// Names in a directory, without "." and "..".
    public static func listDirectory(_ path: String) throws -> [String] {
        var names: [String] = []
        try forEachEntry(path) { name in
            names.append(String(decoding: name, as: UTF8.self))
            return true
        }
        return names
    }

    /// Calls `body` with the bytes of each entry's name ("." and ".." left out, no String
    /// made), in the directory's order, until it returns false.
    public static func forEachEntry(_ path: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> Bool) throws {
        guard let dir = opendir(path) else { throw SystemError("opendir \(path)") }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let goOn = try withUnsafePointer(to: &entry.pointee.d_name) { tuple in
                try tuple.withMemoryRebound(to: UInt8.self, capacity: 256) { name in
                    let length = strnlen(UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self), 256)
                    let bytes = UnsafeBufferPointer(start: name, count: length)
                    if length <= 2 && bytes.allSatisfy({ $0 == UInt8(ascii: ".") }) { return true }
                    return try body(bytes)
                }
            }
            if !goOn { return }
        }
    }

    /// Removes `path` and, when it is a directory, everything below it; symbolic links are
    /// removed, never followed. What cannot be removed stays (best effort: for scratch trees).
    public static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            for name in (try? listDirectory(path)) ?? [] { removeTree(path + "/" + name) }
            Glibc.rmdir(path)
        } else {
            Glibc.unlink(path)
        }
    }

    public static func unlinkIfPresent(_ path: String) throws {
        if Glibc.unlink(path) != 0 && errno != ENOENT { throw SystemError("unlink \(path)") }
    }

    public static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    public static func baseName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// The size and modification time of a file, or nil when it does not exist.
    public static func status(_ path: String) -> stat? {
        var st = stat()
        return stat(path, &st) == 0 ? st : nil
    }

    /// lstat(2): the link itself when `path` is a symbolic link.
    public static func linkStatus(_ path: String) -> stat? {
        var st = stat()
        return lstat(path, &st) == 0 ? st : nil
    }

    /// Identity, size and modification time of each file (-1s for one that is missing): two
    /// stamps differ when any of the files was replaced, changed or came or went. A long-lived
    /// server compares them to take up changed configuration files.
    public static func stamp(_ paths: [String]) -> [Int] {
        paths.flatMap { path -> [Int] in
            guard let st = status(path) else { return [-1, -1, -1, -1] }
            return [Int(st.st_ino), Int(st.st_size), Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec)]
        }
    }

    /// The directory that holds the running executable (/proc/self/exe, links resolved).
    public static func executableDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return "." }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return directoryName(path)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import IMAPEngine
import MailLogin

/// `IMAPSession` in the shape MailLogin's `SessionHost` drives. While the client idles (RFC
/// 2177), the selected folder's new/ and cur/ are watched with inotify: the host wakes the
/// engine when they change, and the session sends the untagged updates.
final class IMAPSessionEngine: SessionEngine {
    let session: IMAPSession
    private var watcher: DirectoryWatcher?

    /// After COMPRESS (RFC 4978): everything read is inflated, everything sent deflated.
    private var compression: IMAPDeflateStreams?
    let compressionLevel: Int32
    /// Set when the compressed stream broke (corrupt input, zlib failure): the connection ends.
    private var compressionFailed = false
    var log: ((String) -> Void)?
    /// Answers the session's `authenticationRequest` (postamt-auth, then becoming the user);
    /// without one every login is answered "temporarily unavailable".
    var authenticator: ((IMAPAuthenticationRequest) -> IMAPLoginOutcome)?

    /// IDLE on shared storage: whether and how often the folder is also polled.
    let idlePoll: IMAPIdlePoll
    /// While a polling IDLE runs: what the folder looked like at the last look.
    private var pollFingerprint: IMAPIdlePoll.Fingerprint?

    init(_ session: IMAPSession, compressionLevel: Int32 = 6, idlePoll: IMAPIdlePoll = IMAPIdlePoll()) {
        self.session = session
        self.compressionLevel = compressionLevel
        self.idlePoll = idlePoll
    }

    /// The host wakes a polling IDLE this often (besides inotify, which still reports this
    /// host's own changes at once).
    var wakeInterval: Duration? {
        guard session.isIdling || session.isNotifying, let folder = session.selectedMailboxPath else { return nil }
        if pollFingerprint == nil {
            guard idlePoll.polls(folder) else { return nil }
            pollFingerprint = IMAPIdlePoll.Fingerprint(folder: folder)
            if idlePoll.mode == .only {
                // As for the inotify watch: look once more now that the fingerprint is taken.
                let missed = session.idleCheck()
                if !missed.isEmpty || session.isFinished { pendingWake = missed }
            }
        }
        return idlePoll.interval
    }

    /// Bytes as they go on the wire: deflated (with a sync flush) once COMPRESS is on.
    func wire(_ bytes: [UInt8]) -> [UInt8] {
        guard let compression, !bytes.isEmpty else { return bytes }
        guard let packed = compression.compress(bytes) else {
            compressionFailed = true
            return []
        }
        return packed
    }

    /// Client bytes through the session, inflated first once COMPRESS is on.
    private func receive(_ bytes: [UInt8]) -> [UInt8] {
        guard let compression else { return answeringAuthentication(session.receive(bytes)) }
        var answer: [UInt8] = []
        let intact = compression.decompress(bytes) { piece in
            if !session.isFinished { answer += answeringAuthentication(session.receive(piece)) }
        }
        if !intact {
            log?("COMPRESS: corrupt compressed input; closing")
            compressionFailed = true
        }
        return answer
    }

    /// The engine contract's request, answered here and now: the session goes on with what
    /// was pipelined behind the LOGIN or AUTHENTICATE.
    private func answeringAuthentication(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        while let request = session.authenticationRequest {
            bytes += session.authenticationAnswered(authenticator?(request) ?? .unavailable)
        }
        return bytes
    }

    var isAuthenticated: Bool { session.user != nil }

    func start() -> [SessionAction] { [.send(session.greeting())] }

    func feed(_ bytes: [UInt8]) -> [SessionAction] { after(receive(bytes)) }

    func continueOutput() -> [SessionAction] { [] }

    func tlsEstablished() -> [SessionAction] {
        session.tlsStarted()
        return []
    }

    func endOfInput() -> [SessionAction] { [.close] }

    func timedOut() -> [SessionAction] { [.send(wire(session.timeout())), .close] }

    var wakeDescriptor: Int32? {
        // NOTIFY (RFC 5465) keeps the watch on outside IDLE too.
        guard session.isIdling || session.isNotifying else {
            watcher = nil
            watchedDirectories = []
            pollFingerprint = nil
            return nil
        }
        if idlePoll.mode == .only {
            // No inotify: only the polls (wakeInterval) wake the session.
            if pendingWake != nil, let ready = Self.alwaysReadable { return ready }
            return nil
        }
        let directories = session.watchedDirectories
        if watcher == nil || directories != watchedDirectories {
            watchedDirectories = directories
            watcher = DirectoryWatcher(directories, movedOrDeleted: session.selectedMailboxPath.map { [$0] } ?? [])
            // IDLE looked at the mailbox before the watch began: a delivery, an expunge or a
            // RENAME in between would wait for the next change. Look once more now that the
            // watch is on; if that found news, wake at once (a descriptor that is readable).
            let missed = session.idleCheck()
            if !missed.isEmpty || session.isFinished {
                pendingWake = missed
            }
        }
        if pendingWake != nil, let ready = Self.alwaysReadable { return ready }
        return watcher?.fd
    }

    /// What `watcher` watches: a SELECT or NOTIFY SET that changes it renews the watch.
    private var watchedDirectories: [String] = []

    /// Updates found when the watch began, sent at the wake that follows.
    private var pendingWake: [UInt8]?

    /// A pipe holding one byte that is never read: poll(2) always finds it readable.
    private static let alwaysReadable: Int32? = {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        var byte: UInt8 = 0
        guard write(fds[1], &byte, 1) == 1 else { return nil }
        return fds[0]
    }()

    func wake() -> [SessionAction] {
        if let pending = pendingWake {
            pendingWake = nil
            return after(pending)
        }
        let notified = watcher?.drain() ?? false
        if !notified, let before = pollFingerprint, let folder = session.selectedMailboxPath {
            // A poll: look only when something in the folder changed.
            let now = IMAPIdlePoll.Fingerprint(folder: folder)
            if now == before && !session.isNotifying { return [] }
            pollFingerprint = now
        } else if let folder = session.selectedMailboxPath, pollFingerprint != nil {
            pollFingerprint = IMAPIdlePoll.Fingerprint(folder: folder)
        }
        return after(session.idleCheck())
    }

    private func after(_ bytes: [UInt8]) -> [SessionAction] {
        var actions: [SessionAction] = []
        var bytes = bytes
        if session.wantsCompression {
            // The tagged OK goes out as it is; compression starts right after it (RFC 4978 §3),
            // and what the client pipelined behind COMPRESS is already compressed.
            if !bytes.isEmpty { actions.append(.send(bytes)) }
            guard let streams = IMAPDeflateStreams(level: compressionLevel) else {
                log?("COMPRESS: zlib could not start; closing")
                return actions + [.close]
            }
            compression = streams
            bytes = receive(session.compressionStarted())
        }
        let packed = wire(bytes)
        if !packed.isEmpty { actions.append(.send(packed)) }
        if compressionFailed {
            actions.append(.close)
        } else if session.isFinished {
            actions.append(.close)
        } else if session.wantsStartTLS {
            actions.append(.startTLS)
        }
        return actions
    }
}

/// inotify on a few directories (the selected folder's new/ and cur/ for their entries, the
/// folder itself only for its being moved or deleted).
final class DirectoryWatcher {
    let fd: Int32

    init?(_ directories: [String], movedOrDeleted: [String] = []) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        self.fd = fd
        let mask = UInt32(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF)
        for directory in directories { _ = inotify_add_watch(fd, directory, mask) }
        // A RENAME moves the folder's directory, not new/ and cur/ inside it: only a watch on
        // the folder sees that (MOVE_SELF). Not its entries: the session's own uid list and
        // cache writes there would wake it for nothing.
        for directory in movedOrDeleted { _ = inotify_add_watch(fd, directory, UInt32(IN_MOVE_SELF | IN_DELETE_SELF)) }
    }

    /// Reads every pending event; true when there was one.
    @discardableResult
    func drain() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var any = false
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 { any = true }
        return any
    }

    deinit { close(fd) }
}

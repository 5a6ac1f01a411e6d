#if canImport(Glibc)
import Glibc
#endif
import MailNet
import MailSystem

/// One thing a protocol engine asks its host to do, in order (the common shape of
/// `POP3Event` and the IMAP engine's events).
public enum SessionAction: Sendable, Equatable {
    /// Bytes for the client.
    case send([UInt8])
    /// A line for the log (never a password, SASL data or message text).
    case log(String)
    /// Sleep before going on (a tarpit after failed logins).
    case delay(milliseconds: Int)
    /// A long response is under way: after writing, ask the engine for the next part.
    case continueOutput
    /// The engine answered STLS/STARTTLS: run the TLS handshake, then tell the engine.
    case startTLS
    /// Close the connection after what was sent.
    case close
}

/// A protocol engine as `SessionHost` drives it: bytes in, actions out, no I/O.
public protocol SessionEngine: AnyObject {
    /// True once a user is logged in: the login timeout no longer applies, the idle one does.
    var isAuthenticated: Bool { get }
    func start() -> [SessionAction]
    func feed(_ bytes: [UInt8]) -> [SessionAction]
    func continueOutput() -> [SessionAction]
    func tlsEstablished() -> [SessionAction]
    /// The client closed its side (or the connection broke).
    func endOfInput() -> [SessionAction]
    /// The client stayed silent too long (idle, or not logged in within the login time).
    func timedOut() -> [SessionAction]
    /// If set, `wake()` is called this often while the client is quiet after login (IMAP IDLE
    /// looks at the mailbox then).
    var wakeInterval: Duration? { get }
    /// If set, a descriptor that becomes readable when the engine has news for a quiet client
    /// (IMAP IDLE: inotify on the selected folder); `wake()` is called then. Asked before each
    /// wait after login, so the engine can start and stop watching between commands.
    var wakeDescriptor: Int32? { get }
    func wake() -> [SessionAction]
}

extension SessionEngine {
    public var wakeInterval: Duration? { nil }
    public var wakeDescriptor: Int32? { nil }
    public func wake() -> [SessionAction] { [] }
}

/// How long a client may take.
public struct SessionTimeouts: Sendable, Equatable {
    /// Silence allowed between commands, before and after login (RFC 1939 §3: at least 10
    /// minutes for POP3's autologout; RFC 9051 §5.4: at least 30 for IMAP).
    public var idle: Duration
    /// The whole time from connecting to a successful login: one slow client cannot hold a
    /// root process for long.
    public var login: Duration
    /// One TLS handshake.
    public var handshake: Duration

    public init(idle: Duration = .seconds(600), login: Duration = .seconds(60), handshake: Duration = .seconds(30)) {
        self.idle = idle; self.login = login; self.handshake = handshake
    }
}

/// How a session ended, for the exit status and the last log line.
public enum SessionEnd: Sendable, Equatable {
    /// The engine closed (QUIT/LOGOUT, a limit reached).
    case closed
    /// The client went away without saying goodbye.
    case peerClosed
    /// The client was silent too long.
    case timedOut
    /// The connection broke or TLS failed.
    case failed(String)
}

/// Pumps bytes between the client's connection and a protocol engine: reads with the idle and
/// login timeouts, writes what the engine sends, sleeps its delays, runs the TLS handshake it
/// asks for. One connection per process; nothing here knows POP3 or IMAP.
public final class SessionHost {
    public let connection: ClientConnection
    let tlsContext: TLSServerContext?
    public let timeouts: SessionTimeouts
    let log: (String) -> Void
    /// Bytes asked for per read; the engine bounds what it keeps.
    public var readSize = 16 * 1024
    private let startedAt = Clock.monotonicNanoseconds()
    /// After this much silence from the client, memory the session freed goes back to the
    /// system (malloc_trim): a TLS handshake, a login or a big FETCH leave free heap pages
    /// behind that an idle session would otherwise keep for hours. 0: never.
    public var trimAfterQuietMilliseconds = 1000
    /// Work was done since the last trim.
    private var trimPending = true

    public init(connection: ClientConnection, tlsContext: TLSServerContext?, timeouts: SessionTimeouts,
                log: @escaping (String) -> Void) {
        self.connection = connection
        self.tlsContext = tlsContext
        self.timeouts = timeouts
        self.log = log
    }

    /// Runs `engine` until it closes or the connection ends.
    public func run(_ engine: any SessionEngine) -> SessionEnd {
        var cause = SessionEnd.closed
        var actions = engine.start()
        var idleDeadline = Clock.monotonicNanoseconds() + nanoseconds(timeouts.idle)
        while true {
            if !actions.isEmpty { trimPending = true }
            if let failure = perform(actions, engine: engine) {
                finish()
                return failure
            }
            if closed {
                finish()
                return cause
            }
            let now = Clock.monotonicNanoseconds()
            var deadline = idleDeadline
            var wakes = false
            if !engine.isAuthenticated {
                deadline = min(deadline, startedAt + nanoseconds(timeouts.login))
            } else if let interval = engine.wakeInterval, now + nanoseconds(interval) < deadline {
                deadline = now + nanoseconds(interval)
                wakes = true
            }
            guard deadline > now else {
                cause = .timedOut
                actions = engine.timedOut()
                continue
            }
            let quiet = nanoseconds(.milliseconds(trimAfterQuietMilliseconds))
            if trimPending, trimAfterQuietMilliseconds > 0, deadline - now > quiet {
                // Memory freed by the work just done goes back to the system once the client
                // has been silent for a while (one poll(2) per command otherwise).
                trimPending = false
                let wake = engine.isAuthenticated ? engine.wakeDescriptor : nil
                if waitForInput(or: wake, until: now + quiet) == .timeout { Heap.returnFreePages() }
            }
            if engine.isAuthenticated, let descriptor = engine.wakeDescriptor {
                switch waitForInput(or: descriptor, until: deadline) {
                case .input: break
                case .wake:
                    actions = engine.wake()
                    continue
                case .timeout:
                    if wakes {
                        actions = engine.wake()
                    } else {
                        cause = .timedOut
                        actions = engine.timedOut()
                    }
                    continue
                }
            }
            connection.stream.timeout = .nanoseconds(max(1, deadline - Clock.monotonicNanoseconds()))
            do {
                if let bytes = try connection.stream.read(max: readSize) {
                    idleDeadline = Clock.monotonicNanoseconds() + nanoseconds(timeouts.idle)
                    actions = engine.feed(bytes)
                } else {
                    cause = .peerClosed
                    actions = engine.endOfInput()
                }
            } catch let error as NetError where error.isTimeout {
                if wakes {
                    actions = engine.wake()
                } else {
                    cause = .timedOut
                    actions = engine.timedOut()
                }
            } catch {
                log("read: \(error)")
                cause = .failed("\(error)")
                actions = engine.endOfInput()
            }
        }
    }

    private var closed = false

    /// Writes `bytes` to the client at once, outside the action list: for an engine that
    /// streams a long response while producing it. False when the connection failed.
    public func send(_ bytes: [UInt8]) -> Bool {
        guard !closed else { return false }
        connection.stream.timeout = timeouts.idle
        do {
            try connection.stream.write(bytes)
            return true
        } catch {
            log("write: \(error)")
            return false
        }
    }

    private enum Readiness { case input, wake, timeout }

    /// Waits until the client sent something (or TLS holds decrypted bytes), `descriptor` (if
    /// any) is readable, or `deadline` passes.
    private func waitForInput(or descriptor: Int32?, until deadline: Int64) -> Readiness {
        if connection.hasBufferedInput { return .input }
        var fds = [pollfd(fd: connection.plain.readFD, events: Int16(POLLIN), revents: 0)]
        if let descriptor { fds.append(pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)) }
        while true {
            let remaining = (deadline - Clock.monotonicNanoseconds()) / 1_000_000
            if remaining <= 0 { return .timeout }
            let rc = poll(&fds, nfds_t(fds.count), Int32(min(remaining, 60_000)))
            if rc < 0 && errno == EINTR { continue }
            if rc < 0 { return .input }  // the read reports the problem
            if rc == 0 { continue }
            if fds[0].revents != 0 { return .input }
            if fds.count > 1 && fds[1].revents != 0 { return .wake }
        }
    }

    /// Does the actions in order (and those they lead to); a failure to write or to set up TLS
    /// ends the session.
    private func perform(_ initial: [SessionAction], engine: any SessionEngine) -> SessionEnd? {
        var queue = initial[...]
        var output: [UInt8] = []
        func flush() -> SessionEnd? {
            guard !output.isEmpty else { return nil }
            defer { output.removeAll(keepingCapacity: true) }
            connection.stream.timeout = timeouts.idle
            do {
                try connection.stream.write(output)
            } catch {
                log("write: \(error)")
                closed = true
                return .failed("\(error)")
            }
            return nil
        }
        while let action = queue.popFirst() {
            switch action {
            case .send(let bytes):
                output += bytes
            case .log(let text):
                log(text)
            case .delay(let milliseconds):
                if let failure = flush() { return failure }
                sleep(milliseconds: milliseconds)
            case .continueOutput:
                if let failure = flush() { return failure }
                queue = (Array(queue) + engine.continueOutput())[...]
            case .startTLS:
                if let failure = flush() { return failure }
                guard let tlsContext, !connection.isTLS else {
                    log("TLS asked for but not available")
                    closed = true
                    return .failed("no TLS")
                }
                do {
                    try connection.startTLS(tlsContext, handshakeTimeout: timeouts.handshake)
                } catch {
                    log("TLS handshake failed: \(error)")
                    closed = true
                    return .failed("\(error)")
                }
                log("tls \(connection.tlsDescription)")
                queue = (Array(queue) + engine.tlsEstablished())[...]
            case .close:
                if let failure = flush() { return failure }
                closed = true
                return nil
            }
            // Keep memory bounded while a long response streams.
            if output.count >= 64 * 1024, let failure = flush() { return failure }
        }
        return flush()
    }

    private func finish() {
        try? connection.stream.shutdown()
    }

    private func sleep(milliseconds: Int) {
        guard milliseconds > 0 else { return }
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    private func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return min(seconds, 1 << 32) * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

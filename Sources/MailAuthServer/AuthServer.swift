#if canImport(Glibc)
import Glibc
#endif
import MailAuth
import MailCore
import MailSystem

/// Limits of the serving process, each with a default for a busy single host.
public struct AuthServerLimits: Sendable {
    /// Client connections open at once; more wait in the listen backlog.
    public var maxConnections = 512
    /// Checks waiting for a free worker; beyond that a request is answered TEMP at once.
    public var maxQueuedChecks = 1024
    /// A connection with no request in flight is closed after this many seconds of silence.
    public var idleTimeout: Int64 = 300
    public var protocolLimits = AuthProtocolLimits()
    public init() {}
}

/// `postamt-auth serve`: answers AUTH and STATS requests on a listening Unix socket.
///
/// One single-threaded poll loop owns the socket, the connections, the cache and the timers.
/// Each cache miss is checked by a worker process (`postamt-auth worker`, exec'd fresh, the
/// request on its stdin, the answer on its stdout), at most `auth_worker_limit` at once, further
/// checks wait in a FIFO queue. So a slow PAM call (yescrypt costs ~46 ms of CPU, a module may
/// block on the network) holds one worker, never the loop: cache hits, STATS and other checks
/// go on. The cache stays in this process; workers only ever see one request.
/// A failed check is answered `auth_failure_delay` after the request arrived, from a timer of
/// the loop, so the delay holds neither a worker nor other clients.
/// The loop also keeps the login throttle (`AuthThrottle`): failures per source address and
/// per user name add to that delay and block for a time; a blocked request fails without a
/// check. Blocks in force are kept in a small state file, so a restart does not end them.
public final class AuthServer {
    struct Connection {
        let id: Int
        let fd: Int32
        let peer: PeerCredentials
        var reader: AuthLineReader
        var output: [UInt8] = []
        /// A check of this connection is in flight (queued, at a worker, or delayed).
        var busy = false
        /// Close once the output is written (after ERR).
        var closing = false
        var lastActivity: Int64
    }

    struct PendingCheck {
        let connectionID: Int
        var credentials: AuthCredentials
        let cacheKey: AuthCache.Key?
        let received: Int64
        /// Refused by a throttle block: answered FAIL without a check, and not counted again.
        var blocked = false
    }

    struct Worker {
        let pid: pid_t
        let resultFD: Int32
        var output: [UInt8] = []
        var check: PendingCheck
        let deadline: Int64
    }

    struct DelayedAnswer {
        let due: Int64
        let connectionID: Int
        let response: AuthResponse
    }

    struct Counters {
        var requests = 0, cacheHits = 0, cacheMisses = 0, backendCalls = 0, successes = 0, failures = 0
        var temporary = 0, refusedPeers = 0, peakWorkers = 0, protocolErrors = 0
        var blockedAnswers = 0, blocksStarted = 0
    }

    let listener: Int32
    let settings: AuthConfiguration
    let backend: AuthBackend
    let limits: AuthServerLimits
    let log: Log
    let workerPath: String
    let groupID: gid_t?
    var cache: AuthCache
    let fingerprinter: SecretFingerprinter?

    var connections: [Int: Connection] = [:]
    var nextConnectionID = 1
    var queue: [PendingCheck] = []
    var workers: [Worker] = []
    var delayed: [DelayedAnswer] = []
    var counters = Counters()
    var throttle: AuthThrottle

    /// `listener` is a listening socket this server now owns; `workerPath` the postamt-auth binary.
    public init(listener: Int32, settings: AuthConfiguration, limits: AuthServerLimits = AuthServerLimits(),
                workerPath: String, log: Log) {
        self.listener = listener
        self.settings = settings
        self.backend = AuthBackend(settings)
        self.limits = limits
        self.log = log
        self.workerPath = workerPath
        self.groupID = MailSystem.groupID(named: settings.group)
        self.fingerprinter = settings.cacheSize > 0 ? SecretFingerprinter.random() : nil as SecretFingerprinter?
        self.cache = AuthCache(positiveLifetime: settings.cacheLifetime * 1_000_000_000,
                               negativeLifetime: settings.negativeCacheLifetime * 1_000_000_000,
                               capacity: fingerprinter == nil ? 0 : settings.cacheSize)
        self.throttle = AuthThrottle(policy: AuthServer.throttlePolicy(settings))
        if groupID == nil { log.warning("group \(settings.group) does not exist: only root may ask") }
        loadThrottleState(now: Clock.monotonicNanoseconds())
        _ = fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK)
    }

    /// Serves until the process is killed (systemd stops it with SIGTERM, whose default ends it).
    public func run() -> Never {
        while true { step(maxWait: 60_000) }
    }

    /// One turn of the loop: waits at most `maxWait` ms for something to do, then does it.
    func step(maxWait: Int64) {
        var now = Clock.monotonicNanoseconds()
        var fds: [pollfd] = []
        let acceptNew = connections.count < limits.maxConnections
        if acceptNew { fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
        let workerStart = fds.count
        for worker in workers { fds.append(pollfd(fd: worker.resultFD, events: Int16(POLLIN), revents: 0)) }
        let connectionStart = fds.count
        let order = Array(connections.keys)
        for id in order {
            let c = connections[id]!
            var events: Int32 = 0
            if !c.busy && !c.closing { events |= Int32(POLLIN) }
            if !c.output.isEmpty { events |= Int32(POLLOUT) }
            fds.append(pollfd(fd: c.fd, events: Int16(events), revents: 0))
        }
        var wait = maxWait * 1_000_000
        for d in delayed { wait = min(wait, d.due - now) }
        for w in workers { wait = min(wait, w.deadline - now) }
        for c in connections.values where !c.busy { wait = min(wait, c.lastActivity + limits.idleTimeout * 1_000_000_000 - now) }
        let timeout = Int32(clamping: max(0, (wait + 999_999) / 1_000_000))
        let ready = poll(&fds, nfds_t(fds.count), timeout)
        if ready < 0 && errno != EINTR { log.error("poll: \(SystemError.describe(errno))") }
        now = Clock.monotonicNanoseconds()

        if ready > 0 {
            if acceptNew && fds[0].revents != 0 { acceptConnections(now: now) }
            for (i, worker) in workers.enumerated().reversed() where fds[workerStart + i].revents != 0 {
                readWorker(at: i, pid: worker.pid, now: now)
            }
            for (i, id) in order.enumerated() where fds[connectionStart + i].revents != 0 {
                serviceConnection(id, revents: fds[connectionStart + i].revents, now: now)
            }
        }
        expireWorkers(now: now)
        deliverDelayedAnswers(now: now)
        startQueuedChecks(now: now)
        closeIdleConnections(now: now)
    }

    // MARK: Connections

    func acceptConnections(now: Int64) {
        while connections.count < limits.maxConnections {
            // accept4 needs _GNU_SOURCE; one thread, so nothing can fork between accept and fcntl.
            let fd = accept(listener, nil, nil)
            if fd >= 0 {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { log.error("accept: \(SystemError.describe(errno))") }
                return
            }
            guard let peer = PeerCredentials.of(socket: fd), peer.isAllowed(group: groupID, serverUID: geteuid()) else {
                counters.refusedPeers += 1
                let who = PeerCredentials.of(socket: fd)?.description ?? "unknown peer"
                log.warning("refused connection from \(who): not root and not in group \(settings.group)")
                _ = try? FileIO.writeAll(fd, AuthProtocol.encode(.error(reason: "permission denied")))
                AuthServer.closeAfterAnswer(fd)
                continue
            }
            let id = nextConnectionID
            nextConnectionID += 1
            connections[id] = Connection(id: id, fd: fd, peer: peer,
                                         reader: AuthLineReader(maxLineLength: limits.protocolLimits.maxLineLength),
                                         lastActivity: now)
        }
    }

    func serviceConnection(_ id: Int, revents: Int16, now: Int64) {
        guard var c = connections[id] else { return }
        if c.busy && revents & Int16(POLLHUP | POLLERR) != 0 {
            drop(c)             // left while its check runs: the result still goes to the cache
            return
        }
        if revents & Int16(POLLOUT) != 0 || (c.closing && !c.output.isEmpty) {
            flush(&c)
        }
        if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 && !c.busy && !c.closing {
            var chunk = [UInt8](repeating: 0, count: limits.protocolLimits.maxLineLength)
            let n = chunk.withUnsafeMutableBytes { read(c.fd, $0.baseAddress, $0.count) }
            if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) {
                drop(c)
                return
            }
            if n > 0 {
                c.reader.append(chunk[0..<n])
                c.lastActivity = now
            }
        }
        connections[id] = c
        processLines(id, now: now)
    }

    /// Handles the complete lines a connection has sent, one at a time: while a check is in
    /// flight, further lines wait in the reader.
    func processLines(_ id: Int, now: Int64) {
        while var c = connections[id], !c.busy, !c.closing {
            switch c.reader.next() {
            case .needMore:
                connections[id] = c
                finishIfClosing(id)
                return
            case .tooLong:
                reject(&c, reason: "line too long")
            case .line(let line):
                do {
                    let request = try AuthProtocol.parseRequest(line[...], limits: limits.protocolLimits)
                    handle(request, on: &c, now: now)
                } catch {
                    reject(&c, reason: error.reason)
                }
            }
            flush(&c)
            connections[id] = c
        }
        finishIfClosing(id)
    }

    func reject(_ c: inout Connection, reason: String) {
        counters.protocolErrors += 1
        log.warning("malformed request from \(c.peer): \(reason)")
        c.output += AuthProtocol.encode(.error(reason: reason))
        c.closing = true
    }

    func finishIfClosing(_ id: Int) {
        guard let c = connections[id], c.closing, c.output.isEmpty else { return }
        drop(c)
    }

    func flush(_ c: inout Connection) {
        while !c.output.isEmpty {
            let n = c.output.withUnsafeBytes { write(c.fd, $0.baseAddress, $0.count) }
            if n > 0 { c.output.removeFirst(n); continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            c.output = []          // the peer is gone: nothing more to say
            c.closing = true
            return
        }
    }

    func drop(_ c: Connection) {
        AuthServer.closeAfterAnswer(c.fd)
        connections[c.id] = nil
    }

    /// Closes a client socket so that the last answer reaches the client: a Unix socket closed
    /// with unread input makes the peer's next read fail with ECONNRESET, answer unread. So
    /// what is already waiting (a refused client's request, the rest of an over-long line) is
    /// read and dropped first, without blocking, at most 64 KiB.
    static func closeAfterAnswer(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var sink = [UInt8](repeating: 0, count: 16384)
        for _ in 0..<4 {
            let n = sink.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
        }
        close(fd)
    }

    func answer(_ id: Int, _ response: AuthResponse, now: Int64) {
        guard var c = connections[id] else { return }   // the client left; the cache still learnt
        c.output += AuthProtocol.encode(response)
        c.busy = false
        c.lastActivity = now
        flush(&c)
        connections[id] = c
        processLines(id, now: now)
    }

    func closeIdleConnections(now: Int64) {
        for c in connections.values where !c.busy && c.lastActivity + limits.idleTimeout * 1_000_000_000 <= now {
            drop(c)
        }
    }

    // MARK: Requests

    func handle(_ request: AuthRequest, on c: inout Connection, now: Int64) {
        switch request {
        case .stats:
            c.output += AuthProtocol.encode(.stats(statistics))
        case .authenticate(let credentials):
            counters.requests += 1
            if throttle.block(source: credentials.peer, user: credentials.user, now: now) != nil {
                // No PAM run, no cache: a blocked source learns nothing, not even from the right password.
                counters.blockedAnswers += 1
                c.busy = true
                var check = PendingCheck(connectionID: c.id, credentials: credentials, cacheKey: nil, received: now)
                check.blocked = true
                conclude(check, .fail, cached: false, now: now)
                return
            }
            let key = fingerprinter.map { AuthCache.Key(service: credentials.service, user: credentials.user,
                                                        password: $0.fingerprint(credentials.password)) }
            if let key, let cached = cache.lookup(key, now: now) {
                counters.cacheHits += 1
                let response: AuthResponse
                switch cached {
                case .success(let user): response = .ok(user: user)
                case .failure: response = .fail
                }
                c.busy = true
                conclude(PendingCheck(connectionID: c.id, credentials: credentials, cacheKey: nil, received: now),
                         response, cached: true, now: now)
                return
            }
            counters.cacheMisses += 1
            guard queue.count < limits.maxQueuedChecks else {
                counters.temporary += 1
                log.warning("too many checks waiting: refused user=\(credentials.userForLog) peer=\(credentials.peerForLog)")
                c.output += AuthProtocol.encode(.temporary(reason: "overloaded"))
                return
            }
            c.busy = true
            queue.append(PendingCheck(connectionID: c.id, credentials: credentials, cacheKey: key, received: now))
        }
    }

    /// Logs and answers a finished check: successes and temporary trouble at once, failures at
    /// `received + auth_failure_delay`. Must be called with the connection marked busy.
    func conclude(_ check: PendingCheck, _ response: AuthResponse, cached: Bool, now: Int64) {
        let c = check.credentials
        let note = "service=\(c.service) user=\(c.userForLog) peer=\(c.peerForLog)\(cached ? " (cached)" : "")\(check.blocked ? " (blocked)" : "")"
        var extraDelay: Int64 = 0
        switch response {
        case .ok:
            counters.successes += 1
            log.info("auth ok \(note)")
            throttle.recordSuccess(source: c.peer, user: c.user, now: now)
        case .fail:
            counters.failures += 1
            log.info("auth failed \(note)")
            if check.blocked {
                extraDelay = throttle.blockedDelay
            } else {
                let outcome = throttle.recordFailure(source: c.peer, user: c.user, now: now)
                extraDelay = outcome.extraDelay
                if !outcome.newBlocks.isEmpty { blocksStarted(outcome.newBlocks, by: c, now: now) }
            }
        case .temporary(let reason):
            counters.temporary += 1
            log.warning("auth temporary failure \(note): \(reason)")
        case .error, .stats:
            break
        }
        if case .fail = response, settings.failureDelay > 0 || extraDelay > 0 {
            // The client waits auth_timeout for us: the extra delay must leave it time to read FAIL.
            let room = max(0, (settings.clientTimeout - settings.failureDelay - 1) * 1_000_000_000)
            let due = check.received + settings.failureDelay * 1_000_000_000 + min(extraDelay, room)
            if due > now {
                delayed.append(DelayedAnswer(due: due, connectionID: check.connectionID, response: .fail))
                return
            }
        }
        // Called from inside processLines for cache hits: the connection there is written back
        // by the caller, so answers to it go through the delayed list with due = now.
        delayed.append(DelayedAnswer(due: now, connectionID: check.connectionID, response: response))
    }

    // MARK: Throttle

    static func throttlePolicy(_ settings: AuthConfiguration) -> AuthThrottlePolicy {
        var policy = AuthThrottlePolicy()
        policy.window = max(0, settings.throttleWindow)
        policy.delayAfter = max(0, settings.throttleDelayAfter)
        policy.maxDelay = max(0, settings.throttleMaxDelay)
        policy.blockAfter = max(0, settings.throttleBlockAfter)
        policy.blockTime = max(0, settings.throttleBlockTime)
        policy.userBlockAfter = max(0, settings.throttleUserBlockAfter)
        policy.userBlockTime = max(0, settings.throttleUserBlockTime)
        policy.familiarTime = max(0, settings.throttleFamiliarTime)
        policy.maxEntries = max(1, settings.throttleMaxEntries)
        return policy
    }

    /// One warning per block, the form the shipped fail2ban filter matches (aggressive mode):
    /// `warning: blocked rip=192.0.2.7 user=alice: 10 failed logins in 600s, for 900s`.
    /// The address comes first, before anything the client chose.
    func blocksStarted(_ blocks: [AuthThrottle.Block], by c: AuthCredentials, now: Int64) {
        for block in blocks {
            counters.blocksStarted += 1
            let seconds = (block.until - now) / 1_000_000_000
            let window = "\(block.failures) failed logins in \(throttle.policy.window)s, for \(seconds)s"
            switch block.subject {
            case .source:
                log.warning("blocked \(AuthThrottle.describe(block.subject)) user=\(c.userForLog): \(window)")
            case .user:
                log.warning("blocked \(AuthThrottle.describe(block.subject)): \(window), except from addresses it logged in from")
            }
        }
        saveThrottleState(now: now)
    }

    func loadThrottleState(now: Int64) {
        guard throttle.policy.isEnabled else { return }
        let path = settings.throttleStateFile
        let bytes: [UInt8]?
        do {
            bytes = try FileIO.readFile(path, limit: 16 << 20)
        } catch {
            log.warning("cannot read \(path): \(error); starting without its blocks")
            return
        }
        guard let bytes else { return }
        let (blocks, bad) = AuthThrottleState.decode(bytes, wallNow: Clock.seconds(), monotonicNow: now)
        if bad > 0 { log.warning("\(path): \(bad) malformed lines ignored") }
        for block in blocks { throttle.restore(block.subject, until: block.until, now: now) }
        if !blocks.isEmpty { log.info("\(blocks.count) login blocks in force, from \(path)") }
    }

    /// Rewrites the state file (atomically) with the blocks in force; only when a block begins.
    func saveThrottleState(now: Int64) {
        let path = settings.throttleStateFile
        let bytes = AuthThrottleState.encode(throttle.blocks(now: now), wallNow: Clock.seconds(), monotonicNow: now)
        do {
            try FileIO.makeDirectories(FileIO.directoryName(path))
            try FileIO.replace(path, bytes, mode: 0o600, durability: .contents)
        } catch {
            log.warning("cannot write \(path): \(error); blocks last until a restart only")
        }
    }

    func deliverDelayedAnswers(now: Int64) {
        guard delayed.contains(where: { $0.due <= now }) else { return }
        let due = delayed.filter { $0.due <= now }
        delayed.removeAll { $0.due <= now }
        for d in due { answer(d.connectionID, d.response, now: now) }
    }

    // MARK: Workers

    func startQueuedChecks(now: Int64) {
        while workers.count < settings.workerLimit, !queue.isEmpty {
            var check = queue.removeFirst()
            guard connections[check.connectionID] != nil else { continue }  // the client left while waiting
            let service = backend.backendService(for: check.credentials.service)
            guard AuthProtocol.isValidService(service) else {
                conclude(check, .temporary(reason: "pam_service gives a bad service name"), cached: false, now: now)
                continue
            }
            var request = check.credentials
            request.service = service
            do {
                let input = try Pipe()
                let output = try Pipe()
                let pid = try Spawn.start(workerPath, arguments: ["postamt-auth", "worker"] + backend.workerArguments,
                                          environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                                          fds: [(0, input.readEnd.raw), (1, output.writeEnd.raw), (2, 2)])
                let requestFD = input.keepWriteEnd()
                let resultFD = output.keepReadEnd()
                // One line of at most 2 KiB fits a pipe's buffer: this write does not block.
                var line = AuthProtocol.encode(.authenticate(request))
                _ = try? FileIO.writeAll(requestFD, line)
                for i in line.indices { line[i] = 0 }
                close(requestFD)
                _ = fcntl(resultFD, F_SETFL, fcntl(resultFD, F_GETFL) | O_NONBLOCK)
                for i in check.credentials.password.indices { check.credentials.password[i] = 0 }
                workers.append(Worker(pid: pid, resultFD: resultFD, check: check,
                                      deadline: now + settings.workerTimeout * 1_000_000_000))
                counters.backendCalls += 1
                counters.peakWorkers = max(counters.peakWorkers, workers.count)
            } catch {
                conclude(check, .temporary(reason: "cannot start a worker: \(error)"), cached: false, now: now)
            }
        }
    }

    func readWorker(at index: Int, pid: pid_t, now: Int64) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { read(workers[index].resultFD, $0.baseAddress, $0.count) }
        if n > 0 {
            if workers[index].output.count + n <= limits.protocolLimits.maxLineLength {
                workers[index].output += chunk[0..<n]
                return
            }
        } else if n < 0 && (errno == EINTR || errno == EAGAIN) {
            return
        }
        // End of file (or garbage): the worker is done.
        let worker = workers.remove(at: index)
        close(worker.resultFD)
        let status = try? Spawn.wait(worker.pid)
        var response: AuthResponse = .temporary(reason: "worker ended with \(status?.description ?? "unknown status")")
        var line = worker.output[...]
        if line.last == UInt8(ascii: "\n") {
            line = line.dropLast()
            switch try? AuthProtocol.parseResponse(line, limits: limits.protocolLimits) {
            case .ok(let user)?: response = .ok(user: user)
            case .fail?: response = .fail
            case .temporary(let reason)?: response = .temporary(reason: reason)
            default: break
            }
        }
        finish(worker.check, response, now: now)
    }

    func finish(_ check: PendingCheck, _ response: AuthResponse, now: Int64) {
        if let key = check.cacheKey {
            switch response {
            case .ok(let user): cache.store(.success(user: user), for: key, now: now)
            case .fail: cache.store(.failure, for: key, now: now)
            default: break          // temporary trouble is never remembered
            }
        }
        conclude(check, response, cached: false, now: now)
    }

    func expireWorkers(now: Int64) {
        for index in workers.indices.reversed() where workers[index].deadline <= now {
            let worker = workers.remove(at: index)
            kill(worker.pid, SIGKILL)
            close(worker.resultFD)
            _ = try? Spawn.wait(worker.pid)
            finish(worker.check, .temporary(reason: "check timed out after \(settings.workerTimeout)s"), now: now)
        }
    }

    var statistics: [AuthStatistic] {
        [AuthStatistic("requests", counters.requests), AuthStatistic("cache_hits", counters.cacheHits),
         AuthStatistic("cache_misses", counters.cacheMisses), AuthStatistic("cache_entries", cache.count),
         AuthStatistic("backend_calls", counters.backendCalls), AuthStatistic("successes", counters.successes),
         AuthStatistic("failures", counters.failures), AuthStatistic("temporary", counters.temporary),
         AuthStatistic("workers_busy", workers.count), AuthStatistic("workers_peak", counters.peakWorkers),
         AuthStatistic("worker_limit", settings.workerLimit), AuthStatistic("queued", queue.count),
         AuthStatistic("delayed_answers", delayed.filter { $0.response == .fail }.count),
         AuthStatistic("connections", connections.count), AuthStatistic("refused_peers", counters.refusedPeers),
         AuthStatistic("protocol_errors", counters.protocolErrors),
         AuthStatistic("blocked_answers", counters.blockedAnswers), AuthStatistic("blocks_started", counters.blocksStarted),
         AuthStatistic("blocks_active", throttle.blocks(now: Clock.monotonicNanoseconds()).count)]
    }
}

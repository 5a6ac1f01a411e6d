#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem

/// The queue manager (postamt-runner(8)): picks up committed messages at once (inotify),
/// resolves local recipients, runs deliveries with a concurrency limit, retries with
/// exponential backoff, bounces (RFC 3464) and removes finished messages.
///
/// Single-threaded: one poll() loop over inotify, the trigger FIFO, the spawner socket and the
/// output pipes of running deliveries. Every state change is written to state/ID before the
/// runner acts on it, so a SIGKILL at any moment loses nothing; a delivery may repeat only when
/// the runner dies between a delivery's success and the state write (qmail's window).
///
/// The envelope in incoming/ID is a message's state until its first result: "every recipient
/// pending" is exactly what it says, so the runner writes no state/ID before the first
/// attempt (two fsyncs per message saved). Recovery is the same either way: a runner that
/// starts over finds the envelope and resolves it again, as it finds a state file that still
/// says pending. The first state/ID write removes the envelope (the state file wins while both
/// exist, see ingest).
public final class QueueRunner {
    final class Message {
        var state: MessageState
        var inFlight = 0
        /// state/ID exists; false while the envelope in incoming/ID still stands for the state.
        var hasStateFile: Bool
        /// mess/ID is durable: false while incoming/ID (a second link to the same file, its
        /// header holding the envelope; QueueFile) may be the message's only durable name.
        var messageNameSynced: Bool
        init(_ state: MessageState, hasStateFile: Bool = true, messageNameSynced: Bool = true) {
            self.state = state
            self.hasStateFile = hasStateFile
            self.messageNameSynced = messageNameSynced
        }
    }

    struct Running {
        let id: String
        let index: Int
        let output: Int32
        /// The read end of postamt-local's result pipe (its descriptor 3); -1 for a remote run.
        var result: Int32 = -1
        /// What the result pipe held when the output ended (a local delivery's).
        var report: [UInt8] = []
        var outputOpen = true
        var text: [UInt8] = []
        let started: Int64
        var status: ExitStatus?
        let pid: pid_t
        /// A local delivery is over once its output has ended with its result line written
        /// before it: the agent writes that line as its last act, and it is the delivery's
        /// answer (the exit status only stands in for a missing one), so the end is not
        /// awaited as well — one wakeup of the runner, and none of the spawner's, fewer a
        /// delivery. (A forked delivery child's finished deliveries are not reported at all.)
        var endedWithItsLine: Bool { remote == nil && !outputOpen && MailStatus(resultLine: report) != nil }
        /// Killed for running longer than delivery_time_limit (once; its end is still awaited).
        var killed = false
        /// Set for a postamt-remote run: its destination and every recipient index it carries.
        var remote: RemoteRun? = nil
    }

    let configuration: Configuration
    let layout: QueueLayout
    let launcher: DeliveryLauncher
    let log: Log
    /// The same process's lines in Postfix's pickup role (`postamt/pickup`).
    let pickupLog: Log
    /// Who smtpd and the runner inject as; any other submitter is a local one.
    let mailOwnerUID: UInt32
    let localProgram: String
    var messages: [String: Message] = [:]
    var running: [pid_t: Running] = [:]
    /// How many of `running` are local deliveries (asked once per ready message and recipient
    /// while deliveries start: kept, not counted).
    var localRunningCount = 0
    var ready: [String] = []
    /// Ready messages that can only wait for a local slot, oldest first (startDeliveries).
    var parked = FIFO<String>()
    /// What is in `ready` or `parked`.
    var readySet: Set<String> = []
    var timers = MinHeap()
    var inotifyFD: Int32 = -1
    var triggerFD: Int32 = -1
    var lastCleanup: Int64 = 0
    /// Where delivered messages' files go for reuse, and the empty slots last seen there.
    let spares: QueueSpares
    var spareSlots = QueueSpares.Knowledge()
    /// The address tables' files as last read (path, mtime): a change reloads them.
    var tableStamp: [Int] = []
    /// Address tables that exist but could not be read at the last reload.
    var tablesUnavailable: [String] = []
    var resolver: AddressResolver
    let concurrency: Int
    let minBackoff: Int64
    let maxBackoff: Int64
    let lifetime: Int64
    let bounceLifetime: Int64
    let deliveryTimeLimit: Int64
    let defaultPrivs: String
    var rescanIncoming = true
    /// Names inotify reported in incoming/, not yet looked at.
    var arrivals: [String] = []
    /// When set, the loop ends once the queue is empty (`postamt-runner --once`).
    public var exitWhenIdle = false
    /// Remote destinations: concurrency and backoff per domain (QueueRunner+Remote.swift).
    var remoteScheduler: RemoteScheduler

    public init(configuration: Configuration, launcher: DeliveryLauncher, log: Log) {
        self.configuration = configuration
        self.layout = QueueLayout(configuration: configuration)
        self.spares = QueueSpares(layout: layout, count: configuration.count("queue_spare_files"),
                                  blockLimit: configuration.size("queue_spare_size"))
        self.launcher = launcher
        self.log = log
        self.pickupLog = Log(program: log.program, service: "pickup")
        self.mailOwnerUID = UInt32(SystemUser.named(configuration.string("mail_owner"))?.uid ?? getuid())
        self.localProgram = configuration.program("postamt-local")
        self.concurrency = max(1, configuration.count("delivery_concurrency"))
        self.minBackoff = max(1, configuration.duration("minimal_backoff"))
        self.maxBackoff = max(minBackoff, configuration.duration("maximal_backoff"))
        self.lifetime = configuration.duration("queue_lifetime")
        self.bounceLifetime = configuration.duration("bounce_lifetime")
        self.deliveryTimeLimit = max(1, configuration.duration("delivery_time_limit"))
        self.defaultPrivs = configuration.string("default_privs")
        self.resolver = AddressResolver(configuration: configuration, aliases: AliasTable())
        self.remoteScheduler = RemoteScheduler(configuration: configuration)
        reloadAliasesIfChanged()
    }

    // MARK: - Start-up

    /// Takes the queue lock (one runner per queue), opens inotify and the trigger FIFO.
    public func prepare() throws {
        let lock = open(layout.lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o660)
        if lock < 0 { throw SystemError("open \(layout.lockFile)") }
        if flock(lock, LOCK_EX | LOCK_NB) != 0 {
            throw SystemError("another postamt-runner holds \(layout.lockFile)", errno: errno)
        }
        // The lock fd stays open for the life of the process.
        inotifyFD = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if inotifyFD < 0 { throw SystemError("inotify_init1") }
        if inotify_add_watch(inotifyFD, layout.incoming, UInt32(IN_CREATE | IN_MOVED_TO)) < 0 {
            throw SystemError("inotify_add_watch \(layout.incoming)")
        }
        if !FileIO.exists(layout.trigger) { mkfifo(layout.trigger, 0o660) }
        triggerFD = open(layout.trigger, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        if triggerFD < 0 { throw SystemError("open \(layout.trigger)") }
        // Temporary files of state writes that a killed runner (or postamt) left: nobody else
        // writes state/ while we hold the lock.
        for name in (try? FileIO.listDirectory(layout.state)) ?? [] where name.hasPrefix(".tmp.") {
            unlink("\(layout.state)/\(name)")
        }
        loadStates()
        cleanOrphans(now: Clock.seconds())
    }

    func loadStates() {
        let names = (try? FileIO.listDirectory(layout.state)) ?? []
        for id in names where QueueLayout.isValidID(id) {
            guard messages[id] == nil else { continue }
            do {
                guard let bytes = try FileIO.readFile(layout.stateFile(id)) else { continue }
                var state = try MessageState.decode(bytes)
                // Removal unlinks state/ID before mess/ID without an fsync between them (see
                // remove): a file system that reorders the two after a crash can leave a state
                // without its message. The message was finished then; it cannot be delivered
                // either way, and retrying it would only end in an empty expiry bounce.
                guard FileIO.exists(layout.message(id)) else {
                    throw QueueEnvelope.Invalid(why: "state without its message file (a removal interrupted by a crash, or damage)")
                }
                // A delivery that was running when the runner stopped is tried again.
                for i in state.recipients.indices where state.recipients[i].nextAttempt < 0 {
                    state.recipients[i].nextAttempt = 0
                }
                messages[id] = Message(state)
                markReady(id)
            } catch {
                log.error("\(error); moved to corrupt/ with its message", id: id)
                rename(layout.stateFile(id), "\(layout.corrupt)/\(id).state")
                rename(layout.message(id), "\(layout.corrupt)/\(id).message")
            }
        }
    }

    // MARK: - The loop

    public func run() throws {
        try prepare()
        while true {
            let now = Clock.seconds()
            if rescanIncoming {
                rescanIncoming = false
                arrivals.removeAll()
                ingestIncoming()
            } else if !arrivals.isEmpty {
                let names = arrivals
                arrivals.removeAll()
                ingestAll(names)
            }
            while let top = timers.peek(), top.time <= now {
                timers.pop()
                // An empty id is a retry of the incoming/ scan.
                if top.id.isEmpty { rescanIncoming = true } else { markReady(top.id) }
            }
            startDeliveries(now: now)
            if now - lastCleanup >= 3600 { cleanOrphans(now: now) }
            // --once: done when nothing runs and nothing more is due now (deferred mail waits).
            if exitWhenIdle && running.isEmpty && !anyReady && !rescanIncoming && arrivals.isEmpty && (timers.peek()?.time ?? .max) > now {
                if ((try? FileIO.listDirectory(layout.incoming)) ?? []).isEmpty { return }
            }
            waitForEvents(now: now)
            collectFinished()
            guard launcher.isAlive else {
                throw SystemError("the privileged spawner exited; stopping so that the supervisor restarts us", errno: EPIPE)
            }
            enforceTimeLimits(now: Clock.seconds())
        }
    }

    func waitForEvents(now: Int64) {
        var fds: [pollfd] = [pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0),
                             pollfd(fd: triggerFD, events: Int16(POLLIN), revents: 0)]
        if let n = launcher.notificationFD { fds.append(pollfd(fd: n, events: Int16(POLLIN), revents: 0)) }
        var outputs: [pid_t] = []
        for (pid, r) in running where r.outputOpen {
            fds.append(pollfd(fd: r.output, events: Int16(POLLIN), revents: 0))
            outputs.append(pid)
        }
        var timeout: Int64 = 60_000
        if let top = timers.peek() { timeout = min(timeout, max(0, (top.time - now) * 1000)) }
        if anyReady && localRunningCount < concurrency { timeout = 0 }
        // A retry of the incoming/ scan came due: do it now, not after the next event.
        if rescanIncoming || !arrivals.isEmpty { timeout = 0 }
        if running.values.contains(where: { !$0.outputOpen && $0.status == nil && !$0.endedWithItsLine }) { timeout = min(timeout, 10) }
        // The next delivery_time_limit due: woken for it, not at the next event (up to a minute late).
        if let first = running.values.lazy.filter({ $0.status == nil && !$0.killed }).map(\.started).min() {
            timeout = min(timeout, max(0, (first + deliveryTimeLimit + 1 - now) * 1000))
        }
        if exitWhenIdle { timeout = min(timeout, 200) }
        let n = poll(&fds, nfds_t(fds.count), Int32(timeout))
        guard n > 0 else { return }
        if fds[0].revents != 0 { drainInotify() }
        if fds[1].revents != 0 { readTrigger() }
        let base = launcher.notificationFD == nil ? 2 : 3
        for (i, pid) in outputs.enumerated() where fds[base + i].revents != 0 {
            readOutput(pid)
        }
    }

    /// The names linked into incoming/ since the last read, for `arrivals`; the whole directory
    /// is listed again only when the events cannot tell (an overflow). A listing per arrival read
    /// every name in incoming/, which holds every message not yet delivered, and every block of
    /// the directory, which never shrinks after a backlog: a cost per message that grew with both.
    func drainInotify() {
        // Non-blocking: read until EAGAIN (thrown) or nothing.
        while let events = try? FileIO.read(inotifyFD), !events.isEmpty {
            if let names = InotifyEvents.names(in: events[...]) { arrivals += names } else { rescanIncoming = true }
        }
    }

    func readOutput(_ pid: pid_t) {
        guard var r = running[pid] else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(r.output, $0.baseAddress, $0.count) }
        if n > 0 {
            // Keep the tail only: the last line is the result (postamt-remote's reports: all).
            r.text += buffer[0..<n]
            let cap = r.remote == nil ? 8192 : 1 << 20
            if r.text.count > cap { r.text.removeFirst(r.text.count - cap) }
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
            r.outputOpen = false
            close(r.output)
            if r.remote == nil { r.report = ReportDescriptor.waiting(r.result) }
        }
        running[pid] = r
    }

    func collectFinished() {
        for (pid, status) in launcher.finished() {
            running[pid]?.status = status
        }
        reapRemoteRuns()
        for (pid, r) in running where r.status != nil || r.endedWithItsLine {
            if r.outputOpen {
                // Drain what the child left in the pipe; it has exited, so EOF comes soon.
                readOutput(pid)
                if running[pid]!.outputOpen { continue }
            }
            // The stored entry, not the loop's copy: the drain above may have added the last line.
            guard let finished = running.removeValue(forKey: pid) else { continue }
            if finished.remote == nil { localRunningCount -= 1 }
            finishDelivery(running: finished)
        }
    }

    func enforceTimeLimits(now: Int64) {
        for (pid, r) in running where r.status == nil && !r.killed && now - r.started > deliveryTimeLimit {
            log.warning("delivery pid \(pid) ran longer than delivery_time_limit; killed", id: r.id)
            if r.remote != nil { Glibc.kill(pid, SIGKILL) } else { launcher.kill(pid) }
            running[pid]?.killed = true
        }
    }

    // MARK: - Picking up new messages

    /// Everything in incoming/: at start, on `flush`, after an inotify overflow, and when a
    /// message left there is due to be looked at again (a timer with an empty id).
    func ingestIncoming() {
        ingestAll((try? FileIO.listDirectory(layout.incoming)) ?? [])
    }

    /// The messages named, in the order of their ids (their arrival).
    func ingestAll(_ names: [String]) {
        // The address tables as they are now, for every message of this scan (five stat(2)s,
        // once a scan rather than once a message).
        if !names.isEmpty { reloadAliasesIfChanged() }
        for id in names.sorted() where QueueLayout.isValidID(id) { ingest(id) }
    }

    func ingest(_ id: String) {
        if let known = messages[id] {
            // Picked up already: the envelope stays until the first state write.
            if known.hasStateFile { unlink(layout.envelope(id)) }
            return
        }
        if FileIO.exists(layout.stateFile(id)) {
            // Picked up before a crash: the state file is the truth (persist made mess/ID
            // durable before writing it; a crash may still have lost an unsynced name).
            if (try? QueueFile.readEnvelope(layout.envelope(id)))?.holdsMessage == true {
                guard restoreMessageName(id), (try? FileIO.fsyncDirectory(layout.messages)) != nil else {
                    timers.push(Clock.seconds() + 60, "")
                    return
                }
            }
            unlink(layout.envelope(id))
            loadStates()
            return
        }
        let record: QueueEnvelope
        let envelope: QueueFile.Envelope
        do {
            guard let e = try QueueFile.readEnvelope(layout.envelope(id)) else { return }
            envelope = e
        } catch let error as QueueFile.Invalid {
            log.error("\(error); moved to corrupt/ with its message", id: id)
            rename(layout.envelope(id), "\(layout.corrupt)/\(id).envelope")
            rename(layout.message(id), "\(layout.corrupt)/\(id).message")
            return
        } catch {
            // Not corruption: permissions or I/O. Leave it and try again later.
            log.error("cannot read the envelope: \(error); will retry", id: id)
            timers.push(Clock.seconds() + 60, "")
            return
        }
        do {
            record = try QueueEnvelope.decode(envelope.record)
            if envelope.holdsMessage && !restoreMessageName(id) {
                timers.push(Clock.seconds() + 60, "")
                return
            }
            guard let size = envelope.messageSize ?? QueueFile.messageSize(layout.message(id)), size == record.size else {
                throw QueueEnvelope.Invalid(why: "message file missing or not \(record.size) bytes")
            }
        } catch {
            log.error("\(error); moved to corrupt/ with its message", id: id)
            rename(layout.envelope(id), "\(layout.corrupt)/\(id).envelope")
            rename(layout.message(id), "\(layout.corrupt)/\(id).message")
            return
        }
        if !tablesUnavailable.isEmpty {
            // A table that exists but cannot be read would turn every address in it into a
            // bounce: leave the message in incoming/ and look again (the tables are re-read).
            log.error("cannot read \(tablesUnavailable.joined(separator: "; ")); the message waits", id: id)
            tableStamp = []
            timers.push(Clock.seconds() + min(60, minBackoff), "")
            return
        }
        var recipients: [RecipientState] = []
        for (i, rcpt) in record.envelope.recipients.enumerated() {
            var copies = resolve(rcpt.text)
            // DSN NOTIFY/ORCPT belong to the envelope recipient: every copy carries them.
            if i < record.dsn.recipients.count {
                for j in copies.indices {
                    copies[j].notify = record.dsn.recipients[i].notify
                    copies[j].orcpt = record.dsn.recipients[i].orcpt
                }
            }
            recipients += copies
        }
        var state = MessageState(id: id, arrival: record.arrival, size: record.size,
                                 sender: record.envelope.sender.text, recipients: recipients)
        state.ret = record.dsn.ret
        state.envid = record.dsn.envid
        state.submitter = record.submitter
        state.requireTLS = record.dsn.requireTLS
        // No state/ID yet: the envelope, fsync'd by postamt-queue, says the same (see the type's
        // comment); persist writes state/ID at the first result and then removes the envelope.
        // Postfix's pickup line for mail submitted on this host (sendmail, postamt-queue run by
        // a user): pflogsumm counts it as received, as it counts smtpd's "client=" line.
        // smtpd and the runner's own notifications inject as mail_owner (or as the runner's
        // user, when it does not run as root).
        if let uid = record.uid, uid != mailOwnerUID && uid != getuid() {
            pickupLog.info("uid=\(uid) from=<\(state.sender)>", id: id)
        }
        log.info("from=<\(state.sender)>, size=\(state.size), nrcpt=\(record.envelope.recipients.count) (queue active)", id: id)
        for r in recipients where r.status == .failed {
            log.info("to=<\(r.original)>, relay=none, delay=0, status=bounced (\(r.reason))", id: id)
        }
        messages[id] = Message(state, hasStateFile: false, messageNameSynced: !envelope.holdsMessage)
        markReady(id)
    }

    func resolve(_ address: String) -> [RecipientState] {
        if !resolver.isOurs(address) {
            return [RecipientState(original: address, destination: .remote(address: address))]
        }
        return resolver.resolve(address).map { d in
            switch d {
            case .user(let name, let ext, let a):
                return RecipientState(original: address, destination: .user(name: name, extension: ext, address: a))
            case .aliasCommand(let c, let alias):
                return RecipientState(original: address, destination: .aliasCommand(command: c, alias: alias))
            case .aliasFile(let p, let alias):
                return RecipientState(original: address, destination: .aliasFile(path: p, alias: alias))
            case .remote(let a):
                return RecipientState(original: address, destination: .remote(address: a))
            case .unknown(let a, let why):
                return RecipientState(status: .failed, original: address, destination: nil,
                                      reason: "\(a): \(why) (#5.1.1)")
            }
        }
    }

    /// Reads the alias file, the domains file, the virtual table and the sender table again
    /// when one of them (or the virtual table's .cdb) changed.
    func reloadAliasesIfChanged() {
        let paths = ["alias_file", "domains_file", "virtual_alias_file", "sender_file"].map { configuration.string($0) }
        let stamp = (paths + [AddressBook.compiledPath(configuration.string("virtual_alias_file"))]).flatMap { path -> [Int] in
            guard let st = FileIO.status(path) else { return [-1, -1, -1] }
            return [Int(st.st_ino), Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec)]
        }
        guard stamp != tableStamp else { return }
        tableStamp = stamp
        let book = AddressBook(configuration: configuration)
        for p in book.problems { log.warning("\(p)") }
        tablesUnavailable = book.unavailable
        resolver = book.resolver
    }

    // MARK: - Scheduling

    func markReady(_ id: String) {
        if !id.isEmpty && readySet.insert(id).inserted { ready.append(id) }
    }

    /// All local slots are taken, and all this message could do now is start local deliveries:
    /// every recipient pending, none of them remote and due, none due later (no timer to set),
    /// at least one local and due. Such a message is parked (`parked`) unexamined.
    func waitsForALocalSlot(_ m: Message, now: Int64) -> Bool {
        guard localRunningCount >= concurrency else { return false }
        var localDue = false
        for r in m.state.recipients {
            guard r.status == .pending, r.nextAttempt <= now else { return false }
            if r.nextAttempt < 0 { continue } // in flight
            if case .remote = r.destination { return false }
            localDue = true
        }
        return localDue
    }

    /// Parked messages are taken first, oldest first, and only while a local slot is free; the
    /// rest stay unexamined. A backlog of thousands used to be gone through after every
    /// finished delivery (each message looked up and checked, to be put back): a pass per
    /// delivery, the whole backlog each time. Then the messages marked ready since the last pass.
    func startDeliveries(now: Int64) {
        while localRunningCount < concurrency, let id = parked.popFirst() {
            if let again = examine(id, now: now) {
                // The slots filled while its deliveries started: back to the front, in its place.
                if waitsForALocalSlot(again, now: now) { parked.pushFront(id) } else { ready.insert(id, at: 0) }
            }
        }
        // Messages that stay ready, in their order, to go back to the front of `ready`.
        var waiting: [String] = []
        var i = 0
        while i < ready.count {
            let id = ready[i]
            i += 1
            if let m = messages[id], !m.state.held, waitsForALocalSlot(m, now: now) {
                parked.append(id) // still in readySet
                continue
            }
            if let again = examine(id, now: now) {
                if waitsForALocalSlot(again, now: now) { parked.append(id) } else { waiting.append(id) }
            }
        }
        ready.removeFirst(i)
        if !waiting.isEmpty { ready = waiting + ready }
    }

    /// Whether any message waits to be looked at (ready or parked).
    var anyReady: Bool { !ready.isEmpty || !parked.isEmpty }

    /// Starts what is due of a ready message (taken out of `readySet`). Returns the message when
    /// the local slots filled before all its due local recipients started: it stays in
    /// `readySet`, and the caller keeps it. Its remote recipients start all the same: they do
    /// not wait for a local slot, wherever they stand in the list.
    func examine(_ id: String, now: Int64) -> Message? {
        readySet.remove(id)
        guard let m = messages[id], !m.state.held else { return nil }
        var waitsForSlot = false
        var later: Int64? = nil
        var remoteDue: [Int] = []
        for index in m.state.recipients.indices {
            let r = m.state.recipients[index]
            guard r.status == .pending else { continue }
            if r.nextAttempt > now { later = min(later ?? r.nextAttempt, r.nextAttempt); continue }
            if r.nextAttempt < 0 { continue } // in flight
            if case .remote = r.destination {
                // Remote recipients go per destination domain, one postamt-remote run each.
                remoteDue.append(index)
                continue
            }
            if localRunningCount >= concurrency {
                waitsForSlot = true
                continue
            }
            start(m, index, now: now)
        }
        var changed = false
        if !remoteDue.isEmpty {
            let outcome = startRemote(m, remoteDue, now: now)
            changed = outcome.changed
            if let t = outcome.later { later = min(later ?? t, t) }
        }
        if changed && m.inFlight == 0 {
            persist(m)
        } else if !m.hasStateFile && m.inFlight == 0 && later != nil {
            // Nothing runs and nothing is due before `later` (a destination left alone):
            // the message waits, so it gets its state file now and mailq lists it as active.
            persist(m)
        }
        if let later { timers.push(later, id) }
        if m.inFlight == 0 { finishRound(m) }
        // Marked ready again while it was looked at: it is in `ready` already.
        return waitsForSlot && readySet.insert(id).inserted ? m : nil
    }

    func start(_ m: Message, _ index: Int, now: Int64) {
        let r = m.state.recipients[index]
        guard let destination = r.destination else { return }
        let host = configuration.hostname
        var args = ["postamt-local", "-q", m.state.id, "-f", m.state.sender]
        let user: String
        switch destination {
        case .user(let name, let ext, let address):
            user = name
            args += ["-n", "-a", address]
            if let ext { args += ["-e", ext] }
            args += ["--", name]
        case .aliasCommand(let command, let alias):
            user = defaultPrivs
            args += ["-a", "\(alias)@\(host)", "-D", "|" + command, "--", alias]
        case .aliasFile(let path, let alias):
            user = defaultPrivs
            args += ["-a", "\(alias)@\(host)", "-D", path, "--", alias]
        case .remote:
            return
        }
        do {
            let message = try QueueFile.openMessage(layout.message(m.state.id))
            let pipe = try Pipe()
            let results = try Pipe()
            let pid = try launcher.launch(user: user, arguments: args, messageFD: message.raw, outputFD: pipe.writeEnd.raw,
                                          resultFD: results.writeEnd.raw)
            let readEnd = pipe.keepReadEnd()
            _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
            localRunningCount += 1
            running[pid] = Running(id: m.state.id, index: index, output: readEnd, result: results.keepReadEnd(),
                                   started: now, pid: pid)
            m.inFlight += 1
            m.state.recipients[index].nextAttempt = -1
        } catch {
            // Only this side can fail here (the message file, a pipe, the socket): what the
            // spawner refuses (no such user) comes back as the delivery's result.
            m.state.recipients[index].attempts += 1
            let status = MailStatus.temporary("\(error)")
            defer_(m, index, reason: "cannot start the delivery agent: \(status.text) (#\(status.code))", now: now)
            persist(m)
            timers.push(m.state.recipients[index].nextAttempt, m.state.id)
        }
    }

    func backoff(attempts: Int) -> Int64 {
        var delay = minBackoff
        var n = 1
        while n < attempts && delay < maxBackoff { delay *= 2; n += 1 }
        return min(delay, maxBackoff)
    }

    /// A temporary failure: retry later, or fail for good once the queue lifetime is over.
    func defer_(_ m: Message, _ index: Int, reason: String, now: Int64, relay: String? = nil) {
        var r = m.state.recipients[index]
        r.attempts = max(r.attempts, 1)
        let limit = m.state.sender.isEmpty ? bounceLifetime : lifetime
        let age = now - m.state.arrival
        if age >= limit {
            r.status = .failed
            r.reason = "message expired after \(age / 3600)h in the queue (#4.4.7); last error: \(reason)"
            log.info("to=<\(r.destination?.address ?? r.original)>, status=expired, returned to sender (\(reason))", id: m.state.id)
        } else {
            r.status = .pending
            r.nextAttempt = now + backoff(attempts: r.attempts)
            r.reason = reason
            log.info("to=<\(r.destination?.address ?? r.original)>\(orig(r)), relay=\(relay ?? self.relay(r)), delay=\(now - m.state.arrival), status=deferred (\(reason))", id: m.state.id)
        }
        m.state.recipients[index] = r
    }

    func orig(_ r: RecipientState) -> String {
        r.destination?.address == r.original ? "" : ", orig_to=<\(r.original)>"
    }

    func relay(_ r: RecipientState) -> String {
        if case .remote = r.destination { return "none" }
        return "local"
    }

    func finishDelivery(running r: Running) {
        if let remote = r.remote {
            finishRemote(remote, running: r)
            return
        }
        // The result line on descriptor 3 (postamt-local(8), RESULT LINE): its class decides.
        let reported = MailStatus(resultLine: r.report + ReportDescriptor.collect(r.result))
        guard let m = messages[r.id] else { return }
        m.inFlight -= 1
        let now = Clock.seconds()
        var reason = reported?.line ?? ""
        var rs = m.state.recipients[r.index]
        rs.nextAttempt = 0
        m.state.recipients[r.index] = rs
        let delay = String(Double(Int((Clock.secondsDouble() - Double(m.state.arrival)) * 100)) / 100)
        let status = r.status ?? .signaled(0)
        var disposition: Disposition
        switch status {
        case .exited(let code):
            if let reported {
                disposition = reported.disposition
            } else {
                // No result line (an agent that died before it could say): the exit code's class.
                let fallback = MailStatus.ofSysExit(code, text: "postamt-local \(status) without a result line")
                disposition = fallback.disposition
                reason = fallback.line
            }
        case .signaled(let s):
            // A result line said it: the delivery got that far (a child that ran several
            // deliveries may be killed after some of them). Without one: retry.
            if let reported {
                disposition = reported.disposition
            } else {
                disposition = .temporary
                reason = "delivery agent killed by signal \(s) (#4.3.0)"
            }
        }
        switch disposition {
        case .success:
            rs.status = .delivered
            rs.reason = reason
            rs.attempts += 1
            m.state.recipients[r.index] = rs
            log.info("to=<\(rs.destination?.address ?? rs.original)>\(orig(rs)), relay=local, delay=\(delay), status=sent (\(reason))", id: r.id)
        case .temporary:
            rs.attempts += 1
            m.state.recipients[r.index] = rs
            defer_(m, r.index, reason: reason, now: now)
            if m.state.recipients[r.index].status == .pending {
                timers.push(m.state.recipients[r.index].nextAttempt, r.id)
            }
        case .permanent:
            rs.attempts += 1
            rs.status = .failed
            rs.reason = reason
            m.state.recipients[r.index] = rs
            log.info("to=<\(rs.destination?.address ?? rs.original)>\(orig(rs)), relay=local, delay=\(delay), status=bounced (\(reason))", id: r.id)
        }
        completeResult(m)
    }

    /// After results were applied: remove a finished message, else save it and, once nothing
    /// of it runs, bounce what failed.
    func completeResult(_ m: Message) {
        if m.state.isComplete && m.inFlight == 0 {
            remove(m)
            return
        }
        warnIfDelayed(m)
        persist(m)
        if m.inFlight == 0 { finishRound(m) }
    }

    /// incoming/ID is the message file too (its header holds the envelope; QueueFile), and
    /// postamt-queue does not fsync mess/: a crash of the machine may have lost mess/ID. Links
    /// it there again, or writes a copy when the kernel refuses a link to another user's file
    /// (fs.protected_hardlinks: sendmail's files belong to their sender). Not durable yet:
    /// persist fsyncs mess/ before incoming/ID goes. False (logged) when neither worked.
    func restoreMessageName(_ id: String) -> Bool {
        // Looked up first: a link(2) that finds the name takes mess/'s lock all the same, for
        // every message, against every session writing the queue.
        if FileIO.exists(layout.message(id)) { return true }
        if link(layout.envelope(id), layout.message(id)) == 0 {
            log.info("mess/\(id) was missing: linked again from incoming/\(id)", id: id)
            return true
        }
        if errno == EEXIST { return true }
        let refused = SystemError.describe(errno)
        do {
            guard let bytes = try FileIO.readFile(layout.envelope(id), limit: .max) else { return false }
            try FileIO.replace(layout.message(id), bytes, durability: .contents)
            log.info("mess/\(id) was missing: written again from incoming/\(id) (link: \(refused))", id: id)
            return true
        } catch {
            log.error("mess/\(id) is missing and cannot be written again: \(error); will retry", id: id)
            return false
        }
    }

    func persist(_ m: Message) {
        if !m.messageNameSynced {
            // incoming/ID goes below: mess/ID must be durable first.
            do {
                try FileIO.fsyncDirectory(layout.messages)
                m.messageNameSynced = true
            } catch {
                log.error("cannot save state: \(error)", id: m.state.id)
                return
            }
        }
        do {
            try FileIO.writeAtomically(layout.stateFile(m.state.id), m.state.encoded())
        } catch {
            // The old state (or the envelope) stays valid: at worst a delivery repeats after a crash.
            log.error("cannot save state: \(error)", id: m.state.id)
            return
        }
        if !m.hasStateFile {
            // state/ID is durable now (writeAtomically fsyncs it and state/); the envelope is
            // no longer the state. A crash before this unlink leaves both: ingest keeps the state.
            m.hasStateFile = true
            unlink(layout.envelope(m.state.id))
        }
    }

    /// After a round of attempts: one bounce for the recipients that failed, and removal when
    /// every recipient is done.
    func finishRound(_ m: Message) {
        var failed = m.state.recipients.indices.filter { m.state.recipients[$0].status == .failed }
        let silenced = settleUnwantedFailures(m, failed)
        failed.removeAll(where: silenced.contains)
        if !sendSuccessNotices(m) {
            timers.push(Clock.seconds() + 60, m.state.id)
            persist(m)
            return
        }
        if !failed.isEmpty {
            if sendBounce(m, failed: failed) {
                for i in failed { m.state.recipients[i].status = .reported }
            } else {
                timers.push(Clock.seconds() + 60, m.state.id)
                persist(m)
                return
            }
        }
        if m.state.isComplete {
            remove(m)
        } else if !failed.isEmpty || !silenced.isEmpty {
            persist(m)
        }
    }

    /// The message is finished: its state (or envelope) goes first, then the message file.
    ///
    /// No fsync. A crash (power loss; kill -9 loses no unlink) can at worst undo some of the
    /// unlinks: all of them, and the message is delivered again (the window a crash between a
    /// delivery and its state write already has, qmail's and Postfix's too); the message file's
    /// only, and it is an orphan that cleanOrphans removes after orphan_age; the state's or
    /// envelope's only (a file system that reorders unlinks), and loadStates/ingest find it
    /// without its message and move it to corrupt/ with a log line instead of retrying it.
    /// Nothing accepted is lost: removal only ever follows the last result.
    ///
    /// The message file is kept as a spare for the next injection when it can be (QueueSpares;
    /// it is wiped first, so a crash leaves a zeroed or empty orphan at worst), else unlinked.
    func remove(_ m: Message) {
        let id = m.state.id
        if m.hasStateFile { unlink(layout.stateFile(id)) }
        unlink(layout.envelope(id))
        if !spares.keep(layout.message(id), knowing: &spareSlots) { unlink(layout.message(id)) }
        messages.removeValue(forKey: id)
        log.info("removed", id: id)
    }

    var doubleBounceSender: String { "double-bounce@\(configuration.hostname)" }

    /// Returns true when the notice is queued (or deliberately discarded).
    func sendBounce(_ m: Message, failed: [Int]) -> Bool {
        let host = configuration.hostname
        let items = failed.map { i -> Bounce.Failed in
            let r = m.state.recipients[i]
            let final: String
            switch r.destination {
            case .user(_, _, let a), .remote(let a): final = a
            default: final = r.original
            }
            return Bounce.Failed(original: r.original, final: final, reason: r.reason, orcpt: r.orcpt)
        }
        let sender: String
        let recipient: String
        let postmasterNotice: Bool
        if m.state.sender == doubleBounceSender {
            log.info("undeliverable postmaster notification discarded", id: m.state.id)
            return true
        } else if m.state.sender.isEmpty {
            let postmaster = configuration.string("postmaster")
            recipient = postmaster.contains("@") ? postmaster : "\(postmaster)@\(host)"
            sender = doubleBounceSender
            postmasterNotice = true
        } else {
            recipient = m.state.sender
            sender = ""
            postmasterNotice = false
        }
        let headers = Bounce.headers(ofMessageAt: layout.message(m.state.id))
        let bytes = Bounce.message(queueID: m.state.id, hostname: host, to: recipient, arrival: m.state.arrival,
                                   failed: items, originalHeaders: headers, postmasterNotice: postmasterNotice,
                                   envelopeID: m.state.envid, returnedMessage: returnedMessage(m))
        let envelope: Envelope
        do {
            envelope = Envelope(sender: try EnvelopeAddress(sender, allowEmpty: true, lengthLimit: 4096),
                                recipients: [try EnvelopeAddress(recipient, lengthLimit: 4096)])
        } catch {
            log.error("cannot address the bounce to <\(recipient)>: \(error); discarded", id: m.state.id)
            return true
        }
        switch QueueClient.inject(program: configuration.program("postamt-queue"), message: bytes, envelope: envelope,
                                  environment: notificationEnvironment(m)) {
        case .success(let newID):
            log.info("\(postmasterNotice ? "postmaster" : "sender") non-delivery notification: \(newID)", id: m.state.id)
            return true
        case .failure(let why):
            log.warning("cannot queue the non-delivery notification: \(why); will retry", id: m.state.id)
            return false
        }
    }

    // MARK: - Commands from `postamt` through the trigger FIFO

    var triggerBuffer: [UInt8] = []

    func readTrigger() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(triggerFD, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            triggerBuffer += buffer[0..<n]
        }
        // Whole lines only; a command split across reads waits for its end.
        guard let lastNewline = triggerBuffer.lastIndex(of: 0x0A) else {
            if triggerBuffer.count > 65536 { triggerBuffer.removeAll() }
            return
        }
        let text = String(decoding: triggerBuffer[...lastNewline], as: UTF8.self)
        triggerBuffer.removeSubrange(...lastNewline)
        // Commands may name messages that are still in incoming/: pick those up first.
        ingestIncoming()
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            switch words.first {
            case "flush":
                rescanIncoming = true
                remoteScheduler.blockedUntil.removeAll()
                loadStates()
                for (id, m) in messages where !m.state.held {
                    for i in m.state.recipients.indices where m.state.recipients[i].status == .pending && m.state.recipients[i].nextAttempt > 0 {
                        m.state.recipients[i].nextAttempt = 0
                    }
                    markReady(id)
                }
            case "hold", "release":
                for id in words.dropFirst() {
                    guard let m = messages[id] else { continue }
                    m.state.held = words[0] == "hold"
                    persist(m)
                    log.info(words[0] == "hold" ? "held by the administrator" : "released by the administrator", id: id)
                    if !m.state.held { markReady(id) }
                }
            case "delete":
                for id in words.dropFirst() {
                    guard let m = messages[id] else { continue }
                    // Running deliveries finish; their results are dropped with the message.
                    log.info("deleted by the administrator", id: id)
                    remove(m)
                }
            case "reload":
                loadStates()
            default:
                log.warning("unknown trigger command '\(line)'")
            }
        }
    }

    // MARK: - Housekeeping

    /// Removes what interrupted injections left: files in tmp/ and message files without an
    /// envelope or state, once they are older than orphan_age (qmail-clean's job).
    func cleanOrphans(now: Int64) {
        lastCleanup = now
        let age = configuration.duration("orphan_age")
        for name in (try? FileIO.listDirectory(layout.tmp)) ?? [] {
            let path = "\(layout.tmp)/\(name)"
            if let st = FileIO.status(path), now - Int64(st.st_mtim.tv_sec) > age {
                unlink(path)
                log.info("removed stale temporary file tmp/\(name)")
            }
        }
        for name in spares.strays() {
            unlink(layout.spare + "/" + name)
            log.info("removed spare/\(name): not a slot below queue_spare_files")
        }
        for id in (try? FileIO.listDirectory(layout.messages)) ?? [] {
            if messages[id] != nil || FileIO.exists(layout.envelope(id)) || FileIO.exists(layout.stateFile(id)) { continue }
            let path = layout.message(id)
            // ctime too: a spare just renamed here (QueueSpares) keeps its old mtime until written.
            if let st = FileIO.status(path), now - max(Int64(st.st_mtim.tv_sec), Int64(st.st_ctim.tv_sec)) > age {
                unlink(path)
                log.info("removed orphaned message file", id: id)
            }
        }
    }
}


/// A binary min-heap of (time, message id) wake-ups.
struct MinHeap {
    private var items: [(time: Int64, id: String)] = []

    func peek() -> (time: Int64, id: String)? { items.first }

    mutating func push(_ time: Int64, _ id: String) {
        items.append((time, id))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent].time <= items[i].time { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    @discardableResult
    mutating func pop() -> (time: Int64, id: String)? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && items[l].time < items[m].time { m = l }
                if r < items.count && items[r].time < items[m].time { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}

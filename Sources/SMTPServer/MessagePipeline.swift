#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailQueueClient
import MailQueueStore
import MailSystem

/// The way of one message from smtpd to the queue: `smtpd → filter₁ → … → filterₙ → queue`,
/// each arrow a pipe (DESIGN.md: "Filters — stdin to stdout, one message; a filter adds headers
/// and never loses the message"). Without filters smtpd writes straight into the queue program.
///
/// A filter that exits non-zero (or dies) fails the message temporarily: the queue program is
/// then given an empty envelope and commits nothing.
public final class MessagePipeline {
    /// The queue end: a queue program (started, or its code in a forked child), or the queue's
    /// own code in this process writing the message file itself (`direct`).
    enum QueueEnd {
        case program(QueueClient.Run)
        case direct(QueueInjector, QueueInjector.Pending, DirectQueue.Claims)
        /// The message gathered in memory (`inputFD`, a memory file), screened at the end by the
        /// spam filter's queue-mode check, then written into the queue like `direct`.
        case screened(DirectQueue, DirectQueue.Claims, SMTPDaemon.SpamScreen)
    }
    let queue: QueueEnd
    /// Where smtpd writes the message.
    public let inputFD: Int32

    /// What smtpd needs to run postamt-queue's code itself (postamt-smtpd(8), "Hand-off to the
    /// queue"): the queue's settings and what postamt-queue would believe of smtpd's word.
    public struct DirectQueue: Sendable {
        public let injector: QueueInjector
        let mailOwner: String
        /// smtpd's own configuration, which the spam screen reads too (not loaded again per
        /// message).
        let configuration: Configuration

        /// What the caller says of the message; postamt-queue reads the same from its
        /// environment (TCPREMOTEIP, POSTAMT_DSN, POSTAMT_DSN_RCPT, POSTAMT_SUBMITTER).
        public struct Claims {
            public var peer: String?
            public var dsn: (transaction: String, recipients: String?)?
            public var submitter: String?
            public init(peer: String?, dsn: (transaction: String, recipients: String?)?, submitter: String?) {
                self.peer = peer
                self.dsn = dsn
                self.submitter = submitter
            }
        }

        public init(configuration: Configuration) {
            injector = QueueInjector(configuration: configuration, log: Log(program: "postamt-queue"))
            mailOwner = configuration.string("mail_owner")
            self.configuration = configuration
        }
    }

    /// The qmail-queue compatible program for submitted mail: `$POSTAMT_QUEUE` (qmail's
    /// QMAILQUEUE convention, passed as `override`), else smtpd_queue_program, else the
    /// installed postamt-queue. smtpd and the webmail hand over mail the same way.
    public static func queueProgram(_ configuration: Configuration, override: String?) -> String {
        if let override, !override.isEmpty { return override }
        let configured = configuration.string("smtpd_queue_program")
        return configured.isEmpty ? configuration.program("postamt-queue") : configured
    }
    private var filters: [(pid: pid_t, program: String)] = []
    private var closed = false

    /// `inProcessQueue`: the queue program's code, run in a forked child (QueueClient.start).
    public init(queueProgram: String, filters programs: [String], environment: [String],
                inProcessQueue: ((String) -> Never)? = nil) throws {
        let run = try QueueClient.start(program: queueProgram, environment: environment, inProcess: inProcessQueue)
        queue = .program(run)
        var next = run.messageFD
        var started: [(pid_t, String)] = []
        do {
            for program in programs.reversed() {
                let pipe = try Pipe()
                let pid = try Spawn.start(program, arguments: [program], environment: environment,
                                          fds: [(0, pipe.readEnd.raw), (1, next), (2, 2)])
                started.insert((pid, program), at: 0)
                // The filter holds the next stage's input now; our copy goes (the queue's own
                // messageFD is closed here too, which commit/abandon are told).
                close(next)
                next = pipe.keepWriteEnd()
            }
        } catch {
            if next != run.messageFD { close(next) }
            for (pid, _) in started { kill(pid, SIGTERM); _ = try? Spawn.wait(pid) }
            run.abandon(messageClosed: !started.isEmpty)
            throw error
        }
        filters = started
        inputFD = next
    }

    /// No queue program and no filter: the message goes straight into the queue's tmp/ file
    /// (QueueInjector.begin, with postamt-queue's Received: line for the peer smtpd names),
    /// written by this process, which has postamt-queue's privileges.
    public init(direct: DirectQueue, claims: DirectQueue.Claims) throws {
        let (pending, believed) = try MessagePipeline.begin(direct, claims: claims)
        queue = .direct(direct.injector, pending, believed)
        inputFD = pending.fd
    }

    /// The queue file begun with postamt-queue's Received: line, and what postamt-queue believes
    /// of smtpd's word (QueueInjector.Caller).
    static func begin(_ direct: DirectQueue, claims: DirectQueue.Claims) throws(QueueInjector.Failure)
        -> (queue: QueueInjector.Pending, believed: DirectQueue.Claims) {
        let caller = QueueInjector.Caller.current(mailOwner: direct.mailOwner)
        let peer = QueueInjector.peer(claimed: claims.peer.map { [$0] } ?? [], caller: caller)
        let pending = try direct.injector.begin(received: QueueInjector.receivedLine(uid: caller.uid, peer: peer, date: Clock.rfc5322Date()))
        let believed = DirectQueue.Claims(peer: peer, dsn: QueueInjector.dsn(claimed: claims.dsn, caller: caller),
                                          submitter: QueueInjector.submitter(named: claims.submitter, caller: caller))
        return (pending, believed)
    }

    static func commit(_ pending: QueueInjector.Pending, injector: QueueInjector, envelope: Envelope,
                       claims: DirectQueue.Claims) -> QueueClient.Run.Verdict {
        do {
            return .queued(id: try injector.commit(pending, envelope: envelope, submitter: claims.submitter, dsn: claims.dsn))
        } catch {
            return refused(error.exit, error.reason)
        }
    }

    /// The queue's code refused, with postamt-queue's exit code for it: what the started
    /// program's exit would have said (its class from the code).
    static func refused(_ exit: QueueExit, _ reason: String) -> QueueClient.Run.Verdict {
        .refused(QueueExit.disposition(ofExitCode: exit.rawValue), reason: reason, exitCode: exit.rawValue)
    }

    /// The spam filter in the path with nothing else started: the message goes into a memory
    /// file as it arrives; at the end `screen` (postamt-spamcheck's queue-mode check, run by this
    /// process) refuses it or tags it, and the tagged message is written into the queue as
    /// `init(direct:claims:)` does. What postamt-spamcheck-queue in a forked child did, without
    /// the child or its copies of the message.
    public init(screenedBy screen: @escaping SMTPDaemon.SpamScreen, direct: DirectQueue, claims: DirectQueue.Claims) throws {
        inputFD = try FileIO.memoryFile("postamt-smtpd-message", [])
        queue = .screened(direct, claims, screen)
    }

    /// A pipeline dropped without commit or abandon: the memory file of a screened message is
    /// closed (a direct one's queue file goes with its Pending; a program gets end of input).
    deinit {
        if !closed, case .screened = queue { close(inputFD) }
    }

    private var messageClosedForQueue: Bool { !filters.isEmpty }

    /// All of the message is written: close the input, wait for the filters, then give the
    /// queue its envelope. `writeError`: a write into `inputFD` failed (a queue program reports
    /// that itself through its exit; the direct queue end refuses the message temporarily).
    public func commit(envelope: Envelope, writeError: String? = nil) -> QueueClient.Run.Verdict {
        closed = true
        let run: QueueClient.Run
        switch queue {
        case .program(let program): run = program
        case .direct(let injector, let pending, let claims):
            if let writeError {
                pending.abandon()
                return Self.refused(.writeError, "cannot write the message: \(writeError)")
            }
            return Self.commit(pending, injector: injector, envelope: envelope, claims: claims)
        case .screened(let direct, let claims, let screen):
            defer { close(inputFD) }
            if let writeError {
                return Self.refused(.writeError, "cannot write the message: \(writeError)")
            }
            let message: [UInt8]
            do {
                guard lseek(inputFD, 0, SEEK_SET) == 0 else { throw SystemError("lseek") }
                message = try FileIO.readAll(inputFD)
            } catch {
                return Self.refused(.readError, "cannot read the message back: \(error)")
            }
            switch screen(direct.configuration, message, claims.peer, envelope) {
            case .refuse(let line):
                return Self.refused(.permanentRefusal, line)
            case .pass(let tagged):
                do {
                    let pending = try MessagePipeline.begin(direct, claims: claims)
                    do { try FileIO.writeAll(pending.queue.fd, tagged) } catch {
                        pending.queue.abandon()
                        return Self.refused(.writeError, "cannot write the message: \(error)")
                    }
                    return Self.commit(pending.queue, injector: direct.injector, envelope: envelope, claims: pending.believed)
                } catch {
                    return Self.refused(error.exit, error.reason)
                }
            }
        }
        if !filters.isEmpty { close(inputFD) }
        var failure: String? = nil
        for (pid, program) in filters {
            let status = (try? Spawn.wait(pid)) ?? .signaled(0)
            if status != .exited(0) && failure == nil { failure = "filter \(program) failed (\(status))" }
        }
        if let failure {
            run.abandon(messageClosed: true)
            return .refused(.temporary, reason: failure, exitCode: nil)
        }
        return run.commit(envelope: envelope, messageClosed: messageClosedForQueue)
    }

    /// Nothing of this message may be queued.
    public func abandon() {
        guard !closed else { return }
        closed = true
        let run: QueueClient.Run
        switch queue {
        case .program(let program): run = program
        case .direct(_, let pending, _):
            pending.abandon()
            return
        case .screened:
            close(inputFD)
            return
        }
        if !filters.isEmpty {
            for (pid, _) in filters { kill(pid, SIGTERM) }
            close(inputFD)
        }
        run.abandon(messageClosed: messageClosedForQueue)
        for (pid, _) in filters { _ = try? Spawn.wait(pid) }
    }
}

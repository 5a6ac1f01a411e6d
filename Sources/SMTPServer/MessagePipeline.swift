#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailQueueClient
import MailSystem

/// The way of one message from smtpd to the queue: `smtpd → filter₁ → … → filterₙ → queue`,
/// each arrow a pipe (DESIGN.md: "Filters — stdin to stdout, one message; a filter adds headers
/// and never loses the message"). Without filters smtpd writes straight into the queue program.
///
/// A filter that exits non-zero (or dies) fails the message temporarily: the queue program is
/// then given an empty envelope and commits nothing.
public final class MessagePipeline {
    let queue: QueueClient.Run
    /// Where smtpd writes the message.
    public let inputFD: Int32

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
        queue = try QueueClient.start(program: queueProgram, environment: environment, inProcess: inProcessQueue)
        var next = queue.messageFD
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
            if next != queue.messageFD { close(next) }
            for (pid, _) in started { kill(pid, SIGTERM); _ = try? Spawn.wait(pid) }
            queue.abandon(messageClosed: !started.isEmpty)
            throw error
        }
        filters = started
        inputFD = next
    }

    private var messageClosedForQueue: Bool { !filters.isEmpty }

    /// All of the message is written: close the input, wait for the filters, then give the
    /// queue its envelope.
    public func commit(envelope: Envelope) -> QueueClient.Run.Verdict {
        closed = true
        if !filters.isEmpty { close(inputFD) }
        var failure: String? = nil
        for (pid, program) in filters {
            let status = (try? Spawn.wait(pid)) ?? .signaled(0)
            if status != .exited(0) && failure == nil { failure = "filter \(program) failed (\(status))" }
        }
        if let failure {
            queue.abandon(messageClosed: true)
            return .refused(.temporary, reason: failure, exitCode: nil)
        }
        return queue.commit(envelope: envelope, messageClosed: messageClosedForQueue)
    }

    /// Nothing of this message may be queued.
    public func abandon() {
        guard !closed else { return }
        closed = true
        if !filters.isEmpty {
            for (pid, _) in filters { kill(pid, SIGTERM) }
            close(inputFD)
        }
        queue.abandon(messageClosed: messageClosedForQueue)
        for (pid, _) in filters { _ = try? Spawn.wait(pid) }
    }
}

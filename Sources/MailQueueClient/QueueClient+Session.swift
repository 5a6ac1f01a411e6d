#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem

/// What postamt-smtpd needs beyond `finish`: the queue program's exact verdict (so its exit
/// code becomes 4xx or 5xx with its own text), and a way to abandon a message so that nothing
/// is queued.
extension QueueClient.Run {
    /// The queue program's verdict on one message.
    public enum Verdict: Equatable, Sendable {
        /// Exit 0: durable; the queue id when the program reported one.
        case queued(id: String?)
        /// A non-zero exit or a signal, with the program's last stderr line.
        case refused(Disposition, reason: String, exitCode: Int32?)
    }

    /// Closes the message (all of it has been written through `messageFD`), writes the
    /// envelope, closes it and waits. `messageClosed`: the caller handed `messageFD` to a
    /// filter and closed its own copy already.
    public func commit(envelope: Envelope, messageClosed: Bool = false) -> Verdict {
        if !messageClosed { close(messageFD) }
        var envelopeError: String? = nil
        do { try FileIO.writeAll(envelopeFD, envelope.qmailBytes) } catch { envelopeError = "\(error)" }
        close(envelopeFD)
        let errText = (try? FileIO.readAll(errorFD, limit: 65536)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        close(errorFD)
        let status = (try? Spawn.wait(pid)) ?? .signaled(0)
        let id = QueueClient.queueID(reported: ReportDescriptor.collect(idFD))
        let reason = ProgramOutput.lastLine(Array(errText.utf8))
        switch status {
        case .exited(0):
            return .queued(id: id)
        case .exited(let code):
            return .refused(QueueExit.disposition(ofExitCode: code),
                            reason: reason.isEmpty ? (envelopeError ?? "queue program exited \(code)") : reason, exitCode: code)
        case .signaled(let signal):
            return .refused(.temporary, reason: "queue program killed by signal \(signal)", exitCode: nil)
        }
    }

    /// Abandons the message: the queue program gets the end of the message and an empty
    /// envelope, which qmail-queue's interface defines as a failure (nothing is committed
    /// before the envelope is complete), so it removes what it wrote and exits non-zero.
    public func abandon(messageClosed: Bool = false) {
        if !messageClosed { close(messageFD) }
        close(envelopeFD)
        _ = try? FileIO.readAll(errorFD, limit: 65536)
        close(errorFD)
        _ = try? Spawn.wait(pid)
        close(idFD)
    }
}

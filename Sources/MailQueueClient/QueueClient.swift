#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailQueueStore
import MailSystem

/// Runs postamt-queue (or any program with qmail-queue's interface) for one message.
public enum QueueClient {
    public enum Outcome {
        case success(String)
        /// Temporary or permanent from the queue program's exit code (qmail-queue(8)), never
        /// from its text.
        case failure(MailStatus)
    }

    /// Feeds `message` on fd 0 and `envelope` on fd 1. Returns the new queue id, which
    /// postamt-queue reports on descriptor 3 ("queued" from a queue program that does not),
    /// or the failure.
    public static func inject(program: String, message: [UInt8], envelope: Envelope,
                              environment: [String] = inheritedEnvironment()) -> Outcome {
        do {
            let run = try start(program: program, environment: environment)
            return run.finish(message: message, envelope: envelope)
        } catch {
            return .failure(.temporary("\(error)"))
        }
    }

    /// The environment of programs the mail system starts for itself (postamt-local, postamt-queue
    /// for forwards and notices): PATH, and POSTAMT_ROOT of this installation.
    public static func environment(configuration: Configuration) -> [String] {
        var env = ["PATH=/usr/local/bin:/usr/bin:/bin"]
        if !configuration.root.isEmpty { env.append("POSTAMT_ROOT=\(configuration.root)") }
        return env
    }

    /// POSTAMT_ROOT and PATH pass through; nothing else of ours leaks into the queue program.
    public static func inheritedEnvironment() -> [String] {
        var env = ["PATH=/usr/local/bin:/usr/bin:/bin"]
        if let root = getenv("POSTAMT_ROOT") { env.append("POSTAMT_ROOT=\(String(cString: root))") }
        return env
    }

    /// The queue id postamt-queue reported on its id descriptor (postamt-queue(8), QUEUE ID):
    /// one line, the id. Anything else (a queue program that does not report) is no id.
    public static func queueID(reported bytes: [UInt8]) -> String? {
        guard let end = bytes.firstIndex(of: 0x0A) else { return nil }
        let id = String(decoding: bytes[..<end], as: UTF8.self)
        return QueueLayout.isValidID(id) ? id : nil
    }

    /// A running queue injection: write the message, then the envelope, then wait.
    public struct Run {
        let pid: pid_t
        public let messageFD: Int32
        let envelopeFD: Int32
        let errorFD: Int32
        /// The read end of the queue id pipe (child descriptor 3, POSTAMT_ID_FD=3).
        let idFD: Int32

        /// Writes the rest of the message and the envelope, closes both, waits.
        public func finish(message: [UInt8] = [], envelope: Envelope) -> Outcome {
            var writeError: String? = nil
            do { try FileIO.writeAll(messageFD, message) } catch { writeError = "\(error)" }
            close(messageFD)
            do { try FileIO.writeAll(envelopeFD, envelope.qmailBytes) } catch { if writeError == nil { writeError = "\(error)" } }
            close(envelopeFD)
            let errText = (try? FileIO.readAll(errorFD, limit: 65536)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            close(errorFD)
            let status = (try? Spawn.wait(pid)) ?? .signaled(0)
            let id = QueueClient.queueID(reported: ReportDescriptor.collect(idFD))
            let reason = ProgramOutput.lastLine(Array(errText.utf8))
            switch status {
            case .exited(0): return .success(id ?? "queued")
            case .exited(let code):
                let status = MailStatus.ofQueueExit(code, text: reason)
                let kind = status.disposition == .permanent ? "permanent" : "temporary"
                return .failure(.init(status.code, "\(kind) failure: \(reason.isEmpty ? "exit \(code)" : status.text) [exit \(code)]"))
            case .signaled(let s):
                return .failure(.temporary("postamt-queue killed by signal \(s)"))
            }
        }
    }

    /// `inProcess`: a single-threaded caller that has the program's privileges already
    /// (QueueProgram.mayRunInProcess) forks a child that runs the program's code (`QueueProgram.main`
    /// for postamt-queue, postamt-spamcheck's queue mode under smtpd) with the same descriptors
    /// and environment instead of starting the program.
    public static func start(program: String, environment: [String] = inheritedEnvironment(),
                             inProcess: ((String) -> Never)? = nil) throws -> Run {
        let message = try Pipe()
        let envelope = try Pipe()
        let errors = try Pipe()
        let ids = try Pipe()
        let fds: [(child: Int32, parent: Int32)] = [(0, message.readEnd.raw), (1, envelope.readEnd.raw), (2, errors.writeEnd.raw),
                                                    (3, ids.writeEnd.raw)]
        let pid: pid_t
        if let childMain = inProcess {
            guard let parent = try Spawn.forkPrepared(environment: environment + ["POSTAMT_ID_FD=3"], fds: fds, name: program) else {
                childMain(program)  // the child: never returns
            }
            pid = parent
        } else {
            pid = try Spawn.start(program, arguments: [program], environment: environment + ["POSTAMT_ID_FD=3"], fds: fds)
        }
        return Run(pid: pid, messageFD: message.keepWriteEnd(), envelopeFD: envelope.keepWriteEnd(),
                   errorFD: errors.keepReadEnd(), idFD: ids.keepReadEnd())
    }
}

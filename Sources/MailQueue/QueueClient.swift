#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem

/// Runs postamt-queue (or any program with qmail-queue's interface) for one message.
public enum QueueClient {
    public enum Outcome {
        case success(String)
        /// Temporary or permanent from the queue program's exit code (qmail-queue(8)), never
        /// from its text.
        case failure(MailStatus)
    }

    /// Feeds `message` on fd 0 and `envelope` on fd 1. Returns the new queue id (read back
    /// from the queue directory is not possible, so the id is reported as "queued" when the
    /// program does not print it) or the failure text.
    public static func inject(program: String, message: [UInt8], envelope: Envelope,
                              environment: [String] = inheritedEnvironment()) -> Outcome {
        do {
            let run = try start(program: program, environment: environment)
            return run.finish(message: message, envelope: envelope)
        } catch {
            return .failure(.temporary("\(error)"))
        }
    }

    /// POSTAMT_ROOT and PATH pass through; nothing else of ours leaks into the queue program.
    public static func inheritedEnvironment() -> [String] {
        var env = ["PATH=/usr/local/bin:/usr/bin:/bin"]
        if let root = getenv("POSTAMT_ROOT") { env.append("POSTAMT_ROOT=\(String(cString: root))") }
        return env
    }

    /// The id from postamt-queue's "postamt/queue[pid]: ID: queued, …" line.
    public static func queueID(in text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("postamt/queue[") {
            guard let close = line.firstIndex(of: "]") else { continue }
            let rest = line[line.index(after: close)...].dropFirst(2)
            if let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix(": queued") {
                let id = String(rest[..<colon])
                if QueueLayout.isValidID(id) { return id }
            }
        }
        return nil
    }

    /// A running queue injection: write the message, then the envelope, then wait.
    public struct Run {
        let pid: pid_t
        public let messageFD: Int32
        let envelopeFD: Int32
        let errorFD: Int32

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
            let reason = QueueRunner.lastLine(Array(errText.utf8))
            switch status {
            case .exited(0): return .success(QueueClient.queueID(in: errText) ?? "queued")
            case .exited(let code):
                let status = MailStatus.ofQueueExit(code, text: reason)
                let kind = status.disposition == .permanent ? "permanent" : "temporary"
                return .failure(.init(status.code, "\(kind) failure: \(reason.isEmpty ? "exit \(code)" : status.text) [exit \(code)]"))
            case .signaled(let s):
                return .failure(.temporary("postamt-queue killed by signal \(s)"))
            }
        }
    }

    public static func start(program: String, environment: [String] = inheritedEnvironment()) throws -> Run {
        let message = try Pipe()
        let envelope = try Pipe()
        let errors = try Pipe()
        let pid = try Spawn.start(program, arguments: [program], environment: environment,
                                  fds: [(0, message.readEnd.raw), (1, envelope.readEnd.raw), (2, errors.writeEnd.raw)])
        return Run(pid: pid, messageFD: message.keepWriteEnd(), envelopeFD: envelope.keepWriteEnd(),
                   errorFD: errors.keepReadEnd())
    }
}

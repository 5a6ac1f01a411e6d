#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailMessage
import MailQueueStore
import MailSystem

/// postamt-spamcheck(8): the filter mode (stdin to stdout) and the queue mode (qmail-queue's
/// interface in front of postamt-queue). The entry file only calls `main`.
public enum SpamCheckProgram {
    /// Filter-mode exit statuses (postamt-spamcheck(8)).
    public enum FilterExit: Int32 {
        case ham = 0
        case spam = 1
        case reject = 2
        case unscanned = 3
        case usage = 64
        case ioError = 74
    }

    static let log = Log(program: "postamt-spamcheck")

    /// The environment variables `main` reads.
    public static let environmentVariables = ["TCPREMOTEIP", "POSTAMT_HELO", "POSTAMT_SENDER"]

    /// The program: postamt-spamcheck's main, and what postamt-smtpd runs in a forked child in
    /// place of starting postamt-spamcheck-queue.
    public static func runAsProgram(arguments: [String]) -> Never {
        Signals.resetForProgramStart()
        umask(0o077)
        // Only the variables postamt-spamcheck reads (postamt-spamcheck(8), ENVIRONMENT): copying
        // the whole environment into a dictionary cost about 5 % of a run.
        var environment: [String: String] = [:]
        for name in environmentVariables {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        exit(main(arguments: arguments, environment: environment))
    }

    public static func main(arguments: [String], environment: [String: String]) -> Int32 {
        var args = Array(arguments.dropFirst())
        var queueMode = FileIO.baseName(arguments.first ?? "").hasSuffix("-queue")
        var root: String? = nil
        var input = SpamCheckInput(message: [])
        input.clientIP = environment["TCPREMOTEIP"]
        input.helo = environment["POSTAMT_HELO"]
        input.sender = environment["POSTAMT_SENDER"]
        while let arg = args.first {
            args.removeFirst()
            func value() -> String? { args.isEmpty ? nil : args.removeFirst() }
            switch arg {
            case "--queue", "-q": queueMode = true
            case "--root": root = value()
            case "-u": input.user = value()
            case "--ip": input.clientIP = value()
            case "--helo": input.helo = value()
            case "-f", "--sender": input.sender = value()
            default:
                say("usage: postamt-spamcheck [--queue] [--root DIR] [-u USER] [--ip ADDRESS] [--helo NAME] [-f SENDER] < message\n")
                return queueMode ? QueueExit.internalBug.rawValue : FilterExit.usage.rawValue
            }
        }
        let configuration: Configuration
        do {
            configuration = try Configuration.load(root: Configuration.installationRoot(argument: root))
        } catch {
            log.error("configuration: \(error)")
            if queueMode {
                say("postamt-spamcheck: cannot read the configuration (#4.3.0)\n")
                return QueueExit.configurationError.rawValue
            }
            // A filter never loses the message: pass it through unscanned.
            return passUnscanned(reason: "configuration error")
        }
        return queueMode ? queue(configuration, input) : filter(configuration, input)
    }

    // MARK: - Filter mode

    static func filter(_ configuration: Configuration, _ start: SpamCheckInput) -> Int32 {
        var input = start
        do {
            input.message = try FileIO.readAll(0)
        } catch {
            log.error("reading the message: \(error)")
            return FilterExit.ioError.rawValue
        }
        let (report, options) = score(configuration, input, inProcess: true)
        let authservID = options?.authservID ?? configuration.hostname
        let output = rewrite(input.message, report: report, authservID: authservID)
        do {
            try FileIO.writeAll(1, output)
        } catch {
            log.error("writing the message: \(error)")
            return FilterExit.ioError.rawValue
        }
        logVerdict(report, input)
        if report.unscanned { return FilterExit.unscanned.rawValue }
        if report.rejectReason != nil { return FilterExit.reject.rawValue }
        return report.isSpam ? FilterExit.spam.rawValue : FilterExit.ham.rawValue
    }

    static func passUnscanned(reason: String) -> Int32 {
        guard let message = try? FileIO.readAll(0) else { return FilterExit.ioError.rawValue }
        var report = SpamReport()
        report.unscanned = true
        report.hits = [SpamRuleHit(name: "UNSCANNED", weight: 0)]
        report.notes = ["not scanned: \(reason)"]
        guard (try? FileIO.writeAll(1, rewrite(message, report: report, authservID: Configuration.systemHostname()))) != nil else {
            return FilterExit.ioError.rawValue
        }
        return FilterExit.unscanned.rawValue
    }

    /// Set by a process that checks many messages with one configuration (postamt-smtpd --serve): the
    /// checks then run in one child kept for the process's life (`ResidentCheck`), not in a
    /// child per message.
    nonisolated(unsafe) public static var keepsCheckerProcess = false

    /// Scores the message; on any internal error the report says UNSCANNED and the message passes.
    /// - Parameter inProcess: filter mode: check in this process under `CrashGuard` (which
    ///   writes the message unscanned and exits 3 on a crash or at the time limit); otherwise
    ///   in a child process (`IsolatedCheck`).
    static func score(_ configuration: Configuration, _ input: SpamCheckInput, inProcess: Bool = false) -> (SpamReport, SpamCheckOptions?) {
        let options: SpamCheckOptions
        do {
            options = try SpamCheckOptions(configuration: configuration)
        } catch {
            log.error("spam settings: \(error); message passed unscanned")
            var report = SpamReport()
            report.unscanned = true
            report.hits = [SpamRuleHit(name: "UNSCANNED", weight: 0)]
            report.notes = ["not scanned: configuration error"]
            return (report, nil)
        }
        if inProcess {
            var unscanned = SpamReport()
            unscanned.unscanned = true
            unscanned.hits = [SpamRuleHit(name: "UNSCANNED", weight: 0)]
            unscanned.notes = ["not scanned: the check crashed or ran out of time"]
            let line = "postamt/spamcheck[\(getpid())]: error: spam check failed: crash or time limit; message passed unscanned\n"
            CrashGuard.arm(unscannedOutput: rewrite(input.message, report: unscanned, authservID: options.authservID),
                           logLine: Array(line.utf8), seconds: UInt32(clamping: options.timeLimitSeconds + 5))
            IsolatedCheck.faultForTests()
            let report = SpamChecker(options: options).check(input)
            CrashGuard.disarm()
            return (report, options)
        }
        let (report, failure) = keepsCheckerProcess
            ? ResidentCheck.run(input, timeLimit: options.timeLimitSeconds) { SpamChecker(options: options).check($0) }
            : IsolatedCheck.run(timeLimit: options.timeLimitSeconds) { SpamChecker(options: options).check(input) }
        if let report { return (report, options) }
        log.error("spam check failed: \(failure ?? "unknown"); message passed unscanned")
        var unscanned = SpamReport()
        unscanned.unscanned = true
        unscanned.hits = [SpamRuleHit(name: "UNSCANNED", weight: 0)]
        unscanned.notes = ["not scanned: \(failure ?? "internal error")"]
        return (unscanned, options)
    }

    /// The message with our fields on top and any earlier ones of ours removed (RFC 8601 §5:
    /// Authentication-Results fields claiming our authserv-id must not survive from outside).
    public static func rewrite(_ message: [UInt8], report: SpamReport, authservID: String) -> [UInt8] {
        let header = HeaderSection.parse(message, limit: 1 << 20)
        var remove: [Range<Int>] = []
        for field in header.fields {
            let name = field.name.lowercased()
            if ["x-spam-status", "x-spam-score", "x-spam-bayes", "x-spam-note"].contains(name) {
                remove.append(field.range)
            } else if name == "authentication-results" {
                let id = field.value.split(separator: ";").first.map { $0.trimmingCharacters(inSet: " \t") } ?? ""
                if id.lowercased() == authservID.lowercased() { remove.append(field.range) }
            }
        }
        var out = report.headerFields(authservID: authservID)
        out.reserveCapacity(out.count + message.count)
        var position = 0
        for range in remove {
            out += message[position..<range.lowerBound]
            position = range.upperBound
        }
        out += message[position...]
        return out
    }

    static func logVerdict(_ report: SpamReport, _ input: SpamCheckInput, id: String? = nil) {
        let tests = report.hits.map(\.name).joined(separator: ",")
        var line = "\(report.isSpam ? "spam" : "ham") score=\(formatScore(report.score)) tests=\(tests.isEmpty ? "none" : tests)"
        if let ip = input.clientIP { line += " ip=\(ip)" }
        if let reason = report.rejectReason { line += " refused: \(reason)" }
        if !report.notes.isEmpty { line += " notes: \(report.notes.joined(separator: "; "))" }
        log.info(line, id: id)
    }

    // MARK: - Queue mode (qmail-queue's interface)

    /// What queue mode does with a message before the queue gets it.
    public enum Screened: Equatable {
        /// Refused: the one line for the SMTP reply, ending "(#5.7.1)".
        case refuse(String)
        /// Passed: the message with our header fields on top, for the queue.
        case pass([UInt8])
    }

    /// Queue mode's check of one message for `envelope` (the user whose token database counts
    /// is the single local recipient's): scores it (in a child, IsolatedCheck), logs the
    /// verdict, and refuses it or tags it. Also what postamt-smtpd runs itself when it writes
    /// the queue file (postamt-smtpd(8), "Hand-off to the queue").
    public static func screen(_ configuration: Configuration, _ start: SpamCheckInput, envelope: Envelope) -> Screened {
        var input = start
        input.sender = envelope.sender.text
        input.recipients = envelope.recipients.map(\.text)
        if envelope.recipients.count == 1, configuration.isLocal(domain: envelope.recipients[0].domain) {
            let local = envelope.recipients[0].localPart
            let delimiter = configuration.string("recipient_delimiter")
            input.user = String(local.split(whereSeparator: { delimiter.contains($0) }).first ?? Substring(local)).lowercased()
        }
        let (report, options) = score(configuration, input)
        logVerdict(report, input)
        if let reason = report.rejectReason { return .refuse("postamt-spamcheck: refused: \(reason) (#5.7.1)") }
        return .pass(rewrite(input.message, report: report, authservID: options?.authservID ?? configuration.hostname))
    }

    /// fd 0 the message, fd 1 the envelope; refuses with 31 above the reject score, otherwise
    /// becomes postamt-queue with the tagged message on fd 0 and the same envelope on fd 1: runs
    /// its code (QueueProgram) when this process has its privileges already, as it does under
    /// smtpd, else (or with smtpd_exec_queue = yes) execs the program.
    static func queue(_ configuration: Configuration, _ start: SpamCheckInput) -> Int32 {
        var input = start
        let envelopeBytes: [UInt8]
        do {
            input.message = try FileIO.readAll(0)
            envelopeBytes = try FileIO.readAll(1)
        } catch {
            log.error("reading the message or envelope: \(error)")
            return QueueExit.readError.rawValue
        }
        guard let envelope = try? Envelope.parse(qmailBytes: envelopeBytes) else {
            say("postamt-spamcheck: envelope format error (#5.3.0)\n")
            return QueueExit.envelopeFormat.rawValue
        }
        let output: [UInt8]
        switch screen(configuration, input, envelope: envelope) {
        case .refuse(let text):
            // smtpd turns a permanent queue refusal into 550 5.7.1 at DATA; nothing is queued.
            say(text + "\n")
            return QueueExit.permanentRefusal.rawValue
        case .pass(let tagged):
            output = tagged
        }
        let program = configuration.program("postamt-queue")
        do {
            let messageFD = try FileIO.memoryFile("postamt-spamcheck-message", output)
            let envelopeFD = try FileIO.memoryFile("postamt-spamcheck-envelope", envelopeBytes)
            guard dup2(messageFD, 0) == 0, dup2(envelopeFD, 1) == 1 else { throw SystemError("dup2") }
            close(messageFD)
            close(envelopeFD)
        } catch {
            log.error("handing the message to \(program): \(error)")
            say("postamt-spamcheck: cannot hand the message to the queue (#4.3.0)\n")
            return QueueExit.writeError.rawValue
        }
        if !configuration.bool("smtpd_exec_queue") && QueueProgram.mayRunInProcess(program, installed: program) {
            QueueProgram.main()
        }
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("postamt-queue"), nil]
        execv(program, argv)
        log.error("cannot run \(program): \(String(cString: strerror(errno)))")
        say("postamt-spamcheck: cannot run postamt-queue (#4.3.0)\n")
        return QueueExit.configurationError.rawValue
    }
}

/// One line on stderr (the text smtpd or the caller shows).
func say(_ text: String) {
    try? FileIO.writeAll(2, text)
}

#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem

/// postamt-local(8) as a function: the program's whole run, from its arguments to its exit. The
/// executable calls it; so does the runner's spawner, in a child it has already made the
/// recipient (postamt-runner(8), runner_exec_local), which saves a program start per delivery.
public enum LocalDeliveryProgram {
    /// Runs one delivery and exits: `arguments` as argv (argv[0] included), the message on fd 0,
    /// diagnostics on fd 2, the result line on the descriptor POSTAMT_RESULT_FD names.
    public static func main(_ arguments: [String]) -> Never {
        let code = deliver(arguments)
        // _exit: nothing is buffered (Log writes each line with write(2)), and in the spawner's
        // forked child the parent's exit handlers and destructors are not ours to run (they
        // also cost the child page faults).
        fflush(nil)
        _exit(code)
    }

    /// One delivery as `main` runs it, returning its exit code instead of exiting: the spawner's
    /// child runs several for one user in a row (postamt-runner(8), runner_local_batch), with
    /// descriptors 0–3 set afresh for each.
    public static func deliver(_ arguments: [String]) -> Int32 {
        let log = Log(program: "postamt-local")
        Signals.resetForProgramStart()
        // The runner's result descriptor (postamt-local(8), RESULT LINE), taken before anything
        // is opened; close-on-exec, so a delivery's |command cannot write a result of its own.
        let resultDescriptor = ReportDescriptor.fromEnvironment("POSTAMT_RESULT_FD")
        umask(0o077)
        var request = DeliveryRequest(user: "")

        /// The end of every run: the result line (when the caller gave a descriptor), one line on
        /// stderr and the exit code, all three from `status`. `early`: before the delivery began
        /// (postamt-local(8), DIAGNOSTICS: "error: …", no id).
        func finish(_ status: MailStatus, early: Bool = false) -> Int32 {
            ReportDescriptor.send(status.resultLine, to: resultDescriptor)
            if early { log.error(status.line) } else { log.info(status.line, id: request.queueID) }
            return status.sysExit.rawValue
        }
        let usage = MailStatus.permanent("5.4", "usage: postamt-local [-n] [-f sender] [-a address] [-e extension] [-D target] [-q id] [--root dir] user")

        var rootArgument: String? = nil
        var args = Array(arguments.dropFirst())
        while let a = args.first, a.hasPrefix("-") {
            args.removeFirst()
            if a == "--" { break }
            switch a {
            case "-n": request.skipAliases = true
            case "-f", "-a", "-e", "-D", "-q", "--root":
                guard let v = args.first else { return finish(usage, early: true) }
                args.removeFirst()
                switch a {
                case "-f": request.sender = v
                case "-a": request.address = v
                case "-e": request.extensionPart = v.isEmpty ? nil : v
                case "-D": request.target = v
                case "-q": request.queueID = v
                default: rootArgument = v
                }
            default: return finish(usage, early: true)
            }
        }
        guard args.count == 1, !args[0].isEmpty else { return finish(usage, early: true) }
        request.user = args[0]
        if request.sender == "<>" { request.sender = "" }

        let configuration: Configuration
        do {
            // Read again only when postamt.conf changed since this process (or the spawner it was
            // forked from) read it: a spawner's child runs many deliveries.
            configuration = try Configuration.load(root: Configuration.installationRoot(argument: rootArgument))
        } catch {
            return finish(.permanent("3.5", "cannot read the configuration: \(error)"), early: true)
        }

        let message: [UInt8]
        do {
            message = try FileIO.readAll(0, limit: Int(configuration.size("message_size_limit")) + (1 << 20))
        } catch let e as SystemError where e.errno == EFBIG {
            // It will never fit: a permanent failure, not a retry for ever.
            return finish(.permanent("3.4", "message is larger than message_size_limit"), early: true)
        } catch {
            return finish(.temporary("3.0", "cannot read the message: \(error)"), early: true)
        }

        return finish(LocalDelivery(configuration: configuration, request: request, message: message, log: log).deliver())
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem

/// postamt-queue(8) as a function: the program's whole run, from its descriptors to its exit.
/// The executable calls it; so does a caller that already has the program's privileges (smtpd as
/// mail_owner, QueueClient.start), in a forked child, which saves a program start per message.
public enum QueueProgram {
    /// One message from fd 0 and its envelope from fd 1 into the queue, the id on the descriptor
    /// POSTAMT_ID_FD names; exits with qmail-queue's status.
    public static func main() -> Never {
        let log = Log(program: "postamt-queue")
        Signals.resetForProgramStart()
        // Postfix's postdrop checklist: fds 0–2 must be open before we open anything, or a file we
        // create could become "stderr". A closed fd 0 or 1 then reads as empty input (an error).
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 {
            let null = open("/dev/null", O_RDWR)
            if null != fd { _exit(QueueExit.readError.rawValue) }
        }
        // The caller's descriptor for the queue id (postamt-queue(8), QUEUE ID), taken before
        // anything is opened so that no file of ours can be mistaken for it.
        let idDescriptor = ReportDescriptor.fromEnvironment("POSTAMT_ID_FD")
        umask(0o027)
        // qmail-queue gives up after a day of waiting for its input: exit 52 (timeout).
        signal(SIGALRM) { _ in _exit(QueueExit.timeout.rawValue) }
        alarm(86400)

        let root = Configuration.installationRoot()
        if root.isEmpty, getenv("POSTAMT_ROOT") != nil, Privileges.isSetID {
            log.warning("POSTAMT_ROOT ignored: its configuration is not owned by root or is writable by others")
        }
        let configuration: Configuration
        do {
            configuration = try Configuration.load(root: root)
        } catch {
            log.error("cannot read the configuration: \(error)")
            exit(QueueExit.configurationError.rawValue)
        }

        let caller = QueueInjector.Caller(uid: getuid(), mailOwner: configuration.string("mail_owner"))
        // Spare files are the mail_owner's (the runner keeps only its own): no one else could write them.
        let injector = QueueInjector(configuration: configuration, log: log, spares: caller.isMailOwner && geteuid() == caller.uid)
        do {
            let received = QueueInjector.receivedLine(peer: QueueInjector.peerFromEnvironment(caller: caller), date: Clock.rfc5322Date())
            let id = try injector.inject(received: received, submitter: QueueInjector.submitterFromEnvironment(caller: caller),
                                         dsn: QueueInjector.dsnFromEnvironment(caller: caller))
            ReportDescriptor.send("\(id)\n", to: idDescriptor)
            exit(0)
        } catch {
            log.error(error.reason)
            exit(error.exit.rawValue)
        }
    }

    /// Whether a forked child of this process may run `program` in place of starting it: it is
    /// `installed` (the postamt-queue of this installation, not a replacement), not set-uid, and
    /// set-gid only to the group this process already has as its effective group; and this
    /// process is not set-id itself. The child then has what the started program would have.
    public static func mayRunInProcess(_ program: String, installed: String) -> Bool {
        guard program == installed, !Privileges.isSetID else { return false }
        var st = stat()
        guard stat(program, &st) == 0, st.st_mode & S_ISUID == 0 else { return false }
        return st.st_mode & S_ISGID == 0 || st.st_gid == getegid()
    }
}

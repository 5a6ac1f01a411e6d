#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem

extension LocalDelivery {
    /// One delivery's code run once in the runner's spawner before it forks delivery children
    /// (runner_exec_local = no): a small message through the same steps as a user's default
    /// Maildir (the loop check, the user's delivery files, the Sieve hook, the quota, the
    /// Maildir's tmp/new), into a Maildir in a private temporary directory that is removed
    /// afterwards.
    ///
    /// Why: the Swift runtime makes the metadata of a generic type (an array, a dictionary of
    /// these element types) the first time a process uses it, and a forked child's first use
    /// is repeated in every child, with copy-on-write faults on the pages those caches live in:
    /// about a fifth of each delivery child's CPU time (perf, one session, reused connections).
    /// Made once in the parent, every child inherits them. Nothing here is kept, logged or
    /// sent; a failure only means the children do that work themselves. Returns whether the
    /// message was delivered (for the tests).
    @discardableResult
    public static func warmUp(configuration: Configuration, log: Log) -> Bool {
        var template = Array("/tmp/postamt-warm-up-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { return false }
        let home = String(cString: made)
        defer { FileIO.removeTree(home) }
        let user = SystemUser(name: "postamt-warm-up", uid: geteuid(), gid: getegid(), home: home, shell: "/bin/false")
        var request = DeliveryRequest(user: user.name)
        request.sender = "postamt-warm-up@localhost"
        request.queueID = "warm-up"
        let message = Array("Received: from localhost by localhost; Thu, 1 Jan 1970 00:00:00 +0000\nFrom: <postamt-warm-up@localhost>\nSubject: warm-up\nMessage-ID: <warm-up@localhost>\n\nwarm-up\n".utf8)
        var settings = configuration
        settings.set("home_mailbox", "Maildir/")
        let delivery = LocalDelivery(configuration: settings, request: request, message: message, log: log)
        guard delivery.loopCheck() == nil, case .success(let (instructions, source)) = delivery.instructionsFor(user) else { return false }
        guard delivery.execute(instructions, user: user, what: source).disposition == .success else { return false }
        return FileIO.exists(home + "/Maildir/new")
    }
}

#if canImport(Glibc)
import Glibc
#endif

public enum Signals {
    /// Every program calls this first: a parent (a test harness, a supervisor with threads)
    /// may hand us a blocked signal mask, and then SIGTERM or SIGALRM would never arrive.
    /// SIGPIPE is ignored: a closed pipe is an error return we handle, not a death.
    public static func resetForProgramStart() {
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
        for s in [SIGTERM, SIGINT, SIGHUP, SIGALRM, SIGCHLD] { signal(s, SIG_DFL) }
        signal(SIGPIPE, SIG_IGN)
    }
}

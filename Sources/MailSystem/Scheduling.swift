import CSpawn

/// This process's CPU scheduling policy (sched(7)).
public enum Scheduling {
    /// SCHED_BATCH from now on, for this process and every process it starts: a process of it
    /// that is woken with work does not preempt the one running on that CPU (on a mail server
    /// most often smtpd, answering a client) but waits for a free CPU or its turn
    /// (postamt-runner(8), runner_batch_scheduling). Its nice value is unchanged.
    public static func useBatch() throws(SystemError) {
        guard postamt_sched_batch() == 0 else { throw SystemError("sched_setscheduler(SCHED_BATCH)") }
    }
}

// postamt-runner: the queue manager (postamt-runner(8)).
#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailDelivery
import MailQueue
import MailSystem

let log = Log(program: "postamt-runner")
Signals.resetForProgramStart()
umask(0o027)

var arguments = Array(CommandLine.arguments.dropFirst())
var rootArgument: String? = nil
var once = false
var spawner = false
while let first = arguments.first {
    arguments.removeFirst()
    switch first {
    case "--root":
        guard let value = arguments.first else { log.error("--root needs a directory"); exit(64) }
        rootArgument = value
        arguments.removeFirst()
    case "--once": once = true
    case "--spawner": spawner = true
    case "--foreground": break
    default:
        log.error("usage: postamt-runner [--root DIR] [--once]")
        exit(64)
    }
}

let configuration: Configuration
do {
    configuration = try Configuration.load(root: Configuration.installationRoot(argument: rootArgument))
} catch {
    log.error("cannot read the configuration: \(error)")
    exit(78)
}

// Deliveries are throughput, not latency: woken with work, the runner, the spawner and its
// children (which inherit the policy, as do the programs they start) wait for a free CPU rather
// than preempt smtpd in the middle of a session. The spawner, a child of ours, sets it again
// (harmless). One reused session, alternating installations: the runner's context switches
// 3.0 → 1.9 a message, CPU 1.06–1.23 → 1.02–1.12 ms a message (eight runs each).
if configuration.bool("runner_batch_scheduling") {
    do { try Scheduling.useBatch() } catch { log.warning("runner_batch_scheduling: \(error)") }
}

// Users looked up again while /etc/passwd is unchanged (passwd_cache_time): the runner routes,
// the spawner and its delivery children (forked, they inherit it) become and deliver to them.
PasswdCache.shared.keep(forSeconds: configuration.duration("passwd_cache_time"))

if spawner {
    guard Privileges.isRoot else { log.error("--spawner is internal and runs as root only"); exit(77) }
    // runner_exec_local = no (the default): each delivery is a forked child that becomes the
    // recipient and runs postamt-local's code without starting the program (postamt-runner(8)).
    // Deliveries waiting together for one user share a child (runner_local_batch), and a child
    // that has finished waits a while for more to its user (runner_local_max_use, _max_idle).
    if !configuration.bool("runner_exec_local") { LocalDelivery.warmUp(configuration: configuration, log: log) }
    PrivilegedSpawner.serve(socket: 3, program: configuration.program("postamt-local"),
                            environment: RunnerStartup.environment(configuration: configuration), log: log,
                            deliver: configuration.bool("runner_exec_local") ? nil : { LocalDeliveryProgram.deliver($0) },
                            batch: configuration.count("runner_local_batch"),
                            reuse: .init(deliveries: max(1, configuration.count("runner_local_max_use")),
                                         idleMilliseconds: configuration.duration("runner_local_max_idle") * 1000,
                                         idleChildren: configuration.count("runner_local_idle_limit")))
}

do {
    let runner = try RunnerStartup.makeRunner(configuration: configuration, log: log)
    runner.exitWhenIdle = once
    log.info("started, queue \(configuration.queueDirectory), as uid \(getuid())")
    try runner.run()
    exit(0)
} catch {
    log.error("\(error)")
    exit(75)
}

// postamt-queue: puts one message into the queue (postamt-queue(8)); qmail-queue's interface.
#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailQueue
import MailSystem

let log = Log(program: "postamt-queue")
Signals.resetForProgramStart()
umask(0o027)
// qmail-queue gives up after a day of waiting for its input: exit 52 (timeout).
signal(SIGALRM) { _ in _exit(QueueExit.timeout.rawValue) }
alarm(86400)

let configuration: Configuration
do {
    configuration = try Configuration.load()
} catch {
    log.error("cannot read the configuration: \(error)")
    exit(QueueExit.configurationError.rawValue)
}

let injector = QueueInjector(configuration: configuration, log: log)
do {
    let received = QueueInjector.receivedLine(peer: QueueInjector.peerFromEnvironment(), date: Clock.rfc5322Date())
    _ = try injector.inject(received: received)
    exit(0)
} catch {
    log.error(error.reason)
    exit(error.exit.rawValue)
}

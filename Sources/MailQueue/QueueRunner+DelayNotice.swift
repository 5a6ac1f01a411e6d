import MailCore
import MailSystem

/// The runner sends delay notices (DelayNotice builds them; it knows nothing of the runner).
extension QueueRunner {
    /// Sends the sender one delay notice once the message is older than delay_warning_time
    /// and still has recipients waiting for a retry. Never for bounces (null sender).
    func warnIfDelayed(_ m: Message) {
        let after = configuration.duration("delay_warning_time")
        let now = Clock.seconds()
        guard after > 0, !m.state.warned, !m.state.sender.isEmpty, m.state.sender != doubleBounceSender,
              now - m.state.arrival >= after else { return }
        // DSN: only recipients whose NOTIFY (if given) includes DELAY.
        let delayed = m.state.recipients.filter { $0.status == .pending && $0.attempts > 0 && $0.wants("DELAY") }
        guard !delayed.isEmpty else { return }
        let bytes = DelayNotice.message(
            queueID: m.state.id, hostname: configuration.hostname, to: m.state.sender, arrival: m.state.arrival,
            delayed: delayed.map { DelayNotice.Delayed(recipient: $0.destination?.address ?? $0.original, reason: $0.reason) },
            originalHeaders: Bounce.headers(ofMessageAt: layout.message(m.state.id)), now: now,
            retryUntil: m.state.arrival + lifetime)
        guard let sender = try? EnvelopeAddress("", allowEmpty: true, lengthLimit: 4096),
              let recipient = try? EnvelopeAddress(m.state.sender, lengthLimit: 4096) else { return }
        switch QueueClient.inject(program: configuration.program("postamt-queue"), message: bytes,
                                  envelope: Envelope(sender: sender, recipients: [recipient]),
                                  environment: notificationEnvironment(m)) {
        case .success(let newID):
            m.state.warned = true
            log.info("sender delay notification: \(newID)", id: m.state.id)
        case .failure(let why):
            log.warning("cannot queue the delay notification: \(why); will retry", id: m.state.id)
        }
    }
}

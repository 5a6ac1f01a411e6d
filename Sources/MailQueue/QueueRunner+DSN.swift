import MailCore
import MailSystem

/// DSN (RFC 3461) requests the runner honours: NOTIFY decides which reports a recipient's
/// sender gets, RET how much of the message a failure report returns (postamt-runner(8)).
extension QueueRunner {
    /// Failed recipients whose NOTIFY excludes FAILURE (NEVER included): reported without a
    /// notice, and logged. Returns their indices.
    func settleUnwantedFailures(_ m: Message, _ failed: [Int]) -> [Int] {
        let silenced = failed.filter { !m.state.recipients[$0].wants("FAILURE") }
        for i in silenced {
            let r = m.state.recipients[i]
            m.state.recipients[i].status = .reported
            log.info("to=<\(r.destination?.address ?? r.original)>\(orig(r)), no non-delivery notification (NOTIFY=\(r.notify ?? ""))", id: m.state.id)
        }
        return silenced
    }

    /// The whole message for a RET=FULL failure report when it fits dsn_full_message_limit;
    /// nil means headers only (RET=HDRS, no RET, or too big).
    /// RFC 8689 §5: a REQUIRETLS message's notice returns headers only, whatever RET says.
    func returnedMessage(_ m: Message) -> [UInt8]? {
        guard m.state.ret == "FULL", !m.state.requireTLS, m.state.size <= configuration.size("dsn_full_message_limit"),
              let bytes = try? QueueFile.readMessage(layout.message(m.state.id)) ?? nil else { return nil }
        return bytes
    }

    /// The queue program's environment for a notice about `m`: a notice about a REQUIRETLS
    /// message is itself sent with REQUIRETLS (RFC 8689 §5), through the same side channel
    /// postamt-queue believes from the mail_owner the runner runs as.
    func notificationEnvironment(_ m: Message) -> [String] {
        RunnerStartup.environment(configuration: configuration) + (m.state.requireTLS ? ["POSTAMT_DSN=REQUIRETLS"] : [])
    }

    /// One success notice (Action: delivered) for the recipients delivered with
    /// NOTIFY=SUCCESS. Returns false when it could not be queued (retry later).
    func sendSuccessNotices(_ m: Message) -> Bool {
        let indices = m.state.recipients.indices.filter { m.state.recipients[$0].needsSuccessNotice }
        guard !indices.isEmpty else { return true }
        func markDone() { for i in indices { m.state.recipients[i].successReported = true } }
        // Never for a bounce or a postmaster notice (null or double-bounce sender).
        guard !m.state.sender.isEmpty, m.state.sender != doubleBounceSender,
              let sender = try? EnvelopeAddress("", allowEmpty: true, lengthLimit: 4096),
              let recipient = try? EnvelopeAddress(m.state.sender, lengthLimit: 4096) else {
            markDone()
            return true
        }
        let items = indices.map { i -> Bounce.Failed in
            let r = m.state.recipients[i]
            // Handed to another MTA that does not offer DSN (one that does got NOTIFY and
            // reports itself; finishRemote marks those done): RFC 3461 §5.2.2 and RFC 3464
            // §2.3.3 call that "relayed".
            var action: String? = nil
            if case .remote = r.destination { action = "relayed" }
            return Bounce.Failed(original: r.original, final: r.destination?.address ?? r.original,
                                 reason: r.reason.isEmpty ? "delivered" : r.reason, orcpt: r.orcpt, action: action)
        }
        let bytes = Bounce.message(queueID: m.state.id, hostname: configuration.hostname, to: m.state.sender,
                                   arrival: m.state.arrival, failed: items,
                                   originalHeaders: Bounce.headers(ofMessageAt: layout.message(m.state.id)),
                                   envelopeID: m.state.envid, success: true)
        switch QueueClient.inject(program: configuration.program("postamt-queue"), message: bytes,
                                  envelope: Envelope(sender: sender, recipients: [recipient]),
                                  environment: notificationEnvironment(m)) {
        case .success(let newID):
            markDone()
            log.info("sender delivery status notification (success): \(newID)", id: m.state.id)
            return true
        case .failure(let why):
            log.warning("cannot queue the success notification: \(why); will retry", id: m.state.id)
            return false
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem
import Maildir

/// The user's Maildir++ quota at delivery (postamt-local(8), "QUOTA").
extension LocalDelivery {
    /// The quota a delivery into the Maildir `path` counts against: the recipient's own
    /// Maildir (`home_mailbox`) when `path` is it or one of its folders; nil for other paths
    /// and without a limit. A failure when the limit cannot be known.
    func quota(for path: String) -> Result<MaildirQuota?, DeliveryOutcome> {
        let mailbox = configuration.string("home_mailbox")
        // The recipient is who runs this (an alias delivering to its owner's mailbox, too).
        guard mailbox.hasSuffix("/"), let user = runningAs, user.uid == geteuid() else { return .success(nil) }
        let root = Maildir(path: mailbox.hasPrefix("/") ? mailbox : "\(user.home)/\(mailbox)").path
        let target = Maildir(path: path).path
        guard target == root || target.hasPrefix("\(root)/.") else { return .success(nil) }
        switch QuotaTable.limit(for: user.name, configuration: configuration) {
        case .failure(let problem):
            return .failure(.temporary("3.5", "cannot tell \(user.name)'s quota: \(problem)"))
        case .success(let limit):
            return .success(limit.isUnlimited ? nil : MaildirQuota(root: root, limit: limit))
        }
    }

    /// Whether a message of `size` bytes may go into the Maildir `path`: nil when no quota
    /// counts it, else the quota and its usage before the message; a failure refuses it.
    func quotaAdmission(_ path: String, size: Int) -> Result<(quota: MaildirQuota, before: QuotaUsage)?, DeliveryOutcome> {
        switch quota(for: path) {
        case .failure(let outcome): return .failure(outcome)
        case .success(nil): return .success(nil)
        case .success(let quota?): return quotaAdmission(quota, size: size).map { (quota, $0) }
        }
    }

    /// Refuses a message that would take the Maildir over its quota: a temporary failure
    /// (the message waits in the queue until the user makes room) unless quota_exceeded is
    /// "bounce". Success: the usage before the message, for `quotaDelivered`.
    func quotaAdmission(_ quota: MaildirQuota, size: Int) -> Result<QuotaUsage, DeliveryOutcome> {
        let check: MaildirQuota.Check
        do {
            check = try quota.check(adding: Int64(size))
        } catch {
            return .failure(.temporary("3.0", "cannot read the quota of \(quota.root): \(error)"))
        }
        let usage: QuotaUsage
        switch check {
        case .fits(let before): return .success(before)
        case .exceeds(let now): usage = now
        }
        let what = "mailbox full: \(usage.bytes) bytes in \(usage.messages) messages, limit \(quota.limit), message \(size) bytes"
        log.info("quota: \(request.user): \(what)")
        if configuration.string("quota_exceeded") == "bounce" {
            return .failure(.permanent("2.2", "\(what)"))
        }
        return .failure(.temporary("2.2", "\(what)"))
    }

    /// After a delivery of `size` bytes onto `before`: counts it in maildirsize and, when it crossed one of
    /// quota_warning_thresholds, leaves a warning in the INBOX. Failures here lose nothing (the
    /// message is delivered; the next recalculation counts it), so they are only logged.
    func quotaDelivered(_ quota: MaildirQuota, size: Int, before: QuotaUsage) {
        do {
            try quota.record(QuotaUsage(bytes: Int64(size), messages: 1))
            let after = before + QuotaUsage(bytes: Int64(size), messages: 1)
            let was = quota.limit.percentUsed(before), now = quota.limit.percentUsed(after)
            guard let crossed = QuotaTable.warningThresholds(configuration: configuration).last(where: { was < $0 && $0 <= now }) else { return }
            let warning = Array(quotaWarning(percent: crossed, usage: after, limit: quota.limit).utf8)
            try Maildir(path: quota.root).deliver([warning[...]])
            try quota.record(QuotaUsage(bytes: Int64(warning.count), messages: 1))
            log.info("quota: \(request.user): warned at \(crossed)%")
        } catch {
            log.warning("quota: \(request.user): cannot update \(quota.filePath): \(error)")
        }
    }

    func quotaWarning(percent: Int, usage: QuotaUsage, limit: QuotaLimit) -> String {
        var limits: [String] = []
        if let b = limit.bytes { limits.append("\(usage.bytes) of \(b) bytes") }
        if let m = limit.messages { limits.append("\(usage.messages) of \(m) messages") }
        return """
        From: Mail Delivery System <MAILER-DAEMON@\(hostname)>
        To: \(recipientAddress)
        Subject: Your mailbox is \(percent)% full
        Date: \(Clock.rfc5322Date())
        Message-ID: <\(MaildirName.unique()).quota@\(hostname)>
        Auto-Submitted: auto-generated
        MIME-Version: 1.0
        Content-Type: text/plain; charset=us-ascii

        Your mailbox now uses \(limits.joined(separator: " and ")).

        When it is full, new mail waits on the server and is returned to its senders after
        a few days. Delete old messages, and empty the Trash folder, to make room.

        """
    }
}

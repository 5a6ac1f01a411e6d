import IMAPProtocol
import Maildir

/// RFC 9208 QUOTA on the user's Maildir++ quota (maildirsize, shared with postamt-local), and
/// RFC 7889 APPENDLIMIT.
///
/// One quota root, named "" (as in RFC 9208's examples), holds every mailbox of the user: the
/// Maildir and all its folders count together, as at delivery. Its resources are STORAGE (in
/// units of 1024 octets) and MESSAGE, those the administrator limited. No SETQUOTA: limits are
/// the administrator's (postamt.conf's quota settings), so QUOTASET is not advertised.
extension IMAPSession {
    static let quotaRootName: [UInt8] = []

    /// QUOTA and its resources when quotas are configured, and APPENDLIMIT (RFC 7889 §3: the
    /// server-wide limit, imap_max_message_size).
    var quotaCapabilities: [String] {
        var list = ["APPENDLIMIT=\(configuration.maxMessageSize)"]
        if configuration.quotaLimit != nil { list += ["QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"] }
        return list
    }

    /// The logged-in user's quota; nil without one.
    var maildirQuota: MaildirQuota? {
        guard let user, let store, let limitFor = configuration.quotaLimit else { return nil }
        let limit = limitFor(user)
        return limit.isUnlimited ? nil : MaildirQuota(root: store.rootPath, limit: limit)
    }

    func quotaCommand(_ command: IMAPCommand, store: IMAPMailStore) throws {
        let tag = command.tag
        guard configuration.quotaLimit != nil else { return bad(tag, "Unknown command") }
        switch command.kind {
        case .getQuotaRoot(let name):
            let folder = try store.folderName(name, utf8Enabled: utf8Enabled)
            guard store.exists(folder) else { return no(tag, code: .nonexistent, "No such mailbox") }
            guard let quota = maildirQuota else {
                out.quotaRoot(name, roots: [])
                return ok(tag, "GETQUOTAROOT completed")
            }
            out.quotaRoot(name, roots: [IMAPSession.quotaRootName])
            try reportQuota(quota)
            ok(tag, "GETQUOTAROOT completed")
        case .getQuota(let root):
            guard root == IMAPSession.quotaRootName, let quota = maildirQuota else {
                return no(tag, code: .nonexistent, "No such quota root")
            }
            try reportQuota(quota)
            ok(tag, "GETQUOTA completed")
        default:
            bad(tag, "Command not valid in this state")
        }
    }

    /// `* QUOTA "" (…)` with the usage counted now (the count also corrects maildirsize).
    func reportQuota(_ quota: MaildirQuota) throws {
        let usage = try quota.recalculate()
        var resources: [(name: String, usage: UInt64, limit: UInt64)] = []
        // RFC 9208 §5.1: STORAGE in units of 1024 octets, rounded up so a full quota shows full.
        if let bytes = quota.limit.bytes {
            resources.append(("STORAGE", UInt64(max(0, usage.bytes) + 1023) / 1024, UInt64(bytes) / 1024))
        }
        if let messages = quota.limit.messages { resources.append(("MESSAGE", UInt64(max(0, usage.messages)), UInt64(messages))) }
        out.quota(IMAPSession.quotaRootName, resources)
    }

    /// Why `bytes` in `messages` new messages do not fit (RFC 9208 §4.3: APPEND and COPY fail
    /// with [OVERQUOTA]); nil when they do, or when there is no quota.
    func quotaRefusal(adding bytes: Int64, messages: Int) -> String? {
        guard let quota = maildirQuota else { return nil }
        guard let usage = try? quota.usage() else { return nil }
        let one = QuotaUsage(bytes: bytes, messages: Int64(messages))
        if quota.limit.admits(usage + one) { return nil }
        // Never refuse on a stale count (expunges are not written to maildirsize).
        guard let exact = try? quota.recalculate(), !quota.limit.admits(exact + one) else { return nil }
        return "Quota exceeded (mailbox full)"
    }

    /// Counts added messages in maildirsize, as a delivery does.
    func quotaRecord(adding bytes: Int64, messages: Int) {
        guard let quota = maildirQuota, messages > 0 else { return }
        do { try quota.record(QuotaUsage(bytes: bytes, messages: Int64(messages))) } catch {
            log?("quota: cannot update \(quota.filePath): \(error)")
        }
    }

    /// The octets the messages `uids` take on disk.
    func quotaSize(of uids: [UInt32], in mailbox: MaildirMailbox) throws -> Int64? {
        guard maildirQuota != nil else { return nil }
        var total: Int64 = 0
        for uid in uids {
            // The size in the name (",S=", as maildirsize counts it), else the file's.
            if let m = mailbox.message(uid: uid), let size = MaildirName.size(m.baseName) {
                total += Int64(size)
            } else {
                total += Int64(try mailbox.info(uid: uid)?.size ?? 0)
            }
        }
        return total
    }
}

import IMAPEngine
import MailCore
import MailSystem
import Maildir

extension IMAPDaemon {
    /// The users' limits for RFC 9208 QUOTA: postamt.conf's quota settings and the quota file,
    /// read after login as the user (so the file must be readable by all, as postamt.conf is).
    /// nil when no quota is configured at all: no QUOTA capability then.
    static func quotaLimit(_ config: Configuration) -> (@Sendable (String) -> QuotaLimit)? {
        guard config.size("quota") > 0 || config.count("quota_messages") > 0 || FileIO.exists(config.string("quota_file")) else {
            return nil
        }
        return { user in
            switch QuotaTable.limit(for: user, configuration: config) {
            case .success(let limit): return limit
            case .failure: return QuotaLimit() // shown as no limit; deliveries wait until it is fixed
            }
        }
    }
}

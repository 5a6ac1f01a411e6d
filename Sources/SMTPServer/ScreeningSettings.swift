import MailCore
import MailNet
import SMTPProtocol

/// The connection-time checks and sending limits postamt-smtpd takes from postamt.conf(5)
/// (postamt-smtpd(8): PREGREET, DNS LISTS, GREYLISTING, SENDING LIMITS). The checks of a
/// client — pregreet, DNS lists, greylisting — apply to the mx role only; the sending limits to
/// authenticated users in any role. Everything is off by default except the sending limits,
/// which are generous.
public struct ScreeningSettings: Sendable, Equatable {
    public struct DNSListSite: Sendable, Equatable {
        public var zone: String
        public var weight: Int
    }

    /// 0: one-line greeting at once, no pregreet test.
    public var greetWaitSeconds: Int64 = 0
    /// A pregreeting client gets 521 and is disconnected; otherwise it is only logged.
    public var pregreetDrops = false
    public var dnsListSites: [DNSListSite] = []
    public var dnsListThreshold = 1
    /// A listed client gets 521 at connect; otherwise 554 to each RCPT.
    public var dnsListDrops = false
    /// nil: /etc/resolv.conf.
    public var dnsServer: String?
    public var dnsTimeoutSeconds: Int64 = 3
    /// nil: greylisting is off.
    var greylist: Greylist.Settings?
    public var messagesPerHour = 0
    public var recipientsPerHour = 0
    /// `state_directory/smtpd`: the greylist database and the sending counts.
    public var stateDirectory: String

    var greylistPath: String { "\(stateDirectory)/greylist" }
    var ratesDirectory: String { "\(stateDirectory)/rates" }
    /// The directories need to exist and belong to the mail_owner.
    var needsStateDirectory: Bool { greylist != nil || messagesPerHour > 0 || recipientsPerHour > 0 }

    /// Reads the settings; `problems` lists each bad value (the caller refuses to run on them:
    /// a misspelt action must not quietly turn a check off or on).
    public init(configuration: Configuration, role: SMTPServerRole) {
        stateDirectory = configuration.string("state_directory") + "/smtpd"
        messagesPerHour = configuration.count("smtpd_user_message_rate")
        recipientsPerHour = configuration.count("smtpd_user_recipient_rate")
        problems = []
        let pregreetAction = configuration.string("smtpd_pregreet_action")
        switch pregreetAction {
        case "ignore": pregreetDrops = false
        case "drop": pregreetDrops = true
        default: problems.append("smtpd_pregreet_action: '\(pregreetAction)' is not ignore or drop")
        }
        let dnsListAction = configuration.string("smtpd_dnsbl_action")
        switch dnsListAction {
        case "enforce": dnsListDrops = false
        case "drop": dnsListDrops = true
        default: problems.append("smtpd_dnsbl_action: '\(dnsListAction)' is not enforce or drop")
        }
        var sites: [DNSListSite] = []
        for entry in configuration.list("smtpd_dnsbl_sites") {
            let parts = entry.split(separator: "*", omittingEmptySubsequences: false)
            let zone = String(parts[0]).lowercased()
            let weight = parts.count == 2 ? Int(parts[1]) : (parts.count == 1 ? 1 : nil)
            guard let weight, weight > 0, !zone.isEmpty, zone.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), !zone.hasPrefix(".") else {
                problems.append("smtpd_dnsbl_sites: '\(entry)' is not ZONE or ZONE*WEIGHT (a whole number above 0)")
                continue
            }
            sites.append(DNSListSite(zone: zone, weight: weight))
        }
        dnsListThreshold = max(1, configuration.count("smtpd_dnsbl_threshold"))
        let server = configuration.string("smtpd_dns_server")
        dnsServer = server.isEmpty ? nil : server
        if let dnsServer, SocketAddress(parsing: dnsServer, defaultPort: 53) == nil {
            problems.append("smtpd_dns_server: '\(dnsServer)' is not ADDRESS or ADDRESS:PORT")
        }
        dnsTimeoutSeconds = max(1, configuration.duration("smtpd_dns_timeout"))
        guard role == .mx else { return }
        greetWaitSeconds = configuration.duration("smtpd_greet_wait")
        dnsListSites = sites
        if SMTPDaemonSettings.isYes(configuration.string("smtpd_greylist")) {
            greylist = Greylist.Settings(delaySeconds: configuration.duration("smtpd_greylist_delay"),
                                         retryWindowSeconds: max(1, configuration.duration("smtpd_greylist_retry_window")),
                                         maxAgeSeconds: max(1, configuration.duration("smtpd_greylist_max_age")),
                                         autoAllow: configuration.count("smtpd_greylist_auto_allow"),
                                         maxEntries: max(16, configuration.count("smtpd_greylist_max_entries")))
        }
    }

    /// Bad values, one line each.
    public var problems: [String]
}

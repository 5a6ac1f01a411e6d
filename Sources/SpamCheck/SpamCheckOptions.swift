import MailCore
import MailSystem
import SpamFilter

/// postamt-spamcheck's settings (postamt.conf(5), `spam_*`), read once.
public struct SpamCheckOptions: Sendable {
    public var tagScore = 5.0
    public var rejectScore = 15.0
    public var perUserDatabase = false
    public var databaseDirectory = "/var/lib/postamt/spam"
    public var weights: [String: Double] = SpamRules.defaultWeights
    public var dnsServer: String? = nil
    public var dnsTimeoutSeconds: Int64 = 3
    public var authservID = "localhost"
    public var hostname = "localhost"
    public var localDomains: Set<String> = []
    public var checkSPF = true
    public var checkDKIM = true
    public var checkDMARC = true
    public var dmarcReject = false
    public var dnsblZones: [String] = []
    public var dnswlZones: [String] = []
    public var allowSenders: [String] = []
    public var blockSenders: [String] = []
    public var decodeLimits = SpamDecodeLimits()
    public var tokenizerLimits = SpamTokenizerLimits()
    public var timeLimitSeconds: Int64 = 20
    public var dkimMaxSignatures = 5
    /// postamt-spam-rules(5); nil: no local rules.
    public var rulesFile: String? = nil
    /// `spam_train_on_error`: learning skips messages already scored right (`TrainOnError`).
    public var trainOnError = false
    /// `spam_token_limit`: learning past it ages the counts (`TokenAging`); 0: no limit.
    public var tokenLimit = 150_000

    public init() {}

    public init(configuration c: Configuration) throws(ConfigErrors) {
        var problems: [ConfigProblem] = []
        func number(_ key: String) -> Double {
            guard let value = Double(c.string(key)) else {
                problems.append(ConfigProblem(file: c.file, line: 0, message: "\(key): '\(c.string(key))' is not a number"))
                return 0
            }
            return value
        }
        func flag(_ key: String) -> Bool { ["yes", "true"].contains(c.string(key)) }
        tagScore = number("spam_tag_score")
        rejectScore = number("spam_reject_score")
        switch c.string("spam_database") {
        case "global": perUserDatabase = false
        case "per-user": perUserDatabase = true
        case let other: problems.append(ConfigProblem(file: c.file, line: 0, message: "spam_database: '\(other)' is not global or per-user"))
        }
        databaseDirectory = c.string("spam_database_directory")
        for pair in c.list("spam_rule_weights") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let weight = Double(parts[1]) else {
                problems.append(ConfigProblem(file: c.file, line: 0, message: "spam_rule_weights: '\(pair)' is not RULE=WEIGHT"))
                continue
            }
            weights[parts[0].uppercased()] = weight
        }
        let server = c.string("spam_dns_server")
        dnsServer = server.isEmpty ? nil : server
        dnsTimeoutSeconds = max(1, c.duration("spam_dns_timeout"))
        hostname = c.hostname
        authservID = c.string("spam_authserv_id")
        localDomains = c.localDomains
        checkSPF = flag("spam_spf")
        checkDKIM = flag("spam_dkim")
        checkDMARC = flag("spam_dmarc")
        dmarcReject = flag("spam_dmarc_reject")
        dnsblZones = c.list("spam_dnsbl_zones")
        dnswlZones = c.list("spam_dnswl_zones")
        allowSenders = c.list("spam_allow_senders").map { $0.lowercased() }
        blockSenders = c.list("spam_block_senders").map { $0.lowercased() }
        decodeLimits.maxScannedBytes = Int(clamping: c.size("spam_max_scanned_bytes"))
        decodeLimits.maxMimeDepth = c.count("spam_max_mime_depth")
        decodeLimits.maxParts = max(1, c.count("spam_max_mime_parts"))
        tokenizerLimits.maxTokens = c.count("spam_max_tokens")
        timeLimitSeconds = max(1, c.duration("spam_time_limit"))
        dkimMaxSignatures = c.count("spam_dkim_max_signatures")
        let rules = c.string("spam_rules_file")
        rulesFile = rules.isEmpty ? nil : rules
        trainOnError = flag("spam_train_on_error")
        tokenLimit = c.count("spam_token_limit")
        if !problems.isEmpty { throw ConfigErrors(problems: problems) }
    }

    /// The token database for a recipient (or the global one): users/USER/tokens.db, in a
    /// directory of the user's (UserSpamDatabase).
    public func databasePath(user: String?) -> String {
        if perUserDatabase, let user, !user.isEmpty, !user.contains("/"), !user.hasPrefix(".") {
            return "\(databaseDirectory)/users/\(user)/tokens.db"
        }
        return "\(databaseDirectory)/tokens.db"
    }

    /// The database the filter reads: `databasePath`, or, until a `postamt spam` command run by
    /// root has moved it, a user's database of the old layout (users/USER.db).
    public func databasePathForReading(user: String?) -> String {
        let path = databasePath(user: user)
        guard perUserDatabase, let user, path != "\(databaseDirectory)/tokens.db", !FileIO.exists(path) else { return path }
        let legacy = "\(databaseDirectory)/users/\(user).db"
        return FileIO.exists(legacy) ? legacy : path
    }
}

/// The rules postamt-spamcheck knows, with their default weights (points; a message is tagged
/// from `spam_tag_score`, refused from `spam_reject_score`). postamt-spamcheck(8) lists them.
public enum SpamRules {
    public static let defaultWeights: [String: Double] = [
        "BAYES_99": 6.0, "BAYES_90": 5.0, "BAYES_80": 5.0, "BAYES_60": 1.5, "BAYES_10": -0.5, "BAYES_00": -1.5,
        "SPF_PASS": -0.1, "SPF_FAIL": 2.0, "SPF_SOFTFAIL": 1.0, "SPF_PERMERROR": 0.5,
        "DKIM_VALID": -0.1, "DKIM_INVALID": 1.0,
        "DMARC_PASS": -0.1, "DMARC_FAIL_NONE": 1.0, "DMARC_FAIL_QUARANTINE": 3.0, "DMARC_FAIL_REJECT": 5.0,
        "DNSBL": 5.0, "DNSWL": -5.0,
        "MISSING_DATE": 1.0, "MISSING_MESSAGE_ID": 1.0, "FORGED_RECEIVED": 2.0,
        "FROM_DISPLAY_SPOOF": 3.0, "FROM_LOCAL_UNAUTH": 2.5,
        "ALLOW_LIST": -100.0, "BLOCK_LIST": 100.0,
        "SCAN_PARTIAL": 0, "UNSCANNED": 0, "TIME_LIMIT": 0,
    ]
}

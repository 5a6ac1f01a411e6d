import MailCore
import MailQueueClient
import SMTPProtocol

/// Everything postamt-smtpd takes from postamt.conf(5) for one connection (postamt-smtpd(8)).
public struct SMTPDaemonSettings: Sendable {
    public var role: SMTPServerRole
    public var hostname: String
    public var certificateFile: String
    public var keyFile: String
    public var trustedNetworks: NetworkList
    public var idleTimeoutSeconds: Int64
    public var sessionTimeoutSeconds: Int64
    public var includeAuthenticatedUserInReceived: Bool
    public var queueProgram: String
    /// The installed postamt-queue, and whether smtpd may run its code in a forked child
    /// instead of starting it (smtpd_exec_queue = no; checked again per message:
    /// QueueProgram.mayRunInProcess).
    public var installedQueueProgram: String
    public var queueInProcess: Bool
    /// postamt-queue's code run in smtpd itself (the installed postamt-queue, no filters,
    /// smtpd_exec_queue = no and smtpd with the queue's privileges: checked per message).
    public var directQueue: MessagePipeline.DirectQueue
    /// The installed spam filter's queue mode (postamt-spamcheck-queue): its code, when
    /// postamt-smtpd was built with it (SMTPDaemon.spamQueueMain), runs in a forked child too.
    public var installedSpamQueueProgram: String
    /// smtpd_filters: absolute paths, run in order between smtpd and the queue program.
    public var filters: [String]

    /// How smtpd writes the queue file itself, with no process per message.
    public enum DirectHandOff: Equatable {
        /// The installed postamt-queue's code.
        case queue
        /// The installed postamt-spamcheck-queue's check (`spamScreen`), then the queue's code.
        case spamScreenedQueue
    }

    /// Whether smtpd hands a message to the queue itself (postamt-smtpd(8), "Hand-off to the
    /// queue"): smtpd_exec_queue = no, no filters, smtpd with the installed postamt-queue's
    /// privileges, and the queue program that queue or, when smtpd has the spam filter's check
    /// (`spamScreen`), the installed postamt-spamcheck-queue. Asked per message (the programs'
    /// modes are checked with stat(2)); nil: a forked child or a started program does it.
    public func directHandOff(spamScreen: Bool) -> DirectHandOff? {
        guard queueInProcess, filters.isEmpty,
              QueueProgram.mayRunInProcess(installedQueueProgram, installed: installedQueueProgram) else { return nil }
        if queueProgram == installedQueueProgram { return .queue }
        guard spamScreen, QueueProgram.mayRunInProcess(queueProgram, installed: installedSpamQueueProgram) else { return nil }
        return .spamScreenedQueue
    }
    public var engine: SMTPSessionConfiguration

    /// `queueOverride` is `$POSTAMT_QUEUE` (qmail's QMAILQUEUE convention): it wins over the
    /// setting smtpd_queue_program, which wins over the installed postamt-queue.
    public init(configuration: Configuration, role: SMTPServerRole, queueOverride: String?) {
        self.role = role
        hostname = configuration.hostname
        // Empty: the login servers' tls_certificate/tls_key, so one setting serves all.
        func path(_ own: String, _ shared: String) -> String {
            let value = configuration.string(own)
            return value.isEmpty ? configuration.string(shared) : value
        }
        certificateFile = path("smtpd_tls_cert_file", "tls_certificate")
        keyFile = path("smtpd_tls_key_file", "tls_key")
        trustedNetworks = NetworkList(configuration.list("smtpd_trusted_networks"))
        idleTimeoutSeconds = max(1, configuration.duration("smtpd_idle_timeout"))
        sessionTimeoutSeconds = max(1, configuration.duration("smtpd_session_timeout"))
        includeAuthenticatedUserInReceived = SMTPDaemonSettings.isYes(configuration.string("smtpd_received_auth_user"))
        queueProgram = MessagePipeline.queueProgram(configuration, override: queueOverride)
        installedQueueProgram = configuration.program("postamt-queue")
        installedSpamQueueProgram = configuration.program("postamt-spamcheck-queue")
        queueInProcess = !configuration.bool("smtpd_exec_queue")
        directQueue = MessagePipeline.DirectQueue(configuration: configuration)
        filters = configuration.list("smtpd_filters")

        var engine = SMTPSessionConfiguration(role: role, hostname: hostname)
        engine.greetingText = configuration.string("smtpd_greeting")
        engine.startTLSAvailable = !certificateFile.isEmpty && !keyFile.isEmpty
        engine.allowsPlaintextAuthentication = SMTPDaemonSettings.isYes(configuration.string("smtpd_plaintext_auth"))
        if role == .mx { engine.offersAuthentication = SMTPDaemonSettings.isYes(configuration.string("smtpd_mx_auth")) }
        var limits = SMTPLimits()
        limits.maximumRecipients = max(1, configuration.count("smtpd_recipient_limit"))
        limits.maximumMessageSize = UInt64(max(1, configuration.size("smtpd_message_size_limit")))
        limits.maximumCommandLineLength = max(512, configuration.count("smtpd_line_length_limit"))
        limits.maximumTextLineLength = max(1000, configuration.count("smtpd_text_line_length_limit"))
        limits.maximumJunkCommands = max(1, configuration.count("smtpd_junk_command_limit"))
        limits.maximumErrors = max(1, configuration.count("smtpd_error_limit"))
        limits.errorsBeforeDelay = configuration.count("smtpd_soft_error_limit")
        limits.errorDelayStepMilliseconds = Int(configuration.duration("smtpd_error_delay")) * 1000
        limits.maximumAuthenticationFailures = max(1, configuration.count("smtpd_auth_failure_limit"))
        limits.authenticationFailureDelayMilliseconds = Int(configuration.duration("smtpd_auth_failure_delay")) * 1000
        engine.limits = limits
        self.engine = engine
    }

    static func isYes(_ value: String) -> Bool { value == "yes" || value == "true" }
}

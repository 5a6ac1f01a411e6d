import MailCore
import MailRemote
import MailLogin
import SMTPProtocol
import SMTPServer
import WebmailProtocol

/// What postamt-webmail reads from postamt.conf(5).
public struct WebmailSettings: Sendable {
    public var login: LoginSettings
    public var limits: HTTPLimits
    /// multipart/form-data: parts, one part's header, all contents (webmail_form_*, webmail_attachment_limit).
    public var multipartLimits: MultipartLimits
    public var sessionDirectory: String
    public var sessionIdleSeconds: Int64
    public var sessionLifetimeSeconds: Int64
    public var keepAliveTimeout: Duration
    public var readTimeout: Duration
    public var handshakeTimeout: Duration
    public var messageSizeLimit: Int
    public var pageSize: Int
    /// Messages one search reads at most, newest first.
    public var searchLimit: Int
    public var remoteImages: Bool
    /// Opening a message marks it \Seen (webmail_mark_seen).
    public var markSeen: Bool
    /// Seconds between the page script's unread-count polls; 0: the script does not poll.
    public var unreadPollSeconds: Int64
    /// smtpd's per-user hourly sending limits (smtpd_user_message_rate, smtpd_user_recipient_rate).
    public var sendingLimits: SendingLimits
    public var screening: ScreeningSettings
    /// Site name, accent colour, login notice, logo and stylesheet (webmail_site_name, …).
    public var branding: WebmailPages.Branding
    /// Where page templates are looked for, in order (webmail_template_directory, webmail_share_directory).
    public var templateDirectories: [String]
    public var autoconfigServices: [AutoconfigService]
    /// The MTA-STS policy served at /.well-known/mta-sts.txt (RFC 8461 §3.2), nil when
    /// mta_sts_serve_mode is empty.
    public var mtaSTSPolicy: String?
    /// `$POSTAMT_QUEUE`, else smtpd_queue_program, else the installed postamt-queue: the
    /// webmail sends exactly as submission does.
    public var queueProgram: String
    /// smtpd_filters: the chain each submitted message passes on its way to the queue.
    public var filters: [String]

    public init(_ configuration: Configuration, queueOverride: String? = nil) {
        login = LoginSettings(configuration, certificateSetting: "webmail_tls_certificate", keySetting: "webmail_tls_key")
        limits = HTTPLimits(requestLineBytes: Int(max(64, configuration.size("webmail_request_line_limit"))),
                            headerBytes: Int(max(256, configuration.size("webmail_header_limit"))),
                            headerCount: max(4, configuration.count("webmail_header_count_limit")),
                            bodyBytes: Int(max(0, configuration.size("webmail_body_limit"))))
        multipartLimits = MultipartLimits(parts: max(1, configuration.count("webmail_form_part_limit")),
                                          partHeaderBytes: Int(max(256, configuration.size("webmail_form_part_header_limit"))),
                                          totalBytes: Int(max(0, configuration.size("webmail_attachment_limit"))))
        sessionDirectory = configuration.string("webmail_session_directory")
        sessionIdleSeconds = max(1, configuration.duration("webmail_session_idle_timeout"))
        sessionLifetimeSeconds = max(1, configuration.duration("webmail_session_lifetime"))
        keepAliveTimeout = .seconds(max(1, configuration.duration("webmail_keepalive_timeout")))
        readTimeout = .seconds(max(1, configuration.duration("webmail_read_timeout")))
        handshakeTimeout = .seconds(max(1, configuration.duration("webmail_handshake_timeout")))
        messageSizeLimit = Int(max(1024, configuration.size("webmail_message_size_limit")))
        pageSize = max(1, configuration.count("webmail_page_size"))
        searchLimit = max(1, configuration.count("webmail_search_limit"))
        remoteImages = configuration.bool("webmail_remote_images")
        markSeen = configuration.bool("webmail_mark_seen")
        unreadPollSeconds = max(0, configuration.duration("webmail_unread_poll"))
        screening = ScreeningSettings(configuration: configuration, role: .submission)
        sendingLimits = SendingLimits(screening)
        branding = WebmailPages.Branding(siteName: configuration.string("webmail_site_name"),
                                         accentColor: configuration.string("webmail_accent_color"),
                                         loginNotice: configuration.string("webmail_login_notice"),
                                         logoPath: configuration.string("webmail_logo"),
                                         stylesheetPath: configuration.string("webmail_stylesheet"))
        templateDirectories = [configuration.string("webmail_template_directory"), configuration.string("webmail_share_directory")]
        autoconfigServices = configuration.list("autoconfig_services").compactMap(AutoconfigService.init(parsing:))
        if let mode = MTASTSMode(rawValue: configuration.string("mta_sts_serve_mode")) {
            let mx = configuration.list("mta_sts_serve_mx")
            mtaSTSPolicy = MTASTSPolicy(mode: mode, mx: mx.isEmpty ? [configuration.hostname] : mx,
                                        maxAge: min(31_557_600, max(1, configuration.duration("mta_sts_serve_max_age")))).text
        }
        queueProgram = MessagePipeline.queueProgram(configuration, override: queueOverride)
        filters = configuration.list("smtpd_filters")
    }
}

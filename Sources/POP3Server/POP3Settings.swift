import MailCore
import MailLogin
import Maildir
import POP3Protocol

/// postamt-pop3d's settings from postamt.conf(5).
public struct POP3Settings: Sendable {
    public var login: LoginSettings
    public var limits: POP3Limits
    public var plaintextAuthentication: Bool
    public var timeouts: SessionTimeouts
    public var uidlFormat: POP3UIDLFormat

    public init(_ configuration: Configuration) {
        login = LoginSettings(configuration)
        var limits = POP3Limits()
        limits.maximumCommandLineLength = max(64, configuration.count("pop3_line_limit"))
        limits.maximumCommandsBeforeAuthentication = max(1, configuration.count("pop3_commands_before_auth"))
        limits.maximumAuthenticationFailures = max(1, configuration.count("pop3_auth_failures"))
        limits.authenticationFailureDelayMilliseconds = Int(configuration.duration("pop3_auth_failure_delay")) * 1000
        limits.maximumErrors = max(1, configuration.count("pop3_error_limit"))
        self.limits = limits
        uidlFormat = configuration.string("pop3_uidl_format") == "dovecot" ? .dovecot : .baseName
        plaintextAuthentication = ["yes", "true"].contains(configuration.string("pop3_plaintext_auth"))
        timeouts = SessionTimeouts(idle: .seconds(max(1, configuration.duration("pop3_idle_timeout"))),
                                   login: .seconds(max(1, configuration.duration("pop3_login_timeout"))),
                                   handshake: .seconds(max(1, configuration.duration("pop3_handshake_timeout"))))
    }
}

/// MailLogin: what postamt-pop3d and postamt-imapd share between accepting a connection and
/// touching mail. Nothing here knows POP3 or IMAP.
///
/// A per-connection server does, in order (postamt-pop3d's `POP3Daemon.main` is the example):
///
///     let settings = LoginSettings(configuration)                 // myhostname, tls_*, auth_socket
///     let context = try TLSServerContext(certificateChainPath: settings.certificatePath,
///                                        privateKeyPath: settings.keyPath)   // as root, per connection
///     let connection = try ClientConnection()                     // fd 0/1, peer from TCPREMOTEIP
///     if implicitTLS { try connection.startTLS(context, handshakeTimeout: …) }   // 993/995
///     let host = SessionHost(connection: connection, tlsContext: context, timeouts: …, log: …)
///     host.run(engineAdapter)                                     // STARTTLS/STLS via .startTLS
///
/// and in the engine's login callback:
///
///     PasswordChecker(settings: settings, service: "imap").check(user:password:peer:)  // postamt-auth
///     let user = try UserSwitch.become(canonicalName)             // irrevocable, verified
///     // only now open settings.maildirPath(home: user.home)
///
/// `--preauth USER` (tests, a pipe over ssh) skips the password check and calls
/// `UserSwitch.become` directly: as root it becomes USER, as anyone else USER must be the caller.
/// The pre-login limits are the engine's (commands, failures, line length); `SessionTimeouts`
/// adds the login and idle timeouts, and `SessionEngine.wake()` lets IMAP IDLE look at the
/// mailbox while the client is quiet.
public enum MailLogin {}

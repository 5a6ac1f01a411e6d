/// MailLogin: what postamt-pop3d and postamt-imapd share between accepting a connection and
/// touching mail. Nothing here knows POP3 or IMAP.
///
/// A per-connection server does, in order (postamt-pop3d's `POP3Daemon.main` and postamt-imapd's
/// `IMAPDaemon.main` are the examples):
///
///     let settings = LoginSettings(configuration)                 // myhostname, tls_*, auth_socket
///     // (imapd: LoginSettings(configuration, certificateSetting: "imap_tls_certificate", …),
///     //  its own pair, each falling back to tls_certificate/tls_key when empty)
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
/// adds the login deadline (from connecting, however slowly the client trickles) and the idle
/// timeout. `SessionEngine.wakeDescriptor` (IMAP IDLE: an inotify fd) or `wakeInterval` make the
/// host call `wake()` while the client is quiet; decrypted bytes TLS already holds count as
/// input (`ClientConnection.hasBufferedInput`). `SessionHost.send` lets an engine stream a long
/// response while producing it (IMAPSession.outputSink).
public enum MailLogin {}

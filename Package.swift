// swift-tools-version:6.0
// Postamt: a mail server built the qmail way. See DESIGN.md of the project for the map.
import PackageDescription

// An executable's dependency list is its security review: keep them short.
let package = Package(
    name: "Postamt",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "postamt-queue", targets: ["postamt-queue"]),
        .executable(name: "postamt-runner", targets: ["postamt-runner"]),
        .executable(name: "postamt-local", targets: ["postamt-local"]),
        .executable(name: "sendmail", targets: ["sendmail"]),
        .executable(name: "postamt", targets: ["postamt"]),
        .executable(name: "postamt-auth", targets: ["postamt-auth"]),
        .executable(name: "postamt-listen", targets: ["postamt-listen"]),
        // -- smtp products --
        .executable(name: "postamt-smtpd", targets: ["postamt-smtpd"]),
        // -- pop3 products --
        .executable(name: "postamt-pop3d", targets: ["postamt-pop3d"]),
        // -- imap products --
        .executable(name: "postamt-imapd", targets: ["postamt-imapd"]),
        // -- remote products --
        .executable(name: "postamt-remote", targets: ["postamt-remote"]),
        // -- spam products --
        .executable(name: "postamt-spamcheck", targets: ["postamt-spamcheck"]),
        .executable(name: "spam-classify", targets: ["spam-classify"]),
        // -- sieve products --
        .executable(name: "postamt-managesieved", targets: ["postamt-managesieved"]),
        // -- webmail products --
        .executable(name: "postamt-webmail", targets: ["postamt-webmail"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C shims: thin, and the only place where C appears.
        .target(name: "CSpawn", path: "Sources/CSpawn"),
        // OpenSSL headers plus a loader that maps libssl.so.3 at first use (no link-time dependency).
        .target(name: "COpenSSL", path: "Sources/COpenSSL"),
        .systemLibrary(name: "CPAM", path: "Sources/CPAM"),
        .systemLibrary(name: "CCrypt", path: "Sources/CCrypt"),
        .systemLibrary(name: "CResolv", path: "Sources/CResolv"),
        // zlib, for the gzip of TLS reports (RFC 8460 §5.3); only the admin command links it.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib"),

        // Libraries: all the logic lives here, tests import them.
        .target(name: "MailSystem", dependencies: ["CSpawn"]),
        .target(name: "MailCore", dependencies: ["MailSystem"]),
        // Base64, xtext and the SASL PLAIN/LOGIN exchange: a leaf, no dependencies.
        .target(name: "MailCodec"),
        .target(name: "MailMessage"),
        .target(name: "Maildir", dependencies: ["MailSystem", "MailCore"]),
        .target(name: "MailQueueStore", dependencies: ["MailSystem", "MailCore", "MailCodec"]),
        // The queue's client side (injection, sendmail's command line, listing, the trigger):
        // what smtpd, sendmail and postamt-local link, without the runner and its spawner.
        .target(name: "MailQueueClient", dependencies: ["MailQueueStore", "MailSystem", "MailCore", "MailMessage"]),
        .target(name: "MailQueue", dependencies: ["MailQueueClient", "MailQueueStore", "MailSystem", "MailCore", "MailMessage"]),
        .target(name: "MailDelivery", dependencies: ["MailSystem", "MailCore", "MailMessage", "Maildir", "MailQueueClient", "Sieve", "IMAPProtocol"]),
        // TLS over file descriptors, line reading with limits, DNS through libresolv.
        .target(name: "MailNet", dependencies: ["COpenSSL", "CResolv", "MailSystem"]),
        // Password checks: the client side (no PAM) and the server side (only postamt-auth).
        .target(name: "MailAuth", dependencies: ["MailSystem", "MailCore", "MailCodec"]),
        .target(name: "MailAuthServer", dependencies: ["MailAuth", "MailSystem", "MailCore", "CPAM", "CCrypt", "MailCodec"]),
        // Protocol engines: bytes in, bytes out, no I/O.
        .target(name: "SMTPProtocol", dependencies: ["MailCodec"]),
        .target(name: "POP3Protocol", dependencies: ["MailCodec"]),
        .target(name: "IMAPProtocol"),
        .target(name: "SpamFilter", dependencies: ["MailMessage"]),
        // Sieve (RFC 5228 and extensions): parser, compiled scripts, interpreter; no I/O.
        .target(name: "Sieve", dependencies: ["MailMessage"]),

        // Executables: one short entry file each.
        .executableTarget(name: "postamt-queue", dependencies: ["MailQueueStore", "MailSystem", "MailCore"]),
        // Symbols bound once at start (-z now): the spawner forks a child per local delivery, and
        // symbols bound lazily were resolved again in every child (9 of its ~190 page faults).
        .executableTarget(name: "postamt-runner", dependencies: ["MailQueue", "MailDelivery", "MailSystem", "MailCore"],
                          linkerSettings: [.unsafeFlags(["-Xlinker", "-z", "-Xlinker", "now"])]),
        .executableTarget(name: "postamt-local", dependencies: ["MailDelivery", "MailSystem", "MailCore"]),
        .executableTarget(name: "sendmail", dependencies: ["MailQueueClient", "MailSystem", "MailCore"]),
        .executableTarget(name: "postamt-auth", dependencies: ["MailAuthServer"]),
        .executableTarget(name: "postamt-listen", dependencies: ["MailNet", "MailSystem", "MailCore"]),

        // -- smtp targets --
        // The SMTP daemon's host side: I/O, TLS, timers, the queue hand-off, the auth client.
        .target(name: "SMTPServer", dependencies: ["SMTPProtocol", "MailNet", "MailAuth", "MailQueueClient", "MailCore", "MailMessage", "MailSystem"]),
        .executableTarget(name: "postamt-smtpd", dependencies: ["SMTPServer", "SpamCheck", "MailCore"]),
        .testTarget(name: "SMTPServerTests", dependencies: ["SMTPServer", "SMTPProtocol", "MailCore", "MailNet", "MailSystem", "TestSupport"]),

        // -- pop3 targets --
        // The login plumbing imapd and pop3d share: TLS, postamt-auth, becoming the user, the session loop.
        .target(name: "MailLogin", dependencies: ["MailNet", "MailAuth", "MailSystem", "MailCore"]),
        .target(name: "POP3Server", dependencies: ["POP3Protocol", "MailLogin", "Maildir", "MailNet", "MailSystem", "MailCore", "MailCodec"]),
        .executableTarget(name: "postamt-pop3d", dependencies: ["POP3Server"]),
        .testTarget(name: "POP3ServerTests", dependencies: ["POP3Server", "MailLogin", "POP3Protocol", "Maildir", "MailNet", "MailCore"]),

        // -- imap targets --
        // The IMAP session engine over Maildir: parsed commands in, response bytes out, no sockets.
        .target(name: "IMAPEngine", dependencies: ["IMAPProtocol", "Maildir", "MailMessage", "MailSystem", "MailCodec"]),
        // postamt-imapd on MailLogin (TLS, postamt-auth, becoming the user, timeouts); IDLE on inotify.
        .target(name: "IMAPServer", dependencies: ["IMAPEngine", "Maildir", "MailLogin", "MailNet", "MailSystem", "MailCore", "CZlib"]),
        .executableTarget(name: "postamt-imapd", dependencies: ["IMAPServer"]),
        .testTarget(name: "IMAPEngineTests", dependencies: ["IMAPEngine", "IMAPProtocol", "Maildir"]),

        // -- remote targets --
        // DKIM: canonicalisation, signing and verification (OpenSSL, mapped at first use).
        .target(name: "MailDKIM", dependencies: ["COpenSSL", "MailCodec", "MailMessage", "MailNet"]),
        // The SMTP client: MX routing, STARTTLS, smarthost AUTH, DKIM signing.
        .target(name: "MailRemote", dependencies: ["MailNet", "MailCore", "MailSystem", "MailMessage", "SMTPProtocol", "MailDKIM", "MailQueueStore", "MailCodec"]),
        .executableTarget(name: "postamt-remote", dependencies: ["MailRemote"]),
        .testTarget(name: "MailRemoteTests", dependencies: ["MailRemote", "MailDKIM", "MailNet", "TestSupport"]),

        // -- spam targets --
        // SPF, DKIM, DMARC, DNS lists, header rules, scoring and training around SpamFilter.
        .target(name: "SpamCheck", dependencies: ["SpamFilter", "MailMessage", "MailNet", "MailCore", "MailSystem", "Maildir", "MailDKIM", "MailQueueStore"]),
        // One process per message: a fully static executable starts in about half the CPU time
        // of one that loads libstdc++ and friends through ld.so (postamt-spamcheck(8), BUGS).
        .executableTarget(name: "postamt-spamcheck", dependencies: ["SpamCheck", "MailSystem"],
                          linkerSettings: [.unsafeFlags(["-static-executable"])]),
        // The benchmark's bulk classifier (scripts/bench spam): not installed.
        .executableTarget(name: "spam-classify", dependencies: ["SpamFilter"]),
        .testTarget(name: "SpamCheckTests", dependencies: ["SpamCheck", "SpamFilter", "MailNet", "MailCore", "MailDKIM", "MailMessage", "TestSupport"]),

        // -- sieve targets --
        // ManageSieve (RFC 5804): the engine (bytes in, bytes out) and the daemon on MailLogin.
        .target(name: "ManageSieveProtocol", dependencies: ["Sieve", "MailAuth", "MailCodec"]),
        .target(name: "ManageSieveServer", dependencies: ["ManageSieveProtocol", "Sieve", "MailLogin", "MailNet", "MailSystem", "MailCore"]),
        .executableTarget(name: "postamt-managesieved", dependencies: ["ManageSieveServer"]),
        .testTarget(name: "ManageSieveTests", dependencies: ["ManageSieveProtocol", "ManageSieveServer", "TestSupport"]),

        // -- webmail targets --
        // The HTTP/1.1 request parser, responses, forms and the HTML allow-list sanitizer: no I/O.
        .target(name: "WebmailProtocol"),
        // postamt-webmail on MailLogin (TLS, postamt-auth, becoming the user), Maildir and the
        // submission pipeline (smtpd_filters, postamt-queue).
        .target(name: "WebmailServer", dependencies: ["WebmailProtocol", "MailLogin", "Maildir", "MailMessage", "MailNet", "MailQueueClient", "SMTPServer", "MailSystem", "MailCore", "COpenSSL", "MailRemote", "IMAPEngine", "SMTPProtocol", "MailCodec"]),
        .executableTarget(name: "postamt-webmail", dependencies: ["WebmailServer"]),
        .testTarget(name: "WebmailProtocolTests", dependencies: ["WebmailProtocol"]),
        .testTarget(name: "WebmailServerTests", dependencies: ["WebmailServer", "MailMessage", "MailSystem", "MailCore", "Maildir", "TestSupport"]),

        .executableTarget(name: "postamt", dependencies: [
            "MailQueue", "MailDelivery", "MailDKIM", "MailLogin", "MailNet", "MailRemote", "SpamCheck", "SpamFilter", "SMTPServer", "SMTPProtocol",
            "Sieve", "Maildir", "MailSystem", "MailCore", "CZlib", "MailCodec",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "MailSystemTests", dependencies: ["MailSystem", "TestSupport"]),
        .testTarget(name: "MailCoreTests", dependencies: ["MailCore", "MailSystem", "TestSupport"]),
        .testTarget(name: "MailMessageTests", dependencies: ["MailMessage", "TestSupport"]),
        .testTarget(name: "MaildirTests", dependencies: ["Maildir", "MailSystem", "TestSupport"]),
        .testTarget(name: "MailQueueTests", dependencies: ["MailQueue", "MailQueueClient", "MailQueueStore", "MailSystem", "MailCore", "TestSupport"]),
        .testTarget(name: "MailDeliveryTests", dependencies: ["MailDelivery"]),
        .testTarget(name: "MaildirReaderTests", dependencies: ["Maildir", "MailSystem", "TestSupport"]),
        .testTarget(name: "MailNetTests", dependencies: ["MailNet", "TestSupport"]),
        .testTarget(name: "MailAuthTests", dependencies: ["MailAuth", "MailCore", "MailCodec"]),
        .testTarget(name: "MailAuthServerTests", dependencies: ["MailAuthServer", "MailAuth", "MailSystem", "MailCodec"]),
        .testTarget(name: "SMTPProtocolTests", dependencies: ["SMTPProtocol", "MailCodec", "TestSupport"]),
        .testTarget(name: "POP3ProtocolTests", dependencies: ["POP3Protocol"]),
        .testTarget(name: "IMAPProtocolTests", dependencies: ["IMAPProtocol", "TestSupport"]),
        .testTarget(name: "SpamFilterTests", dependencies: ["SpamFilter", "TestSupport"]),
        .testTarget(name: "SieveTests", dependencies: ["Sieve"]),
        .testTarget(name: "IntegrationTests", dependencies: ["TestSupport"]),
        .testTarget(name: "MailCodecTests", dependencies: ["MailCodec"]),
        // Helpers shared by test targets only (seeded generators, …); no executable links it.
        .target(name: "TestSupport", dependencies: ["MailNet"], path: "Tests/TestSupport", exclude: ["README.md"]),
        // Bounded fuzzers, one per parser (scripts/test runs each for a few seconds); not installed.
        .executableTarget(name: "fuzz-smtp", dependencies: ["SMTPProtocol", "TestSupport"], path: "Tests/Fuzzers/fuzz-smtp"),
        .executableTarget(name: "fuzz-imap", dependencies: ["IMAPProtocol", "TestSupport"], path: "Tests/Fuzzers/fuzz-imap"),
        .executableTarget(name: "fuzz-pop3", dependencies: ["POP3Protocol", "TestSupport"], path: "Tests/Fuzzers/fuzz-pop3"),
        .executableTarget(name: "fuzz-mime", dependencies: ["MailMessage", "TestSupport"], path: "Tests/Fuzzers/fuzz-mime"),
        .executableTarget(name: "fuzz-http", dependencies: ["WebmailProtocol", "TestSupport"], path: "Tests/Fuzzers/fuzz-http"),
        .executableTarget(name: "fuzz-uidlist", dependencies: ["Maildir", "TestSupport"], path: "Tests/Fuzzers/fuzz-uidlist"),
    ],
    swiftLanguageModes: [.v5]
)

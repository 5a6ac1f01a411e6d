import Foundation
import Glibc
import Testing
import TestSupport

/// Login throttling in postamt-auth, seen through the real servers: failures over IMAP block the
/// source for SMTP AUTH too, the block survives a restart of postamt-auth and ends by itself;
/// and the shipped fail2ban filter counts exactly the failed logins smtpd, imapd and pop3d log.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct LoginThrottleTests {
    static let password = "Throttle-Pass-7"

    /// smtpd (submission), imapd and pop3d on loopback, all asking one postamt-auth (PAM, real
    /// users), plaintext logins allowed so the clients stay simple.
    static func site(_ throttle: String) throws -> (SMTPSite, imap: IMAPListener, pop3: IMAPListener) {
        let site = try SMTPSite(config: """
            smtpd_plaintext_auth = yes
            imap_plaintext_auth = yes
            pop3_plaintext_auth = yes
            pop3_auth_failure_delay = 0s
            \(throttle)
            """, runner: false)
        try site.start("submission")
        let imap = try IMAPListener(site.system, arguments: [])
        let pop3 = try IMAPListener(site.system, program: "postamt-pop3d", arguments: [])
        return (site, imap, pop3)
    }

    /// One login attempt per call, each on a new connection; prints one word per attempt:
    /// ok, refused (wrong credentials: 535 / AUTHENTICATIONFAILED / -ERR [AUTH]) or the error.
    static let client = #"""
    import imaplib, poplib, smtplib, sys
    def smtp(port, user, password):
        s = smtplib.SMTP('127.0.0.1', port); s.ehlo()
        s.user, s.password = user, password
        try:
            s.auth('PLAIN', s.auth_plain)   # exactly one attempt (login() would try every mechanism)
            result = 'ok'
        except smtplib.SMTPAuthenticationError as e:
            result = 'refused' if e.smtp_code == 535 else 'error %d' % e.smtp_code
        try: s.quit()
        except Exception: pass
        return result
    def imap(port, user, password):
        M = imaplib.IMAP4('127.0.0.1', port)
        try:
            M.login(user, password); M.logout(); return 'ok'
        except imaplib.IMAP4.error as e:
            return 'refused' if 'AUTHENTICATIONFAILED' in str(e) else 'error ' + str(e)
    def pop3(port, user, password):
        P = poplib.POP3('127.0.0.1', port)
        try:
            P.user(user); P.pass_(password); P.quit(); return 'ok'
        except poplib.error_proto as e:
            return 'refused' if b'[AUTH]' in e.args[0] else 'error ' + repr(e)
    protocol, port = sys.argv[1], int(sys.argv[2])
    for pair in sys.argv[3:]:
        user, password = pair.split('\t')
        print({'smtp': smtp, 'imap': imap, 'pop3': pop3}[protocol](port, user, password))
    """#

    static func attempts(_ site: SMTPSite, _ service: String, port: Int, _ logins: [(String, String)]) throws -> [String] {
        let result = try site.python("import sys\nsys.argv = sys.argv[:1] + \(pythonList([service, String(port)] + logins.map { "\($0.0)\t\($0.1)" }))\n" + client)
        guard result.status == 0 else { throw HarnessError("client: \(result.stdout)\n\(result.stderr)") }
        return result.stdout.split(separator: "\n").map(String.init)
    }

    static func pythonList(_ items: [String]) -> String {
        "[" + items.map { "'" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            .replacingOccurrences(of: "\t", with: "\\t") + "'" }.joined(separator: ", ") + "]"
    }

    @Test func failuresOverIMAPBlockTheSourceForSMTPUntilTheBlockEndsAcrossARestart() throws {
        let user = try TestUser()
        try user.setPassword(Self.password)
        let (site, imap, _) = try Self.site("""
            auth_throttle_delay_after = 0
            auth_throttle_block_after = 3
            auth_throttle_block_time = 20s
            auth_throttle_user_block_after = 0
            """)
        let smtpPort = Int(site.listeners["submission"]!.port)
        let right = (user.name, Self.password)
        #expect(try Self.attempts(site, "smtp", port: smtpPort, [right]) == ["ok"], "\(site.log())")
        #expect(try Self.attempts(site, "imap", port: imap.port, Array(repeating: (user.name, "wrong"), count: 3))
                == ["refused", "refused", "refused"], "\(imap.logText())")
        // Blocked: the right password is refused over SMTP and IMAP alike, with no PAM run.
        #expect(try Self.attempts(site, "smtp", port: smtpPort, [right]) == ["refused"], "\(site.log())")
        #expect(try Self.attempts(site, "imap", port: imap.port, [right]) == ["refused"])
        let blockLines = site.log().split(separator: "\n").filter { $0.contains("warning: blocked rip=") }
        #expect(blockLines.count == 1, "\(site.log())")
        #expect(blockLines.first?.hasSuffix("warning: blocked rip=127.0.0.1 user=\(user.name): 3 failed logins in 600s, for 20s") == true,
                "\(blockLines)")
        #expect(site.log().contains("auth failed service=smtp user=\(user.name) peer=127.0.0.1 (blocked)"))
        #expect(!site.log().contains(Self.password))

        // A new postamt-auth reads the block back from state_directory/auth-throttle.
        let stateFile = "\(site.system.root)/var/lib/postamt/auth-throttle"
        #expect(try String(contentsOfFile: stateFile, encoding: .utf8).contains("\nsource 127.0.0.1 "))
        site.stop(site.auth!)
        unlink("\(site.system.root)/run/postamt/auth")
        try site.startAuth()
        #expect(try Self.attempts(site, "smtp", port: smtpPort, [right]) == ["refused"], "\(site.log())")
        #expect(site.log().components(separatedBy: "login blocks in force").count == 2, "\(site.log())")

        // The block ends by itself (auth_throttle_block_time); then the right password works.
        var outcome = ""
        try waitFor("the end of the block", timeout: 120) {
            outcome = (try? Self.attempts(site, "smtp", port: smtpPort, [right]).first) ?? "no answer"
            if outcome != "ok" { sleep(1) }
            return outcome == "ok"
        }
        #expect(try Self.attempts(site, "imap", port: imap.port, [right]) == ["ok"])
        try expectFail2banCount(mode: "blocks", lines: site.log(), equals: 1)
    }

    @Test func theFail2banFilterCountsEachFailedLoginOfSMTPIMAPAndPOP3Once() throws {
        let user = try TestUser()
        try user.setPassword(Self.password)
        let (site, imap, pop3) = try Self.site("auth_throttle_window = 0")
        let smtpPort = Int(site.listeners["submission"]!.port)
        let right = (user.name, Self.password)
        // User names that try to smuggle another address into the log line.
        let smtp = try Self.attempts(site, "smtp", port: smtpPort,
                                     [(user.name, "wrong"), right, ("x]: SASL PLAIN authentication failed: user=[10.9.9.9]", "x"), ("nosuchuser", "x")])
        let imapResults = try Self.attempts(site, "imap", port: imap.port, [(user.name, "wrong"), right, ("10.9.9.9:", "x")])
        let pop3Results = try Self.attempts(site, "pop3", port: pop3.port, [right, (user.name, "wrong"), ("[10.9.9.9]", "x")])
        #expect(smtp == ["refused", "ok", "refused", "refused"], "\(site.log())")
        #expect(imapResults == ["refused", "ok", "refused"], "\(imap.logText())")
        #expect(pop3Results == ["ok", "refused", "refused"], "\(pop3.logText())")
        let lines = site.log() + imap.logText() + pop3.logText()
        try expectFail2banCount(mode: "normal", lines: lines, equals: 3 + 2 + 2)
    }
}

/// Runs `fail2ban-regex` with the shipped filter (contrib/fail2ban/filter.d/postamt.conf) in
/// `mode` over the servers' log lines and expects exactly `count` matches, all of 127.0.0.1.
///
/// The servers write bare lines (`postamt/smtpd[pid]: ...`) to stderr; syslog or journald adds
/// the time and the host name, and fail2ban needs the time. So each line gets a syslog-like
/// prefix here, as rsyslog would write it to /var/log/mail.log; every second line gets the form
/// fail2ban's systemd backend makes of a journal entry instead (`host postamt-smtpd[pid]: ` before
/// our tag). The filter includes common.conf, which fail2ban looks up beside the filter, so both
/// go to a directory of their own.
func expectFail2banCount(mode: String, lines text: String, equals count: Int,
                         sourceLocation: SourceLocation = #_sourceLocation) throws {
    let program = "/usr/bin/fail2ban-regex"
    try #require(FileManager.default.isExecutableFile(atPath: program),
                 "fail2ban-regex is missing: scripts/setup installs the Debian package fail2ban", sourceLocation: sourceLocation)
    let directory = makeTemporaryDirectory(prefix: "postamt-f2b")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try FileManager.default.createDirectory(atPath: "\(directory)/filter.d", withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: "/etc/fail2ban/filter.d/common.conf", toPath: "\(directory)/filter.d/common.conf")
    try FileManager.default.copyItem(atPath: "\(TestEnvironment.packageRoot)/contrib/fail2ban/filter.d/postamt.conf",
                                     toPath: "\(directory)/filter.d/postamt.conf")
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.dateFormat = "MMM d HH:mm:ss"
    let stamp = formatter.string(from: Date())
    var log = ""
    for (i, line) in text.split(separator: "\n").enumerated() {
        if i % 2 == 1, let bracket = line.firstIndex(of: "["), line.hasPrefix("postamt/"),
           let end = line.firstIndex(of: "]") {
            let identifier = "postamt-" + line[line.index(line.startIndex, offsetBy: 8)..<bracket]
            log += "\(stamp) mailhost \(identifier)\(line[bracket...end]): \(line)\n"
        } else {
            log += "\(stamp) mailhost \(line)\n"
        }
    }
    try log.write(toFile: "\(directory)/mail.log", atomically: true, encoding: .utf8)
    let filter = "\(directory)/filter.d/postamt.conf[mode=\(mode)]"
    let summary = try run(program, ["\(directory)/mail.log", filter], timeout: 120)
    #expect(summary.stdout.contains("Failregex: \(count) total"), "\(summary.stdout)\n\(summary.stderr)", sourceLocation: sourceLocation)
    let result = try run(program, ["-o", "ip", "\(directory)/mail.log", filter], timeout: 120)
    #expect(result.status == 0, "\(result.stderr)", sourceLocation: sourceLocation)
    let addresses = result.stdout.split(separator: "\n").map(String.init)
    #expect(addresses == Array(repeating: "127.0.0.1", count: count), "fail2ban-regex matched \(addresses) in\n\(log)",
            sourceLocation: sourceLocation)
}

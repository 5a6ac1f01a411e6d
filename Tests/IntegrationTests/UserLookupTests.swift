import Foundation
import Glibc
import Testing

/// passwd_cache_time through the real programs: smtpd --serve, the runner, its spawner and a
/// kept delivery child each keep the users they looked up, and a change to /etc/passwd reaches
/// every one of them at the next message — a moved home gets the next message, a removed user
/// is refused at RCPT.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct UserLookupTests {
    @Test func aChangedUserIsSeenAtTheNextMessage() throws {
        let user = try TestUser()
        // A delivery child waits long enough for the second message to find it (and its user).
        let site = try SMTPSite(config: "local_domains = localhost\nrunner_local_max_idle = 60s\npasswd_cache_time = 1h", auth: false)
        let (fd, port) = try SMTPServeTests.listeningSocket()
        let server = try SMTPServeTests.serve(site, role: "mx", socket: fd)
        defer { site.stop(server) }
        func send(_ n: Int) throws -> RunResult {
            try site.python("""
                import smtplib
                s = smtplib.SMTP("127.0.0.1", \(port), timeout=60)
                try:
                    s.sendmail("s@remote.example", ["\(user.name)@localhost"], b"Subject: lookup-\(n)\\r\\n\\r\\nbody\\r\\n")
                    print("sent")
                except smtplib.SMTPRecipientsRefused as e:
                    print("refused", e.recipients)
                s.quit()
                """)
        }
        func count(_ home: String) -> Int { ((try? FileManager.default.contentsOfDirectory(atPath: "\(home)/Maildir/new")) ?? []).count }

        var r = try send(0)
        #expect(r.status == 0 && r.stdout.contains("sent"), "\(r.stdout)\(r.stderr)\n\(site.log().suffix(2000))")
        try waitFor("the first message in the old home") { count(user.home) == 1 && site.system.queueIsEmpty }
        let child = childPIDs(of: site.system.runner!.processIdentifier).flatMap { childPIDs(of: $0) }
        #expect(!child.isEmpty, "a delivery child waits for more (runner_local_max_idle)")

        // The home moves (as vipw does: a new /etc/passwd renamed over the old one; usermod
        // refuses while the user's delivery child runs): the second message goes there.
        let newHome = user.home + "-moved"
        #expect(mkdir(newHome, 0o700) == 0 && chown(newHome, user.uid, getpwnam(user.name).pointee.pw_gid) == 0)
        defer { _ = try? FileManager.default.removeItem(atPath: newHome) }
        let moved = try run("/bin/sed", ["-E", "-i", "s|^(\(user.name)(:[^:]*){4}:)\(user.home):|\\1\(newHome):|", "/etc/passwd"])
        #expect(String(cString: getpwnam(user.name).pointee.pw_dir) == newHome)
        #expect(moved.status == 0, "\(moved.stderr)")
        r = try send(1)
        #expect(r.status == 0 && r.stdout.contains("sent"), "\(r.stdout)\(r.stderr)\n\(site.log().suffix(2000))")
        try waitFor("the second message in the new home", timeout: 30) { count(newHome) == 1 && site.system.queueIsEmpty }
        #expect(count(user.home) == 1, "nothing more in the old home")

        // The user is removed: smtpd --serve refuses the next message at RCPT.
        defer { _ = try? FileManager.default.removeItem(atPath: user.home) }
        let removed = try run("/usr/sbin/userdel", ["-f", "-r", user.name])
        #expect(removed.status == 0, "\(removed.stderr)")
        r = try send(2)
        #expect(r.status == 0 && r.stdout.contains("refused") && r.stdout.contains("550"), "\(r.stdout)\(r.stderr)\n\(site.log().suffix(2000))")
    }
}

import Foundation
import Glibc
import Testing

/// DSN parameters (RFC 3461 §4) travel on: from the queue through the runner to postamt-remote,
/// and from there to a next hop that offers DSN, never to one that does not.
@Suite(.serialized, .enabled(if: RemoteTestBed.canRun, "needs root (users, setpriv) and dnsmasq (apt-get install dnsmasq-base)"))
struct DSNOnwardTests {
    func remote(_ bed: RemoteTestBed, _ domain: String, dsn: [String: String]) throws -> RunResult {
        try run("/usr/bin/setpriv", ["--reuid=postamt", "--regid=postamt", "--clear-groups", "--",
                                     "\(bed.system.root)/bin/postamt-remote", domain, "a@mail.test.example", "u@\(domain)", "v@\(domain)"],
                input: Data("Subject: x\n\ny\n".utf8), environment: bed.system.environment.merging(dsn) { $1 })
    }

    static let dsn = ["POSTAMT_DSN": "RET=HDRS ENVID=QQ+2B1", "POSTAMT_DSN_RCPT": "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+40x.example\n-"]

    @Test func passedToANextHopWithDSN() throws {
        let bed = try RemoteTestBed()
        let r = try remote(bed, "dsn.test", dsn: DSNOnwardTests.dsn)
        #expect(RemoteTestBed.reports(r).last?.hasPrefix("K") == true, "\(RemoteTestBed.reports(r)) \(r.stderr)")
        let record = bed.received().first?.record
        #expect(record?["mail"] as? String == "MAIL FROM:<a@mail.test.example> SIZE=17 RET=HDRS ENVID=QQ+2B1")
        #expect(record?["rcptcmds"] as? [String] == ["RCPT TO:<u@dsn.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+40x.example",
                                                     "RCPT TO:<v@dsn.test>"])
    }

    @Test func notPassedToANextHopWithoutDSN() throws {
        let bed = try RemoteTestBed()
        let r = try remote(bed, "mixed.test", dsn: DSNOnwardTests.dsn)
        #expect(RemoteTestBed.reports(r).last?.hasPrefix("K") == true)
        let record = bed.received().first?.record
        #expect(record?["mail"] as? String == "MAIL FROM:<a@mail.test.example> SIZE=17")
        #expect(record?["rcptcmds"] as? [String] == ["RCPT TO:<u@mixed.test>", "RCPT TO:<v@mixed.test>"])
    }

    @Test(arguments: [["POSTAMT_DSN": "RET=ALL"], ["POSTAMT_DSN_RCPT": "NOTIFY=SUCCESS"], ["POSTAMT_DSN": "ENVID=a\u{1}b"]])
    func invalidParametersAreATemporaryFailure(env: [String: String]) throws {
        let bed = try RemoteTestBed()
        let r = try remote(bed, "dsn.test", dsn: env)
        #expect(RemoteTestBed.reports(r).last?.hasPrefix("Z") == true, "\(RemoteTestBed.reports(r))")
        #expect(RemoteTestBed.reports(r).last?.contains("invalid DSN parameters") == true)
        #expect(bed.received().isEmpty)
    }

    /// The whole way: postamt-queue stores them (as smtpd hands them over), the runner passes them.
    @Test func throughTheRunner() throws {
        let bed = try RemoteTestBed()
        try bed.system.startRunner()
        let envelope = Data("Fa@mail.test.example\0Tu@dsn.test\0\0".utf8)
        let envFile = "\(bed.system.root)/envelope"
        FileManager.default.createFile(atPath: envFile, contents: envelope)
        let q = try run("/bin/sh", ["-c", "exec \"$0\" 1<\"$1\"", "\(bed.system.root)/bin/postamt-queue", envFile],
                        input: Data("Subject: via runner\n\nbody\n".utf8),
                        environment: bed.system.environment.merging(["POSTAMT_DSN": "RET=FULL ENVID=e1",
                                                                    "POSTAMT_DSN_RCPT": "NOTIFY=NEVER ORCPT=rfc822;u+40dsn.test"]) { $1 })
        #expect(q.status == 0, "\(q.stderr)")
        try waitFor("delivery to dsn.test", timeout: 60) { !bed.received().isEmpty }
        let record = bed.received().first?.record
        #expect((record?["mail"] as? String)?.hasSuffix(" RET=FULL ENVID=e1") == true, "\(String(describing: record))")
        #expect(record?["rcptcmds"] as? [String] == ["RCPT TO:<u@dsn.test> NOTIFY=NEVER ORCPT=rfc822;u+40dsn.test"])
    }
}

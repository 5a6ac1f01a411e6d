import Glibc
import Testing
@testable import MailRemote
import MailNet

struct MTASTSTests {
    @Test(arguments: [
        ("v=STSv1; id=20160831085700Z;", "20160831085700Z"),
        ("v=STSv1;id=abc", "abc"),
        ("v=STSv1; id=abc; ext=1", "abc"),
    ])
    func txtRecords(text: String, id: String) {
        #expect(MTASTSRecord(text)?.id == id)
    }

    @Test(arguments: ["v=STSv2; id=1", "v=STSv1;", "v=STSv1; id=", "v=STSv1; id=a-b", "id=1; v=STSv1",
                      "v=STSv1; id=" + String(repeating: "a", count: 33), "v=STSv1; id"])
    func badTXTRecords(text: String) {
        #expect(MTASTSRecord(text) == nil)
    }

    @Test func severalRecordsMeanNone() {
        let one = TXTRecord(strings: [Array("v=STSv1; id=1".utf8)])
        let two = TXTRecord(strings: [Array("v=STSv1; id=2".utf8)])
        let other = TXTRecord(strings: [Array("v=spf1 -all".utf8)])
        #expect(MTASTSRecord.select([one, other])?.id == "1")
        #expect(MTASTSRecord.select([one, two]) == nil)
        #expect(MTASTSRecord.select([other]) == nil)
    }

    /// RFC 8461 §3.2's example, with CRLF and with LF line ends.
    @Test(arguments: ["\r\n", "\n"])
    func rfcPolicy(eol: String) throws {
        let text = ["version: STSv1", "mode: enforce", "mx: mail.example.com", "mx: *.example.net", "mx: backupmx.example.com", "max_age: 604800", ""]
            .joined(separator: eol)
        let p = try MTASTSPolicy(parsing: text)
        #expect(p.mode == .enforce)
        #expect(p.maxAge == 604800)
        #expect(p.mx == ["mail.example.com", "*.example.net", "backupmx.example.com"])
        #expect(try MTASTSPolicy(parsing: p.text) == p)
    }

    @Test(arguments: [
        ("version: STSv1\nmode: enforce\nmax_age: 10\n", "no mx"),
        ("version: STSv1\nmode: strict\nmx: a\nmax_age: 10\n", "unknown mode"),
        ("version: STSv1\nmode: enforce\nmx: a\nmax_age: 31557601\n", "max_age"),
        ("version: STSv1\nmode: enforce\nmx: a\nmax_age: -1\n", "max_age"),
        ("mode: enforce\nmx: a\nmax_age: 1\n", "STSv1"),
        ("version: STSv1\nmx: a\nmax_age: 1\n", "no mode"),
        ("version: STSv1\nmode: testing\nmx: a\n", "no max_age"),
        ("version: STSv1\nmode testing\n", "colon"),
    ])
    func badPolicies(text: String, why: String) {
        #expect(throws: MTASTSError.self) { try MTASTSPolicy(parsing: text) }
        do { _ = try MTASTSPolicy(parsing: text) } catch { #expect(error.description.contains(why), "\(error)") }
    }

    @Test func modeNoneNeedsNoMX() throws {
        #expect(try MTASTSPolicy(parsing: "version: STSv1\nmode: none\nmax_age: 86400\n").mode == MTASTSMode.none)
    }

    /// RFC 8461 §4.1: a wildcard covers exactly one leftmost label.
    @Test(arguments: [
        ("mail.example.com", true), ("MAIL.example.com.", true), ("x.example.net", true),
        ("example.net", false), ("a.b.example.net", false), ("mail.example.org", false), ("xexample.net", false),
    ])
    func mxMatching(host: String, allowed: Bool) {
        let p = MTASTSPolicy(mode: .enforce, mx: ["mail.example.com", "*.example.net"], maxAge: 1)
        #expect(p.allows(mxHost: host) == allowed)
    }

    @Test func cacheRoundTripAndBrokenFiles() throws {
        let dir = makeTemporaryDirectory(prefix: "mtasts")
        defer { _ = system("rm -rf '\(dir)'") }
        let cache = MTASTSCache(directory: "\(dir)/cache")
        #expect(cache.load("example.org") == nil)
        let entry = MTASTSCachedPolicy(id: "7", fetched: 100, expires: 200,
                                       policy: MTASTSPolicy(mode: .testing, mx: ["mx.example.org"], maxAge: 100))
        try cache.store("Example.ORG", entry)
        #expect(cache.load("example.org") == entry)
        #expect(cache.domains() == ["example.org"])
        let f = fopen("\(dir)/cache/example.org", "w")!
        fputs("id 7\ngarbage\n", f)
        fclose(f)
        #expect(cache.load("example.org") == nil)
    }
}

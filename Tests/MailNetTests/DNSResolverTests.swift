import Foundation
import Glibc
import Testing
@testable import MailNet

/// What the resolver tests add to the shared dnsmasq helper (TestSupport).
extension Dnsmasq {
    static let standardRecords = [
        "--host-record=ready.test,192.0.2.99",
        "--mx-host=mx.test,mail.mx.test,10",
        "--mx-host=mx.test,backup.mx.test,20",
        "--mx-host=mx.test,first.mx.test,5",
        "--host-record=mail.mx.test,192.0.2.1,2001:db8::1",
        "--host-record=v4only.test,192.0.2.7",
        "--txt-record=txt.test,v=spf1 ,-all",
        "--txt-record=txt.test,second",
        "--cname=alias.test,mail.mx.test",
        "--cname=alias2.test,alias.test",
        "--cname=dangling.test,nowhere.test",
        "--mx-host=nullmx.test,.,0",
    ] + (0..<30).map { "--txt-record=big.test,record \($0) " + String(repeating: "z", count: 60) } + [
        // Forwarded to a port nobody listens on: dnsmasq answers SERVFAIL or REFUSED.
        "--server=/broken.example/127.0.0.1#9",
    ]
}

@Suite(.enabled(if: Dnsmasq.isInstalled, "dnsmasq is not installed (apt-get install dnsmasq-base)"))
struct DNSResolverTests {
    let server: Dnsmasq
    let resolver: DNSResolver

    init() throws {
        server = try Dnsmasq(records: Dnsmasq.standardRecords)
        resolver = try server.resolver()
    }

    @Test func mxRecordsSortedByPreference() {
        let result = resolver.mx("mx.test")
        #expect(result.records.map(\.preference) == [5, 10, 20])
        #expect(result.records.map(\.exchange.description) == ["first.mx.test", "mail.mx.test", "backup.mx.test"])
        #expect(!result.records.isNullMX)
    }

    @Test func addresses() {
        #expect(resolver.a("mail.mx.test").records == [IPAddress("192.0.2.1")!])
        #expect(resolver.aaaa("mail.mx.test").records == [IPAddress("2001:db8::1")!])
        #expect(resolver.a("MAIL.MX.TEST.").records == [IPAddress("192.0.2.1")!])
    }

    @Test func cnameChainsAreFollowed() {
        #expect(resolver.a("alias.test").records == [IPAddress("192.0.2.1")!])
        #expect(resolver.a("alias2.test").records == [IPAddress("192.0.2.1")!])
        #expect(resolver.aaaa("alias2.test").records == [IPAddress("2001:db8::1")!])
    }

    @Test func txtStringsConcatenate() {
        let texts = resolver.txt("txt.test").records.map(\.text).sorted()
        #expect(texts == ["second", "v=spf1 -all"])
        let spf = resolver.txt("txt.test").records.first { $0.strings.count == 2 }
        #expect(spf?.strings == [Array("v=spf1 ".utf8), Array("-all".utf8)])
    }

    @Test func largeAnswerFallsBackToTCP() {
        // 30 TXT records are well over 512 bytes: the UDP answer comes truncated and libresolv
        // asks again over TCP.
        let records = resolver.txt("big.test").records
        #expect(records.count == 30)
        #expect(Set(records.map(\.text)).contains("record 7 " + String(repeating: "z", count: 60)))
    }

    @Test func reverseLookup() {
        #expect(resolver.ptr(IPAddress("192.0.2.1")!).records.map(\.description) == ["mail.mx.test"])
        #expect(resolver.ptr(IPAddress("2001:db8::1")!).records.map(\.description) == ["mail.mx.test"])
    }

    @Test func noDataIsNotNonexistence() {
        guard case .noData = resolver.aaaa("v4only.test") else {
            Issue.record("AAAA of v4only.test: \(resolver.aaaa("v4only.test"))")
            return
        }
        guard case .noData = resolver.mx("v4only.test") else {
            Issue.record("MX of v4only.test: \(resolver.mx("v4only.test"))")
            return
        }
    }

    @Test func nonexistentDomainIsPermanent() {
        guard case .nonexistentDomain = resolver.mx("nosuchname.test") else {
            Issue.record("MX of nosuchname.test: \(resolver.mx("nosuchname.test"))")
            return
        }
        guard case .nonexistentDomain = resolver.a("dangling.test") else {
            Issue.record("A of dangling.test: \(resolver.a("dangling.test"))")
            return
        }
    }

    @Test func serverFailureIsTemporary() {
        let result = resolver.mx("host.broken.example")
        #expect(result.isTemporaryFailure, "got \(result)")
    }

    @Test func nullMX() {
        let result = resolver.mx("nullmx.test")
        #expect(result.records.isNullMX, "got \(result)")
    }

    @Test func invalidNamesAreRejectedWithoutAQuery() {
        for name in ["", "a..b", String(repeating: "x", count: 64) + ".test"] {
            guard case .invalidName = resolver.mx(name) else {
                Issue.record("\(name) accepted")
                continue
            }
        }
    }
}

@Suite struct DNSResolverFailureTests {
    @Test func silentServerTimesOut() throws {
        // A UDP socket that never answers.
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var bound: Int32 = -1
        SocketAddress(address: IPAddress("127.0.0.1")!, port: 0).withSockaddr { bound = bind(fd, $0, $1) }
        try #require(bound == 0)
        let port = try #require(SocketAddress.local(ofSocket: fd)).port
        let resolver = try DNSResolver(nameserver: "127.0.0.1:\(port)", timeout: .milliseconds(500), attempts: 1)
        let started = ContinuousClock.now
        let result = resolver.a("example.org")
        #expect(result.isTemporaryFailure, "got \(result)")
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test(arguments: ["not an address", "127.0.0.1:0", "127.0.0.1:99999", "[::1", "host.example:53"])
    func badNameserverAddress(text: String) {
        #expect { try DNSResolver(nameserver: text) } throws: { ($0 as? NetError)?.kind == .invalidArgument }
    }

    @Test(.enabled(if: Dnsmasq.isInstalled && IPAddress("::1") != nil, "dnsmasq is not installed"))
    func ipv6NameServer() throws {
        guard Listener(on: "::1") != nil else { return }  // no IPv6 loopback here
        let server = try Dnsmasq(listenAddress: "::1", records: ["--host-record=ready.test,192.0.2.99"])
        let resolver = try server.resolver(host: "::1")
        #expect(resolver.a("ready.test").records == [IPAddress("192.0.2.99")!])
    }
}

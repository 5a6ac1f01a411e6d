import Foundation
import Glibc
import Testing
import TestSupport

/// What the remote delivery tests need besides `Installation`: a dnsmasq serving the test
/// domains, the scriptable SMTP server on several loopback addresses (one behaviour each, all
/// on one port), a throw-away certificate, and postamt-remote in the installation.
final class RemoteTestBed {
    static let dnsmasq = "/usr/sbin/dnsmasq"
    static var canRun: Bool { TestEnvironment.isRoot && FileManager.default.isExecutableFile(atPath: dnsmasq) }
    static let skipReason = "needs root (users, setpriv) and dnsmasq (apt-get install dnsmasq-base)"

    /// Loopback address → server behaviour (see RemoteTestServer.swift).
    static let servers: [(String, String)] = [
        ("127.0.0.2", "ok,tls"), ("127.0.0.3", "ok"), ("127.0.0.4", "greet554"), ("127.0.0.5", "silent"),
        ("127.0.0.6", "closedata"), ("127.0.0.7", "starttlsfail"), ("127.0.0.8", "nopipelining,no8bitmime,nosmtputf8"),
        ("127.0.0.9", "size100"), ("127.0.0.10", "tls,auth"), ("127.0.0.12", "mail451"), ("127.0.0.13", "mail550"), ("127.0.0.14", "greet421"), ("127.0.0.15", "ok,dsn"),
        ("127.0.0.16", "ok,tls,requiretls"), ("::1", "ok"),
    ]

    /// Whether the IPv6 loopback works here.
    static let hasIPv6: Bool = {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in6()
        addr.sin6_family = sa_family_t(AF_INET6)
        addr.sin6_addr.__in6_u.__u6_addr8.15 = 1
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0 }
        }
    }()

    static let records = [
        "--host-record=ready.test,192.0.2.99",
        "--mx-host=ok.test,mx.ok.test,10", "--host-record=mx.ok.test,127.0.0.2",
        "--mx-host=mixed.test,mx.mixed.test,10", "--host-record=mx.mixed.test,127.0.0.3",
        "--mx-host=greet.test,mx.greet.test,10", "--host-record=mx.greet.test,127.0.0.4",
        "--mx-host=silent.test,mx.silent.test,10", "--host-record=mx.silent.test,127.0.0.5",
        "--mx-host=closedata.test,mx.closedata.test,10", "--host-record=mx.closedata.test,127.0.0.6",
        "--mx-host=tlsfail.test,mx.tlsfail.test,10", "--host-record=mx.tlsfail.test,127.0.0.7",
        "--mx-host=plain.test,mx.plain.test,10", "--host-record=mx.plain.test,127.0.0.8",
        "--mx-host=small.test,mx.small.test,10", "--host-record=mx.small.test,127.0.0.9",
        "--mx-host=mail451.test,mx.mail451.test,10", "--host-record=mx.mail451.test,127.0.0.12",
        "--mx-host=mail550.test,mx.mail550.test,10", "--host-record=mx.mail550.test,127.0.0.13",
        "--mx-host=greet421.test,mx.greet421.test,10", "--host-record=mx.greet421.test,127.0.0.14",
        "--mx-host=dsn.test,mx.dsn.test,10", "--host-record=mx.dsn.test,127.0.0.15",
        "--mx-host=requiretls.test,mx.requiretls.test,10", "--host-record=mx.requiretls.test,127.0.0.16",
        // No MX: the A record is the implicit MX (RFC 5321 §5.1).
        "--host-record=amx.test,127.0.0.3",
        // The first MX refuses connections (nothing listens on .11): the second one takes it.
        "--mx-host=fallback.test,dead.fallback.test,10", "--mx-host=fallback.test,mx.mixed.test,20",
        "--host-record=dead.fallback.test,127.0.0.11",
        // An MX that is a CNAME's target.
        "--mx-host=cname.test,alias.cname.test,10", "--cname=alias.cname.test,mx.mixed.test",
        "--mx-host=nullmx.test,.,0",
        // IPv6: an MX with only ::1, and one whose AAAA leads nowhere but whose A works.
        "--mx-host=v6.test,mx.v6.test,10", "--host-record=mx.v6.test,::1",
        "--mx-host=dual.test,mx.dual.test,10", "--host-record=mx.dual.test,127.0.0.3,::2",
        "--server=/broken.example/127.0.0.1#9",
    ]

    let system: Installation
    let work: String
    let smtpPort: UInt16
    var dnsPort: UInt16 { dns.port }
    private let dns: Dnsmasq
    private let smtp = Process()
    private let smtpLifeline = Pipe()

    var outbox: String { "\(work)/outbox" }
    var certificate: String { "\(work)/cert.pem" }

    /// `records`: further dnsmasq options (records) for one suite's own test domains.
    /// `recordsFor`: records that depend on the certificate (its path) and the SMTP port.
    init(config: String = "", recordsFor: ((_ certificate: String, _ smtpPort: UInt16) throws -> [String])? = nil,
         records extraRecords: [String] = []) throws {
        work = makeTemporaryDirectory(prefix: "postamt-remote")
        try FileManager.default.createDirectory(atPath: "\(work)/outbox", withIntermediateDirectories: true)
        let cert = "\(work)/cert.pem", key = "\(work)/key.pem"
        let r = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                              "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=mx.ok.test",
                                              "-addext", "subjectAltName=DNS:mx.ok.test,DNS:mx.dane.test,DNS:mx.requiretls.test"])
        guard r.status == 0 else { throw HarnessError("openssl: \(r.stderr)") }
        // postamt-remote (the mail owner) reads the certificate as its CA file in some tests.
        chmod(work, 0o711)
        chmod(cert, 0o644)
        try remoteTestServerScript.write(toFile: "\(work)/server.py", atomically: true, encoding: .utf8)

        smtpPort = try RemoteTestBed.freePort(host: "127.0.0.2", udpToo: false)
        let lateRecords = try recordsFor?(cert, smtpPort) ?? []
        let dns = try Dnsmasq(records: RemoteTestBed.records + extraRecords + lateRecords)
        self.dns = dns

        smtp.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        smtp.arguments = ["\(work)/server.py", "\(work)/outbox", String(smtpPort), cert, key]
        smtp.standardInput = smtpLifeline
        let ready = Pipe()
        smtp.standardOutput = ready
        smtp.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try smtp.run()
        let listeners = try JSONSerialization.data(withJSONObject: RemoteTestBed.servers.map { [$0.0, $0.1] })
        smtpLifeline.fileHandleForWriting.write(listeners + Data("\n".utf8))
        let line = ready.fileHandleForReading.availableDataOrWait()
        guard line.starts(with: Data("ready".utf8)) else { throw HarnessError("test SMTP server did not start") }

        system = try Installation(config: """
        remote_nameserver = 127.0.0.1:\(dns.port)
        remote_smtp_port = \(smtpPort)
        remote_connect_timeout = 3s
        remote_greeting_timeout = 2s
        remote_command_timeout = 3s
        remote_data_timeout = 3s
        remote_destination_backoff = 1s
        remote_dns_timeout = 1s
        \(config)
        """)
        try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/postamt-remote",
                                         toPath: "\(system.root)/bin/postamt-remote")
        chmod("\(system.root)/bin/postamt-remote", 0o755)
        // dnsmasq needs a moment: this returns once it answers.
        _ = try dns.resolver()
    }

    deinit {
        try? smtpLifeline.fileHandleForWriting.close()
        smtp.terminate()
        smtp.waitUntilExit()
        try? FileManager.default.removeItem(atPath: work)
    }

    static func freePort(host: String, udpToo: Bool) throws -> UInt16 {
        for _ in 0..<20 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, host, &addr.sin_addr)
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let ok = withUnsafeMutablePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
            }
            let port = UInt16(bigEndian: addr.sin_port)
            close(fd)
            guard ok else { continue }
            if !udpToo { return port }
            let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            let bound = withUnsafeMutablePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(udp, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            close(udp)
            if bound { return port }
        }
        throw HarnessError("no free port on \(host)")
    }

    /// Messages the test server accepted: (json record, decoded message, wire bytes).
    func received() -> [(record: [String: Any], message: Data, wire: Data)] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: outbox)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        return names.compactMap { name in
            let base = "\(outbox)/\(name.dropLast(5))"
            guard let j = FileManager.default.contents(atPath: "\(base).json"),
                  let record = try? JSONSerialization.jsonObject(with: j) as? [String: Any],
                  let m = FileManager.default.contents(atPath: "\(base).eml"),
                  let w = FileManager.default.contents(atPath: "\(base).wire") else { return nil }
            return (record, m, w)
        }
    }

    func receivedFor(_ rcpt: String) -> [(record: [String: Any], message: Data, wire: Data)] {
        received().filter { ($0.record["rcpts"] as? [String])?.contains(rcpt) == true }
    }

    /// Queue entries of a subdirectory, without the temporary files of state writes.
    func queued(_ sub: String) -> [String] { system.queueFiles(sub).filter { !$0.hasPrefix(".") } }

    /// Runs postamt-remote directly, as the mail owner.
    func remote(_ args: [String], message: String) throws -> RunResult {
        try run("/usr/bin/setpriv", ["--reuid=postamt", "--regid=postamt", "--clear-groups", "--",
                                     "\(system.root)/bin/postamt-remote"] + args,
                input: Data(message.utf8), environment: system.environment)
    }

    /// The NUL-terminated reports of a postamt-remote run.
    static func reports(_ r: RunResult) -> [String] {
        var items = r.stdoutData.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if items.last == "" { items.removeLast() }
        return items
    }
}

extension FileHandle {
    /// One read (blocking until something arrives).
    func availableDataOrWait() -> Data { availableData }
}

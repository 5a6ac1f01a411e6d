import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MailNet

/// A dnsmasq on a free loopback port, serving records given as options.
public final class Dnsmasq: @unchecked Sendable {
    public static let path = "/usr/sbin/dnsmasq"
    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: path) }

    public let port: UInt16
    private let process = Process()
    private let lifeline = Pipe()

    /// dnsmasq runs under a small shell that SIGKILLs it when our end of the lifeline pipe closes:
    /// on deinit, and also when the test process dies. (SIGTERM is no use: a child spawned from a
    /// dispatch thread inherits its blocked signal mask.)
    public init(listenAddress: String = "127.0.0.1", records: [String]) throws {
        port = try Dnsmasq.freePort(on: listenAddress)
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [
            "-c", "\"$0\" \"$@\" & pid=$!; read line; kill -9 $pid", Dnsmasq.path,
            "--no-daemon", "--port=\(port)", "--listen-address=\(listenAddress)", "--bind-interfaces",
            "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=", "--user=root",
            "--local=/test/",
        ] + records
        process.standardInput = lifeline
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        try? lifeline.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// A resolver pointed at this server, once it answers (it needs a moment to start).
    public func resolver(timeout: Duration = .seconds(1), attempts: Int = 2, host: String = "127.0.0.1") throws -> DNSResolver {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let resolver = try DNSResolver(nameserver: address, timeout: timeout, attempts: attempts)
        for _ in 0..<50 {
            if case .found = resolver.a("ready.test") { return resolver }
            usleep(50_000)
        }
        throw NetError(.timedOut, operation: "dnsmasq", detail: "did not start answering")
    }

    /// Binds UDP and TCP to port 0 to learn a port free for both (dnsmasq serves both), on
    /// an IPv4 or IPv6 loopback address.
    public static func freePort(on host: String) throws -> UInt16 {
        for _ in 0..<20 {
            if let port = tryPort(on: host) { return port }
        }
        throw DnsmasqError(text: "no free port on \(host)")
    }

    private static func tryPort(on host: String) -> UInt16? {
        let v6 = host.contains(":")
        var storage = sockaddr_storage()
        var length = socklen_t(v6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &storage) { p in
            if v6 {
                p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    $0.pointee.sin6_family = sa_family_t(AF_INET6)
                    _ = inet_pton(AF_INET6, host, &$0.pointee.sin6_addr)
                }
            } else {
                p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    $0.pointee.sin_family = sa_family_t(AF_INET)
                    _ = inet_pton(AF_INET, host, &$0.pointee.sin_addr)
                }
            }
        }
        let family = v6 ? AF_INET6 : AF_INET
        let tcp = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(tcp) }
        let ok = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(tcp, $0, length) == 0 && listen(tcp, 1) == 0 && getsockname(tcp, $0, &length) == 0
            }
        }
        guard ok else { return nil }
        let udp = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(udp) }
        let bound = withUnsafePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(udp, $0, length) }
        }
        guard bound == 0 else { return nil }
        let port = withUnsafePointer(to: &storage) { p in
            v6 ? p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port }
               : p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }
        }
        return UInt16(bigEndian: port)
    }
}

public struct DnsmasqError: Error, CustomStringConvertible {
    public let text: String
    public var description: String { text }
}

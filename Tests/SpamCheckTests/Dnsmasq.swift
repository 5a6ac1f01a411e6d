import Foundation
import Glibc
import MailNet

// A copy of MailNetTests' helper (test targets cannot import each other).
/// A dnsmasq on a free loopback port, serving records given as options.
final class Dnsmasq: @unchecked Sendable {
    static let path = "/usr/sbin/dnsmasq"
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: path) }

    let port: UInt16
    private let process = Process()
    private let lifeline = Pipe()

    /// dnsmasq runs under a small shell that SIGKILLs it when our end of the lifeline pipe closes:
    /// on deinit, and also when the test process dies. (SIGTERM is no use: a child spawned from a
    /// dispatch thread inherits its blocked signal mask.)
    init(listenAddress: String = "127.0.0.1", records: [String]) throws {
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

    /// Binds UDP and TCP to port 0 to learn a port free for both (dnsmasq serves both).
    static func freePort(on host: String) throws -> UInt16 {
        precondition(host == "127.0.0.1", "IPv4 loopback only")
        for _ in 0..<20 {
            let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(tcp) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let ok = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(tcp, $0, length) == 0 && listen(tcp, 1) == 0 && getsockname(tcp, $0, &length) == 0
                }
            }
            guard ok else { continue }
            let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(udp) }
            let bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(udp, $0, length) }
            }
            if bound == 0 { return UInt16(bigEndian: address.sin_port) }
        }
        throw NetError(.invalidArgument, operation: "free port", detail: "none found on \(host)")
    }

    /// A resolver pointed at this server, once it answers (it needs a moment to start).
    func resolver(timeout: Duration = .seconds(1), attempts: Int = 2, host: String = "127.0.0.1") throws -> DNSResolver {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let resolver = try DNSResolver(nameserver: address, timeout: timeout, attempts: attempts)
        for _ in 0..<50 {
            if case .found = resolver.a("ready.test") { return resolver }
            usleep(50_000)
        }
        throw NetError(.timedOut, operation: "dnsmasq", detail: "did not start answering")
    }

}

import Foundation
import Glibc
import Testing
@testable import MailNet

/// Runs `body` on its own thread (blocking I/O must not sit on the test's cooperative pool).
final class BackgroundThread<Value: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var result: Result<Value, any Error>?

    init(_ body: @escaping @Sendable () throws -> Value) {
        let thread = Thread { [self] in
            let outcome = Result { try body() }
            lock.withLock { result = outcome }
            done.signal()
        }
        thread.start()
    }

    /// Waits (at most 20 s, so a broken test fails instead of hanging) and returns or rethrows.
    func value() throws -> Value {
        guard done.wait(timeout: .now() + 20) == .success else {
            throw NetError(.timedOut, operation: "test thread", detail: "did not finish")
        }
        return try lock.withLock { result! }.get()
    }
}

/// A connected pair of Unix stream sockets.
func makeSocketPair() -> (Int32, Int32) {
    var fds: [Int32] = [0, 0]
    let rc = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
    precondition(rc == 0)
    return (fds[0], fds[1])
}

/// A TCP listening socket on a loopback address and an ephemeral port.
final class Listener {
    let fd: Int32
    let address: SocketAddress

    init?(on host: String = "127.0.0.1") {
        guard let ip = IPAddress(host) else { return nil }
        let fd = socket(ip.isIPv4 ? AF_INET : AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var bound: Int32 = -1
        SocketAddress(address: ip, port: 0).withSockaddr { bound = bind(fd, $0, $1) }
        guard bound == 0, listen(fd, 8) == 0, let local = SocketAddress.local(ofSocket: fd) else {
            close(fd)
            return nil
        }
        self.fd = fd
        self.address = local
    }

    func accept() -> Int32 { Glibc.accept(fd, nil, nil) }

    deinit { close(fd) }
}

let testCertificateDirectory = NSTemporaryDirectory() + "mailnet-tls-\(getpid())"

/// A throw-away self-signed certificate for "mail.test", made once per test run with the openssl CLI.
struct TestCertificate: Sendable {
    let directory: String
    var certificatePath: String { directory + "/cert.pem" }
    var keyPath: String { directory + "/key.pem" }
    var otherCertificatePath: String { directory + "/other.pem" }

    static let shared: TestCertificate = {
        let directory = testCertificateDirectory
        atexit { try? FileManager.default.removeItem(atPath: testCertificateDirectory) }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, key) in [("cert.pem", "key.pem"), ("other.pem", "otherkey.pem")] {
            let status = runTool("/usr/bin/openssl", [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", directory + "/" + key, "-out", directory + "/" + name, "-days", "2",
                "-subj", "/CN=mail.test", "-addext", "subjectAltName=DNS:mail.test",
            ])
            precondition(status == 0, "openssl req failed")
        }
        return TestCertificate(directory: directory)
    }()
}

@discardableResult
func runTool(_ path: String, _ arguments: [String]) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
}

/// A ByteStream that hands out scripted chunks, then end of stream.
final class ScriptedStream: ByteStream {
    var timeout: Duration = .seconds(1)
    var chunks: [[UInt8]]
    var written: [UInt8] = []
    private(set) var readCalls = 0

    init(_ chunks: [[UInt8]]) { self.chunks = chunks }
    convenience init(_ texts: [String]) { self.init(texts.map { Array($0.utf8) }) }

    func read(appendingTo buffer: inout [UInt8], max: Int) throws -> Int {
        readCalls += 1
        guard !chunks.isEmpty else { return 0 }
        var chunk = chunks.removeFirst()
        if chunk.count > max {
            chunks.insert(Array(chunk[max...]), at: 0)
            chunk = Array(chunk[..<max])
        }
        buffer.append(contentsOf: chunk)
        return chunk.count
    }

    func write(_ bytes: [UInt8]) throws { written += bytes }
    func shutdown() throws {}
}

extension LineEvent {
    /// "text|terminator" for compact expectations.
    var summary: String {
        switch self {
        case .line(let line): "\(line.text)|\(line.terminator)"
        case .tooLong(let length, let terminator): "tooLong(\(length))|\(terminator)"
        }
    }
}

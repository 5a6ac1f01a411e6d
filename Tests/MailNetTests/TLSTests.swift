import Foundation
import Glibc
import Testing
@testable import MailNet

/// Runs a TLS server on `serverFD` in a thread that echoes one line with "echo: " in front and
/// returns what it learnt; the client side runs in the test.
private func startEchoServer(
    on serverFD: Int32, timeout: Duration = .seconds(5)
) -> BackgroundThread<(version: String, cipher: String)> {
    BackgroundThread {
        let certificate = TestCertificate.shared
        let context = try TLSServerContext(certificateChainPath: certificate.certificatePath,
                                           privateKeyPath: certificate.keyPath)
        let tls = try TLSConnection(server: context, over: PlainStream(socket: serverFD, timeout: timeout))
        try tls.handshake()
        let reader = LineReader(stream: tls, limits: LineLimits(maxLineLength: 200_000))
        while let event = try reader.readLine() {
            guard case .line(let line) = event else { break }
            try tls.write("echo: " + line.text + "\r\n")
        }
        try tls.shutdown()
        return (tls.protocolVersion, tls.cipherName)
    }
}

@Suite struct TLSTests {
    init() { ignoreBrokenPipeSignal() }

    @Test func handshakeAndEchoWithPinnedCertificate() throws {
        let (clientFD, serverFD) = makeSocketPair()
        let server = startEchoServer(on: serverFD)
        let context = try TLSClientContext(verification: .peer(.caFile(TestCertificate.shared.certificatePath)))
        let client = try TLSConnection(client: context, serverName: "mail.test",
                                       over: PlainStream(socket: clientFD, timeout: .seconds(5)))
        try client.handshake()
        #expect(client.protocolVersion == "TLSv1.3")
        #expect(client.cipherName.hasPrefix("TLS_"))
        #expect(client.cipherBits >= 128)
        #expect(client.peerVerification == .verified)
        #expect(client.peerCertificateSubject == "CN=mail.test")

        let big = String(repeating: "x", count: 100_000)
        try client.write("hello\r\n" + big + "\r\n")
        let reader = LineReader(stream: client, limits: LineLimits(maxLineLength: 200_000))
        #expect(try reader.readLine() == .line(Line(bytes: Array("echo: hello".utf8), terminator: .crlf)))
        #expect(try reader.readLine() == .line(Line(bytes: Array(("echo: " + big).utf8), terminator: .crlf)))
        try client.shutdown()
        #expect(try reader.readLine() == nil)  // the server's close_notify
        let (version, cipher) = try server.value()
        #expect(version == "TLSv1.3")
        #expect(cipher == client.cipherName)
    }

    @Test func untrustedSelfSignedCertificateFailsVerification() throws {
        let (clientFD, serverFD) = makeSocketPair()
        let server = startEchoServer(on: serverFD)
        // System CAs do not include our throw-away certificate.
        let context = try TLSClientContext(verification: .peer(.caFile(TestCertificate.shared.otherCertificatePath)))
        let client = try TLSConnection(client: context, serverName: "mail.test", over: PlainStream(socket: clientFD))
        let error = #expect(throws: NetError.self) { try client.handshake() }
        #expect(error?.kind == .tls)
        #expect(error?.description.contains("certificate verify failed") == true)
        #expect(error?.description.contains("self-signed certificate") == true)
        withExtendedLifetime(client) {}
        #expect(throws: NetError.self) { try server.value() }  // the server sees the client's alert
    }

    @Test func wrongHostNameFailsVerification() throws {
        let (clientFD, serverFD) = makeSocketPair()
        let server = startEchoServer(on: serverFD)
        let context = try TLSClientContext(verification: .peer(.caFile(TestCertificate.shared.certificatePath)))
        let client = try TLSConnection(client: context, serverName: "other.test", over: PlainStream(socket: clientFD))
        let error = #expect(throws: NetError.self) { try client.handshake() }
        #expect(error?.description.contains("hostname mismatch") == true)
        _ = try? server.value()
    }

    @Test func opportunisticReportsButDoesNotFail() throws {
        let (clientFD, serverFD) = makeSocketPair()
        let server = startEchoServer(on: serverFD)
        let context = try TLSClientContext(verification: .opportunistic(.caFile(TestCertificate.shared.certificatePath)))
        let client = try TLSConnection(client: context, serverName: "wrong.test", over: PlainStream(socket: clientFD))
        try client.handshake()
        #expect(client.peerVerification == .failed(reason: "hostname mismatch"))
        try client.write("hi\n")
        #expect(try client.read(max: 100) == Array("echo: hi\r\n".utf8))
        try client.shutdown()
        _ = try server.value()
    }

    @Test func garbageInsteadOfClientHelloGivesClearError() throws {
        let (clientFD, serverFD) = makeSocketPair()
        defer { close(clientFD) }
        let server = startEchoServer(on: serverFD)
        _ = "GET / HTTP/1.0\r\n\r\n".withCString { Glibc.write(clientFD, $0, 18) }
        do {
            _ = try server.value()
            Issue.record("handshake with garbage succeeded")
        } catch let error as NetError {
            #expect(error.kind == .tls)
            #expect(error.operation == "TLS handshake")
            #expect(error.detail.contains("SSL routines"))
            #expect(error.detail.contains("http request") || error.detail.contains("wrong version number"))
        }
    }

    @Test func silentPeerTimesOutHandshakeAndRead() throws {
        let (clientFD, serverFD) = makeSocketPair()
        defer { close(serverFD) }
        let context = try TLSClientContext(verification: .none)
        let client = try TLSConnection(client: context, serverName: nil,
                                       over: PlainStream(socket: clientFD, timeout: .milliseconds(150)))
        let started = ContinuousClock.now
        let error = #expect(throws: NetError.self) { try client.handshake() }
        #expect(error?.isTimeout == true)
        #expect(ContinuousClock.now - started < .seconds(2))

        // A plain stream's read times out the same way.
        let (a, b) = makeSocketPair()
        defer { close(b) }
        let plain = try PlainStream(socket: a, timeout: .milliseconds(100))
        #expect { try plain.read(max: 10) } throws: { ($0 as? NetError)?.isTimeout == true }
    }

    @Test func slowLorisHalfRecordTimesOut() throws {
        // Sends the first bytes of a TLS record and then nothing: the server must not block in read().
        let (clientFD, serverFD) = makeSocketPair()
        defer { close(clientFD) }
        let server = startEchoServer(on: serverFD, timeout: .milliseconds(200))
        let header: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01]
        _ = header.withUnsafeBytes { Glibc.write(clientFD, $0.baseAddress, $0.count) }
        #expect { try server.value() } throws: { ($0 as? NetError)?.isTimeout == true }
    }

    @Test func missingKeyFileIsReported() {
        let error = #expect(throws: NetError.self) {
            try TLSServerContext(certificateChainPath: TestCertificate.shared.certificatePath,
                                 privateKeyPath: "/nonexistent/key.pem")
        }
        #expect(error?.operation == "load private key /nonexistent/key.pem")
        #expect(error?.detail.isEmpty == false)
    }

    @Test func mismatchedKeyIsRejected() {
        let certificate = TestCertificate.shared
        #expect(throws: NetError.self) {
            try TLSServerContext(certificateChainPath: certificate.otherCertificatePath,
                                 privateKeyPath: certificate.keyPath)
        }
    }

    @Test func separateReadAndWriteDescriptors() throws {
        // Socket activation hands the server fd 0 and fd 1; model that with a dup of one socket.
        let (clientFD, serverFD) = makeSocketPair()
        let serverWriteFD = dup(serverFD)
        let server = BackgroundThread {
            let certificate = TestCertificate.shared
            let context = try TLSServerContext(certificateChainPath: certificate.certificatePath,
                                               privateKeyPath: certificate.keyPath)
            let stream = try PlainStream(readFD: serverFD, writeFD: serverWriteFD, ownsDescriptors: true)
            try stream.write("220 ready for TLS\r\n")
            let tls = try TLSConnection(server: context, over: stream)
            try tls.handshake()
            try tls.write("250 secret\r\n")
            try tls.shutdown()
            return tls.protocolVersion
        }
        let plain = try PlainStream(socket: clientFD)
        #expect(try plain.read(max: 19) == Array("220 ready for TLS\r\n".utf8))
        let client = try TLSConnection(client: TLSClientContext(verification: .none), serverName: "mail.test", over: plain)
        try client.handshake()
        #expect(try client.read(max: 100) == Array("250 secret\r\n".utf8))
        #expect(try server.value() == "TLSv1.3")
    }

    /// A real client: `openssl s_client` forced to TLS 1.2 or 1.3 gets the expected suite.
    @Test(arguments: [("-tls1_2", "TLSv1.2", "ECDHE-ECDSA-AES"), ("-tls1_3", "TLSv1.3", "TLS_AES_")])
    func interoperatesWithOpenSSLSClient(flag: String, version: String, cipherPrefix: String) throws {
        let listener = try #require(Listener())
        let port = listener.address.port
        let listenFD = listener.fd
        let server = BackgroundThread { () -> [String] in
            let fd = accept(listenFD, nil, nil)
            let certificate = TestCertificate.shared
            let context = try TLSServerContext(certificateChainPath: certificate.certificatePath,
                                               privateKeyPath: certificate.keyPath)
            let stream = try PlainStream(socket: fd, timeout: .seconds(10))
            let peer = SocketAddress.peer(ofSocket: fd)
            let tls = try TLSConnection(server: context, over: stream)
            try tls.handshake()
            let reader = LineReader(stream: tls)
            guard case .line(let line)? = try reader.readLine() else { return ["no line"] }
            try tls.write("250 got " + line.text + " from " + (peer?.address.description ?? "?") + "\r\n")
            try tls.shutdown()
            stream.close()
            return [line.text, tls.protocolVersion, tls.cipherName]
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-quiet", flag, "-servername", "mail.test",
                             "-CAfile", TestCertificate.shared.certificatePath, "-verify_return_error"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data("EHLO interop\n".utf8))
        try input.fileHandleForWriting.close()
        let received = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let seen = try server.value()
        #expect(seen.count == 3)
        #expect(seen.first == "EHLO interop")
        #expect(seen.dropFirst().first == version)
        #expect(seen.last?.hasPrefix(cipherPrefix) == true)
        #expect(String(decoding: received, as: UTF8.self) == "250 got EHLO interop from 127.0.0.1\r\n")
        withExtendedLifetime(listener) {}
    }
}

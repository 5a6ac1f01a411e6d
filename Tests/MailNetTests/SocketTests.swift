import Glibc
import Testing
@testable import MailNet

@Suite struct SocketAddressTests {
    @Test(arguments: [
        ("192.0.2.1", "192.0.2.1:25"), ("192.0.2.1:587", "192.0.2.1:587"),
        ("2001:db8::1", "[2001:db8::1]:25"), ("[2001:db8::1]:5353", "[2001:db8::1]:5353"),
        ("[::1]", "[::1]:25"),
    ])
    func parsing(text: String, expected: String) {
        #expect(SocketAddress(parsing: text, defaultPort: 25)?.description == expected)
    }

    @Test(arguments: ["", "mail.example.org", "192.0.2.1:", "192.0.2.1:x", "[2001:db8::1]x", "1.2.3.4:70000", "300.1.1.1"])
    func rejects(text: String) {
        #expect(SocketAddress(parsing: text, defaultPort: 25) == nil)
    }

    @Test func ipv4MappedAddressesShowAsIPv4() {
        let mapped = IPAddress("::ffff:192.0.2.7")!
        #expect(mapped.bytes.count == 16)
        #expect(mapped.unmapped == IPAddress("192.0.2.7"))
        #expect(mapped.unmapped.isIPv4)
        #expect(IPAddress("2001:db8::1")!.unmapped.bytes.count == 16)
    }

    @Test func peerOfNonSocketsIsNil() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        #expect(SocketAddress.peer(ofSocket: fds[0]) == nil)
        let (a, b) = makeSocketPair()
        defer { close(a); close(b) }
        #expect(SocketAddress.peer(ofSocket: a) == nil)  // AF_UNIX
    }
}

@Suite struct TCPConnectTests {
    init() { ignoreBrokenPipeSignal() }

    @Test(arguments: ["127.0.0.1", "::1"])
    func connectsAndSeesBothEnds(host: String) throws {
        guard let listener = Listener(on: host) else { return }  // no IPv6 loopback here
        let client = try PlainStream.connect(to: listener.address, timeout: .seconds(2))
        let accepted = listener.accept()
        try #require(accepted >= 0)
        let server = try PlainStream(socket: accepted)
        let clientLocal = try #require(SocketAddress.local(ofSocket: client.readFD))
        #expect(SocketAddress.peer(ofSocket: accepted) == clientLocal)
        #expect(SocketAddress.peer(ofSocket: client.readFD) == listener.address)
        try client.write("ping\r\n")
        #expect(try server.read(max: 100) == Array("ping\r\n".utf8))
        try client.shutdown()
        #expect(try server.read(max: 100) == nil)
    }

    @Test func ipv4ClientOfDualStackListenerIsShownAsIPv4() throws {
        guard let listener = Listener(on: "::") else { return }
        let client = try PlainStream.connect(to: SocketAddress(address: IPAddress("127.0.0.1")!, port: listener.address.port),
                                             timeout: .seconds(2))
        let accepted = listener.accept()
        defer { close(accepted) }
        let peer = try #require(SocketAddress.peer(ofSocket: accepted))
        #expect(peer.address == IPAddress("127.0.0.1"))
        #expect(peer.description.hasPrefix("127.0.0.1:"))
        withExtendedLifetime(client) {}
    }

    @Test func refusedConnectionIsASystemError() throws {
        let port: UInt16
        do {
            let listener = try #require(Listener())
            port = listener.address.port
        }  // closed again: nobody listens there now
        let address = SocketAddress(address: IPAddress("127.0.0.1")!, port: port)
        #expect { try PlainStream.connect(to: address, timeout: .seconds(2)) } throws: { error in
            guard let error = error as? NetError else { return false }
            return error.kind == .system(errno: ECONNREFUSED) && error.operation == "connect to 127.0.0.1:\(port)"
        }
    }

    @Test func connectTimesOutWhenSYNsAreDropped() throws {
        // A listener with a full backlog that never accepts: Linux drops further SYNs.
        let listener = try #require(Listener())
        _ = listen(listener.fd, 0)
        var held: [PlainStream] = []
        var timedOut = false
        let started = ContinuousClock.now
        for _ in 0..<8 {
            do {
                held.append(try PlainStream.connect(to: listener.address, timeout: .milliseconds(200)))
            } catch let error as NetError {
                #expect(error.isTimeout)
                timedOut = true
                break
            }
        }
        #expect(timedOut)
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test func writingToAHungUpPeerThrowsEPIPE() throws {
        let (a, b) = makeSocketPair()
        let stream = try PlainStream(socket: a)
        close(b)
        #expect { try stream.write([UInt8](repeating: 0x41, count: 100_000)) } throws: { error in
            (error as? NetError)?.kind == .system(errno: EPIPE)
        }
    }

    @Test func writeTimesOutWhenThePeerDoesNotRead() throws {
        let (a, b) = makeSocketPair()
        defer { close(b) }
        let stream = try PlainStream(socket: a, timeout: .milliseconds(100))
        #expect { try stream.write([UInt8](repeating: 0x41, count: 10_000_000)) } throws: { error in
            (error as? NetError)?.isTimeout == true
        }
    }

    @Test func pipesWorkAsReadAndWriteDescriptors() throws {
        // inetd-style fd 0/1 may be pipes in tests and in tcpserver setups.
        var input: [Int32] = [0, 0], output: [Int32] = [0, 0]
        try #require(pipe(&input) == 0 && pipe(&output) == 0)
        let stream = try PlainStream(readFD: input[0], writeFD: output[1], ownsDescriptors: true)
        _ = Glibc.write(input[1], "EHLO\r\n", 6)
        close(input[1])
        #expect(try stream.read(max: 100) == Array("EHLO\r\n".utf8))
        #expect(try stream.read(max: 100) == nil)
        try stream.write("250 ok\r\n")
        var reply = [UInt8](repeating: 0, count: 16)
        #expect(Glibc.read(output[0], &reply, 16) == 8)
        close(output[0])
    }
}

@Suite struct PlainStreamFlagTests {
    @Test func borrowedDescriptorsGetTheirFlagsBack() throws {
        let (a, b) = makeSocketPair()
        defer { close(a); close(b) }
        #expect(fcntl(a, F_GETFL) & O_NONBLOCK == 0)
        do {
            let stream = try PlainStream(socket: a, ownsDescriptor: false)
            #expect(fcntl(a, F_GETFL) & O_NONBLOCK != 0)
            withExtendedLifetime(stream) {}
        }
        #expect(fcntl(a, F_GETFL) & O_NONBLOCK == 0)
        #expect(fcntl(a, F_GETFD) >= 0)  // still open
    }
}

import Testing
@testable import MailNet

struct HTTPSResponseTests {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func contentLength() throws {
        let r = try HTTPSClient.parse(bytes("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"), bodyLimit: 100, complete: false)
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "text/plain")
        #expect(r.body == bytes("hello"))
    }

    @Test func chunked() throws {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n"
        #expect(try HTTPSClient.parse(bytes(text), bodyLimit: 100, complete: false).body == bytes("hello world"))
    }

    @Test func untilClose() throws {
        let text = "HTTP/1.0 404 Not Found\r\n\r\nnope"
        #expect(throws: HTTPSError.self) { try HTTPSClient.parse(bytes(text), bodyLimit: 100, complete: false) }
        #expect(try HTTPSClient.parse(bytes(text), bodyLimit: 100, complete: true).status == 404)
    }

    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n",
        "HTTP/1.1 200 OK\r\n\r\n" + String(repeating: "x", count: 101),
    ])
    func bodyLimit(text: String) {
        #expect(throws: HTTPSError.self) { try HTTPSClient.parse(bytes(text), bodyLimit: 100, complete: true) }
    }

    @Test(arguments: [
        "SMTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", "HTTP/1.1 200 OK\r\n",
    ])
    func malformed(text: String) {
        #expect(throws: HTTPSError.self) { try HTTPSClient.parse(bytes(text), bodyLimit: 100, complete: true) }
    }
}

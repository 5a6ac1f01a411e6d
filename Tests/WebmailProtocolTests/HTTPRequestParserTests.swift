import Testing
@testable import WebmailProtocol

@Suite struct HTTPRequestParserTests {
    func parse(_ text: String, limits: HTTPLimits = HTTPLimits()) -> Result<[HTTPRequest], HTTPError> {
        var parser = HTTPRequestParser(limits: limits)
        parser.feed(Array(text.utf8))
        var requests: [HTTPRequest] = []
        do {
            while let r = try parser.next() { requests.append(r) }
        } catch {
            return .failure(error)
        }
        return .success(requests)
    }

    func status(_ text: String, limits: HTTPLimits = HTTPLimits()) -> Int? {
        if case .failure(let e) = parse(text, limits: limits) { return e.status }
        return nil
    }

    @Test func simpleGet() throws {
        let requests = try parse("GET /folder?f=INBOX&page=2 HTTP/1.1\r\nHost: mail.example\r\nCookie: a=b\r\n\r\n").get()
        #expect(requests.count == 1)
        let r = requests[0]
        #expect(r.method == "GET")
        #expect(r.path == "/folder")
        #expect(r.query == "f=INBOX&page=2")
        #expect(r.header("host") == "mail.example")
        #expect(r.keepAlive)
        #expect(r.body.isEmpty)
    }

    @Test func pipelinedRequestsAndBodies() throws {
        let text = "POST /login HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        let requests = try parse(text).get()
        #expect(requests.count == 2)
        #expect(requests[0].body == Array("hello".utf8))
        #expect(!requests[1].keepAlive)
    }

    @Test func byteByByteGivesTheSameRequest() throws {
        let text = "POST /compose HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n"
        var parser = HTTPRequestParser()
        var got: [HTTPRequest] = []
        for b in text.utf8 {
            parser.feed([b])
            if let r = try parser.next() { got.append(r) }
        }
        #expect(got.count == 1)
        #expect(got[0].body == Array("abcde".utf8))
        #expect(parser.pendingCount == 0)
    }

    @Test func incompleteIsNotAnError() throws {
        #expect(try parse("GET / HTTP/1.1\r\nHost: h\r\n").get().isEmpty)
        #expect(try parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc").get().isEmpty)
    }

    @Test(arguments: [
        // Smuggling: both framings, two lengths, an unknown coding, chunked after another coding.
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\n Transfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400),
        // Line ends: a bare LF or CR.
        ("GET / HTTP/1.1\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400),
        // Request line and Host.
        ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET http://evil/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        ("GET / FOO/1.1\r\nHost: h\r\n\r\n", 400),
        ("G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{1}b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
    ])
    func refused(_ text: String, _ expected: Int) {
        #expect(status(text) == expected)
    }

    @Test func limits() {
        let small = HTTPLimits(requestLineBytes: 32, headerBytes: 64, headerCount: 3, bodyBytes: 10)
        #expect(status("GET /\(String(repeating: "a", count: 40)) HTTP/1.1\r\n", limits: small) == 414)
        // Too long even before the line ends: the parser does not wait for more.
        #expect(status("GET /\(String(repeating: "a", count: 40))", limits: small) == 414)
        #expect(status("GET / HTTP/1.1\r\nHost: h\r\nX: \(String(repeating: "b", count: 80))", limits: small) == 431)
        #expect(status("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: small) == 431)
        #expect(status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", limits: small) == 413)
        #expect(status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n", limits: small) == 413)
        #expect(status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", limits: small) == nil)
    }

    @Test func anErrorSticks() {
        var parser = HTTPRequestParser()
        parser.feed(Array("GET / HTTP/1.1\nHost: h\r\n\r\n".utf8))
        #expect(throws: HTTPError.self) { try parser.next() }
        parser.feed(Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        #expect(throws: HTTPError.self) { try parser.next() }
    }

    @Test func responsesCannotBeSplit() {
        var response = HTTPResponse.redirect("/x\r\nSet-Cookie: evil=1")
        response.headers.append(("X-Fine", "yes"))
        let wire = String(decoding: response.serialized(keepAlive: true), as: UTF8.self)
        let text = String(wire.split(separator: "\r\n\r\n", maxSplits: 1)[0])
        #expect(!text.contains("evil"))
        #expect(!text.contains("Location:"))
        #expect(text.contains("X-Fine: yes\r\n"))
        #expect(text.contains("Content-Security-Policy: default-src 'none'"))
        #expect(text.contains("Strict-Transport-Security: max-age="))
    }

    @Test func forms() throws {
        let fields = try #require(FormData.parse("a=1&b=h%C3%A9llo+world&c=&d"))
        #expect(fields.map(\.name) == ["a", "b", "c", "d"])
        #expect(fields[1].value == "héllo world")
        #expect(FormData.parse("a=%zz") == nil)
        #expect(FormData.parse("a=%C3") == nil)
        #expect(FormData.parse("a=%4") == nil)
        #expect(FormData.cookie("s", in: "x=1; s=abc; y=2") == "abc")
        #expect(FormData.cookie("s", in: "xs=1") == nil)
        #expect(FormData.encode("a b/ä") == "a%20b%2F%C3%A4")
    }
}

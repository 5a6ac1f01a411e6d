import Testing
@testable import WebmailProtocol

@Suite struct HTTPSRedirectTests {
    func request(_ text: String) throws -> HTTPRequest {
        var parser = HTTPRequestParser(limits: HTTPLimits())
        parser.feed(Array(text.utf8)[...])
        return try #require(try parser.next())
    }

    @Test func getGoesToTheSamePlaceOverHTTPS() throws {
        let r = HTTPSRedirect.response(to: try request("GET /folder?f=INBOX HTTP/1.1\r\nHost: Mail.Example.org:80\r\n\r\n"),
                                       fallbackHost: "fallback.example", httpsPort: 443)
        #expect(r.status == 301)
        #expect(r.header("Location") == "https://mail.example.org/folder?f=INBOX")
        let onOtherPort = HTTPSRedirect.response(to: try request("HEAD / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n"),
                                                 fallbackHost: "fallback.example", httpsPort: 8443)
        #expect(onOtherPort.status == 301)
        #expect(onOtherPort.header("Location") == "https://[2001:db8::1]:8443/")
    }

    @Test func otherMethodsKeepTheirMethod() throws {
        let r = HTTPSRedirect.response(to: try request("POST /login HTTP/1.1\r\nHost: mail.example.org\r\nContent-Length: 3\r\n\r\na=b"),
                                       fallbackHost: "fallback.example", httpsPort: 443)
        #expect(r.status == 308)
        #expect(r.header("Location") == "https://mail.example.org/login")
    }

    /// A Host that is not a plain name (a path, user info, odd characters, empty) is never echoed.
    @Test(arguments: ["evil.example/x", "a@evil.example", "evil.example:80x", "", "-x.example", "ev il", "evil.example\u{0}", "[::1", "[zz]"])
    func hostileHostsFallBack(_ host: String) throws {
        #expect(HTTPSRedirect.host(host) == nil)
    }

    @Test func withoutHostTheConfiguredNameIsUsed() throws {
        let r = HTTPSRedirect.response(to: try request("GET /x HTTP/1.0\r\n\r\n"), fallbackHost: "mail.example.net", httpsPort: 443)
        #expect(r.header("Location") == "https://mail.example.net/x")
    }

    /// RFC 6797 §7.2: no Strict-Transport-Security over plain HTTP; the other headers stay.
    @Test func plainResponsesCarryNoHSTS() {
        let plain = String(decoding: HTTPResponse.text("x", status: 200).serialized(keepAlive: false, secure: false), as: UTF8.self)
        #expect(!plain.contains("Strict-Transport-Security"))
        #expect(plain.contains("X-Content-Type-Options: nosniff"))
        let secure = String(decoding: HTTPResponse.text("x", status: 200).serialized(keepAlive: false), as: UTF8.self)
        #expect(secure.contains("Strict-Transport-Security: max-age=31536000"))
    }
}

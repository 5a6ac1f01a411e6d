/// One response of postamt-webmail. Field values never carry CR or LF (a value that does is
/// dropped, so no caller can split the response), and every response carries the security
/// headers of postamt-webmail(8).
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status; self.headers = headers; self.body = body
    }

    public static func == (a: HTTPResponse, b: HTTPResponse) -> Bool {
        a.status == b.status && a.body == b.body && a.headers.map { "\($0.name):\($0.value)" } == b.headers.map { "\($0.name):\($0.value)" }
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public static func html(_ text: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "text/html; charset=utf-8")], body: Array(text.utf8))
    }

    public static func text(_ text: String, status: Int) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array(text.utf8))
    }

    /// 303 See Other: after a POST, the browser fetches `location` with GET.
    public static func redirect(_ location: String) -> HTTPResponse {
        HTTPResponse(status: 303, headers: [("Location", location), ("Content-Type", "text/plain; charset=utf-8")], body: Array("See \(location)\n".utf8))
    }

    /// The answer to a refused request (the connection closes after it).
    public static func error(_ error: HTTPError) -> HTTPResponse {
        .text("\(error.status) \(HTTPResponse.reasonPhrase(error.status)): \(error.reason)\n", status: error.status)
    }

    /// The policy for every page: nothing from elsewhere, no script at all, no inline style, no
    /// framing, forms only to us. Message HTML is sanitised as well; this is the second wall.
    /// script-src 'self': the one static script file (/app.js) and nothing else, never inline;
    /// connect-src 'self': its unread-count requests.
    public static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    /// The same for a message whose remote images the user asked to see: https images too.
    public static let contentSecurityPolicyWithRemoteImages =
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data: https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    public static let securityHeaders: [(name: String, value: String)] = [
        ("Strict-Transport-Security", "max-age=31536000"),
        ("Content-Security-Policy", contentSecurityPolicy),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        // same-origin, not no-referrer: under no-referrer browsers send "Origin: null" with our own
        // forms, and the Origin check needs the real one. Other sites still get no Referer.
        ("Referrer-Policy", "same-origin"),
        ("Cache-Control", "no-store"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ]

    /// The bytes on the wire. `head`: a response to HEAD (no body, same length). `secure`: over
    /// TLS; over plain HTTP there is no Strict-Transport-Security (RFC 6797 §7.2).
    public func serialized(keepAlive: Bool, head: Bool = false, secure: Bool = true) -> [UInt8] {
        var out = "HTTP/1.1 \(status) \(HTTPResponse.reasonPhrase(status))\r\n"
        var names = Set<String>()
        let security = secure ? HTTPResponse.securityHeaders : HTTPResponse.securityHeaders.filter { $0.name != "Strict-Transport-Security" }
        for (name, value) in headers + security {
            let lower = name.lowercased()
            guard !lower.isEmpty, !names.contains(lower) || lower == "set-cookie",
                  !value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }),
                  !name.utf8.contains(where: { $0 <= 0x20 || $0 == UInt8(ascii: ":") || $0 >= 0x7F }) else { continue }
            names.insert(lower)
            out += "\(name): \(value)\r\n"
        }
        out += "Content-Length: \(body.count)\r\n"
        out += keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n"
        out += "\r\n"
        return Array(out.utf8) + (head ? [] : body)
    }

    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 301: return "Moved Permanently"
        case 303: return "See Other"
        case 304: return "Not Modified"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status"
        }
    }
}

/// The answer of the plain-HTTP port (postamt-webmail --redirect): every request goes to the same
/// place over HTTPS, and nothing else is served there.
public enum HTTPSRedirect {
    /// 301 for GET and HEAD, 308 for any other method (which keeps the method and body, RFC 9110
    /// §15.4.9), to https://HOST[:PORT]TARGET. HOST is the request's Host when it is a plain
    /// host name or IP literal, else `fallbackHost`; PORT appears when `httpsPort` is not 443.
    public static func response(to request: HTTPRequest, fallbackHost: String, httpsPort: Int) -> HTTPResponse {
        let host = HTTPSRedirect.host(request.header("Host")) ?? fallbackHost
        let target = request.target.hasPrefix("/") ? request.target : "/"
        let location = "https://\(host)\(httpsPort == 443 ? "" : ":\(httpsPort)")\(target)"
        let status = request.method == "GET" || request.method == "HEAD" ? 301 : 308
        return HTTPResponse(status: status, headers: [("Location", location), ("Content-Type", "text/plain; charset=utf-8")],
                            body: Array("This site is served over HTTPS: \(location)\n".utf8))
    }

    /// The host of a Host field value without its port, lower-cased: a DNS name (letters, digits,
    /// hyphens, dots; at most 253 bytes) or a bracketed IPv6 literal; nil for anything else.
    static func host(_ value: String?) -> String? {
        guard var text = value?.lowercased(), !text.isEmpty, text.utf8.count <= 300 else { return nil }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let literal = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard !literal.isEmpty, literal.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }),
                  rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(\.isASCII) && rest.dropFirst().allSatisfy(\.isNumber)) else { return nil }
            return "[\(literal)]"
        }
        if let colon = text.lastIndex(of: ":") {
            let port = text[text.index(after: colon)...]
            guard port.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            text = String(text[..<colon])
        }
        guard !text.isEmpty, text.utf8.count <= 253, !text.hasPrefix("."), !text.hasPrefix("-"),
              text.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E }) else { return nil }
        return text
    }
}

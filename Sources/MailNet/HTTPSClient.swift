/// A minimal HTTPS client for fetching small documents such as MTA-STS policies (RFC 8461 §3.3)
/// and posting TLS reports (RFC 8460 §5.4): one GET or POST over HTTP/1.1 with
/// `Connection: close`, the certificate verified against the host name
/// (never a downgrade: a failed verification is an error), a body size limit, a deadline for the
/// whole exchange, Content-Length or chunked bodies. No redirects, no cookies, no compression.
public struct HTTPSResponse: Sendable, Equatable {
    public var status: Int
    /// Header fields with lower-cased names, in order.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.name == n }?.value
    }

    public static func == (a: HTTPSResponse, b: HTTPSResponse) -> Bool {
        a.status == b.status && a.body == b.body && a.headers.map(\.name) == b.headers.map(\.name)
            && a.headers.map(\.value) == b.headers.map(\.value)
    }
}

/// Why a fetch failed.
public struct HTTPSError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The request had been written when it failed: a POST is not repeated at another address.
    public var afterRequest = false
    /// The server's certificate did not verify for the host (TLS-RPT's sts-webpki-invalid).
    public var certificateRejected = false
    public init(_ description: String, afterRequest: Bool = false, certificateRejected: Bool = false) {
        self.description = description; self.afterRequest = afterRequest; self.certificateRejected = certificateRejected
    }
}

public struct HTTPSClient {
    public var anchors: TLSTrustAnchors
    public var port: UInt16
    public var timeout: Duration
    /// Most body bytes accepted; more is an error, not a truncation.
    public var bodyLimit: Int
    /// Most bytes of the status line and header fields together.
    public var headerLimit = 16384

    public init(anchors: TLSTrustAnchors, port: UInt16 = 443, timeout: Duration, bodyLimit: Int) {
        self.anchors = anchors; self.port = port; self.timeout = timeout; self.bodyLimit = bodyLimit
    }

    /// GET https://HOST/PATH, trying each address of `addresses` in turn (the caller resolves
    /// the host, so that DNS goes through the same resolver as the rest of mail delivery).
    public func get(host: String, path: String, addresses: [IPAddress]) throws(HTTPSError) -> HTTPSResponse {
        try request(Array("GET \(path) HTTP/1.1\r\nHost: \(hostField(host))\r\nUser-Agent: postamt\r\nAccept: text/plain\r\nConnection: close\r\n\r\n".utf8),
                    host: host, addresses: addresses, repeatable: true)
    }

    /// POST `body` as `contentType` to https://HOST/PATH; the next address is tried only when
    /// the request was not yet written (a report is not sent twice).
    public func post(host: String, path: String, addresses: [IPAddress], contentType: String, body: [UInt8]) throws(HTTPSError) -> HTTPSResponse {
        let head = "POST \(path) HTTP/1.1\r\nHost: \(hostField(host))\r\nUser-Agent: postamt\r\nContent-Type: \(contentType)\r\n"
            + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return try request(Array(head.utf8) + body, host: host, addresses: addresses, repeatable: false)
    }

    /// RFC 9110 §7.2: the port belongs in Host when it is not the scheme's default.
    func hostField(_ host: String) -> String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == 443 ? name : "\(name):\(port)"
    }

    func request(_ request: [UInt8], host: String, addresses: [IPAddress], repeatable: Bool) throws(HTTPSError) -> HTTPSResponse {
        guard !addresses.isEmpty else { throw HTTPSError("\(host) has no address") }
        var last = HTTPSError("no address of \(host) answered")
        for address in addresses {
            do {
                return try exchange(request, host: host, address: SocketAddress(address: address, port: port))
            } catch {
                if error.afterRequest && !repeatable { throw error }
                last = error
            }
        }
        throw last
    }

    func exchange(_ request: [UInt8], host: String, address: SocketAddress) throws(HTTPSError) -> HTTPSResponse {
        let deadline = Deadline.after(timeout)
        let plain: PlainStream
        do {
            plain = try PlainStream.connect(to: address, timeout: timeout)
        } catch {
            throw HTTPSError("cannot connect to \(host)[\(address.address)]:\(port): \(error)")
        }
        defer { plain.close() }
        // An IP-literal host is verified against the certificate's IP addresses and sent
        // without SNI (RFC 6066 §3): TLSConnection does both.
        let tls: TLSConnection
        do {
            let context = try TLSClientContext(verification: .peer(anchors))
            tls = try TLSConnection(client: context, serverName: host, over: plain)
        } catch {
            throw HTTPSError("TLS with \(host)[\(address.address)]:\(port) failed: \(error)")
        }
        do {
            tls.timeout = timeout
            try tls.handshake()
        } catch {
            throw HTTPSError("TLS with \(host)[\(address.address)]:\(port) failed: \(error)",
                             certificateRejected: tls.certificateRejection != nil)
        }
        guard tls.peerVerification == .verified else {
            throw HTTPSError("the certificate of \(host) does not verify", certificateRejected: true)
        }
        var received: [UInt8] = []
        do {
            try tls.write(request)
        } catch {
            throw HTTPSError("writing to \(host) failed: \(error)", afterRequest: true)
        }
        do {
            // Read until the peer closes or the body is complete; everything within the deadline.
            while true {
                let left = deadline.remainingMilliseconds
                if left == 0 { throw HTTPSError("\(host) took longer than \(timeout) to answer", afterRequest: true) }
                tls.timeout = .milliseconds(Int64(left))
                let n = try tls.read(appendingTo: &received, max: 16384)
                if n == 0 { break }
                if received.count > headerLimit + bodyLimit + 16384 {
                    throw HTTPSError("the answer of \(host) exceeds \(bodyLimit) bytes", afterRequest: true)
                }
                if let parsed = try? HTTPSClient.parse(received, bodyLimit: bodyLimit, complete: false) { return parsed }
            }
        } catch let error as HTTPSError {
            throw error
        } catch {
            // A peer that closes without close_notify after a complete body is common; parse what came.
            if let parsed = try? HTTPSClient.parse(received, bodyLimit: bodyLimit, complete: true) { return parsed }
            throw HTTPSError("reading from \(host) failed: \(error)", afterRequest: true)
        }
        do {
            return try HTTPSClient.parse(received, bodyLimit: bodyLimit, complete: true)
        } catch {
            throw HTTPSError(error.description, afterRequest: true)
        }
    }

    /// Parses one HTTP/1.1 response. `complete` says the connection has ended (then a body
    /// without Content-Length or chunking ends there). Throws when the response is malformed,
    /// too large, or (when not complete) not yet whole.
    public static func parse(_ bytes: [UInt8], bodyLimit: Int, complete: Bool) throws(HTTPSError) -> HTTPSResponse {
        guard let end = find([13, 10, 13, 10], in: bytes[...]) else {
            throw HTTPSError(complete ? "the answer ended inside its header" : "incomplete")
        }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...599).contains(status) else {
            throw HTTPSError("not an HTTP/1.x status line: \(statusLine.prefix(80))")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw HTTPSError("malformed header line: \(line.prefix(80))")
            }
            headers.append((line[..<colon].lowercased(), String(line[line.index(after: colon)...]).httpTrimmed()))
        }
        let rest = bytes[(end + 4)...]
        let response = { (body: [UInt8]) in HTTPSResponse(status: status, headers: headers, body: body) }
        if let te = headers.first(where: { $0.name == "transfer-encoding" })?.value.lowercased(), te != "identity" {
            guard te == "chunked" else { throw HTTPSError("unsupported transfer-encoding \(te)") }
            var body: [UInt8] = []
            var i = rest.startIndex
            while true {
                guard let lineEnd = find([13, 10], in: rest[i...]) else { throw HTTPSError(complete ? "truncated chunked body" : "incomplete") }
                let sizeText = String(decoding: rest[i..<lineEnd], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(sizeText.httpTrimmed(), radix: 16), size >= 0 else { throw HTTPSError("bad chunk size") }
                guard body.count + size <= bodyLimit else { throw HTTPSError("body exceeds \(bodyLimit) bytes") }
                let start = lineEnd + 2
                if size == 0 { return response(body) }
                guard rest.endIndex >= start + size + 2 else { throw HTTPSError(complete ? "truncated chunked body" : "incomplete") }
                body += rest[start..<(start + size)]
                guard rest[start + size] == 13, rest[start + size + 1] == 10 else { throw HTTPSError("bad chunk end") }
                i = start + size + 2
            }
        }
        if let lengthText = headers.first(where: { $0.name == "content-length" })?.value {
            guard let length = Int(lengthText), length >= 0 else { throw HTTPSError("bad Content-Length \(lengthText)") }
            guard length <= bodyLimit else { throw HTTPSError("body of \(length) bytes exceeds \(bodyLimit) bytes") }
            guard rest.count >= length else { throw HTTPSError(complete ? "body shorter than its Content-Length" : "incomplete") }
            return response(Array(rest.prefix(length)))
        }
        guard complete else { throw HTTPSError("incomplete") }
        guard rest.count <= bodyLimit else { throw HTTPSError("body exceeds \(bodyLimit) bytes") }
        return response(Array(rest))
    }

    static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = haystack.startIndex
        while i + needle.count <= haystack.endIndex {
            if haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
}

extension String {
    func httpTrimmed() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

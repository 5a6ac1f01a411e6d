/// An HTTP/1.1 request parser (RFC 9112) for postamt-webmail: bytes in, requests out, no I/O.
///
/// Strict where leniency has let requests be smuggled past a front end (RFC 9112 §6.1, §6.3,
/// §11.2): a request with both Transfer-Encoding and Content-Length, with two Content-Length
/// fields, with a transfer coding other than exactly "chunked", with whitespace between a field
/// name and its colon, with an obsolete line folding, or with a bare CR or LF is refused, and the
/// connection must then be closed (the parser does not know where the next request starts).
/// Every size is bounded by `HTTPLimits`.

/// Bounds on what one request may hold (postamt.conf(5): webmail_*).
public struct HTTPLimits: Sendable, Equatable {
    /// The request line, CRLF included (414 above it).
    public var requestLineBytes: Int
    /// All header fields together (431 above it).
    public var headerBytes: Int
    /// Number of header fields (431 above it).
    public var headerCount: Int
    /// The decoded body (413 above it).
    public var bodyBytes: Int

    public init(requestLineBytes: Int = 8192, headerBytes: Int = 32768, headerCount: Int = 100, bodyBytes: Int = 10 << 20) {
        self.requestLineBytes = requestLineBytes
        self.headerBytes = headerBytes
        self.headerCount = headerCount
        self.bodyBytes = bodyBytes
    }
}

/// Why a request was refused: the status to answer with, then close the connection.
public struct HTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let reason: String
    public init(_ status: Int, _ reason: String) { self.status = status; self.reason = reason }
    public var description: String { "\(status) \(reason)" }
}

/// One parsed request.
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    /// The request target as sent (origin-form: "/path?query").
    public var target: String
    /// `target` before "?", not decoded.
    public var path: String { String(target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]) }
    /// `target` after "?", not decoded; empty when there is none.
    public var query: String {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        return parts.count > 1 ? String(parts[1]) : ""
    }
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int
    /// Field names as sent; look them up with `header(_:)`.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, target: String, minorVersion: Int = 1, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method; self.target = target; self.minorVersion = minorVersion; self.headers = headers; self.body = body
    }

    /// The first field named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// True when the client lets the connection stay open after this request (RFC 9112 §9.3).
    public var keepAlive: Bool {
        let tokens = (header("Connection") ?? "").lowercased().split(separator: ",").map { $0.trimmingCharacters(in: " \t") }
        if tokens.contains("close") { return false }
        return minorVersion >= 1 || tokens.contains("keep-alive")
    }

    public static func == (a: HTTPRequest, b: HTTPRequest) -> Bool {
        a.method == b.method && a.target == b.target && a.minorVersion == b.minorVersion && a.body == b.body
            && a.headers.map { "\($0.name):\($0.value)" } == b.headers.map { "\($0.name):\($0.value)" }
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s.removeFirst() }
        while let l = s.last, chars.contains(l) { s.removeLast() }
        return String(s)
    }
}

/// Feed it bytes as they arrive; take requests out with `next()`.
public struct HTTPRequestParser: Sendable {
    public let limits: HTTPLimits
    private var buffer: [UInt8] = []
    /// Bytes of `buffer` already consumed.
    private var start = 0
    /// Set after an error: the stream is out of sync for good.
    public private(set) var failed: HTTPError?

    public init(limits: HTTPLimits = HTTPLimits()) { self.limits = limits }

    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        if start > 0 && start >= buffer.count / 2 { buffer.removeFirst(start); start = 0 }
        buffer.append(contentsOf: bytes)
    }

    /// Bytes received and not yet part of a returned request.
    public var pendingCount: Int { buffer.count - start }

    /// The next complete request, nil when more bytes are needed; throws the status to answer
    /// with when the request is malformed or too big (and keeps throwing it).
    public mutating func next() throws(HTTPError) -> HTTPRequest? {
        if let failed { throw failed }
        do {
            guard let (request, consumed) = try parse() else { return nil }
            start += consumed
            return request
        } catch {
            failed = error
            throw error
        }
    }

    private static let CR: UInt8 = 13, LF: UInt8 = 10

    /// Finds the end of the line starting at `from` (the index of its CR); nil when incomplete.
    /// A bare CR or LF is an error (RFC 9112 §2.2 lets us refuse them).
    private func lineEnd(from: Int, limit: Int, tooLong: HTTPError) throws(HTTPError) -> Int? {
        var i = from
        while i < buffer.count {
            let b = buffer[i]
            if b == Self.LF { throw HTTPError(400, "bare LF") }
            if b == Self.CR {
                guard i + 1 < buffer.count else { return nil }
                guard buffer[i + 1] == Self.LF else { throw HTTPError(400, "bare CR") }
                return i
            }
            i += 1
            if i - from + 2 > limit { throw tooLong }
        }
        if buffer.count - from + 2 > limit { throw tooLong }
        return nil
    }

    private static func isTokenByte(_ b: UInt8) -> Bool { MultipartFormData.isTokenByte(b) }

    private func parse() throws(HTTPError) -> (HTTPRequest, Int)? {
        var p = start
        // RFC 9112 §2.2: empty lines before the request line are ignored (at most a few).
        var skipped = 0
        while p + 1 < buffer.count && buffer[p] == Self.CR && buffer[p + 1] == Self.LF && skipped < 4 { p += 2; skipped += 1 }
        guard let lineStop = try lineEnd(from: p, limit: limits.requestLineBytes, tooLong: HTTPError(414, "request line too long")) else { return nil }
        let line = buffer[p..<lineStop]
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(Self.isTokenByte) else { throw HTTPError(400, "malformed request line") }
        let method = String(decoding: parts[0], as: UTF8.self)
        let target = parts[1]
        guard target.first == UInt8(ascii: "/"), target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPError(400, "request target is not origin-form")
        }
        let version = String(decoding: parts[2], as: UTF8.self)
        let minor: Int
        switch version {
        case "HTTP/1.1": minor = 1
        case "HTTP/1.0": minor = 0
        default:
            guard version.hasPrefix("HTTP/") else { throw HTTPError(400, "malformed HTTP version") }
            throw HTTPError(505, "HTTP version not supported")
        }
        p = lineStop + 2

        var headers: [(name: String, value: String)] = []
        let headerStart = p
        while true {
            let remaining = limits.headerBytes - (p - headerStart)
            guard let stop = try lineEnd(from: p, limit: max(2, remaining), tooLong: HTTPError(431, "header section too large")) else { return nil }
            if stop == p { p += 2; break }
            let field = buffer[p..<stop]
            if field.first == UInt8(ascii: " ") || field.first == UInt8(ascii: "\t") {
                throw HTTPError(400, "obsolete line folding")  // RFC 9112 §5.2
            }
            guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else { throw HTTPError(400, "header field without colon") }
            let name = field[field.startIndex..<colon]
            // RFC 9112 §5.1: no whitespace between the field name and the colon (400).
            guard !name.isEmpty, name.allSatisfy(Self.isTokenByte) else { throw HTTPError(400, "malformed header field name") }
            var value = field[(colon + 1)...]
            while let f = value.first, f == 0x20 || f == 0x09 { value = value.dropFirst() }
            while let l = value.last, l == 0x20 || l == 0x09 { value = value.dropLast() }
            guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                throw HTTPError(400, "control character in a header field")
            }
            headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            guard headers.count <= limits.headerCount else { throw HTTPError(431, "too many header fields") }
            p = stop + 2
        }
        var request = HTTPRequest(method: method, target: String(decoding: target, as: UTF8.self), minorVersion: minor, headers: headers)

        func all(_ name: String) -> [String] { headers.filter { $0.name.lowercased() == name }.map(\.value) }
        let hosts = all("host")
        if minor == 1 && hosts.count != 1 { throw HTTPError(400, "HTTP/1.1 needs exactly one Host field") }
        if hosts.count > 1 { throw HTTPError(400, "more than one Host field") }
        let lengths = all("content-length")
        let codings = all("transfer-encoding")
        if !codings.isEmpty {
            // RFC 9112 §6.1: both present is a smuggling attempt; refuse rather than pick one.
            guard lengths.isEmpty else { throw HTTPError(400, "both Transfer-Encoding and Content-Length") }
            guard minor == 1 else { throw HTTPError(400, "Transfer-Encoding in an HTTP/1.0 request") }
            guard codings.count == 1, codings[0].lowercased() == "chunked" else {
                throw HTTPError(501, "transfer coding not supported")
            }
            guard let (body, end) = try chunkedBody(from: p) else { return nil }
            request.body = body
            return (request, end - start)
        }
        var length = 0
        if !lengths.isEmpty {
            guard lengths.count == 1 else { throw HTTPError(400, "more than one Content-Length field") }
            let text = lengths[0]
            guard !text.isEmpty, text.utf8.count <= 12, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(text) else {
                throw HTTPError(400, "malformed Content-Length")
            }
            guard n <= limits.bodyBytes else { throw HTTPError(413, "body too large") }
            length = n
        }
        guard buffer.count - p >= length else { return nil }
        request.body = Array(buffer[p..<(p + length)])
        return (request, p + length - start)
    }

    /// RFC 9112 §7.1: chunk-size [ext] CRLF data CRLF … 0 CRLF [trailers] CRLF. Chunk
    /// extensions are ignored, trailer fields are read and dropped.
    private func chunkedBody(from: Int) throws(HTTPError) -> ([UInt8], Int)? {
        var p = from
        var body: [UInt8] = []
        while true {
            guard let stop = try lineEnd(from: p, limit: 1024, tooLong: HTTPError(400, "chunk size line too long")) else { return nil }
            var sizeText = buffer[p..<stop]
            if let semicolon = sizeText.firstIndex(of: UInt8(ascii: ";")) { sizeText = sizeText[sizeText.startIndex..<semicolon] }
            guard !sizeText.isEmpty, sizeText.count <= 8,
                  sizeText.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }),
                  let size = Int(String(decoding: sizeText, as: UTF8.self), radix: 16) else {
                throw HTTPError(400, "malformed chunk size")
            }
            p = stop + 2
            if size == 0 { break }
            guard body.count + size <= limits.bodyBytes else { throw HTTPError(413, "body too large") }
            guard buffer.count - p >= size + 2 else { return nil }
            body += buffer[p..<(p + size)]
            p += size
            guard buffer[p] == Self.CR && buffer[p + 1] == Self.LF else { throw HTTPError(400, "chunk data not followed by CRLF") }
            p += 2
        }
        // Trailer section, bounded like the header section.
        let trailerStart = p
        while true {
            guard let stop = try lineEnd(from: p, limit: max(2, limits.headerBytes - (p - trailerStart)), tooLong: HTTPError(431, "trailer section too large")) else { return nil }
            if stop == p { p += 2; break }
            p = stop + 2
        }
        return (body, p)
    }
}

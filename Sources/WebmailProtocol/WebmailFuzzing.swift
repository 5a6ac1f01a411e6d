/// Fuzzing entry point: runs `bytes` through the HTTP request parser (fed in uneven chunks), then
/// each request's body through the urlencoded form parser, the multipart/form-data parser (with
/// the request's boundary, or "b" when the first byte is odd), the Cookie lookup and, as text,
/// the HTML sanitizer and the formatted-text writer (FormattedText); the raw bytes go through the sanitizer and the multipart parser too. It
/// must never trap on any input; call it qualified as `WebmailProtocol.fuzz(_:)` (a libFuzzer
/// harness calls it from `LLVMFuzzerTestOneInput`).
///
/// Small limits are used so that the limit paths are exercised by short inputs. Returns a count
/// of what was seen, so the optimiser cannot discard the work.
@discardableResult
public func fuzz(_ bytes: [UInt8]) -> Int {
    let limits = HTTPLimits(requestLineBytes: 256, headerBytes: 1024, headerCount: 16, bodyBytes: 4096)
    let multipartLimits = MultipartLimits(parts: 8, partHeaderBytes: 256, totalBytes: 2048)
    var sanitizer = HTMLSanitizer(allowRemoteImages: bytes.first.map { $0 & 2 == 2 } ?? false)
    sanitizer.outputLimit = 1 << 16
    sanitizer.depthLimit = 16
    var seen = 0
    func bodies(_ body: [UInt8], contentType: String?) {
        if let fields = FormData.parse(body) { seen += fields.count }
        let boundary = contentType.flatMap { MultipartFormData.boundary(contentType: $0) } ?? "b"
        if let parts = try? MultipartFormData.parse(body, boundary: boundary, limits: multipartLimits) {
            seen += parts.count + parts.reduce(0) { $0 + $1.content.count }
        }
        let text = String(decoding: body, as: UTF8.self)
        seen += sanitizer.sanitize(text).utf8.count
        seen += FormattedText.html(from: text).utf8.count
    }
    var parser = HTTPRequestParser(limits: limits)
    var offset = 0
    var chunk = 1
    parsing: while offset < bytes.count {
        let end = min(bytes.count, offset + chunk)
        parser.feed(bytes[offset..<end])
        offset = end
        chunk = chunk % 13 + 1
        while true {
            do {
                guard let request = try parser.next() else { break }
                seen += 1 + request.path.utf8.count + request.query.utf8.count + (request.keepAlive ? 1 : 0)
                _ = FormData.parse(request.query)
                _ = FormData.cookie("__Host-postamt_session", in: request.header("Cookie"))
                bodies(request.body, contentType: request.header("Content-Type"))
                seen += HTTPResponse.html(HTMLEscape.escape(request.target)).serialized(keepAlive: request.keepAlive).count
            } catch {
                seen += HTTPResponse.error(error).serialized(keepAlive: false).count
                break parsing
            }
        }
    }
    bodies(bytes, contentType: nil)
    return seen
}

import Testing
@testable import WebmailProtocol

@Suite struct MultipartFormDataTests {
    static let b = "----WebKitFormBoundaryx7Q2"

    func status(_ text: String, boundary: String = b, limits: MultipartLimits = MultipartLimits()) -> Int? {
        do {
            _ = try MultipartFormData.parse(Array(text.utf8), boundary: boundary, limits: limits)
            return nil
        } catch {
            return error.status
        }
    }

    /// What Chromium sends for a text field, an empty file input and a file.
    @Test func browserForm() throws {
        let body = "--\(Self.b)\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nHällo\r\nthere\r\n"
            + "--\(Self.b)\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n"
            + "--\(Self.b)\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"C:\\\\Users\\\\me\\\\a \\\"b\\\".txt\"\r\nContent-Type: Text/Plain\r\n\r\nline one\r\n\r\n"
            + "--\(Self.b)--\r\nepilogue is ignored"
        let parts = try MultipartFormData.parse(Array(body.utf8), boundary: Self.b)
        #expect(parts.count == 3)
        #expect(parts[0] == FormPart(name: "subject", content: Array("Hällo\r\nthere".utf8)))
        #expect(parts[1].filename == "" && parts[1].content.isEmpty)
        #expect(parts[2].filename == "a \"b\".txt")
        #expect(parts[2].contentType == "text/plain")
        // The CRLF before the delimiter belongs to it; the file's own last line break stays.
        #expect(parts[2].content == Array("line one\r\n".utf8))
    }

    @Test(arguments: [
        ("multipart/form-data; boundary=abc", "abc"),
        ("Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\"", "a b:c"),
        ("multipart/form-data; boundary=----WebKitFormBoundaryx7Q2", "----WebKitFormBoundaryx7Q2"),
    ])
    func boundaryFromContentType(_ field: String, _ expected: String) {
        #expect(MultipartFormData.boundary(contentType: field) == expected)
    }

    @Test(arguments: [
        "multipart/form-data",
        "multipart/mixed; boundary=abc",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"ends in space \"",
        "multipart/form-data; boundary=\"" + String(repeating: "x", count: 71) + "\"",
        "multipart/form-data; boundary=\"bad\u{7F}\"",
        "multipart/form-data; boundary=\"unterminated",
    ])
    func badBoundaries(_ field: String) {
        #expect(MultipartFormData.boundary(contentType: field) == nil)
    }

    @Test func boundaryInsideContentIsNotADelimiter() throws {
        // "--b" not after a CRLF is content. "\r\n--bx" is a delimiter followed by neither padding
        // and CRLF nor "--": the boundary may not occur in content (RFC 2046 §5.1.1), so 400.
        let body = "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx--b y\r\n--b--"
        let parts = try MultipartFormData.parse(Array(body.utf8), boundary: "b")
        #expect(parts.map(\.content) == [Array("x--b y".utf8)])
        #expect(status("--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n--bx\r\n--b--", boundary: "b") == 400)
    }

    @Test func transportPaddingAfterADelimiter() throws {
        let body = "--b  \t\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--b--"
        #expect(try MultipartFormData.parse(Array(body.utf8), boundary: "b").map(\.name) == ["f"])
    }

    @Test func binaryFileContent() throws {
        var body = Array("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n\r\n".utf8)
        let file: [UInt8] = [0, 255, 13, 10, 45, 45, 98, 13, 0xC3]  // contains CRLF "--b" then CR and a byte ≠ LF
        body += file + Array("\r\n--b--\r\n".utf8)
        // "\r\n--b\r" then 0xC3 is a delimiter with garbage after it: refused, not guessed at.
        #expect(throws: HTTPError.self) { try MultipartFormData.parse(body, boundary: "b") }
        var clean = Array("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n\r\n".utf8)
        clean += [0, 255, 13, 10, 0xC3] + Array("\r\n--b--".utf8)
        #expect(try MultipartFormData.parse(clean, boundary: "b")[0].content == [0, 255, 13, 10, 0xC3])
    }

    @Test(arguments: [
        "",                                                                           // empty
        "preamble\r\n--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--b--", // a preamble
        "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv",                   // no close delimiter
        "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--b",            // ends after the boundary
        "--b\nContent-Disposition: form-data; name=\"f\"\n\nv\n--b--",                  // bare LF
        "--b\r\nContent-Disposition: form-data; name=\"f\"\rX: y\r\n\r\nv\r\n--b--",    // bare CR in the header
        "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n x\r\n\r\nv\r\n--b--",    // folding
        "--b\r\nContent-Disposition: form-data\r\n\r\nv\r\n--b--",                      // no name
        "--b\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nv\r\n--b--",           // empty name
        "--b\r\nContent-Disposition: attachment; name=\"f\"\r\n\r\nv\r\n--b--",         // not form-data
        "--b\r\n\r\nv\r\n--b--",                                                        // no disposition
        "--b\r\nContent-Disposition: form-data; name=\"f\"\r\nContent-Disposition: form-data; name=\"g\"\r\n\r\nv\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"f\"; name=\"g\"\r\n\r\nv\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"f\r\n\r\nv\r\n--b--",            // unterminated quote
        "--b\r\nContent-Disposition: form-data; name=\"f\"x\r\n\r\nv\r\n--b--",         // text after the quote
        "--b\r\nContent-Disposition: form-data; name=\"f\"\r\nContent-Type: text\r\n\r\nv\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"f\"\r\nNo colon\r\n\r\nv\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n: empty name\r\n\r\nv\r\n--b--",
        "--b\r\nContent-Disposition: form-data; name=\"f\"",                             // header not ended
        "--bX\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--b--",         // wrong first boundary line
    ])
    func malformedIsRefused(_ body: String) {
        #expect(status(body, boundary: "b") == 400)
    }

    @Test func aFieldThatIsNotUTF8IsRefused() {
        var body = Array("--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n".utf8)
        body += [0xFF, 0xFE] + Array("\r\n--b--".utf8)
        #expect(throws: HTTPError(400, "a form field is not UTF-8")) { try MultipartFormData.parse(body, boundary: "b") }
    }

    @Test func limits() {
        let one = "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n0123456789\r\n"
        let three = one + one + one + "--b--"
        #expect(status(three, boundary: "b", limits: MultipartLimits(parts: 3)) == nil)
        #expect(status(three, boundary: "b", limits: MultipartLimits(parts: 2)) == 413)
        #expect(status(three, boundary: "b", limits: MultipartLimits(totalBytes: 30)) == nil)
        #expect(status(three, boundary: "b", limits: MultipartLimits(totalBytes: 29)) == 413)
        let header = "Content-Disposition: form-data; name=\"f\"\r\n\r\n"
        #expect(status(three, boundary: "b", limits: MultipartLimits(partHeaderBytes: header.utf8.count)) == nil)
        #expect(status(three, boundary: "b", limits: MultipartLimits(partHeaderBytes: header.utf8.count - 1)) == 431)
    }

    @Test func aFormWithoutPartsIsEmpty() throws {
        #expect(try MultipartFormData.parse(Array("--b--\r\n".utf8), boundary: "b").isEmpty)
    }
}

@Suite struct MultipartThroughHTTPTests {
    /// The chunked multipart seed of the fuzz test is a whole, valid request: the HTTP parser
    /// returns it and its body parses into one field.
    @Test func chunkedMultipartRequest() throws {
        var parser = HTTPRequestParser()
        parser.feed(Array(WebmailFuzzTests.seeds[2].utf8))
        let request = try #require(try parser.next())
        let boundary = try #require(MultipartFormData.boundary(contentType: request.header("Content-Type") ?? ""))
        #expect(try MultipartFormData.parse(request.body, boundary: boundary) == [FormPart(name: "f", content: Array("v".utf8))])
    }
}

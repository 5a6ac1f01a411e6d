import Testing
@testable import MailMessage

/// Hostile structures: each must parse within the limits, in time linear in the input (by
/// construction: no test here times anything), without deep recursion.
@Suite struct MIMEBombTests {
    /// The deepest nesting level in a tree, found iteratively.
    private func maxDepth(_ root: MIMEPart) -> Int {
        var deepest = 0
        var stack: [(MIMEPart, Int)] = [(root, 0)]
        while let (part, depth) = stack.popLast() {
            deepest = max(deepest, depth)
            for child in part.children { stack.append((child, depth + 1)) }
            if let inner = part.encapsulatedMessage { stack.append((inner, depth + 1)) }
        }
        return deepest
    }

    @Test func tenThousandNestedMultiparts() throws {
        var text = ""
        for level in 0..<10_000 { text += "Content-Type: multipart/mixed; boundary=b\(level)\r\n\r\n--b\(level)\r\n" }
        text += "Content-Type: text/plain\r\n\r\ndeep\r\n"
        let bytes = Array(text.utf8)
        let message = MIMEMessage(parsing: bytes)
        #expect(message.limitReached)
        #expect(maxDepth(message.root) == 20)
        #expect(message.partCount == 21)
        let deepest = try #require(message.part(at: Array(repeating: 1, count: 20)))
        #expect(deepest.isOpaque)
        #expect(deepest.contentType.boundary == "b20")
        #expect(message.part(at: Array(repeating: 1, count: 21)) == nil)
        // The opaque part still holds all the remaining bytes.
        #expect(deepest.bodyRange.upperBound == bytes.count)
        var structure = message.bodyStructure
        for _ in 0..<20 { structure = structure.parts[0] }
        #expect(structure.type == "application" && structure.subtype == "octet-stream")
        MIMEFuzz.run(bytes)
    }

    @Test func tenThousandNestedMessages() throws {
        let bytes = Array((String(repeating: "Content-Type: message/rfc822\r\n\r\n", count: 10_000) + "Subject: core\r\n\r\nbody").utf8)
        let limits = MIMELimits(maxDepth: 8)
        let message = MIMEMessage(parsing: bytes, limits: limits)
        #expect(message.limitReached)
        #expect(maxDepth(message.root) == 8)
        #expect(message.partCount == 9)
        let structure = message.bodyStructure
        #expect(structure.parts.count == 1 && structure.envelope != nil)
        // [1] is the top-level message's body, [1, 1] the body of the message it holds, …
        #expect(message.part(at: Array(repeating: 1, count: 8))?.isOpaque == false)
        #expect(message.part(at: Array(repeating: 1, count: 9))?.isOpaque == true)
        #expect(message.part(at: Array(repeating: 1, count: 10)) == nil)
    }

    @Test func aMillionParts() throws {
        let body = String(repeating: "--b\r\n\r\nx\r\n", count: 1_000_000)
        let bytes = Array(("Content-Type: multipart/mixed; boundary=b\r\n\r\n" + body + "--b--\r\n").utf8)
        let message = MIMEMessage(parsing: bytes)
        #expect(message.limitReached)
        #expect(message.partCount == 1_000)
        #expect(message.root.children.count == 999)
        // The last part allowed keeps the remaining content, close delimiter included.
        let last = try #require(message.root.children.last)
        #expect(last.range.upperBound == bytes.count)
        #expect(message.root.children[0].bodyRange.count == 1)
        #expect(message.textContents(limit: 10_000).count == 999)
        #expect(message.bodyStructure.parts.count == 999)
    }

    @Test func partLimitAcrossNestedMultiparts() throws {
        // 50 multiparts of 50 parts each, with a limit of 100 parts in all.
        var text = "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
        for i in 0..<50 {
            text += "--outer\r\nContent-Type: multipart/mixed; boundary=in\(i)\r\n\r\n"
            for _ in 0..<50 { text += "--in\(i)\r\n\r\nx\r\n" }
            text += "--in\(i)--\r\n"
        }
        text += "--outer--\r\n"
        let message = MIMEMessage(parsing: Array(text.utf8), limits: MIMELimits(maxParts: 100))
        #expect(message.partCount == 100)
        #expect(message.limitReached)
        var count = 0
        message.root.forEachPart { _ in count += 1 }
        #expect(count == message.partCount)
        _ = message.bodyStructure
    }

    @Test func hundredMegabyteLineInTheBody() throws {
        var bytes = Array("Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n".utf8)
        let headerLength = bytes.count
        bytes += [UInt8](repeating: 0x41, count: 100_000_000)
        let message = MIMEMessage(parsing: bytes)
        #expect(message.root.bodyRange == headerLength..<bytes.count)
        #expect(message.root.bodyLines == 1)
        #expect(message.decodedBody(of: message.root, limit: 1 << 20).count == 1 << 20)
        #expect(message.textContents(limit: 1000).first?.utf8.count == 1000)
    }

    @Test func hundredMegabyteHeaderLine() throws {
        var bytes = Array("Subject: ".utf8)
        bytes += [UInt8](repeating: 0x61, count: 100_000_000)
        bytes += Array("\r\nTo: x@y\r\n\r\nbody".utf8)
        let message = MIMEMessage(parsing: bytes)
        #expect(message.limitReached)
        #expect(message.root.header.fields.count == 1)
        #expect(message.root.header.fields[0].rawValue.count < 102_400)
        #expect(String(decoding: message.bytes[message.root.bodyRange], as: UTF8.self) == "body")
        _ = message.envelope
    }

    @Test func hundredMegabytesWithoutAnyLineEnd() throws {
        let bytes = [UInt8](repeating: 0x2D, count: 100_000_000)     // "-" everywhere
        let message = MIMEMessage(parsing: bytes)
        #expect(message.root.header.fields.isEmpty)
        #expect(message.root.bodyRange == 0..<bytes.count)
        #expect(message.root.bodyLines == 1)
    }
}

@Suite struct MIMEHeaderBombTests {
    // Inputs that make naive header parsers quadratic; these finish only if the work is linear.

    @Test func manyUnterminatedEncodedWords() {
        let value = String(repeating: "=?a?q?a", count: 50_000)
        #expect(EncodedWord.decode(value) == value)
        let spaced = String(repeating: "=?utf-8?q?a ", count: 50_000)
        #expect(EncodedWord.decode(spaced) == spaced)
    }

    @Test func manyColonsAfterAnAddress() {
        let items = MailboxList.parse("a@b" + String(repeating: " :", count: 100_000))
        #expect(items.count == 1)
        let groups = MailboxList.parse(String(repeating: "g:;", count: 100_000))
        #expect(groups.count == MailboxList.maxItems)
    }

    @Test func manyParametersAndSegments() throws {
        var value = "text/plain"
        for i in 0..<20_000 { value += "; p\(i % 999)*\(i % 999)*=%41" }
        let parsed = try #require(ContentType.parse(value))
        #expect(parsed.parameters.count <= 256)
        let html = String(repeating: "<!", count: 50_000) + String(repeating: "<a ", count: 50_000) + String(repeating: "&#", count: 50_000)
        #expect(HTMLText.plainText(from: html).isEmpty)
    }
}

@Suite struct MIMEFuzzTests {
    /// SplitMix64 (TestSupport): a small deterministic generator, so failures reproduce.
    typealias Generator = SplitMix64

    static let pieces: [[UInt8]] = [
        "\r\n", "\n", "--", "--b", "--b--", ":", ";", "=", "?", "\"", "(", ")", "<", ">", "@", ",", " ", "\t",
        "Content-Type: multipart/mixed; boundary=b\r\n", "Content-Type: message/rfc822\r\n",
        "Content-Transfer-Encoding: base64\r\n", "Content-Transfer-Encoding: quoted-printable\r\n",
        "=?utf-8?Q?", "=?koi8-r?B?", "?=", "=C3=", "title*0*=utf-8''%E2", "<script>", "&#x", "From: a <b@c>\r\n",
        "\r\n\r\n", "\u{FF}", "\u{0}",
    ].map { Array($0.utf8) }

    static let limitVariants = [
        MIMELimits(maxDepth: 20, maxParts: 200),
        MIMELimits(maxDepth: 2, maxParts: 5, maxHeaderBytes: 16),
        MIMELimits(maxDepth: 0, maxParts: 0, maxHeaderBytes: 0),
        MIMELimits(maxDepth: -1, maxParts: -1, maxHeaderBytes: -1),
    ]

    @Test func randomStructuredGarbage() {
        var rng = Generator(state: 2026)
        for round in 0..<400 {
            var bytes: [UInt8] = []
            let pieceCount = Int.random(in: 0..<120, using: &rng)
            for _ in 0..<pieceCount {
                if Bool.random(using: &rng) {
                    bytes += MIMEFuzzTests.pieces.randomElement(using: &rng)!
                } else {
                    for _ in 0..<Int.random(in: 1..<8, using: &rng) { bytes.append(UInt8.random(in: 0...255, using: &rng)) }
                }
            }
            MIMEFuzz.run(bytes, limits: MIMEFuzzTests.limitVariants[round % MIMEFuzzTests.limitVariants.count])
        }
    }

    @Test func mutatedRealisticMessage() {
        var rng = Generator(state: 7)
        let original = MIMESamples.realistic
        for _ in 0..<300 {
            var bytes = original
            for _ in 0..<Int.random(in: 1..<12, using: &rng) {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: at)
                default: bytes.insert(contentsOf: MIMEFuzzTests.pieces.randomElement(using: &rng)!, at: at)
                }
            }
            MIMEFuzz.run(bytes)
        }
    }

    @Test func everyTruncationOfTheSamples() {
        for sample in [MIMESamples.realistic, MIMESamples.rfc2046] {
            for end in stride(from: 0, through: sample.count, by: 3) {
                MIMEFuzz.run(Array(sample[..<end]))
            }
        }
        for limits in MIMEFuzzTests.limitVariants {
            MIMEFuzz.run(MIMESamples.realistic, limits: limits)
        }
    }

    @Test func fuzzDigestIsStable() {
        #expect(MIMEFuzz.run(MIMESamples.realistic) == MIMEFuzz.run(MIMESamples.realistic))
        #expect(MIMEFuzz.run(MIMESamples.realistic) > 0)
    }
}

import Testing
@testable import MailNet

/// Feeds `chunks` one by one, collecting events; then signals end of stream.
private func frame(_ chunks: [String], maxLineLength: Int = 10) -> [String] {
    var framer = LineFramer(limits: LineLimits(maxLineLength: maxLineLength))
    var events: [String] = []
    for chunk in chunks {
        framer.append(Array(chunk.utf8))
        while let event = framer.nextLine() { events.append(event.summary) }
    }
    while let event = framer.nextLine(atEndOfStream: true) { events.append(event.summary) }
    return events
}

@Suite struct LineFramerTests {
    @Test(arguments: [
        (["HELO a\r\n"], ["HELO a|crlf"]),
        (["a\nb\n"], ["a|lf", "b|lf"]),
        (["a\rb\r\n"], ["a|cr", "b|crlf"]),
        (["a\r\r\n"], ["a|cr", "|crlf"]),
        (["\r\n\n\r"], ["|crlf", "|lf", "|cr"]),
        (["abc"], ["abc|endOfStream"]),
        (["abc\r"], ["abc|cr"]),
        ([""], []),
        // Split across reads: CR and LF in different chunks stay one CRLF.
        (["HE", "LO\r", "\nQUIT\r\n"], ["HELO|crlf", "QUIT|crlf"]),
        (["a\r", "b"], ["a|cr", "b|endOfStream"]),
        (["x", "", "y\n"], ["xy|lf"]),
    ])
    func terminators(chunks: [String], expected: [String]) {
        #expect(frame(chunks) == expected)
    }

    @Test(arguments: [
        // Exactly at the limit is fine; one over is too long.
        (["0123456789\r\n"], ["0123456789|crlf"]),
        (["0123456789X\r\nok\r\n"], ["tooLong(11)|crlf", "ok|crlf"]),
        // Over-long line arriving in pieces is skipped, then reading goes on normally.
        (["01234567", "89ABCDEF", "GHIJ\nnext\n"], ["tooLong(20)|lf", "next|lf"]),
        // A CR held back at the end of a chunk while skipping still forms CRLF.
        (["0123456789ABC\r", "\nok\n"], ["tooLong(13)|crlf", "ok|lf"]),
        (["0123456789ABCDEF"], ["tooLong(16)|endOfStream"]),
        (["0123456789", "ABCD"], ["tooLong(14)|endOfStream"]),
    ])
    func limits(chunks: [String], expected: [String]) {
        #expect(frame(chunks) == expected)
    }

    @Test func overLongLineIsNotBuffered() {
        var framer = LineFramer(limits: LineLimits(maxLineLength: 100))
        for _ in 0..<1000 {
            framer.append([UInt8](repeating: 0x41, count: 1000))
            #expect(framer.nextLine() == nil)
            #expect(framer.bufferedByteCount <= 1000)
        }
        framer.append(Array("\r\nNOOP\r\n".utf8))
        #expect(framer.nextLine() == .tooLong(length: 1_000_000, terminator: .crlf))
        #expect(framer.nextLine()?.summary == "NOOP|crlf")
    }

    @Test func bufferedBytesAndDiscard() {
        var framer = LineFramer()
        framer.append(Array("STARTTLS\r\nMAIL FROM:<evil>\r\n".utf8))
        #expect(framer.nextLine()?.summary == "STARTTLS|crlf")
        #expect(framer.bufferedByteCount == 18)
        #expect(framer.discardBuffered() == 18)
        #expect(framer.bufferedByteCount == 0)
        #expect(framer.nextLine(atEndOfStream: true) == nil)
        framer.append(Array("EHLO x\r\n".utf8))
        #expect(framer.nextLine()?.summary == "EHLO x|crlf")
    }

    @Test func takeBufferedForLiterals() {
        var framer = LineFramer()
        framer.append(Array("A1 APPEND x {5}\r\nhello\r\nA2 NOOP\r\n".utf8))
        #expect(framer.nextLine()?.summary == "A1 APPEND x {5}|crlf")
        #expect(framer.takeBuffered(upTo: 5) == Array("hello".utf8))
        #expect(framer.nextLine()?.summary == "|crlf")
        #expect(framer.nextLine()?.summary == "A2 NOOP|crlf")
        #expect(framer.takeBuffered(upTo: 10) == [])
    }

    @Test func manyLinesCompactTheBuffer() {
        var framer = LineFramer()
        var count = 0
        for _ in 0..<200 {
            framer.append(Array(String(repeating: "line of text\r\n", count: 100).utf8))
            while case .line = framer.nextLine() { count += 1 }
        }
        #expect(count == 20_000)
        #expect(framer.bufferedByteCount == 0)
    }

    @Test func fuzzRandomInputNeverTraps() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [0x0D, 0x0A, 0x41, 0x2E, 0xFF, 0xFE, 0x00]
        for round in 0..<2000 {
            let length = Int.random(in: 0..<200, using: &generator)
            let bytes = (0..<length).map { _ in
                round % 2 == 0 ? alphabet.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
            }
            _ = LineFramer.fuzz(bytes)
        }
        // Deterministic check of the entry point itself: 3 lines, one of them too long.
        #expect(LineFramer.fuzz(Array("a\r\nbb\nccccccccccccccccccccccccc\r\n".utf8)) == 3)
    }
}

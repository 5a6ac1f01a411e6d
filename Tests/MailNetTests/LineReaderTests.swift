import Glibc
import Testing
@testable import MailNet

@Suite struct LineReaderTests {
    @Test func readsLinesAcrossChunksUntilEndOfStream() throws {
        let stream = ScriptedStream(["EHLO cl", "ient\r\nMAIL FROM:<a@b>\r", "\nRCPT TO:<c@d>\n", "QUIT"])
        let reader = LineReader(stream: stream, limits: LineLimits(maxLineLength: 64))
        var events: [String] = []
        while let event = try reader.readLine() { events.append(event.summary) }
        #expect(events == ["EHLO client|crlf", "MAIL FROM:<a@b>|crlf", "RCPT TO:<c@d>|lf", "QUIT|endOfStream"])
        #expect(try reader.readLine() == nil)
    }

    @Test func startTLSDiscardsPipelinedPlaintext() throws {
        let plain = ScriptedStream(["EHLO x\r\nSTARTTLS\r\nRCPT TO:<injected@example>\r\n"])
        let reader = LineReader(stream: plain)
        #expect(try reader.readLine()?.summary == "EHLO x|crlf")
        #expect(try reader.readLine()?.summary == "STARTTLS|crlf")
        #expect(reader.bufferedByteCount == 28)
        #expect(reader.discardBuffered() == 28)
        reader.stream = ScriptedStream(["EHLO x\r\n"])
        #expect(try reader.readLine()?.summary == "EHLO x|crlf")
        #expect(try reader.readLine() == nil)
    }

    @Test func readBytesUsesBufferFirstThenStream() throws {
        let stream = ScriptedStream(["BDAT 10\r\n0123", "456789", "QUIT\r\n"])
        let reader = LineReader(stream: stream, readSize: 4)
        #expect(try reader.readLine()?.summary == "BDAT 10|crlf")
        #expect(try reader.readBytes(count: 10) == Array("0123456789".utf8))
        #expect(try reader.readLine()?.summary == "QUIT|crlf")
        #expect(try reader.readBytes(count: 3) == [])
    }

    @Test func readAvailableStreamsLargeLiterals() throws {
        let reader = LineReader(stream: ScriptedStream(["x\r\nabc", "defgh"]), readSize: 100)
        #expect(try reader.readLine()?.summary == "x|crlf")
        #expect(try reader.readAvailable(max: 2) == Array("ab".utf8))
        #expect(try reader.readAvailable(max: 100) == Array("c".utf8))
        #expect(try reader.readAvailable(max: 100) == Array("defgh".utf8))
        #expect(try reader.readAvailable(max: 100) == nil)
    }

    @Test func timeoutOfTheStreamSurfaces() throws {
        let (a, b) = makeSocketPair()
        defer { close(b) }
        let stream = try PlainStream(socket: a, timeout: .milliseconds(100))
        let reader = LineReader(stream: stream)
        _ = Glibc.write(b, "partial", 7)
        #expect { try reader.readLine() } throws: { ($0 as? NetError)?.kind == .timedOut }
    }

    @Test func lineTimeoutStopsATricklingPeer() throws {
        let (a, b) = makeSocketPair()
        let stream = try PlainStream(socket: a, timeout: .seconds(2))
        let sender = BackgroundThread { () -> Int in
            defer { close(b) }
            for _ in 0..<16 {
                if send(b, "x", 1, Int32(MSG_NOSIGNAL)) != 1 { break }
                usleep(25_000)
            }
            return 0
        }
        let reader = LineReader(stream: stream)
        reader.lineTimeout = .milliseconds(200)
        let started = ContinuousClock.now
        #expect { try reader.readLine() } throws: { ($0 as? NetError)?.isTimeout == true }
        #expect(ContinuousClock.now - started < .milliseconds(800))
        #expect(stream.timeout == .seconds(2))  // restored
        _ = try sender.value()
    }
}

import Testing
@testable import IMAPProtocol

/// Feeds `input` in chunks of `chunkSize` and collects every event.
func readEvents(_ input: [UInt8], chunkSize: Int = .max, limits: IMAPLimits = IMAPLimits(),
                onEvent: (IMAPReaderEvent, inout IMAPCommandReader) -> Void = { _, _ in }) -> [IMAPReaderEvent] {
    var reader = IMAPCommandReader(limits: limits)
    var events: [IMAPReaderEvent] = []
    var offset = 0
    repeat {
        let end = min(input.count, offset + min(chunkSize, input.count - offset))
        reader.feed(input[offset..<end])
        offset = end
        while let event = reader.nextEvent() {
            events.append(event)
            onEvent(event, &reader)
        }
    } while offset < input.count
    return events
}

func readEvents(_ text: String, chunkSize: Int = .max, limits: IMAPLimits = IMAPLimits()) -> [IMAPReaderEvent] {
    readEvents(Array(text.utf8), chunkSize: chunkSize, limits: limits)
}

func command(_ text: String) -> IMAPReaderEvent { .command(IMAPCommandFrame(text)) }

@Suite struct CommandReaderTests {
    @Test func simpleCommandsAndPipelining() {
        #expect(readEvents("a1 NOOP\r\na2 CAPABILITY\r\n") == [command("a1 NOOP"), command("a2 CAPABILITY")])
    }

    @Test func bareLineFeedAndEmptyLinesAreTolerated() {
        #expect(readEvents("\r\n\r\na1 NOOP\n") == [command("a1 NOOP")])
    }

    @Test func incompleteLineWaits() {
        #expect(readEvents("a1 NOO") == [])
    }

    @Test(arguments: [1, 2, 3, 5, 7, 64, Int.max])
    func synchronisingLiteralAcrossChunks(chunkSize: Int) {
        let input = "A003 APPEND saved {11}\r\nHello\r\nWorld\r\nA004 NOOP\r\n"
        let events = readEvents(input, chunkSize: chunkSize)
        #expect(events == [
            .continuationRequired(tag: "A003"),
            command("A003 APPEND saved {11}\r\nHello\r\nWorld"),
            command("A004 NOOP"),
        ])
    }

    @Test func severalLiteralsInOneCommand() {
        let events = readEvents("a LOGIN {3}\r\nfoo {3+}\r\nbar\r\n")
        #expect(events == [.continuationRequired(tag: "a"), command("a LOGIN {3}\r\nfoo {3+}\r\nbar")])
    }

    @Test func nonSynchronisingLiteralNeedsNoContinuation() {
        #expect(readEvents("a LOGIN {3+}\r\nfoo bar\r\n") == [command("a LOGIN {3+}\r\nfoo bar")])
    }

    @Test func literal8IsFramed() {
        let events = readEvents("a APPEND box ~{3}\r\n\0\u{1}\u{2}\r\n")
        #expect(events == [.continuationRequired(tag: "a"), .command(IMAPCommandFrame(bytes: Array("a APPEND box ~{3}\r\n".utf8) + [0, 1, 2]))])
    }

    @Test func zeroLengthLiteral() {
        #expect(readEvents("a LOGIN {0+}\r\n {0+}\r\n\r\n") == [command("a LOGIN {0+}\r\n {0+}\r\n")])
    }

    @Test func hugeLiteralIsRefusedBeforeData() {
        let events = readEvents("A LOGIN {4294967296}\r\nA2 NOOP\r\n")
        #expect(events == [
            .rejected(tag: "A", .literalTooLarge(size: 4294967296, limit: 64 * 1024, synchronizing: true, isAppend: false)),
            command("A2 NOOP"),
        ])
    }

    @Test func absurdLiteralSizeSaturates() {
        let events = readEvents("A LOGIN {999999999999999999999999999999}\r\n")
        #expect(events == [.rejected(tag: "A", .literalTooLarge(size: .max, limit: 64 * 1024, synchronizing: true, isAppend: false))])
    }

    @Test func appendHasItsOwnLiteralLimit() {
        var limits = IMAPLimits()
        limits.maxLiteralSize = 10
        limits.maxAppendLiteralSize = 100
        #expect(readEvents("a APPEND box {50}\r\n", limits: limits) == [.continuationRequired(tag: "a")])
        let refused = readEvents("a APPEND box {101}\r\n", limits: limits)
        #expect(refused == [.rejected(tag: "a", .literalTooLarge(size: 101, limit: 100, synchronizing: true, isAppend: true))])
        #expect(IMAPReaderRejection.literalTooLarge(size: 101, limit: 100, synchronizing: true, isAppend: true).suggestedResponse.status == .no)
        #expect(readEvents("a LOGIN {11}\r\n", limits: limits) == [.rejected(tag: "a", .literalTooLarge(size: 11, limit: 10, synchronizing: true, isAppend: false))])
    }

    /// RFC 7888 §4: with LITERAL- a non-synchronising literal over 4096 octets is refused; its data
    /// is already on the wire and is skipped, and the next command is read normally.
    @Test func literalMinusRefusesLargeNonSynchronisingLiteralAndSkipsIt() {
        let data = String(repeating: "x", count: 5000)
        let input = "a APPEND box {5000+}\r\n" + data + " more {3+}\r\nabc\r\nb NOOP\r\n"
        for chunkSize in [1, 100, Int.max] {
            let events = readEvents(input, chunkSize: chunkSize)
            #expect(events == [
                .rejected(tag: "a", .literalTooLarge(size: 5000, limit: 4096, synchronizing: false, isAppend: true)),
                command("b NOOP"),
            ])
        }
    }

    @Test func literalPlusLimitIsConfigurable() {
        var limits = IMAPLimits()
        limits.maxNonSynchronizingLiteralSize = limits.maxAppendLiteralSize
        let data = String(repeating: "x", count: 5000)
        let events = readEvents("a APPEND box {5000+}\r\n" + data + "\r\n", limits: limits)
        #expect(events == [command("a APPEND box {5000+}\r\n" + data)])
    }

    @Test func overlongLineIsRefusedAndReaderResynchronises() {
        let line = "a1 LOGIN " + String(repeating: "x", count: 100_000) + "\r\na2 NOOP\r\n"
        for chunkSize in [1000, 70_000, Int.max] {
            let events = readEvents(line, chunkSize: chunkSize)
            #expect(events == [.rejected(tag: "a1", .lineTooLong(limit: 64 * 1024)), command("a2 NOOP")])
        }
    }

    @Test func overlongLineIsNotBuffered() {
        var reader = IMAPCommandReader()
        reader.feed(Array("a1 SEARCH ".utf8))
        #expect(reader.nextEvent() == nil)
        let chunk = [UInt8](repeating: UInt8(ascii: "y"), count: 40_000)
        var events: [IMAPReaderEvent] = []
        for _ in 0..<10 {
            reader.feed(chunk)
            while let event = reader.nextEvent() { events.append(event) }
            #expect(!reader.hasBufferedInput)
        }
        #expect(events == [.rejected(tag: "a1", .lineTooLong(limit: 64 * 1024))])
        reader.feed(Array("\r\na2 NOOP\r\n".utf8))
        #expect(reader.nextEvent() == command("a2 NOOP"))
    }

    @Test func overlongLineEndingInNonSynchronisingLiteralSkipsTheLiteral() {
        var limits = IMAPLimits()
        limits.maxLineLength = 20
        let input = "a1 LOGIN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx {5+}\r\n12345\r\na2 NOOP\r\n"
        #expect(readEvents(input, chunkSize: 3, limits: limits) == [
            .rejected(tag: "a1", .lineTooLong(limit: 20)), command("a2 NOOP"),
        ])
    }

    @Test func lineLimitIsPerLineNotPerCommand() {
        var limits = IMAPLimits()
        limits.maxLineLength = 20
        let input = "a LOGIN {10+}\r\n0123456789 {10+}\r\n0123456789\r\n"
        #expect(readEvents(input, limits: limits) == [command("a LOGIN {10+}\r\n0123456789 {10+}\r\n0123456789")])
    }

    @Test func commandSizeLimitCountsLiterals() {
        var limits = IMAPLimits()
        limits.maxCommandSize = 30
        let events = readEvents("a LOGIN {10}\r\n0123456789 {10}\r\nb NOOP\r\n", limits: limits)
        #expect(events == [
            .continuationRequired(tag: "a"),
            .rejected(tag: "a", .commandTooLarge(limit: 30)),
            command("b NOOP"),
        ])
    }

    @Test func literalCountIsLimited() {
        var limits = IMAPLimits()
        limits.maxLiteralsPerCommand = 2
        let events = readEvents("a X {1+}\r\n1 {1+}\r\n2 {1+}\r\n3\r\nb NOOP\r\n", limits: limits)
        #expect(events == [.rejected(tag: "a", .tooManyLiterals(limit: 2)), command("b NOOP")])
    }

    @Test func authenticationResponsesAreLines() {
        let input = "a AUTHENTICATE PLAIN\r\ndGVzdAB0ZXN0AHRlc3Q=\r\nb NOOP\r\n"
        let events = readEvents(Array(input.utf8)) { event, reader in
            if case .command(let frame) = event, frame.tag == "a" { reader.mode = .authenticationResponse }
            if case .authenticationResponse = event { reader.mode = .command }
        }
        #expect(events == [command("a AUTHENTICATE PLAIN"), .authenticationResponse(Array("dGVzdAB0ZXN0AHRlc3Q=".utf8)), command("b NOOP")])
    }

    @Test func authenticationResponseLineIsNotALiteral() {
        var reader = IMAPCommandReader()
        reader.mode = .authenticationResponse
        reader.feed(Array("{5}\r\n".utf8))
        #expect(reader.nextEvent() == .authenticationResponse(Array("{5}".utf8)))
    }

    @Test func idleEndsWithDone() {
        let input = "a IDLE\r\nnonsense\r\ndone\r\nb NOOP\r\n"
        let events = readEvents(Array(input.utf8)) { event, reader in
            if case .command(let frame) = event, frame.tag == "a" { reader.mode = .idle }
        }
        #expect(events == [command("a IDLE"), .idleUnexpectedLine(Array("nonsense".utf8)), .idleDone, command("b NOOP")])
    }

    @Test func discardBufferedInputDropsPipelinedPlaintext() {
        var reader = IMAPCommandReader()
        reader.feed(Array("a STARTTLS\r\nb LOGIN evil injected\r\n".utf8))
        #expect(reader.nextEvent() == command("a STARTTLS"))
        reader.discardBufferedInput()
        #expect(reader.nextEvent() == nil)
        reader.feed(Array("c NOOP\r\n".utf8))
        #expect(reader.nextEvent() == command("c NOOP"))
    }

    @Test func untaggedRejectionWhenTagIsInvalid() {
        var limits = IMAPLimits()
        limits.maxLineLength = 10
        #expect(readEvents("+bad xxxxxxxxxxxxxxxx\r\n", limits: limits) == [.rejected(tag: nil, .lineTooLong(limit: 10))])
    }

    @Test func feedingBeforeDrainingKeepsEveryByte() {
        var reader = IMAPCommandReader()
        reader.feed(Array("a1 NOOP\r\na2 NO".utf8))
        #expect(reader.nextEvent() == command("a1 NOOP"))
        reader.feed(Array("OP\r\na3 LOGIN {2+}\r\nxy z\r\n".utf8))
        #expect(reader.nextEvent() == command("a2 NOOP"))
        #expect(reader.nextEvent() == command("a3 LOGIN {2+}\r\nxy z"))
        #expect(reader.nextEvent() == nil)
        #expect(!reader.hasBufferedInput)
    }

    @Test func largeAppendIsFramedAndParsedQuickly() throws {
        let size = 8 * 1024 * 1024
        var reader = IMAPCommandReader()
        reader.feed(Array("a APPEND INBOX {\(size)}\r\n".utf8))
        #expect(reader.nextEvent() == .continuationRequired(tag: "a"))
        let chunk = [UInt8](repeating: UInt8(ascii: "m"), count: 64 * 1024)
        var frame: IMAPCommandFrame?
        for _ in 0..<(size / chunk.count) {
            reader.feed(chunk)
            while let event = reader.nextEvent() { if case .command(let complete) = event { frame = complete } }
        }
        #expect(frame == nil)
        reader.feed(Array("\r\n".utf8))
        guard case .command(let complete) = reader.nextEvent() else {
            Issue.record("no command")
            return
        }
        let parsed = try IMAPCommandParser().parse(complete)
        guard case .append(_, let messages) = parsed.kind else {
            Issue.record("not an APPEND")
            return
        }
        #expect(messages.count == 1 && messages[0].data.count == size)
    }

    @Test func trailingLiteralHeaderDetection() {
        func header(_ text: String) -> IMAPCommandReader.LiteralHeader? {
            IMAPCommandReader.trailingLiteralHeader(Array(text.utf8)[...])
        }
        #expect(header("a {5}") == .init(size: 5, synchronizing: true, binary: false))
        #expect(header("a {5+}") == .init(size: 5, synchronizing: false, binary: false))
        #expect(header("a ~{7}") == .init(size: 7, synchronizing: true, binary: true))
        #expect(header("a {}") == nil)
        #expect(header("a {+}") == nil)
        #expect(header("a 5}") == nil)
        #expect(header("}") == nil)
        #expect(header("{1a}") == nil)
    }
}

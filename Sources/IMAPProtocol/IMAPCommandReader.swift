/// One complete client command as it arrived: its lines joined by CRLF with each literal's data
/// inline after its `{n}` header, the final CRLF removed. `IMAPCommandParser` turns it into an
/// `IMAPCommand`.
public struct IMAPCommandFrame: Sendable, Equatable {
    /// The command's bytes.
    public var bytes: [UInt8]

    /// The tag, when the first word is a syntactically valid one (for error replies).
    public var tag: String? { IMAPCommandReader.tag(in: bytes[...]) }

    /// Wraps bytes that already have the frame's shape (tests, the fuzzer).
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Convenience for tests: `IMAPCommandFrame("A1 NOOP")`.
    public init(_ text: String) { self.bytes = Array(text.utf8) }
}

/// Why the reader refused a command before it was complete. The host answers with the tagged
/// reply from `IMAPReaderRejection.suggestedResponse` (or BAD when no tag could be read).
public enum IMAPReaderRejection: Sendable, Equatable {
    /// A line exceeded `IMAPLimits.maxLineLength`; the rest of the line was discarded unread.
    case lineTooLong(limit: Int)
    /// A literal announced more octets than allowed. For a synchronising literal the client
    /// has not sent the data (RFC 3501 §7.5: it waits for "+"); for `{n+}` the reader skips the
    /// announced octets without storing them. `size` saturates at `UInt64.max`.
    case literalTooLarge(size: UInt64, limit: Int, synchronizing: Bool, isAppend: Bool)
    /// The lines and literals of one command together exceeded the command size limit.
    case commandTooLarge(limit: Int)
    /// More literals than `IMAPLimits.maxLiteralsPerCommand` in one command.
    case tooManyLiterals(limit: Int)
}

/// What the reader found in the bytes fed to it so far.
public enum IMAPReaderEvent: Sendable, Equatable {
    /// A complete command: give it to `IMAPCommandParser`.
    case command(IMAPCommandFrame)
    /// The client announced a synchronising literal `{n}` that fits the limits: the host must now
    /// send a continuation request ("+ Ready for literal", RFC 3501 §7.5) before it will send data.
    case continuationRequired(tag: String?)
    /// A command was refused before it was complete; the reader has already arranged to skip
    /// the rest of it. The host sends the tagged reply (or an untagged BAD when `tag` is nil).
    case rejected(tag: String?, IMAPReaderRejection)
    /// A line read in `.authenticationResponse` mode: the client's base64 SASL response, or "*"
    /// to cancel (RFC 3501 §6.2.2). The reader stays in that mode until the host changes it.
    case authenticationResponse([UInt8])
    /// "DONE" ended IDLE (RFC 2177 §3); the reader is back in `.command` mode.
    case idleDone
    /// Some other line arrived during IDLE; the reader stays in `.idle` mode.
    case idleUnexpectedLine([UInt8])
}

/// Frames client input into commands, handling literals, continuation requests, AUTHENTICATE
/// response lines and IDLE's DONE, with every size bounded by `IMAPLimits`.
///
/// Usage: `feed(_:)` the bytes read from the connection, then call `nextEvent()` until it returns
/// nil, acting on each event before asking for the next one (so a mode change after AUTHENTICATE,
/// IDLE or STARTTLS applies to the bytes that follow). Memory held is the unconsumed input plus
/// at most one command within its limits: an over-long line or a refused literal is skipped
/// byte by byte, never stored.
public struct IMAPCommandReader: Sendable {
    /// What the next line means.
    public enum Mode: Sendable, Equatable {
        /// Tagged commands with literals.
        case command
        /// One line per SASL step after AUTHENTICATE (no literals).
        case authenticationResponse
        /// Waiting for "DONE" (RFC 2177).
        case idle
    }

    private enum State: Sendable {
        case line
        case literal(remaining: Int)
        case discardingLine(tail: [UInt8])
        case skippingLiteral(remaining: UInt64)
    }

    /// The limits in force; change them only between commands.
    public var limits: IMAPLimits
    /// How the next line is interpreted. The host sets it after AUTHENTICATE and IDLE commands.
    public var mode: Mode = .command

    private var input: [UInt8] = []
    private var inputIndex = 0
    private var state: State = .line
    private var frame: [UInt8] = []
    private var lineStart = 0
    private var literalCount = 0
    private var commandIsAppend = false
    private var commandTag: String?

    /// A reader with the given limits, in `.command` mode.
    public init(limits: IMAPLimits = IMAPLimits()) {
        self.limits = limits
    }

    /// Appends bytes received from the client.
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        // Drop what was already read, so a host that feeds before draining every event does not
        // make the buffer grow over the connection's lifetime.
        if inputIndex > 0 {
            input.removeSubrange(0..<inputIndex)
            inputIndex = 0
        }
        input.append(contentsOf: bytes)
    }

    /// True while fed bytes wait to be read.
    public var hasBufferedInput: Bool { inputIndex < input.count }

    /// Drops all input not yet read and any partial command. Call after STARTTLS's tagged OK, so
    /// that plaintext pipelined behind it is never treated as protected (RFC 3501 §6.2.1).
    public mutating func discardBufferedInput() {
        input.removeAll()
        inputIndex = 0
        resetCommand()
        state = .line
    }

    /// The input read beyond the last command, handed over and forgotten: after COMPRESS
    /// (RFC 4978 §3) it is compressed data, which the host inflates and feeds again.
    public mutating func takeBufferedInput() -> [UInt8] {
        let rest = Array(input[inputIndex...])
        discardBufferedInput()
        return rest
    }

    /// The next event the buffered input allows, or nil when more input is needed.
    public mutating func nextEvent() -> IMAPReaderEvent? {
        while inputIndex < input.count {
            switch state {
            case .line:
                if let event = readLine() { return event }
            case .literal(let remaining):
                let available = input.count - inputIndex
                let count = min(available, remaining)
                frame.append(contentsOf: input[inputIndex..<(inputIndex + count)])
                inputIndex += count
                if count == remaining {
                    state = .line
                    lineStart = frame.count
                } else {
                    state = .literal(remaining: remaining - count)
                }
            case .discardingLine(var tail):
                let end = input[inputIndex...].firstIndex(of: UInt8(ascii: "\n"))
                let stop = end ?? input.count
                Self.keepTail(&tail, input[inputIndex..<stop])
                if let end {
                    inputIndex = end + 1
                    if tail.last == UInt8(ascii: "\r") { tail.removeLast() }
                    // A non-synchronising literal at the end of a discarded line is on its way:
                    // skip its octets too, then the rest of the command (RFC 7888 §4).
                    if mode == .command, let header = Self.trailingLiteralHeader(tail[...]), !header.synchronizing {
                        state = .skippingLiteral(remaining: header.size)
                    } else {
                        state = .line
                        resetCommand()
                    }
                } else {
                    inputIndex = input.count
                    state = .discardingLine(tail: tail)
                }
            case .skippingLiteral(let remaining):
                let available = UInt64(input.count - inputIndex)
                let count = min(available, remaining)
                inputIndex += Int(count)
                state = count == remaining ? .discardingLine(tail: []) : .skippingLiteral(remaining: remaining - count)
            }
        }
        if inputIndex == input.count && inputIndex > 0 {
            input.removeAll(keepingCapacity: input.capacity <= 64 * 1024)
            inputIndex = 0
        }
        return nil
    }

    // MARK: - Lines

    private mutating func readLine() -> IMAPReaderEvent? {
        let newline = input[inputIndex...].firstIndex(of: UInt8(ascii: "\n"))
        let stop = newline ?? input.count
        let lineLengthSoFar = frame.count - lineStart
        // +1 allows the CR of CRLF, which is stripped below.
        if lineLengthSoFar + (stop - inputIndex) > limits.maxLineLength + 1 {
            return rejectOverlongLine(upTo: stop, newline: newline)
        }
        frame.append(contentsOf: input[inputIndex..<stop])
        guard let newline else {
            inputIndex = input.count
            return nil
        }
        inputIndex = newline + 1
        if frame.count > lineStart && frame.last == UInt8(ascii: "\r") { frame.removeLast() }
        if frame.count - lineStart > limits.maxLineLength {
            guard mode == .command else {
                resetCommand()
                return .rejected(tag: nil, .lineTooLong(limit: limits.maxLineLength))
            }
            if lineStart == 0 { commandTag = Self.tag(in: frame[...]) }
            return rejectRestOfCommand(.lineTooLong(limit: limits.maxLineLength))
        }
        switch mode {
        case .authenticationResponse:
            let line = frame
            resetCommand()
            return .authenticationResponse(line)
        case .idle:
            let line = frame
            resetCommand()
            if line.count == 4 && IMAPGrammar.equalsCaseInsensitive(line[...], "DONE") {
                mode = .command
                return .idleDone
            }
            return .idleUnexpectedLine(line)
        case .command:
            return completeCommandLine()
        }
    }

    private mutating func rejectOverlongLine(upTo stop: Int, newline: Int?) -> IMAPReaderEvent {
        let tag = mode != .command ? nil
            : lineStart == 0 ? Self.tag(in: (frame + input[inputIndex..<min(stop, inputIndex + 64)])[...]) : commandTag
        var tail: [UInt8] = []
        Self.keepTail(&tail, frame[lineStart...])
        Self.keepTail(&tail, input[inputIndex..<stop])
        resetCommand()
        inputIndex = stop
        state = .discardingLine(tail: tail)
        if newline == nil { inputIndex = input.count }
        return .rejected(tag: tag, .lineTooLong(limit: limits.maxLineLength))
    }

    private mutating func completeCommandLine() -> IMAPReaderEvent? {
        if lineStart == 0 {
            if frame.isEmpty { return nil }  // an empty line between commands is ignored
            commandTag = Self.tag(in: frame[...])
            commandIsAppend = Self.commandName(in: frame[...]).map {
                IMAPGrammar.equalsCaseInsensitive($0, "APPEND")
            } ?? false
            // REPLACE and UID REPLACE (RFC 8508) carry a message as APPEND does.
            if !commandIsAppend { commandIsAppend = Self.isReplace(frame[...]) }
        }
        let commandLimit = commandIsAppend ? limits.maxAppendCommandSize : limits.maxCommandSize
        if frame.count > commandLimit {
            return rejectRestOfCommand(.commandTooLarge(limit: commandLimit))
        }
        guard let header = Self.trailingLiteralHeader(frame[lineStart...]) else {
            let complete = IMAPCommandFrame(bytes: frame)
            resetCommand()
            return .command(complete)
        }
        literalCount += 1
        if literalCount > limits.maxLiteralsPerCommand {
            return rejectLiteral(header, .tooManyLiterals(limit: limits.maxLiteralsPerCommand))
        }
        var literalLimit = commandIsAppend ? limits.maxAppendLiteralSize : limits.maxLiteralSize
        if !header.synchronizing { literalLimit = min(literalLimit, limits.maxNonSynchronizingLiteralSize) }
        if header.size > UInt64(literalLimit) {
            return rejectLiteral(header, .literalTooLarge(size: header.size, limit: literalLimit,
                                                          synchronizing: header.synchronizing,
                                                          isAppend: commandIsAppend))
        }
        if UInt64(frame.count) + 2 + header.size > UInt64(commandLimit) {
            return rejectLiteral(header, .commandTooLarge(limit: commandLimit))
        }
        frame.append(contentsOf: [UInt8(ascii: "\r"), UInt8(ascii: "\n")])
        let size = Int(header.size)
        if size == 0 {
            lineStart = frame.count
        } else {
            state = .literal(remaining: size)
        }
        return header.synchronizing ? .continuationRequired(tag: commandTag) : nil
    }

    /// Refuses the command whose current line ends in `header`. A synchronising literal's data is
    /// never sent without our "+", so the command ends here; a non-synchronising one's data is
    /// already on its way and is skipped.
    private mutating func rejectLiteral(_ header: LiteralHeader, _ reason: IMAPReaderRejection) -> IMAPReaderEvent {
        let tag = commandTag
        resetCommand()
        state = header.synchronizing ? .line : .skippingLiteral(remaining: header.size)
        return .rejected(tag: tag, reason)
    }

    private mutating func rejectRestOfCommand(_ reason: IMAPReaderRejection) -> IMAPReaderEvent {
        let tag = commandTag
        let header = Self.trailingLiteralHeader(frame[lineStart...])
        resetCommand()
        if let header, !header.synchronizing {
            state = .skippingLiteral(remaining: header.size)
        } else {
            state = .line
        }
        return .rejected(tag: tag, reason)
    }

    private mutating func resetCommand() {
        frame = []
        lineStart = 0
        literalCount = 0
        commandIsAppend = false
        commandTag = nil
    }

    // MARK: - Lexical helpers shared with the parser

    struct LiteralHeader: Equatable {
        var size: UInt64
        var synchronizing: Bool
        var binary: Bool
    }

    /// `{n}`, `{n+}`, `~{n}` or `~{n+}` at the very end of a line (RFC 3501 §4.3, RFC 7888 §3,
    /// RFC 3516 §4.1). The size saturates rather than overflowing.
    static func trailingLiteralHeader(_ line: ArraySlice<UInt8>) -> LiteralHeader? {
        guard line.last == UInt8(ascii: "}") else { return nil }
        var index = line.endIndex - 1
        var synchronizing = true
        if index > line.startIndex && line[index - 1] == UInt8(ascii: "+") {
            synchronizing = false
            index -= 1
        }
        let digitsEnd = index
        while index > line.startIndex && IMAPGrammar.isDigit(line[index - 1]) { index -= 1 }
        guard index < digitsEnd, index > line.startIndex, line[index - 1] == UInt8(ascii: "{") else { return nil }
        var size: UInt64 = 0
        for digit in line[index..<digitsEnd] {
            let (times10, overflow1) = size.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit - 48))
            if overflow1 || overflow2 { size = .max; break }
            size = sum
        }
        let braceIndex = index - 1
        let binary = braceIndex > line.startIndex && line[braceIndex - 1] == UInt8(ascii: "~")
        return LiteralHeader(size: size, synchronizing: synchronizing, binary: binary)
    }

    /// The tag at the start of a command, if it is a valid one (RFC 9051 §9: `tag`).
    static func tag(in bytes: ArraySlice<UInt8>) -> String? {
        let end = bytes.firstIndex(of: UInt8(ascii: " ")) ?? bytes.endIndex
        let candidate = bytes[bytes.startIndex..<end]
        guard !candidate.isEmpty, candidate.count <= 256,
              candidate.allSatisfy({ IMAPGrammar.isTagChar($0) }) else { return nil }
        return String(decoding: candidate, as: UTF8.self)
    }

    /// `tag REPLACE …` or `tag UID REPLACE …`.
    static func isReplace(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let name = commandName(in: bytes) else { return false }
        if IMAPGrammar.equalsCaseInsensitive(name, "REPLACE") { return true }
        guard IMAPGrammar.equalsCaseInsensitive(name, "UID"), name.endIndex < bytes.endIndex,
              bytes[name.endIndex] == UInt8(ascii: " ") else { return false }
        let rest = bytes[(name.endIndex + 1)...]
        let end = rest.firstIndex(where: { !IMAPGrammar.isAtomChar($0) }) ?? rest.endIndex
        return IMAPGrammar.equalsCaseInsensitive(rest[rest.startIndex..<end], "REPLACE")
    }

    static func commandName(in bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard let space = bytes.firstIndex(of: UInt8(ascii: " ")) else { return nil }
        let rest = bytes[(space + 1)...]
        let end = rest.firstIndex(where: { !IMAPGrammar.isAtomChar($0) }) ?? rest.endIndex
        return rest[rest.startIndex..<end]
    }

    private static func keepTail(_ tail: inout [UInt8], _ bytes: ArraySlice<UInt8>) {
        let keep = 64
        tail.append(contentsOf: bytes.suffix(keep))
        if tail.count > keep { tail.removeFirst(tail.count - keep) }
    }
}

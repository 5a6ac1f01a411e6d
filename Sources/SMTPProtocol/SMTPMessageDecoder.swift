/// Why the content of a message was refused. The engine keeps reading to the real end of the
/// data (or of the BDAT chunk) so the client stays in sync, then replies with an error; the host
/// receives ``SMTPEvent/messageAbort(_:)`` as soon as the problem is seen.
public enum SMTPContentViolation: Sendable, Equatable, CustomStringConvertible {
    /// A CR not followed by LF (RFC 5321 §2.3.8: CR and LF only occur together as CRLF).
    case bareCarriageReturn
    /// An LF not preceded by CR.
    case bareLineFeed
    /// A NUL octet (RFC 5321 §4.5.2 forbids NUL in text; we also refuse it in BDAT chunks).
    case nul
    /// A line longer than ``SMTPLimits/maximumTextLineLength``.
    case lineTooLong
    /// More octets than ``SMTPLimits/maximumMessageSize``.
    case sizeExceeded

    public var description: String {
        switch self {
        case .bareCarriageReturn: return "bare CR"
        case .bareLineFeed: return "bare LF"
        case .nul: return "NUL octet"
        case .lineTooLong: return "line too long"
        case .sizeExceeded: return "message too big"
        }
    }
}

/// Counts line length and message size and records the first violation; shared by both decoders.
struct MessageContentChecker {
    let maximumLineLength: Int
    let maximumSize: UInt64
    /// Octets of the current line so far, without its CRLF.
    var lineLength = 0
    /// Octets so far with CRLF line ends, the measure of RFC 1870.
    var size: UInt64 = 0
    /// The first violation; once set, no more content is produced.
    var violation: SMTPContentViolation?

    mutating func violate(_ kind: SMTPContentViolation) {
        if violation == nil { violation = kind }
    }

    /// One content octet other than CR and LF.
    @inline(__always)
    mutating func content(_ byte: UInt8, into output: inout [UInt8]) {
        guard violation == nil else { return }
        if byte == 0 { violate(.nul); return }
        lineLength += 1
        size += 1
        if lineLength + 2 > maximumLineLength { violate(.lineTooLong); return }
        if size > maximumSize { violate(.sizeExceeded); return }
        output.append(byte)
    }

    /// The content octets from `start` up to the first CR, LF or NUL, or up to where the next
    /// octet would pass a limit, appended at once; returns where it stopped (the caller goes on
    /// octet by octet from there, through `content`, which records any violation). What
    /// `content` would do for each of them, without the per-octet checks and appends.
    @inline(__always)
    mutating func contentRun(_ bytes: ArraySlice<UInt8>, from start: Int, into output: inout [UInt8]) -> Int {
        guard violation == nil else { return start }
        let lineRoom = maximumLineLength - 2 - lineLength
        let sizeRoom = maximumSize > size ? maximumSize - size : 0
        guard lineRoom > 0, sizeRoom > 0 else { return start }
        let limit = start + min(bytes.endIndex - start, lineRoom, Int(clamping: sizeRoom))
        let end = bytes.withUnsafeBufferPointer { buffer -> Int in
            var i = start - bytes.startIndex
            let stop = limit - bytes.startIndex
            while i < stop {
                let byte = buffer[i]
                if byte <= 13 && (byte == 13 || byte == 10 || byte == 0) { break }
                i += 1
            }
            return i + bytes.startIndex
        }
        let count = end - start
        if count > 0 {
            output.append(contentsOf: bytes[start..<end])
            lineLength += count
            size += UInt64(count)
        }
        return end
    }

    /// One CRLF, stored as LF.
    @inline(__always)
    mutating func lineEnd(into output: inout [UInt8]) {
        guard violation == nil else { return }
        lineLength = 0
        size += 2
        if size > maximumSize { violate(.sizeExceeded); return }
        output.append(10)
    }
}

/// Decodes the text after `354`: removes dot-stuffing (RFC 5321 §4.5.2), turns CRLF into LF and
/// finds the end of data, which is only ever `<CRLF>.<CRLF>` (RFC 5321 §4.1.1.4). `<LF>.<LF>`,
/// `<CR>.<CR>`, `<LF>.<CRLF>`, `<CRLF>.<LF>` and friends are not an end; the bare CR or LF they
/// contain fails the message instead (the "SMTP smuggling" defence of Postfix and Sendmail).
/// Works as if byte by byte (a line's ordinary octets in runs), so any split of the input gives
/// the same result and no line is buffered.
struct DotStuffedDataDecoder {
    private enum State {
        /// After CRLF (the CRLF of the DATA command counts: an immediate ".CRLF" is an empty message).
        case lineStart
        /// "." at the start of a line.
        case dotAtLineStart
        /// "." CR at the start of a line: LF now ends the data.
        case dotCarriageReturn
        /// Inside a line.
        case inLine
        /// CR inside a line: LF now ends the line.
        case carriageReturn
    }

    private var state = State.lineStart
    var checker: MessageContentChecker

    init(limits: SMTPLimits) {
        checker = MessageContentChecker(maximumLineLength: limits.maximumTextLineLength,
                                        maximumSize: limits.maximumMessageSize)
    }

    var violation: SMTPContentViolation? { checker.violation }

    /// Decodes from the start of `bytes`; returns how many octets were consumed and whether the
    /// end of data was reached (then the consumed count includes the final ".CRLF").
    mutating func decode(_ bytes: ArraySlice<UInt8>, into output: inout [UInt8]) -> (consumed: Int, finished: Bool) {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if state == .inLine {
                // The octets of a line go out in runs; only CR, LF, NUL and limits stop one.
                index = checker.contentRun(bytes, from: index, into: &output)
                if index == bytes.endIndex { break }
            }
            let byte = bytes[index]
            index += 1
            switch state {
            case .lineStart:
                if byte == UInt8(ascii: ".") { state = .dotAtLineStart } else { inLine(byte, &output) }
            case .dotAtLineStart:
                // A leading dot is removed; ".." → "." (RFC 5321 §4.5.2).
                if byte == 13 { state = .dotCarriageReturn } else { inLine(byte, &output) }
            case .dotCarriageReturn:
                if byte == 10 { return (index - bytes.startIndex, true) }
                checker.violate(.bareCarriageReturn)
                inLine(byte, &output)
            case .inLine:
                inLine(byte, &output)
            case .carriageReturn:
                if byte == 10 {
                    checker.lineEnd(into: &output)
                    state = .lineStart
                } else {
                    checker.violate(.bareCarriageReturn)
                    inLine(byte, &output)
                }
            }
        }
        return (index - bytes.startIndex, false)
    }

    @inline(__always)
    private mutating func inLine(_ byte: UInt8, _ output: inout [UInt8]) {
        switch byte {
        case 13: state = .carriageReturn
        case 10:
            // Not a line end: only CRLF is. The next "." is therefore not at a line start.
            checker.violate(.bareLineFeed)
            state = .inLine
        default:
            checker.content(byte, into: &output)
            state = .inLine
        }
    }
}

/// Decodes BDAT chunk bytes (RFC 3030): no dot-stuffing, CRLF → LF, bare CR / bare LF / NUL
/// refused. A CRLF may straddle two chunks, so a trailing CR waits for the next chunk.
struct ChunkDataDecoder {
    private var pendingCarriageReturn = false
    var checker: MessageContentChecker

    init(limits: SMTPLimits) {
        checker = MessageContentChecker(maximumLineLength: limits.maximumTextLineLength,
                                        maximumSize: limits.maximumMessageSize)
    }

    var violation: SMTPContentViolation? { checker.violation }

    mutating func decode(_ bytes: ArraySlice<UInt8>, into output: inout [UInt8]) {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if !pendingCarriageReturn {
                // A line's ordinary octets in runs, as DotStuffedDataDecoder does.
                index = checker.contentRun(bytes, from: index, into: &output)
                if index == bytes.endIndex { break }
            }
            let byte = bytes[index]
            index += 1
            if pendingCarriageReturn {
                pendingCarriageReturn = false
                if byte == 10 {
                    checker.lineEnd(into: &output)
                    continue
                }
                checker.violate(.bareCarriageReturn)
            }
            switch byte {
            case 13: pendingCarriageReturn = true
            case 10: checker.violate(.bareLineFeed)
            default: checker.content(byte, into: &output)
            }
        }
    }

    /// The last chunk is over: a CR left waiting is a bare CR.
    mutating func finish() {
        if pendingCarriageReturn { checker.violate(.bareCarriageReturn) }
        pendingCarriageReturn = false
    }
}

/// Turns stored message bytes into a POP3 multi-line response body (RFC 1939 §3): every line end
/// (LF, CRLF, or a bare CR) becomes CRLF, a line starting with "." gets another ".", and TOP's
/// line limit is applied (the header, the blank line, then `bodyLineLimit` body lines). Streaming:
/// state is kept across chunks.
struct POP3MessageEncoder {
    private var atLineStart = true
    private var lastWasCarriageReturn = false
    private var inHeader = true
    private var bodyLinesLeft: Int?
    /// True once TOP's limit is reached: further input is ignored.
    private(set) var isComplete = false

    /// `bodyLineLimit` nil for RETR (everything), a number for TOP.
    init(bodyLineLimit: Int?) {
        bodyLinesLeft = bodyLineLimit
    }

    mutating func encode(_ chunk: some Collection<UInt8>, into out: inout [UInt8]) {
        for byte in chunk {
            if isComplete { return }
            if lastWasCarriageReturn {
                lastWasCarriageReturn = false
                if byte == 10 { continue }
            }
            switch byte {
            case 13, 10:
                out += [13, 10]
                lastWasCarriageReturn = byte == 13
                lineEnded()
            default:
                if atLineStart && byte == UInt8(ascii: ".") { out.append(UInt8(ascii: ".")) }
                out.append(byte)
                atLineStart = false
            }
        }
    }

    private mutating func lineEnded() {
        if inHeader {
            // The first empty line ends the header (RFC 5322 §2.1).
            if atLineStart {
                inHeader = false
                if bodyLinesLeft == 0 { isComplete = true }
            }
        } else if let left = bodyLinesLeft {
            bodyLinesLeft = left - 1
            if left - 1 <= 0 { isComplete = true }
        }
        atLineStart = true
    }

    /// Terminates the last line if needed and appends the final ".CRLF".
    mutating func finish(into out: inout [UInt8]) {
        if !atLineStart { out += [13, 10] }
        out += [UInt8(ascii: "."), 13, 10]
        isComplete = true
    }
}

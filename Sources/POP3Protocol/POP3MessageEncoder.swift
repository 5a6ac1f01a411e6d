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

/// Strict base64 for SASL (RFC 4648): canonical padding, no whitespace.
enum POP3Base64 {
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = UInt8(value)
        }
        return table
    }()

    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        let input = Array(text)
        guard input.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < input.count {
            let isLast = index + 4 == input.count
            let pad2 = input[index + 2] == UInt8(ascii: "="), pad3 = input[index + 3] == UInt8(ascii: "=")
            if (pad2 && !pad3) || ((pad2 || pad3) && !isLast) { return nil }
            let c0 = decodeTable[Int(input[index])], c1 = decodeTable[Int(input[index + 1])]
            let c2 = pad2 ? 0 : decodeTable[Int(input[index + 2])], c3 = pad3 ? 0 : decodeTable[Int(input[index + 3])]
            guard c0 != 0xFF, c1 != 0xFF, c2 != 0xFF, c3 != 0xFF else { return nil }
            let group = UInt32(c0) << 18 | UInt32(c1) << 12 | UInt32(c2) << 6 | UInt32(c3)
            out.append(UInt8(group >> 16 & 0xFF))
            if pad2 {
                if group & 0xFFFF != 0 { return nil }
            } else {
                out.append(UInt8(group >> 8 & 0xFF))
                if pad3 {
                    if group & 0xFF != 0 { return nil }
                } else {
                    out.append(UInt8(group & 0xFF))
                }
            }
            index += 4
        }
        return out
    }
}

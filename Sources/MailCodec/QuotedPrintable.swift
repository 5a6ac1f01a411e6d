/// RFC 2045 §6.7 quoted-printable encoding, one line at a time, for the two writers that need it
/// (the webmail's text parts with LF line ends, DKIM's 7-bit downgrade with CRLF). Decoding
/// lives with the MIME reader (MailMessage) and the spam tokeniser's fast path.
public enum QuotedPrintable {
    static let digits = Array("0123456789ABCDEF".utf8)

    /// Appends one line's content (no line end in it) to `out`: printable ASCII except "=" as
    /// it is, space and tab as they are unless they end the line (rule 3), the rest as =XX;
    /// soft breaks (`=` then `lineEnd`) keep every line under 76 characters (rule 5). A "." at
    /// the start of a line is left to the transport's dot-stuffing.
    public static func encodeLine(_ line: some Collection<UInt8>, lineEnd: [UInt8], into out: inout [UInt8]) {
        var lineLength = 0
        var remaining = line.count
        for b in line {
            remaining -= 1
            let last = remaining == 0
            var piece: (UInt8, UInt8, UInt8)? = nil
            if !((b >= 33 && b <= 126 && b != UInt8(ascii: "=")) || ((b == 32 || b == 9) && !last)) {
                piece = (UInt8(ascii: "="), digits[Int(b >> 4)], digits[Int(b & 15)])
            }
            let count = piece == nil ? 1 : 3
            if lineLength + count > 75 {
                out.append(UInt8(ascii: "="))
                out += lineEnd
                lineLength = 0
            }
            if let piece { out += [piece.0, piece.1, piece.2] } else { out.append(b) }
            lineLength += count
        }
    }
}

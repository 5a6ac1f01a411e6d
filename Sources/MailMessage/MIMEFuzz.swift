/// Fuzzing entry point: parses arbitrary bytes as a message and exercises every public path of
/// the MIME layer (tree, sections, decoders, charsets, RFC 2047, addresses, dates, ENVELOPE,
/// BODYSTRUCTURE, HTML text). Must never trap; returns a small digest so work is not optimised
/// away.
public enum MIMEFuzz {
    @discardableResult
    public static func run(_ bytes: [UInt8], limits: MIMELimits = MIMELimits(maxDepth: 20, maxParts: 200)) -> Int {
        let message = MIMEMessage(parsing: bytes, limits: limits)
        var digest = message.partCount
        let cap = 64 * 1024

        message.root.forEachPart { part in
            precondition(part.range.lowerBound >= 0 && part.range.upperBound <= bytes.count)
            precondition(part.headerRange.upperBound == part.bodyRange.lowerBound)
            digest &+= message.decodedBody(of: part, limit: cap).count
            digest &+= message.text(of: part, limit: cap).utf8.count
            for field in part.header.fields.prefix(50) {
                digest &+= field.decodedText.utf8.count
                digest &+= MailboxList.parse(bytes: field.unfoldedBytes).count
                digest &+= MessageDate.parse(field.unfoldedText) == nil ? 0 : 1
                digest &+= ContentType.parse(bytes: field.unfoldedBytes)?.parameters.count ?? 0
                digest &+= EncodedWord.encode(field.unfoldedText).utf8.count
            }
            if part.isMessage { digest &+= MessageEnvelope(header: part.header).to.count }
        }
        // Section paths: walk the first few numbers at each level.
        var frontier: [[Int]] = [[]]
        var visited = 0
        while let path = frontier.popLast(), visited < 500 {
            visited += 1
            for kind in [MIMESectionText.all, .header, .text, .mime] {
                if let r = message.range(of: path, kind) {
                    precondition(r.lowerBound >= 0 && r.upperBound <= bytes.count)
                    digest &+= r.count
                }
            }
            if path.count < 25, message.part(at: path) != nil || path.isEmpty {
                for n in 1...3 { frontier.append(path + [n]) }
            }
        }
        digest &+= BodyStructure(part: message.root).parts.count
        for text in message.textContents(limit: cap) { digest &+= text.utf8.count }
        digest &+= HTMLText.plainText(from: String(decoding: bytes.prefix(cap), as: UTF8.self), limit: cap).utf8.count
        digest &+= Charset.lookup("koi8-r").decode(bytes.prefix(cap)).utf8.count
        digest &+= Charset.lookup("utf-16").decode(bytes.prefix(cap)).utf8.count
        return digest
    }
}

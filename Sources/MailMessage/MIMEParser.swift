import Glibc

/// Builds the MIME tree over a message buffer (RFC 2045, RFC 2046).
///
/// Work is linear in the message size per nesting level: line ends are found with memchr, each
/// multipart scans its own body once for its delimiters, and the nesting depth (hence the
/// recursion) is capped by `MIMELimits.maxDepth`.
struct MIMETreeParser {
    let buffer: UnsafeBufferPointer<UInt8>
    let limits: MIMELimits
    private(set) var partCount = 0
    private(set) var limitReached = false

    init(buffer: UnsafeBufferPointer<UInt8>, limits: MIMELimits) {
        self.buffer = buffer
        self.limits = limits
    }

    // MARK: Lines

    /// The offset of the next LF in `from..<end`, or `end`.
    private func lineFeed(from: Int, end: Int) -> Int {
        guard from < end, let base = buffer.baseAddress else { return end }
        guard let found = memchr(base + from, 0x0A, end - from) else { return end }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    private func countLines(_ range: Range<Int>) -> Int {
        var count = 0
        var i = range.lowerBound
        while i < range.upperBound {
            let lf = lineFeed(from: i, end: range.upperBound)
            if lf == range.upperBound { count += 1; break }    // a last line without LF
            count += 1
            i = lf + 1
        }
        return count
    }

    // MARK: Header

    /// Where the header section starting at `range.lowerBound` ends: the offset of the body.
    /// Mirrors `HeaderSection.parse`: an empty line ends it (and belongs to it); a line that is
    /// neither a field nor a continuation starts the body. Past `maxHeaderBytes` only the empty
    /// line is looked for.
    private func findBodyStart(in range: Range<Int>) -> Int {
        let start = range.lowerBound, end = range.upperBound
        let fieldLimit = start + max(0, limits.maxHeaderBytes)
        var i = start
        var inField = false
        while i < end {
            let lf = lineFeed(from: i, end: end)
            var contentEnd = lf
            if contentEnd > i && buffer[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            let next = lf < end ? lf + 1 : end
            if contentEnd == i { return next }
            if i >= fieldLimit { i = next; continue }
            let first = buffer[i]
            if (first == 0x20 || first == 0x09) && inField { i = next; continue }
            var j = i
            let nameEnd = min(contentEnd, fieldLimit)
            while j < nameEnd && buffer[j] > 0x20 && buffer[j] < 0x7F && buffer[j] != 0x3A { j += 1 }
            var k = j
            while k < nameEnd && (buffer[k] == 0x20 || buffer[k] == 0x09) { k += 1 }
            if j > i && k < nameEnd && buffer[k] == 0x3A {
                inField = true
                i = next
                continue
            }
            return i
        }
        return end
    }

    // MARK: Parts

    mutating func parsePart(range: Range<Int>, depth: Int, defaultType: ContentType, isMessage: Bool, headerless: Bool, forceLeaf: Bool = false) -> MIMEPart {
        partCount += 1
        let bodyStart = headerless ? range.lowerBound : findBodyStart(in: range)
        let headerRange = range.lowerBound..<bodyStart
        let parsedEnd = min(bodyStart, range.lowerBound + max(0, limits.maxHeaderBytes))
        if parsedEnd < bodyStart { limitReached = true }
        let header = HeaderSection.parse(buffer: UnsafeBufferPointer(rebasing: buffer[range.lowerBound..<parsedEnd]))
        let bodyRange = bodyStart..<range.upperBound

        let fields = header.firstFields(named: ["content-type", "content-transfer-encoding", "content-disposition",
                                                "content-language", "content-id", "content-description",
                                                "content-md5", "content-location"])
        var contentType = defaultType
        var hasContentTypeField = false
        if let field = fields["content-type"] {
            if let parsed = ContentType.parse(bytes: field.unfoldedBytes) {
                contentType = parsed
                hasContentTypeField = true
            } else {
                contentType = .textPlainASCII      // RFC 2045 §5.2: invalid → the default
            }
        }
        let encoding = fields["content-transfer-encoding"].map { ContentTransferEncoding(parsing: $0.unfoldedText) } ?? .sevenBit
        func text(_ name: String) -> String? { fields[name.lowercasedASCII()].map { $0.unfoldedText } }
        let disposition = fields["content-disposition"].flatMap { ContentDisposition.parse(bytes: $0.unfoldedBytes) }
        let languages = (text("Content-Language") ?? "")
            .split(separator: ",")
            .map { MIMEHeaderLexer.firstToken(of: String($0)) }
            .filter { !$0.isEmpty }

        var children: [MIMEPart] = []
        var encapsulated: MIMEPart? = nil
        var isOpaque = false
        var preamble: Range<Int>? = nil
        var epilogue: Range<Int>? = nil
        var missingClose = false
        let canDescend = !forceLeaf && depth < limits.effectiveDepth && partCount < limits.maxParts

        if contentType.isMultipart {
            if canDescend {
                let digest = contentType.subtype == "digest"
                let scan = scanMultipart(bodyRange, boundary: contentType.boundary)
                preamble = scan.preamble
                epilogue = scan.epilogue
                missingClose = scan.missingClose
                if scan.childRanges.isEmpty {
                    // No delimiter (or no boundary): the whole body as one headerless text part,
                    // so the tree stays well-formed for BODYSTRUCTURE.
                    children.append(parsePart(range: bodyRange, depth: depth + 1, defaultType: .textPlainASCII, isMessage: false, headerless: true, forceLeaf: true))
                } else {
                    let childDefault: ContentType = digest ? .messageRFC822 : .textPlainASCII
                    let lastEnd = scan.childRanges.last!.upperBound
                    for (index, childRange) in scan.childRanges.enumerated() {
                        if partCount >= limits.maxParts {
                            // A nested part used up the limit: later siblings are not parts
                            // (their bytes stay in this multipart's body).
                            limitReached = true
                            break
                        }
                        if partCount + 1 >= limits.maxParts {
                            // The last part the limit allows takes all remaining content.
                            let lastIsRest = index < scan.childRanges.count - 1 || scan.truncated
                            if lastIsRest { limitReached = true }
                            children.append(parsePart(range: childRange.lowerBound..<lastEnd, depth: depth + 1, defaultType: childDefault, isMessage: false, headerless: false, forceLeaf: true))
                            break
                        }
                        children.append(parsePart(range: childRange, depth: depth + 1, defaultType: childDefault, isMessage: false, headerless: false))
                    }
                }
            } else {
                isOpaque = true
                limitReached = true
            }
        } else if contentType.isEncapsulatedMessage {
            if !encoding.isIdentity {
                isOpaque = true
            } else if canDescend {
                encapsulated = parsePart(range: bodyRange, depth: depth + 1, defaultType: .textPlainASCII, isMessage: true, headerless: false)
            } else {
                isOpaque = true
                limitReached = true
            }
        }

        let lines = contentType.isMultipart && !isOpaque ? 0 : countLines(bodyRange)
        return MIMEPart(header: header, range: range, headerRange: headerRange, bodyRange: bodyRange,
                        contentType: contentType, hasContentTypeField: hasContentTypeField, transferEncoding: encoding,
                        contentID: text("Content-ID"), contentDescription: text("Content-Description"),
                        contentMD5: text("Content-MD5"), contentLocation: text("Content-Location"),
                        disposition: disposition, contentLanguage: languages, bodyLines: lines,
                        children: children, encapsulated: encapsulated, isMessage: isMessage, isOpaque: isOpaque,
                        preambleRange: preamble, epilogueRange: epilogue, missingCloseDelimiter: missingClose)
    }

    // MARK: Multipart bodies

    struct MultipartScan {
        var childRanges: [Range<Int>] = []
        var preamble: Range<Int>? = nil
        var epilogue: Range<Int>? = nil
        var missingClose = true
        /// Scanning stopped early because of the part limit.
        var truncated = false
    }

    /// Finds the delimiter lines of a multipart body (RFC 2046 §5.1.1).
    ///
    /// A delimiter line is "--" boundary at the start of a line, then "--" for the close
    /// delimiter, then optional transport padding (blanks), then the line end. The line break
    /// before a delimiter belongs to it. Text before the first delimiter is the preamble, after
    /// the close delimiter the epilogue; a missing close delimiter ends the last part at the end.
    private func scanMultipart(_ body: Range<Int>, boundary: String?) -> MultipartScan {
        var scan = MultipartScan()
        guard let boundary, !boundary.isEmpty, boundary.utf8.count <= 200 else { return scan }
        let marker = Array(boundary.utf8)
        let maxChildren = max(1, limits.maxParts - partCount)
        var starts: [Int] = []          // offsets where each part's content begins
        var ends: [Int] = []            // for each delimiter after the first: where the previous part ends
        var i = body.lowerBound
        let end = body.upperBound
        while i < end {
            let lf = lineFeed(from: i, end: end)
            if buffer[i] == 0x2D, let isClose = matchDelimiter(at: i, lineEnd: lf, marker: marker) {
                // The CRLF (or LF) before the delimiter belongs to the delimiter.
                var partEnd = i
                if partEnd > body.lowerBound && buffer[partEnd - 1] == 0x0A { partEnd -= 1 }
                if partEnd > body.lowerBound && buffer[partEnd - 1] == 0x0D { partEnd -= 1 }
                let next = lf < end ? lf + 1 : end
                if starts.isEmpty {
                    if partEnd > body.lowerBound || i > body.lowerBound { scan.preamble = body.lowerBound..<partEnd }
                } else {
                    ends.append(max(partEnd, starts[starts.count - 1]))
                }
                if isClose {
                    scan.missingClose = false
                    if next < end { scan.epilogue = next..<end }
                    break
                }
                if starts.count == maxChildren {
                    // The part limit: the last part keeps the rest.
                    ends.removeLast()
                    scan.truncated = true
                    break
                }
                starts.append(next)
            }
            i = lf < end ? lf + 1 : end
        }
        if starts.count > ends.count { ends.append(end) }
        scan.childRanges = zip(starts, ends).map { $0..<max($0, $1) }
        if scan.truncated { scan.missingClose = false }
        return scan
    }

    /// Whether the line at `start` (ending at the LF at `lineEnd`) is a delimiter for `marker`:
    /// nil if not, else whether it is the close delimiter.
    private func matchDelimiter(at start: Int, lineEnd: Int, marker: [UInt8]) -> Bool? {
        let afterMarker = start + 2 + marker.count
        guard afterMarker <= lineEnd, buffer[start + 1] == 0x2D else { return nil }
        for (offset, b) in marker.enumerated() where buffer[start + 2 + offset] != b { return nil }
        var k = afterMarker
        var isClose = false
        if k + 2 <= lineEnd, buffer[k] == 0x2D, buffer[k + 1] == 0x2D {
            isClose = true
            k += 2
        }
        while k < lineEnd && (buffer[k] == 0x20 || buffer[k] == 0x09) { k += 1 }
        if k < lineEnd && buffer[k] == 0x0D { k += 1 }
        return k == lineEnd ? isClose : nil
    }
}

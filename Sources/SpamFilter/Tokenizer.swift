/// Bounds on tokenising one message; reaching one makes the token list partial and says so.
public struct SpamTokenizerLimits: Sendable, Equatable {
    /// Bytes of decoded text scanned over all text parts. Default 256 KiB.
    public var maxScannedTextBytes: Int = 256 << 10
    /// Bytes of one header value scanned. Default 2 KiB.
    public var maxHeaderValueBytes: Int = 2 << 10
    /// Distinct tokens kept per message. Default 8,000.
    public var maxTokens: Int = 8_000
    /// Shortest body word kept (bytes). Default 3.
    public var minWordLength: Int = 3
    /// Longest body word kept as itself (bytes); a longer one becomes a `skip:` token
    /// naming its first byte and length class. Default 20.
    public var maxWordLength: Int = 20

    public init() {}
}

/// Which token families the tokeniser emits. The defaults are what the benchmark chose.
public struct SpamTokenizerOptions: Sendable, Equatable {
    /// Pairs of adjacent body words (`bi:` tokens). Off: they did not help on the benchmark and
    /// made the database four times larger (see `SpamClassifier`).
    public var bigrams: Bool = false
    /// Tokens from header fields other than the named ones, as `name:word`. Off: mixed results
    /// on the benchmark (one split better, one worse).
    public var otherHeaders: Bool = false
    /// Keep the case of body words (otherwise ASCII letters are lower-cased).
    public var keepCase: Bool = false
    /// The decoder's `SpamDocument.structure` observations as tokens (`mime:` shape,
    /// `html:hidden`, `html:tinyfont`, `html:image-only`, `html:tag:…`).
    public var structure: Bool = false
    /// For words that mix letters with look-alike digits or punctuation (`v1agra`, `v.i.a.g.r.a`),
    /// also the word read back (`deob:viagra`).
    public var deobfuscate: Bool = false
    /// Character bigrams (`ng:`) of runs in non-Latin scripts, which do not separate words by spaces.
    public var scriptBigrams: Bool = false

    public init() {}
}

/// The distinct tokens of one message, as 64-bit hashes, with their text kept for explanations.
public struct TokenList: Sendable {
    /// One hash per distinct token, in order of first appearance.
    public private(set) var hashes: [UInt64] = []
    private var storage: [UInt8] = []
    private var ends: [Int32] = []
    private var seen: Set<UInt64> = []
    /// Limits that cut tokenising (or the decoding before it) short.
    public var truncation: Set<SpamTruncation> = []

    public init() {}

    public var count: Int { hashes.count }

    /// The text of the token at `index` (for explanations), e.g. `subject:free`.
    public func text(at index: Int) -> String {
        let start = index == 0 ? 0 : Int(ends[index - 1])
        return String(decoding: storage[start..<Int(ends[index])], as: UTF8.self)
    }

    /// Adds a token given as bytes; returns false when it was already present.
    @discardableResult
    public mutating func insert<C: Collection>(_ token: C) -> Bool where C.Element == UInt8 {
        let hash = TokenHasher.hash(token)
        guard seen.insert(hash).inserted else { return false }
        hashes.append(hash)
        storage.append(contentsOf: token)
        ends.append(Int32(truncatingIfNeeded: storage.count))
        return true
    }

    /// Adds a token given as text.
    @discardableResult
    public mutating func insert(_ token: String) -> Bool { insert(token.utf8) }

    /// All tokens as text, in order (for tests and tools; allocates).
    public var texts: [String] { (0..<count).map(text(at:)) }
}

/// Turns a `SpamDocument` into tokens.
///
/// Body: words split at white space and brackets, ASCII lower-cased, surrounding punctuation
/// stripped; words shorter than `minWordLength` dropped, longer than `maxWordLength` reduced to
/// `skip:<first byte> <length/10*10>`; numbers collapsed to `num:<digits>`; URLs reduced to
/// `url:` host suffixes and path pieces plus `proto:`; e-mail addresses to `email:` name and
/// domain; optionally adjacent words as `bi:a b`. Headers: `subject:` words, address fields as
/// `from:addr:`/`from:dom:`, `received:` hosts and networks, `content-type:`, `charset:`,
/// `cte:`, `filename:`, `x-mailer:` values, one `header:<name>` per field name, and optionally
/// other fields as `name:word`. `X-Spam-*` and `X-Postamt-*` fields (verdicts of filters, ours
/// included) and fields added at delivery (`Delivered-To`, `Status`, …) are ignored: a filter
/// must not learn from its own output, nor from where a training folder came from.
/// Every token is hashed with `TokenHasher`; only the hashes reach the database.
public struct SpamTokenizer: Sendable {
    public var limits: SpamTokenizerLimits
    public var options: SpamTokenizerOptions

    public init(limits: SpamTokenizerLimits = SpamTokenizerLimits(), options: SpamTokenizerOptions = SpamTokenizerOptions()) {
        self.limits = limits
        self.options = options
    }

    public func tokenize(_ document: SpamDocument) -> TokenList {
        var run = TokenizerRun(limits: limits, options: options)
        run.tokens.truncation = document.truncation
        for field in document.headers {
            if run.full { break }
            run.header(name: field.name, value: field.value)
        }
        if options.structure {
            for item in document.structure where !run.full { run.emit(item) }
        }
        var budget = limits.maxScannedTextBytes
        for part in document.textParts {
            if run.full { break }
            var text = part
            text.withUTF8 { bytes in
                let scanned = min(bytes.count, budget)
                if scanned < bytes.count { run.tokens.truncation.insert(.scannedBytes) }
                budget -= scanned
                run.body(bytes[0..<scanned])
            }
            if budget <= 0 { break }
        }
        if run.full { run.tokens.truncation.insert(.tokens) }
        return run.tokens
    }
}

private struct TokenizerRun {
    let limits: SpamTokenizerLimits
    let options: SpamTokenizerOptions
    var tokens = TokenList()
    var scratch: [UInt8] = []
    var previousWord: [UInt8] = []
    var full = false

    init(limits: SpamTokenizerLimits, options: SpamTokenizerOptions) {
        self.limits = limits
        self.options = options
        scratch.reserveCapacity(128)
    }

    // MARK: Emitting

    mutating func emit(_ prefix: String, _ word: some Collection<UInt8>) {
        guard !full else { return }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: prefix.utf8)
        scratch.append(contentsOf: word)
        tokens.insert(scratch)
        if tokens.count >= limits.maxTokens { full = true }
    }

    mutating func emit(_ token: String) { emit(token, EmptyCollection<UInt8>()) }

    // MARK: Body

    mutating func body(_ text: UnsafeBufferPointer<UInt8>.SubSequence) {
        previousWord.removeAll(keepingCapacity: true)
        var i = text.startIndex
        let end = text.endIndex
        while i < end, !full {
            while i < end, isSeparator(text[i]) { i += 1 }
            var j = i
            while j < end, !isSeparator(text[j]) { j += 1 }
            if j > i { word(text[i..<j], prefix: "") }
            i = j
        }
    }

    @inline(__always)
    func isSeparator(_ b: UInt8) -> Bool {
        b <= 32 || b == 60 || b == 62 || b == 40 || b == 41 || b == 91 || b == 93 || b == 123 || b == 125
            || b == 34 || b == 124 || b == 127
    }

    /// One white-space separated chunk of text. `prefix` is "" for the body or e.g. "subject:".
    mutating func word(_ raw: Slice<UnsafeBufferPointer<UInt8>>, prefix: String) {
        var chunk = raw
        if let colon = chunk.firstIndex(of: 58), colon + 2 < chunk.endIndex, chunk[colon + 1] == 47, chunk[colon + 2] == 47 {
            url(scheme: chunk[chunk.startIndex..<colon], rest: chunk[(colon + 3)...])
            previousWord.removeAll(keepingCapacity: true)
            return
        }
        if chunk.count > 4, asciiLower(chunk[chunk.startIndex]) == 119, asciiLower(chunk[chunk.startIndex + 1]) == 119,
           asciiLower(chunk[chunk.startIndex + 2]) == 119, chunk[chunk.startIndex + 3] == 46 {
            url(scheme: chunk[chunk.startIndex..<chunk.startIndex], rest: chunk)
            previousWord.removeAll(keepingCapacity: true)
            return
        }
        while let f = chunk.first, isStrippedPunctuation(f) { chunk = chunk.dropFirst() }
        while let l = chunk.last, isStrippedPunctuation(l) || l == 46 { chunk = chunk.dropLast() }
        if let at = chunk.firstIndex(of: 64), at > chunk.startIndex, at + 3 < chunk.endIndex,
           chunk[(at + 1)...].contains(46) {
            var name = chunk[..<at]
            if name.starts(with: "mailto:".utf8) { name = name.dropFirst(7) }
            emit("\(prefix)email name:", name.map(asciiLower))
            let domain = chunk[(at + 1)...]
            hostParts(domain[..<(domain.firstIndex(of: 63) ?? domain.endIndex)], prefix: "\(prefix)email addr:")
            previousWord.removeAll(keepingCapacity: true)
            return
        }
        if options.scriptBigrams, chunk.contains(where: { $0 >= 0xCD }) { scriptBigrams(chunk, prefix: prefix) }
        if options.deobfuscate, chunk.count >= 4 { deobfuscated(chunk, prefix: prefix) }
        guard chunk.count >= limits.minWordLength else { return }
        var digits = 0
        for b in chunk where b >= 48 && b <= 57 { digits += 1 }
        var lower = options.keepCase ? Array(chunk) : chunk.map(asciiLower)
        if digits > 0, digits * 2 >= chunk.count {
            // Numbers (prices, dates, phone numbers, ids) collapse to their shape.
            lower = Array("num:\(digits)".utf8)
        } else if lower.count > limits.maxWordLength {
            // SpamBayes's "skip" tokens: long words are noise, their length and start are not.
            emit("\(prefix)skip:", [lower[0], 32] + Array(String(lower.count / 10 * 10).utf8))
            previousWord.removeAll(keepingCapacity: true)
            return
        }
        emit(prefix, lower)
        if options.bigrams, prefix.isEmpty {
            if !previousWord.isEmpty {
                emit("bi:", previousWord + [32] + lower)
            }
            previousWord = lower
        }
    }

    /// Character bigrams of the scalars at or above U+0370 (Greek, Cyrillic, CJK, …).
    mutating func scriptBigrams(_ chunk: Slice<UnsafeBufferPointer<UInt8>>, prefix: String) {
        var previous: Unicode.Scalar? = nil
        var emitted = 0
        for scalar in String(decoding: chunk, as: UTF8.self).unicodeScalars {
            guard scalar.value >= 0x370 else { previous = nil; continue }
            if let previous, emitted < 64 {
                emitted += 1
                emit("\(prefix)ng:", Array((String(previous) + String(scalar)).utf8))
            }
            previous = scalar
        }
    }

    /// `v1agra`, `V.I.A.G.R.A`, `fr3e`: look-alike digits mapped to letters, inner punctuation dropped.
    mutating func deobfuscated(_ chunk: Slice<UnsafeBufferPointer<UInt8>>, prefix: String) {
        var letters = 0, tricks = 0
        var word: [UInt8] = []
        for b in chunk {
            switch b {
            case 65...90, 97...122: letters += 1; word.append(b | 0x20)
            case 48: tricks += 1; word.append(111)
            case 49: tricks += 1; word.append(105)
            case 51: tricks += 1; word.append(101)
            case 52, 64: tricks += 1; word.append(97)
            case 53, 36: tricks += 1; word.append(115)
            case 55: tricks += 1; word.append(116)
            case 46, 45, 95, 42, 39, 124: tricks += 1
            default: return
            }
        }
        guard tricks > 0, letters >= 2, letters >= tricks, word.count >= 3, word.count <= limits.maxWordLength else { return }
        emit("\(prefix)deob:", word)
    }

    @inline(__always)
    func isStrippedPunctuation(_ b: UInt8) -> Bool {
        b == 44 || b == 59 || b == 58 || b == 39 || b == 96 || b == 42 || b == 46 || b == 61 || b == 95 || b == 45
            || b == 47 || b == 92 || b == 35 || b == 126
    }

    mutating func url(scheme: Slice<UnsafeBufferPointer<UInt8>>, rest: Slice<UnsafeBufferPointer<UInt8>>) {
        if !scheme.isEmpty { emit("proto:", scheme.map(asciiLower)) }
        var hostEnd = rest.startIndex
        while hostEnd < rest.endIndex, rest[hostEnd] != 47, rest[hostEnd] != 63, rest[hostEnd] != 35 { hostEnd += 1 }
        var host = rest[rest.startIndex..<hostEnd]
        if let at = host.lastIndex(of: 64) { host = host[(at + 1)...] }  // user@host tricks
        if let colon = host.firstIndex(of: 58) { host = host[..<colon] }
        hostParts(host, prefix: "url:")
        // Path pieces, split at the usual URL punctuation.
        var i = hostEnd
        var pieces = 0
        while i < rest.endIndex, pieces < 10 {
            while i < rest.endIndex, isURLSeparator(rest[i]) { i += 1 }
            var j = i
            while j < rest.endIndex, !isURLSeparator(rest[j]) { j += 1 }
            if j - i >= 3 {
                pieces += 1
                if j - i > limits.maxWordLength {
                    emit("url:skip ", Array(String((j - i) / 10 * 10).utf8))
                } else {
                    emit("url:", rest[i..<j].map(asciiLower))
                }
            }
            i = j
        }
    }

    @inline(__always)
    func isURLSeparator(_ b: UInt8) -> Bool {
        b == 47 || b == 63 || b == 38 || b == 61 || b == 46 || b == 35 || b == 95 || b == 45 || b == 43 || b == 37
            || b == 58 || b == 59 || b == 44
    }

    /// A host name: its last three suffixes (`example.com`, `com`, …), or its /16 and /24
    /// networks when it is a dotted IPv4 address.
    mutating func hostParts(_ rawHost: some Collection<UInt8>, prefix: String) {
        var host = rawHost.map(asciiLower)
        while let l = host.last, l == 46 || l == 62 || l == 59 || l == 41 { host.removeLast() }
        while let f = host.first, f == 91 || f == 40 || f == 60 { host.removeFirst() }
        guard !host.isEmpty, host.count <= 255 else { return }
        let labels = host.split(separator: 46, omittingEmptySubsequences: true)
        if labels.count == 4, labels.allSatisfy({ $0.allSatisfy { $0 >= 48 && $0 <= 57 } }) {
            emit("\(prefix)ip ", labels[0] + [46] + labels[1])
            emit("\(prefix)ip ", labels[0] + [46] + labels[1] + [46] + labels[2])
            return
        }
        var suffix: [UInt8] = []
        for (index, label) in labels.reversed().enumerated() where index < 4 {
            suffix = index == 0 ? Array(label) : Array(label) + [46] + suffix
            emit(prefix, suffix)
        }
    }

    // MARK: Headers

    /// Fields added at or after final delivery (by the MDA or the mail reader). The filter runs
    /// before delivery, so learning them would only learn where a training folder came from.
    static let deliveryFields: Set<String> = [
        "delivery-date", "delivered-to", "x-original-to", "envelope-to", "x-uidl", "status", "x-status",
        "x-keywords", "x-uid", "lines", "content-length", "x-evolution", "x-gnus-mail-source",
    ]

    mutating func header(name: String, value: String) {
        let lowerName = name.lowercased()
        if lowerName.hasPrefix("x-spam") || lowerName.hasPrefix("x-postamt") || Self.deliveryFields.contains(lowerName) {
            return
        }
        emit("header:", lowerName.utf8)
        var text = value
        text.withUTF8 { buffer in
            let bytes = buffer[0..<min(buffer.count, limits.maxHeaderValueBytes)]
            switch lowerName {
            case "subject":
                previousWord.removeAll(keepingCapacity: true)
                forEachChunk(bytes) { run, chunk in run.word(chunk, prefix: "subject:") }
            case "from", "to", "cc", "reply-to", "sender", "return-path", "errors-to":
                addressField(bytes, prefix: lowerName == "return-path" || lowerName == "errors-to" ? "return:" : "\(lowerName):")
            case "received":
                received(bytes)
            case "content-type":
                contentType(bytes)
            case "content-transfer-encoding":
                emit("cte:", String(trimmedASCIIWhitespace(String(decoding: bytes, as: UTF8.self))).lowercased().utf8)
            case "content-disposition":
                if let at = findCaseInsensitive(bytes, from: bytes.startIndex, "filename="),
                   let dot = bytes[at...].lastIndex(of: 46) {
                    emit("filename:", bytes[(dot + 1)...].prefix(8).map(asciiLower).filter { isASCIILetter($0) || ($0 >= 48 && $0 <= 57) })
                }
            case "x-mailer", "user-agent":
                emit("x-mailer:", trimmedASCIIWhitespace(String(decoding: bytes, as: UTF8.self)).utf8.prefix(40).map(asciiLower))
            case "message-id":
                if let at = bytes.lastIndex(of: 64) {
                    hostParts(bytes[(at + 1)...], prefix: "message-id:")
                } else {
                    emit("message-id:none")
                }
            case "date":
                break  // different for every message
            default:
                guard options.otherHeaders else { break }
                var count = 0
                forEachChunk(bytes) { run, chunk in
                    guard count < 8 else { return }
                    count += 1
                    run.emit("\(lowerName):", chunk.prefix(30).map(asciiLower))
                }
            }
        }
    }

    mutating func forEachChunk(_ bytes: Slice<UnsafeBufferPointer<UInt8>>,
                               _ body: (inout TokenizerRun, Slice<UnsafeBufferPointer<UInt8>>) -> Void) {
        var i = bytes.startIndex
        while i < bytes.endIndex, !full {
            while i < bytes.endIndex, isSeparator(bytes[i]) || bytes[i] == 44 || bytes[i] == 59 { i += 1 }
            var j = i
            while j < bytes.endIndex, !(isSeparator(bytes[j]) || bytes[j] == 44 || bytes[j] == 59) { j += 1 }
            if j > i { body(&self, bytes[i..<j]) }
            i = j
        }
    }

    mutating func addressField(_ bytes: Slice<UnsafeBufferPointer<UInt8>>, prefix: String) {
        var addresses = 0
        forEachChunk(bytes) { run, chunk in
            if let at = chunk.lastIndex(of: 64) {
                addresses += 1
                guard addresses <= 10 else { return }
                run.emit("\(prefix)addr:", chunk.map(asciiLower))
                run.hostParts(chunk[(at + 1)...], prefix: "\(prefix)dom:")
            } else if chunk.count >= 2, chunk.count <= 30 {
                run.emit("\(prefix)name:", chunk.map(asciiLower))
            }
        }
        if addresses > 10 { emit("\(prefix)many") }
    }

    /// `Received:` fields (RFC 5321 §4.4): the host names and addresses of the relays.
    mutating func received(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) {
        forEachChunk(bytes) { run, chunk in
            var piece = chunk
            while let l = piece.last, l == 46 || l == 59 || l == 58 { piece = piece.dropLast() }
            guard piece.count >= 4, piece.contains(46), !piece.contains(64) else { return }
            let letters = piece.contains(where: isASCIILetter)
            let digitsOnly = piece.allSatisfy { ($0 >= 48 && $0 <= 57) || $0 == 46 }
            if digitsOnly || (letters && piece.allSatisfy { isASCIILetter($0) || ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 }) {
                run.hostParts(piece, prefix: "received:")
            }
        }
    }

    mutating func contentType(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) {
        let media = MediaType.parse(String(decoding: bytes, as: UTF8.self), default: "")
        if !media.type.isEmpty { emit("content-type:", media.type.utf8.prefix(40)) }
        if let charset = media.parameters["charset"] { emit("charset:", charset.lowercased().utf8.prefix(30)) }
        if let name = media.parameters["name"], let dot = name.utf8.lastIndex(of: 46) {
            emit("filename:", name.utf8[name.utf8.index(after: dot)...].prefix(8).map(asciiLower))
        }
    }
}

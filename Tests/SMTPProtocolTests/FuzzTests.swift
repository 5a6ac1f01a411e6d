import Testing
@testable import SMTPProtocol

@Suite("Fuzzing: garbage never traps and replies stay well-formed")
struct FuzzTests {
    /// Bytes that look a bit like SMTP, so the fuzzer reaches deep states.
    static let fragments: [[UInt8]] = [
        "EHLO x\r\n", "HELO x\r\n", "MAIL FROM:<a@b.example>", "MAIL FROM:<>", " SIZE=", "99999999999999999999", " BODY=8BITMIME",
        " SMTPUTF8", "RCPT TO:<alice@example.org>", "RCPT TO:<x@y.example>", " NOTIFY=SUCCESS", "DATA\r\n", "BDAT ", "1", "0",
        " LAST", "\r\n", "\n", "\r", ".", "\0", "RSET\r\n", "NOOP\r\n", "QUIT\r\n", "STARTTLS\r\n", "AUTH PLAIN ",
        "AGFsaWNlAHNlY3JldA==", "AUTH LOGIN\r\n", "dXNlcg==\r\n", "cGFzcw==\r\n", "*\r\n", "AHVzZXIAcGFzcw==", "\"", "<", ">", "@",
        "ü", "\u{7F}", "\t", " ", "VRFY x\r\n", "HELP\r\n", "\r\n.\r\n",
    ].map { Array($0.utf8) }

    @Test("random bytes and random SMTP-ish fragments", arguments: [SMTPServerRole.mx, .submission, .smtps])
    func randomInput(role: SMTPServerRole) {
        var generator = SplitMix64(seed: UInt64(role.rawValue.count) * 7919)
        for round in 0..<300 {
            var input: [UInt8] = []
            let length = Int(generator.next() % 3000)
            while input.count < length {
                if round % 3 == 0 {
                    input.append(UInt8(truncatingIfNeeded: generator.next()))
                } else {
                    input += Self.fragments[Int(generator.next() % UInt64(Self.fragments.count))]
                }
            }
            SMTPFuzzing.runServer(input, role: role)
            SMTPFuzzing.runClient(input)
        }
    }

    @Test("under random input: replies well formed, message events properly nested, logs clean")
    func replyShape() throws {
        var generator = SplitMix64(seed: 99)
        for _ in 0..<200 {
            let policy = TestPolicy()
            let session = SMTPSession(configuration: makeConfiguration(.submission) { $0.allowsPlaintextAuthentication = true },
                                            connection: SMTPConnectionInfo(peerAddress: "192.0.2.1"), policy: policy)
            var sent: [UInt8] = []
            var events = session.start()
            var input: [UInt8] = []
            for _ in 0..<40 { input += Self.fragments[Int(generator.next() % UInt64(Self.fragments.count))] }
            var index = 0
            var inMessage = false
            var closed = false
            while true {
                for event in events {
                    #expect(!closed, "event after close: \(event)")
                    switch event {
                    case .send(let bytes): sent += bytes
                    case .messageBegin:
                        #expect(!inMessage, "messageBegin inside a message")
                        inMessage = true
                    case .messageData(let bytes):
                        #expect(inMessage, "messageData outside a message")
                        #expect(!bytes.contains(13) && !bytes.contains(0), "CR or NUL in message data")
                    case .messageEnd, .messageAbort:
                        #expect(inMessage, "end or abort outside a message")
                        inMessage = false
                    case .log(let text):
                        #expect(!text.unicodeScalars.contains { $0.value < 0x20 }, "control character in log")
                    case .close: closed = true
                    default: break
                    }
                }
                if let end = events.firstIndex(of: .messageEnd) {
                    _ = end
                    events = session.messageQueued(.accepted(queueID: "Q"))
                    continue
                }
                if events.contains(.startTLS) {
                    events = session.tlsEstablished(SMTPTLSInfo(version: "TLSv1.3", cipher: "C"))
                    continue
                }
                if case .authenticate(let request)? = events.first(where: \.isAuthenticate) {
                    events = session.authenticationAnswered(policy.authenticate(request, session: session.facts))
                    continue
                }
                guard index < input.count else { break }
                let end = min(input.count, index + Int(generator.next() % 20) + 1)
                events = session.feed(input[index..<end])
                index = end
            }
            // Every line of server output is "ddd[ -]text" CRLF, with no CR or LF inside.
            var parser = SMTPReplyParser()
            let replies = try parser.feed(sent)
            #expect(!parser.hasIncompleteReply)
            #expect(!replies.isEmpty)
            var line: [UInt8] = []
            for byte in sent {
                line.append(byte)
                if byte == 10 {
                    #expect(line.suffix(2) == [13, 10])
                    #expect(!line.dropLast(2).contains(13))
                    line = []
                }
            }
            #expect(line.isEmpty)
        }
    }

    typealias Decoded = (result: (consumed: Int, finished: Bool), output: [UInt8], violation: SMTPContentViolation?)

    /// `input` through one DotStuffedDataDecoder at once and through another in pieces of the
    /// sizes `pieceSize` gives, up to the end of data; consumed counts are summed over the pieces.
    func decodeWholeAndInPieces(_ input: [UInt8], limits: SMTPLimits, pieceSize: () -> Int) -> (whole: Decoded, pieces: Decoded) {
        var whole = DotStuffedDataDecoder(limits: limits)
        var wholeOutput: [UInt8] = []
        let wholeResult = whole.decode(input[...], into: &wholeOutput)
        var pieces = DotStuffedDataDecoder(limits: limits)
        var piecesOutput: [UInt8] = []
        var consumed = 0
        var finished = false
        var rest = input[...]
        while !rest.isEmpty && !finished {
            let piece = rest.prefix(pieceSize())
            let result = pieces.decode(piece, into: &piecesOutput)
            consumed += result.consumed
            finished = result.finished
            rest = rest.dropFirst(piece.count)
        }
        return ((wholeResult, wholeOutput, whole.violation), ((consumed, finished), piecesOutput, pieces.violation))
    }

    @Test("the DATA decoder gives the same result for every split of hostile input")
    func decoderSplitInvariance() {
        var generator = SplitMix64(seed: 4242)
        let alphabet: [UInt8] = [13, 10, UInt8(ascii: "."), UInt8(ascii: "a"), 0]
        for _ in 0..<300 {
            let input = (0..<Int(generator.next() % 40)).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            let (whole, pieces) = decodeWholeAndInPieces(input, limits: SMTPLimits()) { 1 }
            #expect(pieces.result.consumed == whole.result.consumed && pieces.result.finished == whole.result.finished)
            #expect(pieces.violation == whole.violation)
            if whole.violation == nil { #expect(pieces.output == whole.output) }
            // The end is found only right after CRLF "." CRLF (or ".\r\n" at the very start).
            if whole.result.finished {
                let prefix = Array(input[..<whole.result.consumed])
                #expect(prefix == [46, 13, 10] || prefix.suffix(5) == [13, 10, 46, 13, 10])
            }
            if whole.violation == nil { #expect(!whole.output.contains(13) && !whole.output.contains(0)) }
        }
    }

    @Test("the DATA decoder's runs of line octets stop at the limits, whatever the split")
    func decoderRunsAndLimits() {
        var generator = SplitMix64(seed: 977)
        let alphabet: [UInt8] = [13, 10, UInt8(ascii: "."), 0] + Array(repeating: UInt8(ascii: "a"), count: 12)
        for _ in 0..<500 {
            var limits = SMTPLimits()
            limits.maximumTextLineLength = 3 + Int(generator.next() % 12)
            limits.maximumMessageSize = 1 + generator.next() % 60
            let input = (0..<Int(generator.next() % 80)).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            let (whole, pieces) = decodeWholeAndInPieces(input, limits: limits) { 1 + Int(generator.next() % 7) }
            #expect(pieces.result.consumed == whole.result.consumed && pieces.result.finished == whole.result.finished)
            #expect(pieces.violation == whole.violation)
            #expect(pieces.output == whole.output)
            #expect(UInt64(whole.output.count) <= limits.maximumMessageSize)
        }
    }

    @Test("a line of the longest allowed length passes and one octet more is refused; so is the size")
    func decoderLimitBoundaries() {
        func decode(_ text: String, line: Int, size: UInt64) -> (output: String, violation: SMTPContentViolation?) {
            var limits = SMTPLimits()
            limits.maximumTextLineLength = line
            limits.maximumMessageSize = size
            var decoder = DotStuffedDataDecoder(limits: limits)
            var output: [UInt8] = []
            let result = decoder.decode(Array(text.utf8)[...], into: &output)
            #expect(result.finished)
            return (String(decoding: output, as: UTF8.self), decoder.violation)
        }
        // maximumTextLineLength counts the CRLF: 10 allows 8 octets of text.
        #expect(decode("aaaaaaaa\r\n.\r\n", line: 10, size: 100) == ("aaaaaaaa\n", nil))
        #expect(decode("aaaaaaaaa\r\n.\r\n", line: 10, size: 100).violation == .lineTooLong)
        #expect(decode("..aaaaaaa\r\n.\r\n", line: 10, size: 100) == (".aaaaaaa\n", nil))
        // The size counts CRLF line ends (RFC 1870): 8 + 2 + 3 + 2 = 15.
        #expect(decode("aaaaaaaa\r\naaa\r\n.\r\n", line: 10, size: 15) == ("aaaaaaaa\naaa\n", nil))
        #expect(decode("aaaaaaaa\r\naaaa\r\n.\r\n", line: 10, size: 15).violation == .sizeExceeded)
        #expect(decode("aaaaaaaaaaaa\r\n.\r\n", line: 100, size: 5).violation == .sizeExceeded)
        #expect(decode("aaa\u{0}aaaa\r\n.\r\n", line: 100, size: 100).violation == .nul)
    }
}

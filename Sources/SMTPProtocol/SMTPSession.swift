import MailCodec
/// The SMTP server protocol engine for one connection: bytes in, events out, no I/O.
///
/// Use: `start()` once for the greeting, then `feed(_:)` with every read (plaintext, or the
/// decrypted stream after TLS), and act on the returned events in order. After
/// ``SMTPEvent/messageEnd`` call ``messageQueued(_:)``; after ``SMTPEvent/startTLS``
/// call ``tlsEstablished(_:)``; on EOF call ``endOfInput()``; on an idle timeout ``timedOut()``.
/// Every call returns the events it caused. Policy questions go synchronously to the
/// ``SMTPPolicy``.
///
/// Guarantees: any input, in any split, gives the same replies; memory stays bounded by the
/// limits; DATA ends only at CRLF.CRLF; bytes received before the TLS handshake are never
/// executed after it (RFC 3207 §4.2); no event carries a password or SASL data.
public final class SMTPSession {
    public let configuration: SMTPSessionConfiguration
    let policy: any SMTPPolicy
    var limits: SMTPLimits { configuration.limits }

    /// What the engine knows about the session now.
    public internal(set) var facts: SMTPSessionFacts
    /// The transaction being built by MAIL and RCPT, nil outside a transaction.
    public private(set) var envelope: SMTPEnvelope?

    enum InputState {
        case command
        case saslResponse(SASLExchange)
        /// A line over the limit: dropped up to its LF, then answered once.
        case discardingLongLine
        case data
        /// BDAT bytes still to read; `rejection` is the reply if the chunk is refused.
        case chunk(remaining: UInt64, size: UInt64, last: Bool, rejection: SMTPReply?, countsAsError: Bool)
        case awaitingQueueResult
        /// AUTH's credentials went out in ``SMTPEvent/authenticate(_:)``: nothing more is
        /// read until the host calls ``SMTPSession/authenticationAnswered(_:)``.
        case awaitingAuthentication(user: String, mechanism: String)
        case awaitingTLS
        case closed
    }

    var state = InputState.command
    var input: [UInt8] = []
    var events: [SMTPEvent] = []
    var outgoing: [UInt8] = []
    /// Log "too many recipients" once per transaction, not once per refused RCPT.
    var loggedTooManyRecipients = false
    var started = false

    /// True between messageBegin and messageEnd/messageAbort.
    var messageInProgress = false
    /// Set once a BDAT chunk was taken in this transaction (DATA is then out of order).
    var chunkingStarted = false
    var chunkOctets: UInt64 = 0
    var dataDecoder: DotStuffedDataDecoder
    var chunkDecoder: ChunkDataDecoder

    var errorCount = 0
    var junkCommandCount = 0
    var authenticationFailures = 0

    /// A session for one connection. For ``SMTPServerRole/smtps`` TLS counts as active from the
    /// start, with `connection.tls` as its parameters.
    public init(configuration: SMTPSessionConfiguration, connection: SMTPConnectionInfo, policy: any SMTPPolicy) {
        self.configuration = configuration
        self.policy = policy
        var tls = connection.tls
        if configuration.role == .smtps && tls == nil { tls = SMTPTLSInfo(version: "TLS", cipher: "unknown") }
        facts = SMTPSessionFacts(role: configuration.role, peerAddress: connection.peerAddress,
                                 peerReverseName: connection.peerReverseName,
                                 trustedClient: connection.trustedClient, heloName: nil, usedEHLO: false,
                                 tls: tls, authenticatedUser: nil)
        dataDecoder = DotStuffedDataDecoder(limits: configuration.limits)
        chunkDecoder = ChunkDataDecoder(limits: configuration.limits)
    }

    // MARK: - Host entry points

    /// The 220 greeting (no enhanced code, RFC 2034 §3) and a connect log line. Call once.
    public func start() -> [SMTPEvent] {
        guard !started else { return [] }
        started = true
        log("connect from \(peerDescription) role=\(configuration.role.rawValue)\(facts.tls != nil ? " tls" : "")\(facts.trustedClient ? " trusted" : "")")
        send(SMTPReply(code: 220, lines: ["\(configuration.hostname) \(configuration.greetingText)"]))
        return takeEvents()
    }

    /// Feeds bytes read from the client. Safe with any bytes and any split.
    public func feed(_ bytes: some Collection<UInt8>) -> [SMTPEvent] {
        if !started { _ = start() }
        switch state {
        case .closed, .awaitingTLS:
            // RFC 3207 §4.2: nothing that arrived before the handshake may be acted upon.
            return takeEvents()
        case .awaitingQueueResult, .awaitingAuthentication:
            input.append(contentsOf: bytes)
            if input.count > limits.maximumPendingInput {
                closeWith421("4.7.0", "Too much pipelined input")
            }
            return takeEvents()
        default:
            input.append(contentsOf: bytes)
            processInput()
            return takeEvents()
        }
    }

    /// The queue's answer after ``SMTPEvent/messageEnd``: sends 250/451/554 and goes on
    /// with pipelined input already received.
    public func messageQueued(_ result: SMTPQueueResult) -> [SMTPEvent] {
        guard case .awaitingQueueResult = state else { return takeEvents() }
        state = .command
        switch result {
        case .accepted(let queueID):
            let id = sanitizedToken(queueID, maximumLength: 64)
            // Postfix's line for a received message, which pflogsumm counts; sender, size and
            // recipients follow in the runner's "from=<…>, size=…, nrcpt=…" line.
            log("\(id): client=\(peerDescription)\(facts.authenticatedUser.map { ", sasl_username=\(sanitizedToken($0, maximumLength: 255))" } ?? "")")
            send(SMTPReply(250, "2.0.0", "Ok: queued as \(id)"))
            // Postfix's rule: error and junk counters measure a client that delivers nothing.
            errorCount = 0
            junkCommandCount = 0
        case .temporaryFailure(let text, let code):
            log("message not queued (temporary): \(sanitizedText(text))")
            send(SMTPReply(code: 451, enhancedCode: SMTPEnhancedStatusCode(code).flatMap { $0.statusClass == 4 ? $0 : nil } ?? SMTPEnhancedStatusCode("4.3.0"),
                           lines: [sanitizedText(text)]))
        case .permanentFailure(let text, let code):
            let enhanced = SMTPEnhancedStatusCode(code).flatMap { $0.statusClass == 5 ? $0 : nil } ?? SMTPEnhancedStatusCode("5.7.1")
            // A policy refusal (5.7.x, e.g. the spam filter) is "550 5.7.1" as Postfix answers
            // content rejections; other permanent queue failures stay "554 Transaction failed".
            let replyCode = code.hasPrefix("5.7.") ? 550 : 554
            // Postfix logs a before-queue filter's refusal so, with the first recipient.
            logReject("END-OF-MESSAGE", replyCode, enhanced?.description ?? "5.7.1", sanitizedText(text),
                      sender: envelope?.sender.description ?? "<>", recipient: envelope?.recipients.first?.mailbox)
            send(SMTPReply(code: replyCode, enhancedCode: enhanced, lines: [sanitizedText(text)]))
        }
        resetTransaction(abortReason: nil)
        processInput()
        return takeEvents()
    }

    /// The TLS handshake after ``SMTPEvent/startTLS`` succeeded: the session starts over
    /// (RFC 3207 §4.2: forget the EHLO argument and everything else learnt in plaintext).
    public func tlsEstablished(_ info: SMTPTLSInfo) -> [SMTPEvent] {
        guard case .awaitingTLS = state else { return takeEvents() }
        input.removeAll()
        facts.tls = info
        facts.heloName = nil
        facts.usedEHLO = false
        facts.authenticatedUser = nil
        envelope = nil
        state = .command
        log("tls established version=\(sanitizedToken(info.version, maximumLength: 32)) cipher=\(sanitizedToken(info.cipher, maximumLength: 64))")
        return takeEvents()
    }

    /// The peer closed the connection (or the host gives up): aborts a message in progress.
    public func endOfInput() -> [SMTPEvent] {
        if case .closed = state { return takeEvents() }
        abortMessageIfNeeded(.connectionEnded)
        log("disconnect from \(peerDescription)\(envelope != nil || messageInProgress ? " during transaction" : "")")
        state = .closed
        input.removeAll()
        emit(.close)
        return takeEvents()
    }

    /// The host's idle timer fired: `421 4.4.2` and close.
    public func timedOut() -> [SMTPEvent] {
        if case .closed = state { return takeEvents() }
        closeWith421("4.4.2", "Error: timeout exceeded", message: .connectionEnded)
        return takeEvents()
    }

    /// Bytes held in the input buffer (for tests of the memory bound).
    var bufferedInputCount: Int { input.count }

    /// True once the session has closed (after QUIT, 421, ``endOfInput()``).
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// The Received header for the current message (RFC 5321 §4.4), LF line ends, ready to be
    /// written before the message data. Call it after ``SMTPEvent/messageBegin(_:)``.
    /// The `for` clause names the recipient when there is exactly one.
    public func receivedHeader(queueID: String?, date: String) -> String {
        let recipients = envelope?.recipients ?? []
        return SMTPReceivedHeader(facts: facts, hostname: configuration.hostname,
                                  smtpUTF8: envelope?.smtpUTF8 ?? false, queueID: queueID,
                                  recipient: recipients.count == 1 ? recipients[0].mailbox : nil,
                                  date: date).rendered()
    }

    // MARK: - Input loop

    func processInput() {
        var readIndex = 0
        defer {
            if readIndex >= input.count { input.removeAll(keepingCapacity: input.count <= 65536) } else if readIndex > 0 { input.removeFirst(readIndex) }
        }
        loop: while readIndex < input.count || isChunkComplete {
            switch state {
            case .command, .saslResponse:
                guard let lineFeed = input[readIndex...].firstIndex(of: 10) else {
                    if input.count - readIndex >= limits.maximumCommandLineLength {
                        // Too long already: drop what we have and the rest of the line.
                        state = .discardingLongLine
                        readIndex = input.count
                    }
                    break loop
                }
                let line = input[readIndex..<lineFeed]
                readIndex = lineFeed + 1
                if line.count + 1 > limits.maximumCommandLineLength {
                    lineTooLong()
                } else {
                    handleLine(line)
                }
            case .discardingLongLine:
                guard let lineFeed = input[readIndex...].firstIndex(of: 10) else {
                    readIndex = input.count
                    break loop
                }
                readIndex = lineFeed + 1
                state = .command
                lineTooLong()
            case .data:
                var output: [UInt8] = []
                let hadViolation = dataDecoder.violation != nil
                let (consumed, finished) = dataDecoder.decode(input[readIndex...], into: &output)
                readIndex += consumed
                if let violation = dataDecoder.violation {
                    if !hadViolation { abortMessageIfNeeded(.content(violation)) }
                } else if !output.isEmpty {
                    emit(.messageData(output))
                }
                if finished { finishData() }
            case .chunk(let remaining, let size, let last, let rejection, let countsAsError):
                let available = UInt64(input.count - readIndex)
                let take = Int(min(remaining, available))
                if rejection == nil && messageInProgress {
                    var output: [UInt8] = []
                    let hadViolation = chunkDecoder.violation != nil
                    chunkDecoder.decode(input[readIndex..<(readIndex + take)], into: &output)
                    if let violation = chunkDecoder.violation {
                        if !hadViolation { abortMessageIfNeeded(.content(violation)) }
                    } else if !output.isEmpty {
                        emit(.messageData(output))
                    }
                }
                readIndex += take
                let left = remaining - UInt64(take)
                state = .chunk(remaining: left, size: size, last: last, rejection: rejection, countsAsError: countsAsError)
                if left == 0 {
                    finishChunk(size: size, last: last, rejection: rejection, countsAsError: countsAsError)
                } else {
                    break loop
                }
            case .awaitingQueueResult, .awaitingAuthentication, .awaitingTLS, .closed:
                break loop
            }
            if case .awaitingTLS = state {
                // RFC 3207 §4.2: discard pipelined plaintext after STARTTLS.
                readIndex = input.count
                break loop
            }
            if case .closed = state {
                readIndex = input.count
                break loop
            }
        }
    }

    /// `BDAT 0` needs no bytes to complete.
    var isChunkComplete: Bool {
        if case .chunk(let remaining, _, _, _, _) = state { return remaining == 0 }
        return false
    }

    func lineTooLong() {
        if case .saslResponse = state { log("auth aborted: response line too long") }
        state = .command
        replyError(500, "5.5.6", "Line too long (limit \(limits.maximumCommandLineLength) octets)", logText: "line too long")
    }

    /// One line up to (not including) its LF.
    func handleLine(_ rawLine: ArraySlice<UInt8>) {
        // RFC 5321 §2.3.8: lines end with CRLF, and CR or LF never appear alone.
        guard rawLine.last == 13 else {
            state = .command
            replyError(500, "5.5.2", "Syntax error: line must end with CRLF, not a bare LF", logText: "bare LF in command line")
            return
        }
        let line = rawLine.dropLast()
        if line.contains(13) || line.contains(0) {
            state = .command
            replyError(500, "5.5.2", "Syntax error: bare CR or NUL in command line", logText: "bare CR or NUL in command line")
            return
        }
        if case .saslResponse(var exchange) = state {
            state = .command
            handleSASLStep(exchange.respond(line), exchange: exchange)
            return
        }
        handleCommand(line)
    }

    // MARK: - Commands

    func handleCommand(_ line: ArraySlice<UInt8>) {
        let space = line.firstIndex(of: UInt8(ascii: " ")) ?? line.endIndex
        let verb = String(decoding: line[line.startIndex..<space].prefix(16).map(asciiUppercased), as: UTF8.self)
        let argument = space < line.endIndex ? line[(space + 1)...] : line[line.endIndex...]
        switch verb {
        case "EHLO": handleHello(argument, extended: true)
        case "HELO": handleHello(argument, extended: false)
        case "MAIL": handleMail(argument)
        case "RCPT": handleRecipient(argument)
        case "DATA": handleData(argument)
        case "BDAT": handleChunk(argument)
        case "RSET":
            guard countJunkCommand() else { return }
            guard argument.isEmpty else { return syntaxError("Syntax: RSET") }
            resetTransaction(abortReason: .transactionReset)
            send(SMTPReply(250, "2.0.0", "Ok"))
        case "NOOP":
            // RFC 5321 §4.1.1.9: NOOP may carry a string, which is ignored.
            guard countJunkCommand() else { return }
            send(SMTPReply(250, "2.0.0", "Ok"))
        case "QUIT":
            abortMessageIfNeeded(.connectionEnded)
            send(SMTPReply(221, "2.0.0", "\(configuration.hostname) closing connection"))
            log("disconnect from \(peerDescription) after QUIT")
            close()
        case "HELP":
            guard countJunkCommand() else { return }
            send(SMTPReply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH"))
        case "VRFY":
            // Never confirm or deny a user: no enumeration (RFC 5321 §3.5.3 permits 252).
            guard countJunkCommand() else { return }
            guard !argument.isEmpty else { return syntaxError("Syntax: VRFY address") }
            send(SMTPReply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"))
        case "EXPN":
            guard countJunkCommand() else { return }
            switch configuration.expnReply {
            case .notImplemented:
                replyError(502, "5.5.1", "EXPN not available", logText: "EXPN refused")
            case .cannotVerify:
                send(SMTPReply(252, "2.5.0", "Cannot EXPN, but will accept message and attempt delivery"))
            }
        case "STARTTLS": handleStartTLS(argument)
        case "AUTH": handleAuth(argument)
        case "GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS":
            // A web client or a cross-protocol attack: do not play along (Postfix does the same).
            log("refused: HTTP command \(verb) from \(peerDescription)")
            closeWith421("4.7.0", "Error: this is an SMTP server")
        default:
            // Name the verb only if it looks like one: a misplaced SASL line must not reach the log.
            let looksLikeVerb = (1...10).contains(verb.utf8.count) && verb.utf8.allSatisfy { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
            replyError(500, "5.5.1", "Command unrecognized", logText: looksLikeVerb ? "unknown command \(verb)" : "unknown command")
        }
    }

    func handleHello(_ argument: ArraySlice<UInt8>, extended: Bool) {
        guard countJunkCommand() else { return }
        let verb = extended ? "EHLO" : "HELO"
        let name = argument.split(separator: UInt8(ascii: " ")).first ?? []
        guard !name.isEmpty else { return syntaxError("Syntax: \(verb) hostname") }
        guard name.count <= 255, name.allSatisfy(isHeloNameByte) else {
            return replyError(501, "5.5.2", "Invalid \(verb) hostname", logText: "invalid \(verb) name")
        }
        // RFC 5321 §4.1.4: EHLO/HELO in a session resets like RSET.
        resetTransaction(abortReason: .transactionReset)
        let heloName = String(decoding: name, as: UTF8.self)
        facts.heloName = heloName
        facts.usedEHLO = extended
        log("\(verb.lowercased()) \(heloName) from \(peerDescription)")
        guard extended else {
            send(SMTPReply(code: 250, lines: [configuration.hostname]))
            return
        }
        var lines = [configuration.hostname, "PIPELINING", "SIZE \(limits.maximumMessageSize)", "8BITMIME",
                     "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "DSN"]
        if configuration.startTLSAvailable && facts.tls == nil { lines.append("STARTTLS") }
        // RFC 8689 §4.1: REQUIRETLS is offered only once the session is TLS.
        if facts.tls != nil { lines.append("REQUIRETLS") }
        if authenticationAllowedNow { lines.append("AUTH PLAIN LOGIN") }
        send(SMTPReply(code: 250, lines: lines))
    }

    var authenticationAllowedNow: Bool {
        configuration.offersAuthentication && (facts.tls != nil || configuration.allowsPlaintextAuthentication)
    }

    var relayAllowed: Bool { facts.trustedClient || facts.authenticatedUser != nil }

    func handleMail(_ argument: ArraySlice<UInt8>) {
        guard facts.heloName != nil else { return badSequence("Send HELO/EHLO first") }
        guard envelope == nil else { return badSequence("Sender already specified") }
        if configuration.requiresAuthentication && !relayAllowed {
            return replyError(530, "5.7.0", "Authentication required", logText: "MAIL without AUTH")
        }
        guard let pathStart = afterKeyword("FROM:", in: argument) else {
            return syntaxError("Syntax: MAIL FROM:<address>")
        }
        let sender: SMTPMailbox?
        let pathEnd: Int
        do {
            (sender, pathEnd) = try SMTPPathParser.parse(argument[pathStart...], options: .init(
                allowsNullPath: true, allowsUTF8: true, maximumLength: limits.maximumPathLength))
        } catch {
            return pathError(error, enhanced: "5.1.7", what: "sender")
        }
        let reversePath: SMTPReversePath = sender.map { .mailbox($0) } ?? .null
        var newEnvelope = SMTPEnvelope(sender: reversePath)
        guard let parameters = parseParameters(argument[pathEnd...]) else { return }
        var seen = Set<String>()
        for (keyword, value) in parameters {
            guard seen.insert(keyword).inserted else { return syntaxError("Duplicate MAIL parameter \(keyword)") }
            switch keyword {
            case "SIZE":
                // RFC 1870: SIZE=1*20DIGIT. Overflowing values are simply too big.
                guard let value, !value.isEmpty, value.allSatisfy(isDigit) else { return syntaxError("Syntax: SIZE=number") }
                let size = UInt64(String(decoding: value, as: UTF8.self)) ?? UInt64.max
                guard size <= limits.maximumMessageSize else {
                    return replyError(552, "5.3.4", "Message size exceeds fixed maximum message size (\(limits.maximumMessageSize))",
                                      logText: "MAIL SIZE too big", countsAsError: false)
                }
                newEnvelope.declaredSize = size
            case "BODY":
                switch value.map({ String(decoding: $0.map(asciiUppercased), as: UTF8.self) }) {
                case "7BIT": newEnvelope.body = .sevenBit
                case "8BITMIME": newEnvelope.body = .eightBitMIME
                case "BINARYMIME":
                    // RFC 3030 §3: only after the BINARYMIME keyword, which we do not announce.
                    return replyError(555, "5.5.4", "BODY=BINARYMIME not supported", logText: "BINARYMIME refused")
                default: return syntaxError("Syntax: BODY=7BIT or BODY=8BITMIME")
                }
            case "SMTPUTF8":
                guard value == nil else { return syntaxError("SMTPUTF8 takes no value") }
                newEnvelope.smtpUTF8 = true
            case "RET":
                switch value.map({ String(decoding: $0.map(asciiUppercased), as: UTF8.self) }) {
                case "FULL": newEnvelope.dsnReturn = .full
                case "HDRS": newEnvelope.dsnReturn = .headers
                default: return syntaxError("Syntax: RET=FULL or RET=HDRS")
                }
            case "ENVID":
                // RFC 3461 §4.4: xtext, at most 100 characters.
                guard let value, !value.isEmpty, value.count <= 100, XText.isValid(value) else {
                    return syntaxError("Syntax: ENVID=xtext (at most 100 characters)")
                }
                newEnvelope.envelopeID = String(decoding: value, as: UTF8.self)
            case "REQUIRETLS":
                guard value == nil else { return syntaxError("REQUIRETLS takes no value") }
                // RFC 8689 §4.1: only over TLS (it is not even announced before).
                guard facts.tls != nil else {
                    return replyError(530, "5.7.10", "REQUIRETLS needs a TLS session", logText: "REQUIRETLS without TLS")
                }
                newEnvelope.requireTLS = true
            case "AUTH":
                // RFC 4954 §5: AUTH=<> or AUTH=xtext mailbox; trusted only from an authenticated client.
                guard let value, !value.isEmpty else { return syntaxError("Syntax: AUTH=mailbox") }
                if value.elementsEqual("<>".utf8) { break }
                guard let decoded = XText.decode(value, allowsUTF8: true) else { return syntaxError("Syntax: AUTH=xtext") }
                if facts.authenticatedUser != nil { newEnvelope.authenticatedSender = decoded }
            default:
                return replyError(555, "5.5.4", "Unsupported MAIL parameter \(keyword)", logText: "unsupported MAIL parameter")
            }
        }
        // RFC 6531 §3.4: a non-ASCII address needs SMTPUTF8 on MAIL.
        if let sender, !sender.isASCII, !newEnvelope.smtpUTF8 {
            return replyError(553, "5.6.7", "Non-ASCII sender address requires SMTPUTF8", logText: "non-ASCII sender without SMTPUTF8")
        }
        switch policy.checkSender(reversePath, session: facts) {
        case .accept: break
        case .temporaryFailure(let text):
            // Our own lookup failed: not the client's error, so not counted.
            return rejectAtPolicy("MAIL", SMTPReply(451, "4.3.0", sanitizedText(text)), sender: "\(reversePath)", recipient: nil, countsAsError: false)
        case .reject(let reply):
            return rejectAtPolicy("MAIL", reply, sender: "\(reversePath)", recipient: nil)
        }
        envelope = newEnvelope
        log("mail from=\(reversePath)\(newEnvelope.declaredSize.map { " size=\($0)" } ?? "")\(newEnvelope.smtpUTF8 ? " smtputf8" : "")")
        send(SMTPReply(250, "2.1.0", "Ok"))
    }

    func handleRecipient(_ argument: ArraySlice<UInt8>) {
        guard var current = envelope else { return badSequence("Need MAIL before RCPT") }
        guard !chunkingStarted else { return badSequence("RCPT not allowed after BDAT") }
        guard let pathStart = afterKeyword("TO:", in: argument) else {
            return syntaxError("Syntax: RCPT TO:<address>")
        }
        // RFC 5321 §4.5.3.1.8: 452 for too many recipients; the client sends the rest later,
        // so this is not counted as an error.
        guard current.recipients.count < limits.maximumRecipients else {
            defer { loggedTooManyRecipients = true }
            return replyError(452, "4.5.3", "Too many recipients", logText: loggedTooManyRecipients ? nil : "too many recipients",
                              countsAsError: false)
        }
        let mailbox: SMTPMailbox
        let pathEnd: Int
        do {
            let parsed = try SMTPPathParser.parse(argument[pathStart...], options: .init(
                allowsBarePostmaster: true, allowsUTF8: true, maximumLength: limits.maximumPathLength))
            guard let parsedMailbox = parsed.mailbox else { return syntaxError("Syntax: RCPT TO:<address>") }
            (mailbox, pathEnd) = (parsedMailbox, parsed.end)
        } catch {
            return pathError(error, enhanced: "5.1.3", what: "recipient")
        }
        var recipient = SMTPRecipient(mailbox: mailbox)
        guard let parameters = parseParameters(argument[pathEnd...]) else { return }
        var seen = Set<String>()
        for (keyword, value) in parameters {
            guard seen.insert(keyword).inserted else { return syntaxError("Duplicate RCPT parameter \(keyword)") }
            switch keyword {
            case "NOTIFY":
                guard let value, let notify = parseNotify(value) else {
                    return syntaxError("Syntax: NOTIFY=NEVER or NOTIFY=SUCCESS,FAILURE,DELAY")
                }
                recipient.notify = notify
            case "ORCPT":
                // RFC 3461 §4.2: addr-type ";" xtext.
                guard let value, let semicolon = value.firstIndex(of: UInt8(ascii: ";")),
                      semicolon > value.startIndex, value[..<semicolon].allSatisfy(isAtext),
                      value.count <= 500, XText.isValid(value[(semicolon + 1)...], allowsUTF8: current.smtpUTF8)
                else { return syntaxError("Syntax: ORCPT=addr-type;xtext") }
                guard String(validating: value, as: UTF8.self) != nil else { return syntaxError("Syntax: ORCPT=addr-type;xtext") }
                recipient.originalRecipient = String(decoding: value, as: UTF8.self)
            default:
                return replyError(555, "5.5.4", "Unsupported RCPT parameter \(keyword)", logText: "unsupported RCPT parameter")
            }
        }
        if !mailbox.isASCII && !current.smtpUTF8 {
            return replyError(553, "5.6.7", "Non-ASCII recipient address requires SMTPUTF8", logText: "non-ASCII recipient without SMTPUTF8")
        }
        // The engine, not the policy, refuses relaying: a permissive policy cannot make an open relay.
        if !mailbox.isBarePostmaster && !relayAllowed && !policy.isLocalDomain(mailbox.lowercasedDomain) {
            return rejectAtPolicy("RCPT", SMTPReply(554, "5.7.1", "<\(mailbox.text)>: Relay access denied"), sender: "\(current.sender)", recipient: mailbox)
        }
        switch policy.checkRecipient(recipient, session: facts) {
        case .accept:
            current.recipients.append(recipient)
            envelope = current
            log("rcpt to=<\(mailbox.text)> accepted")
            send(SMTPReply(250, "2.1.5", "Ok"))
        case .unknownUser:
            rejectAtPolicy("RCPT", SMTPReply(550, "5.1.1", "<\(mailbox.text)>: Recipient address rejected: User unknown"),
                           sender: "\(current.sender)", recipient: mailbox)
        case .relayDenied:
            rejectAtPolicy("RCPT", SMTPReply(554, "5.7.1", "<\(mailbox.text)>: Relay access denied"), sender: "\(current.sender)", recipient: mailbox)
        case .temporaryFailure(let text):
            rejectAtPolicy("RCPT", SMTPReply(451, "4.3.0", sanitizedText(text)), sender: "\(current.sender)", recipient: mailbox, countsAsError: false)
        case .reject(let reply):
            rejectAtPolicy("RCPT", reply, sender: "\(current.sender)", recipient: mailbox)
        }
    }

    func handleData(_ argument: ArraySlice<UInt8>) {
        guard let current = envelope else { return badSequence("Need MAIL command") }
        guard !chunkingStarted else { return badSequence("DATA not allowed after BDAT") }
        guard argument.isEmpty else { return syntaxError("Syntax: DATA") }
        // RFC 2920 §3.1: with pipelining DATA can arrive after all RCPTs failed.
        guard !current.recipients.isEmpty else {
            return replyError(554, "5.5.1", "No valid recipients", logText: "DATA without valid recipients")
        }
        send(SMTPReply(code: 354, lines: ["End data with <CR><LF>.<CR><LF>"]))
        dataDecoder = DotStuffedDataDecoder(limits: limits)
        messageInProgress = true
        emit(.messageBegin(current))
        state = .data
    }

    func finishData() {
        state = .command
        if let violation = dataDecoder.violation {
            rejectContent(violation)
        } else {
            messageInProgress = false
            emit(.messageEnd)
            state = .awaitingQueueResult
        }
    }

    /// BDAT chunk-size [SP "LAST"] (RFC 3030 §2). Once the size is known, the chunk is always
    /// read, even when refused, so its bytes are never taken for commands.
    func handleChunk(_ argument: ArraySlice<UInt8>) {
        let words = argument.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard (1...2).contains(words.count), !words[0].isEmpty, words[0].allSatisfy(isDigit),
              words.count == 1 || words[1].map(asciiUppercased).elementsEqual("LAST".utf8)
        else { return syntaxError("Syntax: BDAT size [LAST]") }
        guard words[0].count <= 19, let size = UInt64(String(decoding: words[0], as: UTF8.self)) else {
            // We cannot count that many octets, so we cannot stay in step with the client.
            return closeWith421("4.7.0", "Error: BDAT size out of range")
        }
        let last = words.count == 2
        var rejection: SMTPReply?
        var countsAsError = true
        let (total, overflow) = chunkOctets.addingReportingOverflow(size)
        if envelope == nil {
            rejection = SMTPReply(503, "5.5.1", "Bad sequence of commands: need MAIL command")
        } else if envelope?.recipients.isEmpty == true {
            rejection = SMTPReply(554, "5.5.1", "No valid recipients")
        } else if overflow || total > limits.maximumMessageSize {
            rejection = SMTPReply(552, "5.3.4", "Message size exceeds fixed maximum message size (\(limits.maximumMessageSize))")
            countsAsError = false
            abortMessageIfNeeded(.sizeExceeded)
            log("message refused: BDAT beyond size limit")
            resetTransaction(abortReason: nil)
        }
        if rejection == nil, let envelope {
            chunkOctets = total
            if !chunkingStarted {
                chunkingStarted = true
                chunkDecoder = ChunkDataDecoder(limits: limits)
                messageInProgress = true
                emit(.messageBegin(envelope))
            }
        }
        state = .chunk(remaining: size, size: size, last: last, rejection: rejection, countsAsError: countsAsError)
    }

    func finishChunk(size: UInt64, last: Bool, rejection: SMTPReply?, countsAsError: Bool) {
        state = .command
        if let rejection {
            if countsAsError {
                replyError(rejection.code, rejection.enhancedCode?.description ?? "5.5.1", rejection.text, logText: "BDAT refused")
            } else {
                send(rejection)
            }
            return
        }
        if last { chunkDecoder.finish() }
        if let violation = chunkDecoder.violation {
            // RFC 3030 §2: after a failed chunk the transaction is over; chunks already in the
            // pipeline get 503 (and are read and dropped).
            if messageInProgress { abortMessageIfNeeded(.content(violation)) }
            rejectContent(violation)
            return
        }
        if last {
            messageInProgress = false
            emit(.messageEnd)
            state = .awaitingQueueResult
        } else {
            send(SMTPReply(250, "2.0.0", "\(size) octets received"))
        }
    }

    /// The reply at the end of refused content (after messageAbort was sent).
    func rejectContent(_ violation: SMTPContentViolation) {
        messageInProgress = false
        resetTransaction(abortReason: nil)
        switch violation {
        case .sizeExceeded:
            log("message refused: size limit exceeded")
            send(SMTPReply(552, "5.3.4", "Message size exceeds fixed maximum message size (\(limits.maximumMessageSize))"))
        case .lineTooLong:
            replyError(550, "5.6.0", "Message refused: line longer than \(limits.maximumTextLineLength) octets",
                       logText: "message refused: line too long", countsAsError: false)
        case .bareCarriageReturn, .bareLineFeed:
            replyError(550, "5.6.0", "Message refused: bare CR or LF; lines must end with CRLF (RFC 5321 2.3.8)",
                       logText: "message refused: \(violation)")
        case .nul:
            replyError(550, "5.6.0", "Message refused: NUL octet in message", logText: "message refused: NUL octet")
        }
    }

    func handleStartTLS(_ argument: ArraySlice<UInt8>) {
        guard configuration.startTLSAvailable else {
            return replyError(502, "5.5.1", "STARTTLS not available", logText: "STARTTLS refused: not available")
        }
        guard facts.tls == nil else { return badSequence("TLS already active") }
        guard argument.isEmpty else { return syntaxError("Syntax: STARTTLS") }
        guard envelope == nil else { return badSequence("STARTTLS not allowed during mail transaction") }
        send(SMTPReply(220, "2.0.0", "Ready to start TLS"))
        log("starttls from \(peerDescription)")
        emit(.startTLS)
        state = .awaitingTLS
    }

    // MARK: - Parameters (the grammar is SMTPParameters'; the replies are the session's)

    /// `*(SP esmtp-param)` after a path; nil (with a reply sent) when malformed.
    func parseParameters(_ bytes: ArraySlice<UInt8>) -> [(String, ArraySlice<UInt8>?)]? {
        guard !bytes.isEmpty else { return [] }
        guard bytes.first == UInt8(ascii: " ") else {
            syntaxError("Syntax: space required after the address")
            return nil
        }
        guard facts.usedEHLO else {
            replyError(555, "5.5.4", "Parameters need EHLO", logText: "parameters after HELO")
            return nil
        }
        switch SMTPParameters.parse(bytes) {
        case .success(let parameters): return parameters
        case .failure(.badKeyword):
            syntaxError("Syntax error in parameters")
            return nil
        case .failure(.badValue):
            syntaxError("Syntax error in parameter value")
            return nil
        }
    }

    func parseNotify(_ value: ArraySlice<UInt8>) -> SMTPDSNNotify? { SMTPParameters.notify(value) }

    func afterKeyword(_ keyword: String, in argument: ArraySlice<UInt8>) -> Int? {
        SMTPParameters.afterKeyword(keyword, in: argument)
    }

    // MARK: - Replies, counters, state

    /// Replies are collected here so that consecutive replies go out in one write.
    func send(_ reply: SMTPReply) {
        outgoing += reply.wireBytes
    }

    func emit(_ event: SMTPEvent) {
        if !outgoing.isEmpty {
            events.append(.send(outgoing))
            outgoing.removeAll()
        }
        events.append(event)
    }

    func log(_ text: String) {
        emit(.log(text))
    }

    /// Replies with an error, counting it: delay hints after ``SMTPLimits/errorsBeforeDelay``,
    /// and `421` once ``SMTPLimits/maximumErrors`` is reached.
    func replyError(_ code: Int, _ enhanced: String, _ text: String, logText: String?, countsAsError: Bool = true) {
        // "refused:", not Postfix's "reject:", which log summarizers count as a refused message:
        // protocol errors are not (logReject writes those).
        if let logText { log("refused: \(logText) from \(peerDescription): \(code) \(enhanced)") }
        guard countsAsError else {
            send(SMTPReply(code, enhanced, text))
            return
        }
        errorCount += 1
        if errorCount > limits.errorsBeforeDelay {
            emit(.delay(milliseconds: min((errorCount - limits.errorsBeforeDelay) * limits.errorDelayStepMilliseconds,
                                                    limits.maximumDelayMilliseconds)))
        }
        send(SMTPReply(code, enhanced, text))
        if errorCount >= limits.maximumErrors {
            closeWith421("4.7.0", "Error: too many errors")
        }
    }

    /// A refusal in Postfix's shape, which pflogsumm counts as a rejection and fail2ban's
    /// postfix filter reads: `NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 550 5.1.1 <x@y>:
    /// Recipient address rejected: User unknown; from=<a@b> to=<x@y> proto=ESMTP helo=<client.example>`.
    func logReject(_ stage: String, _ code: Int, _ enhanced: String, _ text: String, sender: String, recipient: SMTPMailbox?) {
        log("NOQUEUE: reject: \(stage) from \(peerDescription): \(code) \(enhanced) \(text); from=\(sender)"
            + "\(recipient.map { " to=<\($0.text)>" } ?? "") proto=\(facts.usedEHLO ? "ESMTP" : "SMTP") helo=<\(facts.heloName ?? "")>")
    }

    /// Refuses a MAIL or RCPT by policy (the policy's answer, relaying, an unknown user) with
    /// a Postfix-shaped log line.
    func rejectAtPolicy(_ stage: String, _ reply: SMTPReply, sender: String, recipient: SMTPMailbox?, countsAsError: Bool = true) {
        var reply = reply
        if !(400..<600).contains(reply.code) { reply = SMTPReply(550, "5.7.1", reply.text) }
        reply.lines = reply.lines.map(sanitizedText)
        let enhanced = reply.enhancedCode?.description ?? (reply.code >= 500 ? "5.7.1" : "4.7.1")
        logReject(stage, reply.code, enhanced, reply.lines.joined(separator: " "), sender: sender, recipient: recipient)
        if reply.lines.count == 1 {
            replyError(reply.code, enhanced, reply.lines[0], logText: nil, countsAsError: countsAsError)
        } else {
            send(reply)
        }
    }

    func syntaxError(_ text: String) {
        replyError(501, "5.5.4", text, logText: "syntax error (\(text))")
    }

    func badSequence(_ text: String) {
        replyError(503, "5.5.1", "Bad sequence of commands: \(text)", logText: "bad sequence (\(text))")
    }

    func pathError(_ error: SMTPPathError, enhanced: String, what: String) {
        switch error {
        case .syntax(let reason):
            replyError(501, enhanced, "Bad \(what) address syntax: \(reason)", logText: "bad \(what) address (\(reason))")
        case .nonASCIIWithoutSMTPUTF8:
            replyError(553, "5.6.7", "Non-ASCII \(what) address requires SMTPUTF8", logText: "non-ASCII \(what) without SMTPUTF8")
        case .tooLong:
            replyError(501, enhanced, "Bad \(what) address syntax: path too long", logText: "\(what) address too long")
        }
    }

    /// Counts HELO/EHLO/NOOP/RSET/VRFY/EXPN/HELP; false (and 421 sent) beyond the limit.
    func countJunkCommand() -> Bool {
        junkCommandCount += 1
        guard junkCommandCount <= limits.maximumJunkCommands else {
            closeWith421("4.7.0", "Error: too many commands without mail")
            return false
        }
        return true
    }

    func resetTransaction(abortReason: SMTPMessageAbortReason?) {
        if let abortReason { abortMessageIfNeeded(abortReason) }
        envelope = nil
        loggedTooManyRecipients = false
        chunkingStarted = false
        chunkOctets = 0
        messageInProgress = false
    }

    func abortMessageIfNeeded(_ reason: SMTPMessageAbortReason) {
        guard messageInProgress else { return }
        messageInProgress = false
        emit(.messageAbort(reason))
    }

    func closeWith421(_ enhanced: String, _ text: String, message reason: SMTPMessageAbortReason = .transactionReset) {
        abortMessageIfNeeded(reason)
        log("disconnect from \(peerDescription): 421 \(enhanced) \(text)")
        send(SMTPReply(421, enhanced, "\(configuration.hostname) \(text), closing connection"))
        close()
    }

    func close() {
        resetTransaction(abortReason: nil)
        state = .closed
        emit(.close)
    }

    func takeEvents() -> [SMTPEvent] {
        if !outgoing.isEmpty {
            events.append(.send(outgoing))
            outgoing.removeAll()
        }
        defer { events.removeAll() }
        return events
    }

    var peerDescription: String {
        "\(facts.peerReverseName.map { sanitizedToken($0, maximumLength: 255) } ?? "unknown")[\(sanitizedToken(facts.peerAddress, maximumLength: 64))]"
    }
}

/// Letters, digits and `-._[]:` — enough for host names and address literals, and nothing that
/// could break the Received header's comment syntax.
private func isHeloNameByte(_ byte: UInt8) -> Bool {
    isLetDig(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
        || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: ":")
}

func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

/// Text from the host or the network made safe for a reply or log line: control characters
/// become spaces, length is capped.
func sanitizedText(_ text: String) -> String {
    let scalars = text.unicodeScalars.prefix(400).map { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) ? " " : Character($0) }
    return String(scalars)
}

/// A token (queue id, TLS cipher, address) restricted to printable ASCII without spaces and
/// parentheses.
func sanitizedToken(_ text: String, maximumLength: Int) -> String {
    let bytes = text.utf8.prefix(maximumLength).map { byte -> UInt8 in
        (33...126).contains(byte) && byte != UInt8(ascii: "(") && byte != UInt8(ascii: ")") ? byte : UInt8(ascii: "?")
    }
    return String(decoding: bytes, as: UTF8.self)
}

import MailCodec
/// The POP3 server protocol engine for one connection (RFC 1939, CAPA RFC 2449, STLS RFC 2595,
/// AUTH RFC 5034 with PLAIN and LOGIN): bytes in, events out, no I/O.
///
/// Use: `start()` for the greeting, `feed(_:)` for every read, handle the events in order.
/// ``POP3Event/outputPending`` asks for ``continueOutput()`` (RETR/TOP stream in pieces);
/// ``POP3Event/startTLS`` asks for a handshake and ``tlsEstablished()``;
/// ``POP3Event/authenticate(_:)`` asks the host to check a password and answer with
/// ``authenticationAnswered(_:)``. Call
/// ``endOfInput()`` on EOF (no deletions are applied then, RFC 1939 §6) and ``timedOut()`` on the
/// inactivity timer.
public final class POP3Session {
    public let configuration: POP3SessionConfiguration
    private let policy: any POP3Policy
    private var limits: POP3Limits { configuration.limits }

    private enum Phase { case authorization, transaction, awaitingTLS, awaitingAuthentication, closed }
    private enum InputMode { case command, saslResponse(SASLExchange), discardingLongLine }

    private struct Transfer {
        let source: any POP3MessageSource
        var encoder: POP3MessageEncoder
    }

    private var phase = Phase.authorization
    private var inputMode = InputMode.command
    private var input: [UInt8] = []
    private var events: [POP3Event] = []
    private var outgoing: [UInt8] = []
    private var started = false
    private var tlsActive: Bool
    private var pendingUser: String?
    /// Credentials out in an `authenticate` event, awaiting the host's answer.
    private var pendingAuthentication: AuthenticationRequest?
    /// The user of the open maildrop.
    public private(set) var authenticatedUser: String?
    private var maildrop: (any POP3Maildrop)?
    private var messageCount = 0
    private var deleted = Set<Int>()
    private var transfer: Transfer?
    private var commandsBeforeAuthentication = 0
    private var authenticationFailures = 0
    private var errorCount = 0

    public init(configuration: POP3SessionConfiguration, policy: any POP3Policy) {
        self.configuration = configuration
        self.policy = policy
        tlsActive = configuration.implicitTLS
    }

    // MARK: - Host entry points

    /// The greeting. Call once.
    public func start() -> [POP3Event] {
        guard !started else { return [] }
        started = true
        log("connect\(tlsActive ? " tls" : "")")
        send("+OK \(configuration.hostname) Postamt POP3 server ready")
        return takeEvents()
    }

    /// Feeds bytes read from the client; any bytes, any split.
    public func feed(_ bytes: some Collection<UInt8>) -> [POP3Event] {
        if !started { _ = start() }
        switch phase {
        case .closed, .awaitingTLS:
            // RFC 2595 §4: nothing sent before the TLS handshake is acted upon.
            return takeEvents()
        default:
            input.append(contentsOf: bytes)
            if transfer != nil || phase == .awaitingAuthentication {
                if input.count > limits.maximumPendingInput {
                    log("disconnect: too much pipelined input")
                    close()
                }
                return takeEvents()
            }
            processInput()
            return takeEvents()
        }
    }

    /// The next part of a RETR/TOP response after ``POP3Event/outputPending``.
    public func continueOutput() -> [POP3Event] {
        guard transfer != nil, phase == .transaction else { return takeEvents() }
        if pumpTransfer() { processInput() }
        return takeEvents()
    }

    /// The STLS handshake succeeded: a fresh AUTHORIZATION state (RFC 2595 §4).
    public func tlsEstablished() -> [POP3Event] {
        guard phase == .awaitingTLS else { return takeEvents() }
        input.removeAll()
        tlsActive = true
        pendingUser = nil
        inputMode = .command
        phase = .authorization
        log("tls established")
        return takeEvents()
    }

    /// The peer closed the connection: no UPDATE state, nothing is deleted.
    public func endOfInput() -> [POP3Event] {
        guard phase != .closed else { return takeEvents() }
        log("disconnect without QUIT\(deleted.isEmpty ? "" : ", \(deleted.count) deletions discarded")")
        close()
        return takeEvents()
    }

    /// The inactivity timer fired (RFC 1939 §3: autologout without UPDATE).
    public func timedOut() -> [POP3Event] {
        guard phase != .closed else { return takeEvents() }
        if transfer == nil { send("-ERR Disconnected for inactivity") }
        log("disconnect: timeout")
        close()
        return takeEvents()
    }

    public var isClosed: Bool { phase == .closed }

    /// Bytes held in the input buffer (for tests of the memory bound).
    var bufferedInputCount: Int { input.count }

    // MARK: - Input

    private func processInput() {
        var readIndex = 0
        defer {
            if readIndex >= input.count { input.removeAll(keepingCapacity: input.count <= 65536) } else if readIndex > 0 { input.removeFirst(readIndex) }
        }
        while readIndex < input.count && transfer == nil && (phase == .authorization || phase == .transaction) {
            let lineFeed = input[readIndex...].firstIndex(of: 10)
            if case .discardingLongLine = inputMode {
                guard let lineFeed else { readIndex = input.count; break }
                readIndex = lineFeed + 1
                inputMode = .command
                protocolError("-ERR Line too long", log: "line too long")
                continue
            }
            guard let lineFeed else {
                if input.count - readIndex >= limits.maximumCommandLineLength {
                    inputMode = .discardingLongLine
                    readIndex = input.count
                }
                break
            }
            let line = input[readIndex..<lineFeed]
            readIndex = lineFeed + 1
            if line.count + 1 > limits.maximumCommandLineLength {
                inputMode = .command
                protocolError("-ERR Line too long", log: "line too long")
                continue
            }
            handleLine(line)
        }
        if phase == .awaitingTLS || phase == .closed { readIndex = input.count }
    }

    private func handleLine(_ rawLine: ArraySlice<UInt8>) {
        guard rawLine.last == 13 else {
            inputMode = .command
            return protocolError("-ERR Line must end with CRLF", log: "bare LF in command line")
        }
        let line = rawLine.dropLast()
        if line.contains(13) || line.contains(0) {
            inputMode = .command
            return protocolError("-ERR Bare CR or NUL in command line", log: "bare CR or NUL in command line")
        }
        if case .saslResponse(var exchange) = inputMode {
            inputMode = .command
            return handleSASLStep(exchange.respond(line), exchange: exchange)
        }
        if phase == .authorization {
            commandsBeforeAuthentication += 1
            if commandsBeforeAuthentication > limits.maximumCommandsBeforeAuthentication {
                send("-ERR Too many commands before authentication")
                log("disconnect: too many commands before authentication")
                return close()
            }
        }
        let space = line.firstIndex(of: UInt8(ascii: " ")) ?? line.endIndex
        let keyword = String(decoding: line[line.startIndex..<space].prefix(8).map(uppercasedASCII), as: UTF8.self)
        let argument = space < line.endIndex ? line[(space + 1)...] : line[line.endIndex...]
        let arguments = argument.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        switch (keyword, phase) {
        case ("CAPA", _): capabilities()
        case ("QUIT", _): quit()
        case ("NOOP", .transaction):
            guard argument.isEmpty else { return syntaxError("NOOP") }
            send("+OK")
        case ("USER", .authorization): user(argument)
        case ("PASS", .authorization): pass(argument)
        case ("AUTH", .authorization): auth(arguments, isEmpty: argument.isEmpty)
        case ("STLS", .authorization): startTLS(argument)
        case ("APOP", .authorization): protocolError("-ERR APOP not supported", log: "APOP refused")
        case ("STAT", .transaction):
            guard argument.isEmpty else { return syntaxError("STAT") }
            let live = liveMessages
            send("+OK \(live.count) \(live.reduce(0) { $0 + size($1) })")
        case ("LIST", .transaction): listing(arguments, isEmpty: argument.isEmpty, name: "LIST") { "\(self.size($0))" }
        case ("UIDL", .transaction): listing(arguments, isEmpty: argument.isEmpty, name: "UIDL") { self.uniqueID($0) }
        case ("RETR", .transaction):
            guard arguments.count == 1, !argument.isEmpty else { return syntaxError("RETR message") }
            guard let number = liveMessageNumber(arguments[0]) else { return }
            retrieve(number, bodyLines: nil)
        case ("TOP", .transaction):
            guard arguments.count == 2 else { return syntaxError("TOP message lines") }
            guard let lines = nonNegativeNumber(arguments[1]) else {
                return protocolError("-ERR Syntax: TOP message lines (lines must be a non-negative number)", log: "bad TOP line count")
            }
            guard let number = liveMessageNumber(arguments[0]) else { return }
            retrieve(number, bodyLines: lines)
        case ("DELE", .transaction):
            guard arguments.count == 1, !argument.isEmpty else { return syntaxError("DELE message") }
            guard let number = liveMessageNumber(arguments[0]) else { return }
            deleted.insert(number)
            send("+OK Message \(number) deleted")
        case ("RSET", .transaction):
            guard argument.isEmpty else { return syntaxError("RSET") }
            deleted.removeAll()
            send("+OK \(messageCount) messages")
        case ("STAT", _), ("LIST", _), ("UIDL", _), ("RETR", _), ("TOP", _), ("DELE", _), ("RSET", _), ("NOOP", _),
             ("USER", _), ("PASS", _), ("AUTH", _), ("STLS", _), ("APOP", _):
            protocolError("-ERR Command not valid in this state", log: "\(keyword) in wrong state")
        default:
            // Name the keyword only if it looks like one: a misplaced SASL line must not reach the log.
            let looksLikeKeyword = keyword.utf8.allSatisfy { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") } && space - line.startIndex <= 8
            protocolError("-ERR Unknown command", log: looksLikeKeyword ? "unknown command \(keyword)" : "unknown command")
        }
    }

    // MARK: - AUTHORIZATION

    /// USER, PASS and SASL are offered only over TLS unless configured (RFC 2595 §2).
    private var authenticationAllowed: Bool { tlsActive || configuration.allowsPlaintextAuthentication }

    private func capabilities() {
        var lines = ["+OK Capability list follows", "TOP", "UIDL"]
        if phase == .authorization {
            if authenticationAllowed { lines += ["USER", "SASL PLAIN LOGIN"] }
            if configuration.startTLSAvailable && !tlsActive { lines.append("STLS") }
        }
        lines += ["RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION Postamt", "."]
        send(lines.joined(separator: "\r\n"))
    }

    private func user(_ argument: ArraySlice<UInt8>) {
        guard authenticationAllowed else { return refusePlaintext() }
        guard let name = validUserName(argument) else { return syntaxError("USER name") }
        // Always +OK: the answer must not tell which users exist.
        pendingUser = name
        send("+OK")
    }

    private func pass(_ argument: ArraySlice<UInt8>) {
        guard authenticationAllowed else { return refusePlaintext() }
        guard let user = pendingUser else { return protocolError("-ERR USER first", log: "PASS without USER") }
        pendingUser = nil
        // RFC 1939 §7: the rest of the line is the password, spaces included.
        verify(user: user, password: Array(argument), mechanism: "USER")
    }

    private func auth(_ arguments: [ArraySlice<UInt8>], isEmpty: Bool) {
        guard authenticationAllowed else { return refusePlaintext() }
        pendingUser = nil
        if isEmpty {
            // The RFC 1734 listing form, still used by some clients.
            return send("+OK\r\nPLAIN\r\nLOGIN\r\n.")
        }
        guard (1...2).contains(arguments.count), arguments.allSatisfy({ !$0.isEmpty }) else {
            return syntaxError("AUTH mechanism [initial-response]")
        }
        let mechanism = String(decoding: arguments[0].prefix(20).map(uppercasedASCII), as: UTF8.self)
        let initialResponse = arguments.count == 2 ? arguments[1] : nil
        guard var exchange = SASLExchange(mechanism: mechanism) else {
            return protocolError("-ERR Unsupported authentication mechanism", log: "AUTH with unknown mechanism")
        }
        handleSASLStep(exchange.start(initialResponse: initialResponse), exchange: exchange)
    }

    /// One step of the shared SASL exchange (MailCodec), in POP3's words (RFC 5034 §4).
    private func handleSASLStep(_ step: SASLExchange.Step, exchange: SASLExchange) {
        let mechanism = exchange.mechanism.rawValue
        switch step {
        case .challenge(let text):
            send("+ " + text)
            inputMode = .saslResponse(exchange)
        case .failed(.cancelled):
            log("auth cancelled by client")
            protocolError("-ERR Authentication cancelled", log: nil)
        case .failed(.invalidBase64):
            protocolError("-ERR Invalid base64 in SASL response", log: "auth failed: invalid base64")
        case .failed(.malformed):
            protocolError("-ERR Malformed PLAIN response", log: "malformed PLAIN response")
        case .user(let name):
            guard validUserName(name[...]) != nil else { return authenticationFailed(user: nil, mechanism: mechanism) }
            send("+ " + SASLExchange.passwordChallenge)
            inputMode = .saslResponse(exchange)
        case .credentials(let authorization, let name, let password):
            guard let user = validUserName(name[...]), authorization.isEmpty || authorization == name else {
                return authenticationFailed(user: nil, mechanism: mechanism)
            }
            verify(user: user, password: password, mechanism: mechanism)
        }
    }

    private func verify(user: String, password: [UInt8], mechanism: String) {
        // Empty passwords are never checked (PAM "nullok"); NUL, CR, LF cannot be passwords.
        guard !password.isEmpty, !password.contains(0), !password.contains(13), !password.contains(10) else {
            return authenticationFailed(user: user, mechanism: mechanism)
        }
        // The engine contract: the host checks the password and answers (authenticationAnswered).
        let request = AuthenticationRequest(user: user, password: password, mechanism: mechanism)
        pendingAuthentication = request
        phase = .awaitingAuthentication
        emit(.authenticate(request))
    }

    /// The host's answer to ``POP3Event/authenticate(_:)``: on success the maildrop is
    /// opened; then input that arrived meanwhile is read.
    public func authenticationAnswered(_ result: POP3AuthResult) -> [POP3Event] {
        guard phase == .awaitingAuthentication, let request = pendingAuthentication else { return takeEvents() }
        pendingAuthentication = nil
        phase = .authorization
        finishAuthentication(user: request.user, mechanism: request.mechanism, result: result)
        processInput()
        return takeEvents()
    }

    private func finishAuthentication(user: String, mechanism: String, result: POP3AuthResult) {
        switch result {
        case .success:
            break
        case .failure:
            return authenticationFailed(user: user, mechanism: mechanism)
        case .temporaryFailure:
            log("auth temporary failure user=\(user)")
            return send("-ERR [SYS/TEMP] Authentication service unavailable, try later")
        }
        switch policy.openMaildrop(user: user) {
        case .opened(let opened):
            maildrop = opened
            messageCount = max(0, opened.messageCount)
            authenticatedUser = user
            phase = .transaction
            log("login user=\(user) mechanism=\(mechanism) messages=\(messageCount)")
            send("+OK Logged in, \(messageCount) messages")
        case .inUse:
            log("login user=\(user): maildrop in use")
            send("-ERR [IN-USE] Mailbox is locked by another POP3 session")
        case .temporaryFailure:
            log("login user=\(user): cannot open maildrop")
            send("-ERR [SYS/TEMP] Cannot open mailbox, try later")
        }
    }

    private func authenticationFailed(user: String?, mechanism: String) {
        authenticationFailures += 1
        log("auth failed user=\(user ?? "(invalid)") mechanism=\(mechanism) failures=\(authenticationFailures)")
        emit(.delay(milliseconds: min(authenticationFailures * limits.authenticationFailureDelayMilliseconds,
                                      limits.maximumDelayMilliseconds)))
        if authenticationFailures >= limits.maximumAuthenticationFailures {
            send("-ERR [AUTH] Authentication failed, too many failures")
            log("disconnect: too many authentication failures")
            return close()
        }
        send("-ERR [AUTH] Authentication failed")
    }

    private func refusePlaintext() {
        protocolError("-ERR [AUTH] Plaintext authentication disallowed without TLS, use STLS", log: "plaintext auth refused")
    }

    private func startTLS(_ argument: ArraySlice<UInt8>) {
        guard argument.isEmpty else { return syntaxError("STLS") }
        guard configuration.startTLSAvailable, !tlsActive else {
            return protocolError(tlsActive ? "-ERR TLS already active" : "-ERR STLS not available", log: "STLS refused")
        }
        send("+OK Begin TLS negotiation")
        log("starttls")
        emit(.startTLS)
        phase = .awaitingTLS
    }

    // MARK: - TRANSACTION

    private var liveMessages: [Int] { (1...max(1, messageCount)).filter { $0 <= messageCount && !deleted.contains($0) } }

    private func size(_ number: Int) -> Int { max(0, maildrop?.messageSize(number) ?? 0) }

    /// RFC 1939 §7: 1–70 characters 0x21–0x7E.
    private func uniqueID(_ number: Int) -> String {
        let raw = maildrop?.uniqueID(number) ?? ""
        let bytes = raw.utf8.prefix(70).map { (0x21...0x7E).contains($0) ? $0 : UInt8(ascii: "_") }
        return bytes.isEmpty ? "_" : String(decoding: bytes, as: UTF8.self)
    }

    private func listing(_ arguments: [ArraySlice<UInt8>], isEmpty: Bool, name: String, value: (Int) -> String) {
        if isEmpty {
            let live = liveMessages
            var lines = [name == "LIST" ? "+OK \(live.count) messages (\(live.reduce(0) { $0 + size($1) }) octets)" : "+OK"]
            for number in live { lines.append("\(number) \(value(number))") }
            lines.append(".")
            return send(lines.joined(separator: "\r\n"))
        }
        guard arguments.count == 1 else { return syntaxError("\(name) [message]") }
        guard let number = liveMessageNumber(arguments[0]) else { return }
        send("+OK \(number) \(value(number))")
    }

    /// A message number that exists and is not deleted; otherwise an -ERR was sent.
    private func liveMessageNumber(_ word: ArraySlice<UInt8>) -> Int? {
        guard let number = nonNegativeNumber(word), number >= 1, number <= messageCount else {
            protocolError("-ERR No such message", log: nil)
            return nil
        }
        guard !deleted.contains(number) else {
            protocolError("-ERR Message \(number) already deleted", log: nil)
            return nil
        }
        return number
    }

    /// Digits only; values beyond Int saturate (a count of lines that large means "all").
    private func nonNegativeNumber(_ word: ArraySlice<UInt8>) -> Int? {
        guard !word.isEmpty, word.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        var value = 0
        for digit in word {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return Int.max }
            value = sum
        }
        return value
    }

    private func retrieve(_ number: Int, bodyLines: Int?) {
        guard let maildrop else { return }
        let source: any POP3MessageSource
        do {
            source = try maildrop.openMessage(number)
        } catch {
            log("cannot open message \(number): \(sanitizedToken(String(describing: error)))")
            return send("-ERR [SYS/TEMP] Cannot read message \(number)")
        }
        send(bodyLines == nil ? "+OK \(size(number)) octets" : "+OK")
        transfer = Transfer(source: source, encoder: POP3MessageEncoder(bodyLineLimit: bodyLines))
        if !pumpTransfer() { return }
    }

    /// Produces one chunk of the current transfer; true when the transfer is complete.
    private func pumpTransfer() -> Bool {
        guard var current = transfer else { return true }
        var out: [UInt8] = []
        var finished = false
        while out.count < limits.outputChunkSize {
            let chunk: [UInt8]?
            do {
                chunk = try current.source.read(maximumLength: limits.outputChunkSize)
            } catch {
                // The +OK is out: the only honest end is closing the connection.
                outgoing += out
                log("read error during transfer: \(sanitizedToken(String(describing: error))); closing")
                transfer = nil
                close()
                return false
            }
            guard let chunk, !chunk.isEmpty else { finished = true; break }
            current.encoder.encode(chunk, into: &out)
            if current.encoder.isComplete { finished = true; break }
        }
        if finished {
            current.encoder.finish(into: &out)
            outgoing += out
            transfer = nil
            return true
        }
        transfer = current
        outgoing += out
        emit(.outputPending)
        return false
    }

    private func quit() {
        if phase == .transaction, let maildrop {
            // RFC 1939 §6: the UPDATE state, only after QUIT.
            let numbers = deleted.sorted()
            if numbers.isEmpty || maildrop.deleteMessages(numbers) {
                log("logout user=\(authenticatedUser ?? "") deleted=\(numbers.count)")
                send("+OK Logging out, \(numbers.count) messages deleted")
            } else {
                log("logout user=\(authenticatedUser ?? ""): deletions failed")
                send("-ERR [SYS/TEMP] Some deleted messages not removed")
            }
        } else {
            send("+OK Logging out")
        }
        close()
    }

    // MARK: - Output and counters

    private func send(_ line: String) {
        for byte in line.utf8 { outgoing.append(byte) }
        outgoing += [13, 10]
    }

    private func emit(_ event: POP3Event) {
        if !outgoing.isEmpty {
            events.append(.send(outgoing))
            outgoing.removeAll()
        }
        events.append(event)
    }

    private func log(_ text: String) { emit(.log(text)) }

    private func takeEvents() -> [POP3Event] {
        if !outgoing.isEmpty {
            events.append(.send(outgoing))
            outgoing.removeAll()
        }
        defer { events.removeAll() }
        return events
    }

    private func protocolError(_ reply: String, log logText: String?) {
        if let logText { log("error: \(logText)") }
        errorCount += 1
        send(reply)
        if errorCount >= limits.maximumErrors {
            send("-ERR Too many errors, closing connection")
            log("disconnect: too many errors")
            close()
        }
    }

    private func syntaxError(_ usage: String) {
        protocolError("-ERR Syntax: \(usage)", log: "syntax error")
    }

    private func close() {
        phase = .closed
        transfer = nil
        input.removeAll()
        emit(.close)
    }

    private func validUserName(_ bytes: ArraySlice<UInt8>) -> String? {
        guard !bytes.isEmpty, bytes.count <= limits.maximumUserNameLength, let name = String(validating: bytes, as: UTF8.self),
              !name.unicodeScalars.contains(where: { $0.value < 0x21 || (0x7F...0x9F).contains($0.value) })
        else { return nil }
        return name
    }
}

private func uppercasedASCII(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 32 : byte
}

private func sanitizedToken(_ text: String) -> String {
    String(decoding: text.utf8.prefix(80).map { (0x21...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
}

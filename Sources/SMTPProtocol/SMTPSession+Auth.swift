import MailCodec

/// AUTH (RFC 4954) on the shared SASL exchange (MailCodec): the session asks its host to check
/// the password (an `authenticate` event) and never logs a password or an AUTH string.
extension SMTPSession {
    // MARK: - AUTH (RFC 4954, PLAIN RFC 4616, LOGIN)

    func handleAuth(_ argument: ArraySlice<UInt8>) {
        guard configuration.offersAuthentication else {
            return replyError(502, "5.5.1", "AUTH not available", logText: "AUTH refused: not offered")
        }
        guard facts.usedEHLO else { return badSequence("Send EHLO first") }
        guard facts.tls != nil || configuration.allowsPlaintextAuthentication else {
            // RFC 4954 §6.
            return replyError(538, "5.7.11", "Encryption required for requested authentication mechanism",
                              logText: "AUTH refused: no TLS")
        }
        guard facts.authenticatedUser == nil else { return badSequence("Already authenticated") }
        guard envelope == nil else { return badSequence("AUTH not allowed during mail transaction") }
        let words = argument.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard (1...2).contains(words.count), !words[0].isEmpty, words.last?.isEmpty == false else {
            return syntaxError("Syntax: AUTH mechanism [initial-response]")
        }
        let mechanism = String(decoding: words[0].prefix(20).map(asciiUppercased), as: UTF8.self)
        let initialResponse = words.count == 2 ? words[1] : nil
        guard var exchange = SASLExchange(mechanism: mechanism) else {
            return replyError(504, "5.5.4", "Unrecognized authentication type", logText: "AUTH with unknown mechanism")
        }
        handleSASLStep(exchange.start(initialResponse: initialResponse), exchange: exchange)
    }

    /// One step of the shared SASL exchange (MailCodec), in SMTP's words (RFC 4954 §4).
    func handleSASLStep(_ step: SASLExchange.Step, exchange: SASLExchange) {
        let mechanism = exchange.mechanism.rawValue
        switch step {
        case .challenge(let text):
            send(SMTPReply(code: 334, lines: [text]))
            state = .saslResponse(exchange)
        case .failed(.cancelled):
            log("auth cancelled by client")
            replyError(501, "5.0.0", "Authentication cancelled", logText: nil)
        case .failed(.invalidBase64):
            replyError(501, "5.5.2", "Cannot decode response: invalid base64", logText: "auth failed: invalid base64")
        case .failed(.malformed):
            replyError(501, "5.5.2", "Malformed PLAIN response", logText: "auth failed: malformed PLAIN response")
        case .user(let name):
            guard validUserName(name[...]) != nil else { return authenticationFailed(user: nil, mechanism: mechanism) }
            send(SMTPReply(code: 334, lines: [SASLExchange.passwordChallenge]))
            state = .saslResponse(exchange)
        case .credentials(let authorization, let name, let password):
            guard let user = validUserName(name[...]) else { return authenticationFailed(user: nil, mechanism: mechanism) }
            // We do not support acting as another user: authzid must be empty or the same.
            guard authorization.isEmpty || authorization == name else { return authenticationFailed(user: user, mechanism: mechanism) }
            guard !password.contains(0) else { return authenticationFailed(user: user, mechanism: mechanism) }
            verify(user: user, password: password, mechanism: mechanism)
        }
    }

    func verify(user: String, password: [UInt8], mechanism: String) {
        // An empty password is never checked: some PAM stacks accept it (nullok).
        guard !password.isEmpty else { return authenticationFailed(user: user, mechanism: mechanism) }
        // The engine contract: checking a password is the host's work, asked for as an event
        // and answered through authenticationAnswered(_:), so the host may do it elsewhere.
        state = .awaitingAuthentication(user: user, mechanism: mechanism)
        emit(.authenticate(SMTPAuthenticationRequest(user: user, password: password, mechanism: mechanism)))
    }

    /// The host's answer to ``SMTPEvent/authenticate(_:)``: replies 235, 535 or 454 and
    /// goes on with input that arrived meanwhile.
    public func authenticationAnswered(_ result: SMTPAuthResult) -> [SMTPEvent] {
        guard case .awaitingAuthentication(let user, let mechanism) = state else { return takeEvents() }
        state = .command
        switch result {
        case .success:
            facts.authenticatedUser = user
            log("auth ok user=\(user) mechanism=\(mechanism)")
            send(SMTPReply(235, "2.7.0", "Authentication successful"))
        case .failure:
            authenticationFailed(user: user, mechanism: mechanism)
        case .temporaryFailure:
            log("auth temporary failure user=\(user) mechanism=\(mechanism)")
            send(SMTPReply(454, "4.7.0", "Temporary authentication failure"))
        }
        processInput()
        return takeEvents()
    }

    func authenticationFailed(user: String?, mechanism: String) {
        authenticationFailures += 1
        // Postfix's form, the client first (before the user name it chose), for fail2ban:
        // "warning: unknown[192.0.2.7]: SASL PLAIN authentication failed: user=alice failures=1".
        log("warning: \(peerDescription): SASL \(mechanism) authentication failed: user=\(user ?? "(invalid)") failures=\(authenticationFailures)")
        emit(.delay(milliseconds: min(authenticationFailures * limits.authenticationFailureDelayMilliseconds,
                                                limits.maximumDelayMilliseconds)))
        send(SMTPReply(535, "5.7.8", "Authentication credentials invalid"))
        if authenticationFailures >= limits.maximumAuthenticationFailures {
            closeWith421("4.7.0", "Error: too many authentication failures")
        }
    }

    /// A SASL user name: UTF-8, 1…255 octets, no control characters.
    func validUserName(_ bytes: ArraySlice<UInt8>) -> String? {
        guard !bytes.isEmpty, bytes.count <= 255, let name = String(validating: bytes, as: UTF8.self),
              !name.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        else { return nil }
        return name
    }
}

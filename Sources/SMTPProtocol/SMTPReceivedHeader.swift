/// The `Received:` trace header a server adds to each message (RFC 5321 §4.4), in the layout
/// Postfix uses, so existing log and header tools read it:
///
/// ```
/// Received: from client.example (mail.client.example [192.0.2.1])
/// 	(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)
/// 	(authenticated sender: alice)
/// 	by mx.example.org (Postamt) with ESMTPSA id 1A2B3C
/// 	for <bob@example.org>; Sun, 29 Nov 2026 18:11:21 +0000
/// ```
///
/// Every value is checked or sanitised, so nothing a client sent can break the header
/// (parentheses, CR, LF, control characters become `?`). The engine has no clock: the host
/// passes the RFC 5322 date-time text.
public struct SMTPReceivedHeader: Sendable, Equatable {
    /// The HELO/EHLO argument; "unknown" when missing.
    public var heloName: String?
    /// The peer's IP address.
    public var peerAddress: String
    /// The peer's verified reverse DNS name.
    public var peerReverseName: String?
    /// The `with` keyword (RFC 3848 / RFC 6531), see ``SMTPSessionFacts/protocolKeyword(smtpUTF8:)``.
    public var protocolKeyword: String
    /// TLS parameters when the message came over TLS.
    public var tls: SMTPTLSInfo?
    /// The SASL user; include it only if the site wants it published.
    public var authenticatedUser: String?
    /// Our host name.
    public var hostname: String
    /// The queue id, when known before the header is written.
    public var queueID: String?
    /// The `for` clause: only when the message has exactly one recipient (RFC 5321 §7.2
    /// warns about disclosing Bcc recipients otherwise).
    public var recipient: SMTPMailbox?
    /// The date-time text (RFC 5322 §3.3).
    public var date: String

    public init(heloName: String?, peerAddress: String, peerReverseName: String? = nil, protocolKeyword: String,
                tls: SMTPTLSInfo? = nil, authenticatedUser: String? = nil, hostname: String, queueID: String? = nil,
                recipient: SMTPMailbox? = nil, date: String) {
        self.heloName = heloName
        self.peerAddress = peerAddress
        self.peerReverseName = peerReverseName
        self.protocolKeyword = protocolKeyword
        self.tls = tls
        self.authenticatedUser = authenticatedUser
        self.hostname = hostname
        self.queueID = queueID
        self.recipient = recipient
        self.date = date
    }

    /// Builds the header from a session's facts; `includeAuthenticatedUser` defaults to true.
    public init(facts: SMTPSessionFacts, hostname: String, smtpUTF8: Bool, queueID: String?,
                recipient: SMTPMailbox?, date: String, includeAuthenticatedUser: Bool = true) {
        self.init(heloName: facts.heloName, peerAddress: facts.peerAddress, peerReverseName: facts.peerReverseName,
                  protocolKeyword: facts.protocolKeyword(smtpUTF8: smtpUTF8), tls: facts.tls,
                  authenticatedUser: includeAuthenticatedUser ? facts.authenticatedUser : nil,
                  hostname: hostname, queueID: queueID, recipient: recipient, date: date)
    }

    /// The header with LF line ends (the queue's form), continuation lines folded with a tab.
    public func rendered() -> String {
        let helo = heloName.map { sanitizedToken($0, maximumLength: 255) } ?? "unknown"
        // TCP-info = address-literal / ( Domain FWS address-literal ); IPv6 literals carry "IPv6:".
        let address = sanitizedToken(peerAddress, maximumLength: 64)
        let literal = address.contains(":") ? "[IPv6:\(address)]" : "[\(address)]"
        let reverse = peerReverseName.map { sanitizedToken($0, maximumLength: 255) + " " } ?? ""
        var lines = ["Received: from \(helo) (\(reverse)\(literal))"]
        if let tls {
            lines.append("\t(using \(sanitizedToken(tls.version, maximumLength: 32)) with cipher \(sanitizedToken(tls.cipher, maximumLength: 64)))")
        }
        if let authenticatedUser {
            lines.append("\t(authenticated sender: \(sanitizedToken(authenticatedUser, maximumLength: 255)))")
        }
        var by = "\tby \(sanitizedToken(hostname, maximumLength: 255)) (Postamt) with \(sanitizedToken(protocolKeyword, maximumLength: 16))"
        if let queueID { by += " id \(sanitizedToken(queueID, maximumLength: 64))" }
        let dateText = sanitizedText(date)
        if let recipient {
            lines.append(by)
            lines.append("\tfor <\(sanitizedRecipient(recipient))>; \(dateText)")
        } else {
            lines.append(by + "; \(dateText)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A mailbox is already free of control characters; spaces inside a quoted local part are
    /// fine in a header, and we keep UTF-8 (the message is SMTPUTF8 then).
    private func sanitizedRecipient(_ mailbox: SMTPMailbox) -> String {
        sanitizedText(mailbox.text)
    }
}

import SMTPProtocol

/// DSN parameters (RFC 3461) on their way to the queue program, outside the message and
/// outside qmail-queue's F/T envelope (which must stay byte-compatible): two environment
/// variables, documented in postamt-smtpd(8).
///
///     POSTAMT_DSN=RET=HDRS ENVID=QQ+2B1
///     POSTAMT_DSN_RCPT=NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+40example.org<LF>-<LF>…
///
/// `POSTAMT_DSN_RCPT` has one line per envelope recipient, in envelope order, `-` for a
/// recipient without parameters. `REQUIRETLS` (RFC 8689) is a word of POSTAMT_DSN. Both are set only when the client gave a DSN parameter.
/// The values were validated by the engine (xtext: printable ASCII without spaces or `=`
/// inside a value, so the lines cannot be confused).
enum DSNSideChannel {
    static func environment(for envelope: SMTPEnvelope) -> [String] {
        guard let (transaction, recipients) = values(for: envelope) else { return [] }
        return ["POSTAMT_DSN=\(transaction)", "POSTAMT_DSN_RCPT=\(recipients ?? "")"]
    }

    /// The two variables' values (for the queue's code run in smtpd itself), nil when the
    /// client gave no DSN parameter.
    static func values(for envelope: SMTPEnvelope) -> (transaction: String, recipients: String?)? {
        var transaction: [String] = []
        if let ret = envelope.dsnReturn { transaction.append("RET=\(ret.rawValue)") }
        if let id = envelope.envelopeID { transaction.append("ENVID=\(id)") }
        // RFC 8689: REQUIRETLS travels the same way, as a word without a value.
        if envelope.requireTLS { transaction.append("REQUIRETLS") }
        var anyRecipient = false
        let lines = envelope.recipients.map { recipient -> String in
            var words: [String] = []
            if let notify = recipient.notify {
                var names: [String] = []
                if notify.contains(.never) { names.append("NEVER") }
                if notify.contains(.success) { names.append("SUCCESS") }
                if notify.contains(.failure) { names.append("FAILURE") }
                if notify.contains(.delay) { names.append("DELAY") }
                words.append("NOTIFY=" + names.joined(separator: ","))
            }
            if let orcpt = recipient.originalRecipient { words.append("ORCPT=\(orcpt)") }
            if !words.isEmpty { anyRecipient = true }
            return words.isEmpty ? "-" : words.joined(separator: " ")
        }
        guard !transaction.isEmpty || anyRecipient else { return nil }
        return (transaction.joined(separator: " "), lines.joined(separator: "\n"))
    }
}

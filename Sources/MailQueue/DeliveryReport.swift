import MailCore
import MailSystem

/// The one writer of delivery status notifications (RFC 3464): bounces, delay notices and
/// success notices differ only in their words and fields, never in the skeleton
/// (multipart/report; report-type=delivery-status, RFC 6522 §3: a human part, the
/// message/delivery-status part, the returned message or its headers). LF line ends, as the
/// queue stores messages.
struct DeliveryReport {
    /// One recipient's per-recipient fields (RFC 3464 §2.3) and its line in the human part.
    struct Recipient {
        var final: String
        var originalRecipient: String? = nil
        var action: String
        var status: String
        var diagnostic: String
        var willRetryUntil: Int64? = nil
    }

    var queueID: String
    var hostname: String
    var to: String
    var subject: String
    /// The Message-ID's tag: "bounce", "delay".
    var idTag: String
    var arrival: Int64
    var now: Int64
    var envelopeID: String? = nil
    /// The human part after "This is the mail system at host …", before the recipient lines.
    var explanation: String
    var recipients: [Recipient]
    /// The third part: its Content-Description, Content-Type and bytes.
    var returnedDescription: String
    var returnedType: String
    var returned: [UInt8]

    func message() -> [UInt8] {
        let boundary = "\(queueID).\(now)/\(hostname)"
        var text = ""
        text += "From: MAILER-DAEMON@\(hostname) (Mail Delivery System)\n"
        text += "To: \(to)\n"
        text += "Subject: \(subject)\n"
        text += "Date: \(Clock.rfc5322Date(now))\n"
        text += "Message-ID: <\(queueID).\(now).\(idTag)@\(hostname)>\n"
        text += "Auto-Submitted: auto-replied\n"
        text += "MIME-Version: 1.0\n"
        text += "Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"\(boundary)\"\n"
        text += "\nThis is a MIME-encapsulated message.\n\n"
        text += "--\(boundary)\n"
        text += "Content-Description: Notification\nContent-Type: text/plain; charset=utf-8\n\n"
        text += "This is the mail system at host \(hostname).\n\n"
        text += explanation
        for r in recipients { text += "<\(r.final)>: \(r.diagnostic)\n" }
        text += "\n--\(boundary)\n"
        text += "Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
        // RFC 3464 §2.2: per-message fields.
        if let envelopeID { text += "Original-Envelope-Id: \(DSNParameters.decodeXtext(envelopeID) ?? envelopeID)\n" }
        text += "Reporting-MTA: dns; \(hostname)\n"
        text += "X-Postamt-Queue-ID: \(queueID)\n"
        text += "Arrival-Date: \(Clock.rfc5322Date(arrival))\n"
        for r in recipients {
            // RFC 3464 §2.3: per-recipient fields.
            text += "\nFinal-Recipient: rfc822; \(r.final)\n"
            if let field = r.originalRecipient { text += "Original-Recipient: \(field)\n" }
            text += "Action: \(r.action)\n"
            text += "Status: \(r.status)\n"
            text += "Diagnostic-Code: X-Postamt; \(r.diagnostic)\n"
            if let until = r.willRetryUntil { text += "Will-Retry-Until: \(Clock.rfc5322Date(until))\n" }
        }
        text += "\n--\(boundary)\n"
        text += "Content-Description: \(returnedDescription)\nContent-Type: \(returnedType)\n\n"
        var bytes = Array(text.utf8)
        bytes += returned
        if bytes.last != 0x0A { bytes.append(0x0A) }
        bytes += Array("\n--\(boundary)--\n".utf8)
        return bytes
    }
}

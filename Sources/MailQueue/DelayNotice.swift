import MailCore
import MailSystem

/// The delay notice (RFC 3464, Action: delayed) that a sender gets once when a message is
/// still being retried after delay_warning_time.
public enum DelayNotice {
    public struct Delayed: Sendable {
        public let recipient: String
        public let reason: String
        public init(recipient: String, reason: String) { self.recipient = recipient; self.reason = reason }
    }

    /// LF line ends, as the queue stores messages.
    public static func message(queueID: String, hostname: String, to recipient: String, arrival: Int64,
                               delayed: [Delayed], originalHeaders: [UInt8], now: Int64 = Clock.seconds(),
                               retryUntil: Int64) -> [UInt8] {
        let boundary = "\(queueID).\(now)/\(hostname)"
        var text = "From: MAILER-DAEMON@\(hostname) (Mail Delivery System)\n"
        text += "To: \(recipient)\n"
        text += "Subject: Delayed Mail (still being retried)\n"
        text += "Date: \(Clock.rfc5322Date(now))\n"
        text += "Message-ID: <\(queueID).\(now).delay@\(hostname)>\n"
        text += "Auto-Submitted: auto-replied\n"
        text += "MIME-Version: 1.0\n"
        text += "Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"\(boundary)\"\n"
        text += "\nThis is a MIME-encapsulated message.\n\n--\(boundary)\n"
        text += "Content-Description: Notification\nContent-Type: text/plain; charset=utf-8\n\n"
        text += "This is the mail system at host \(hostname).\n\n"
        text += "Your message could not be delivered to some recipients yet. It stays\n"
        text += "in the queue and is retried until \(Clock.rfc5322Date(retryUntil)).\n"
        text += "You do not need to send it again.\n\n"
        for d in delayed { text += "<\(d.recipient)>: \(d.reason)\n" }
        text += "\n--\(boundary)\n"
        text += "Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
        text += "Reporting-MTA: dns; \(hostname)\n"
        text += "X-Postamt-Queue-ID: \(queueID)\n"
        text += "Arrival-Date: \(Clock.rfc5322Date(arrival))\n"
        for d in delayed {
            text += "\nFinal-Recipient: rfc822; \(d.recipient)\n"
            text += "Action: delayed\n"
            text += "Status: \(Bounce.statusCode(in: d.reason, permanentDefault: "4.0.0").replacingFirstClass())\n"
            text += "Diagnostic-Code: X-Postamt; \(d.reason)\n"
            text += "Will-Retry-Until: \(Clock.rfc5322Date(retryUntil))\n"
        }
        text += "\n--\(boundary)\n"
        text += "Content-Description: Message Headers\nContent-Type: text/rfc822-headers\n\n"
        var bytes = Array(text.utf8)
        bytes += originalHeaders
        if bytes.last != 0x0A { bytes.append(0x0A) }
        bytes += Array("\n--\(boundary)--\n".utf8)
        return bytes
    }
}

extension String {
    /// A delay is never class 5: "5.1.1" from a retried reason becomes "4.1.1".
    func replacingFirstClass() -> String { hasPrefix("5.") ? "4" + dropFirst() : self }
}

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
        DeliveryReport(
            queueID: queueID, hostname: hostname, to: recipient, subject: "Delayed Mail (still being retried)",
            idTag: "delay", arrival: arrival, now: now,
            explanation: "Your message could not be delivered to some recipients yet. It stays\n"
                + "in the queue and is retried until \(Clock.rfc5322Date(retryUntil)).\n"
                + "You do not need to send it again.\n\n",
            recipients: delayed.map {
                .init(final: $0.recipient, action: "delayed",
                      status: Bounce.statusCode(in: $0.reason, permanentDefault: "4.0.0").replacingFirstClass(),
                      diagnostic: $0.reason, willRetryUntil: retryUntil)
            },
            returnedDescription: "Message Headers", returnedType: "text/rfc822-headers",
            returned: originalHeaders).message()
    }
}

extension String {
    /// A delay is never class 5: "5.1.1" from a retried reason becomes "4.1.1".
    func replacingFirstClass() -> String { hasPrefix("5.") ? "4" + dropFirst() : self }
}

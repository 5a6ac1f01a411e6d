import MailCore
import MailMessage
import MailSystem

/// Delivery status notifications (RFC 3464) for recipients that failed for good.
public enum Bounce {
    public struct Failed: Sendable {
        public let original: String
        public let final: String
        public let reason: String
        /// DSN ORCPT (addr-type;xtext), reported as Original-Recipient when given.
        public let orcpt: String?
        /// The Action field when not the report's default (failed, or delivered for success).
        public let action: String?
        public init(original: String, final: String, reason: String, orcpt: String? = nil, action: String? = nil) {
            self.original = original; self.final = final; self.reason = reason; self.orcpt = orcpt; self.action = action
        }

        /// RFC 3461 §6.3/RFC 3464 §2.3.1: the ORCPT value (xtext decoded), else the envelope
        /// recipient when aliasing changed it.
        var originalRecipientField: String? {
            if let orcpt, let semi = orcpt.firstIndex(of: ";") {
                let type = orcpt[..<semi], value = String(orcpt[orcpt.index(after: semi)...])
                return "\(type);\(DSNParameters.decodeXtext(value) ?? value)"
            }
            return original != final ? "rfc822; \(original)" : nil
        }
    }

    /// The enhanced status code (RFC 3463) in a reason, qmail-style "(#5.1.1)" or bare "5.1.1".
    public static func statusCode(in reason: String, permanentDefault: String = "5.0.0") -> String {
        let chars = Array(reason)
        var i = 0
        while i < chars.count {
            if (chars[i] == "4" || chars[i] == "5" || chars[i] == "2"), i + 4 < chars.count, chars[i + 1] == "." {
                var j = i + 2
                var first = ""
                while j < chars.count, chars[j].isNumber, first.count < 3 { first.append(chars[j]); j += 1 }
                if !first.isEmpty, j < chars.count, chars[j] == "." {
                    j += 1
                    var second = ""
                    while j < chars.count, chars[j].isNumber, second.count < 3 { second.append(chars[j]); j += 1 }
                    let before = i == 0 || !chars[i - 1].isNumber
                    let after = j >= chars.count || !chars[j].isNumber
                    if !second.isEmpty && before && after && chars[i] != "2" {
                        return "\(chars[i]).\(first).\(second)"
                    }
                }
            }
            i += 1
        }
        return permanentDefault
    }

    /// Builds the bounce message (LF line ends, as the queue stores messages).
    public static func message(queueID: String, hostname: String, to recipient: String, arrival: Int64,
                               failed: [Failed], originalHeaders: [UInt8], now: Int64 = Clock.seconds(),
                               postmasterNotice: Bool = false, envelopeID: String? = nil,
                               returnedMessage: [UInt8]? = nil, success: Bool = false) -> [UInt8] {
        let description = returnedMessage != nil ? "Undelivered Message"
            : success ? "Delivered Message Headers" : "Undelivered Message Headers"
        return DeliveryReport(
            queueID: queueID, hostname: hostname, to: recipient,
            subject: success ? "Successful Mail Delivery Report"
                : postmasterNotice ? "Undeliverable mail notification (postmaster copy)" : "Undelivered Mail Returned to Sender",
            idTag: "bounce", arrival: arrival, now: now, envelopeID: envelopeID,
            explanation: success && failed.contains(where: { $0.action == "relayed" })
                ? "Your message was delivered or passed on to the recipients below, as you\nasked (DSN NOTIFY=SUCCESS). Where the report says \"relayed\", the next mail\nsystem does not offer delivery notifications: no further report will come.\n\n"
                : success ? "Your message was delivered to the recipients below, as you asked\n(DSN NOTIFY=SUCCESS).\n\n"
                : "I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients. The reasons are below.\n\n",
            recipients: failed.map {
                .init(final: $0.final, originalRecipient: $0.originalRecipientField,
                      action: $0.action ?? (success ? "delivered" : "failed"),
                      status: success ? "2.0.0" : statusCode(in: $0.reason), diagnostic: $0.reason)
            },
            returnedDescription: description,
            returnedType: returnedMessage != nil ? "message/rfc822" : "text/rfc822-headers",
            returned: returnedMessage ?? originalHeaders).message()
    }

    /// The header section of a message file (at most `limit` bytes of it).
    public static func headers(ofMessageAt path: String, limit: Int = 256 << 10) -> [UInt8] {
        guard let fd = try? QueueFile.openMessage(path) else { return [] }
        var data: [UInt8] = []
        while data.count < limit, let chunk = try? FileIO.read(fd.raw, max: 65536), !chunk.isEmpty { data += chunk }
        let section = HeaderSection.parse(data, limit: limit)
        let end = section.fields.last?.range.upperBound ?? 0
        return Array(data[0..<min(end, data.count)])
    }
}

import MailCodec
/// DSN parameters (RFC 3461) of one queued message: what postamt-smtpd received in MAIL and
/// RCPT and passed in POSTAMT_DSN / POSTAMT_DSN_RCPT (postamt-smtpd(8)). Kept in their wire
/// form (xtext), validated strictly: a value here cannot hold spaces or line ends.
public struct DSNParameters: Equatable, Sendable {
    /// "FULL" or "HDRS".
    public var ret: String?
    /// xtext, at most 100 characters.
    public var envid: String?
    /// One per envelope recipient, in envelope order (empty: no recipient parameters).
    public var recipients: [RecipientDSN]
    /// MAIL FROM … REQUIRETLS (RFC 8689 §4.1): not a DSN parameter, but it travels the same
    /// side channel as the word `REQUIRETLS` in POSTAMT_DSN, and the same way to the next hop.
    public var requireTLS: Bool

    public init(ret: String? = nil, envid: String? = nil, recipients: [RecipientDSN] = [], requireTLS: Bool = false) {
        self.ret = ret; self.envid = envid; self.recipients = recipients; self.requireTLS = requireTLS
    }

    public var isEmpty: Bool { ret == nil && envid == nil && !requireTLS && recipients.allSatisfy(\.isEmpty) }

    public struct Invalid: Error, CustomStringConvertible {
        public let why: String
        public var description: String { why }
    }

    /// Parses the two environment values for an envelope of `count` recipients. The
    /// recipient lines are matched by position: one line per recipient, "-" for none.
    public static func parse(transaction: String, recipientLines: String?, count: Int) throws(Invalid) -> DSNParameters {
        var result = DSNParameters()
        for word in transaction.split(separator: " ", omittingEmptySubsequences: true) {
            if word.uppercased() == "REQUIRETLS" {
                guard !result.requireTLS else { throw Invalid(why: "repeated REQUIRETLS") }
                result.requireTLS = true
                continue
            }
            guard let eq = word.firstIndex(of: "=") else { throw Invalid(why: "bad word '\(word)'") }
            let key = word[..<eq].uppercased(), value = String(word[word.index(after: eq)...])
            switch key {
            case "RET" where result.ret == nil:
                guard let ret = validRet(value) else { throw Invalid(why: "bad RET") }
                result.ret = ret
            case "ENVID" where result.envid == nil:
                guard isXtext(value, limit: 100) else { throw Invalid(why: "bad ENVID") }
                result.envid = value
            default: throw Invalid(why: "unknown or repeated parameter \(key)")
            }
        }
        if let recipientLines, !recipientLines.isEmpty {
            let lines = recipientLines.split(separator: "\n", omittingEmptySubsequences: false)
            guard lines.count == count else { throw Invalid(why: "\(lines.count) recipient lines for \(count) recipients") }
            for line in lines {
                var r = RecipientDSN()
                if line != "-" {
                    for word in line.split(separator: " ", omittingEmptySubsequences: false) {
                        guard let eq = word.firstIndex(of: "=") else { throw Invalid(why: "bad word '\(word)'") }
                        let key = word[..<eq].uppercased(), value = String(word[word.index(after: eq)...])
                        switch key {
                        case "NOTIFY" where r.notify == nil:
                            guard let n = validNotify(value) else { throw Invalid(why: "bad NOTIFY") }
                            r.notify = n
                        case "ORCPT" where r.orcpt == nil:
                            guard validOrcpt(value) else { throw Invalid(why: "bad ORCPT") }
                            r.orcpt = value
                        default: throw Invalid(why: "unknown or repeated parameter \(key)")
                        }
                    }
                }
                result.recipients.append(r)
            }
            if result.recipients.allSatisfy(\.isEmpty) { result.recipients = [] }
        }
        return result
    }

    public static func validRet(_ value: String) -> String? {
        let v = value.uppercased()
        return v == "FULL" || v == "HDRS" ? v : nil
    }

    /// "NEVER", or a non-empty subset of SUCCESS, FAILURE, DELAY without repeats; returned in
    /// canonical order.
    public static func validNotify(_ value: String) -> String? {
        let words = value.uppercased().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if words == ["NEVER"] { return "NEVER" }
        let allowed = ["SUCCESS", "FAILURE", "DELAY"]
        guard !words.isEmpty, Set(words).count == words.count, words.allSatisfy(allowed.contains) else { return nil }
        return allowed.filter(words.contains).joined(separator: ",")
    }

    /// addr-type ";" xtext, at most 500 characters.
    public static func validOrcpt(_ value: String) -> Bool {
        guard value.utf8.count <= 500, let semi = value.firstIndex(of: ";") else { return false }
        let type = value[..<semi]
        guard !type.isEmpty, type.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D }) else { return false }
        return isXtext(String(value[value.index(after: semi)...]), limit: 500)
    }

    /// RFC 3461 §4: xchar is 33–126 except "+" and "="; "+" is followed by two upper-case hex
    /// digits (MailCodec's XText, the one copy).
    public static func isXtext(_ value: String, limit: Int) -> Bool {
        let b = Array(value.utf8)
        return !b.isEmpty && b.count <= limit && XText.isValid(b)
    }

    /// xtext decoded for a report field; nil when the result would hold control characters.
    public static func decodeXtext(_ value: String) -> String? {
        let b = Array(value.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < b.count {
            if b[i] == 0x2B, i + 2 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                out.append(v); i += 3
            } else {
                out.append(b[i]); i += 1
            }
        }
        guard out.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }), let s = String(validating: out, as: UTF8.self) else { return nil }
        return s
    }
}

/// One recipient's NOTIFY and ORCPT.
public struct RecipientDSN: Equatable, Sendable {
    /// Canonical: "NEVER" or a comma list in the order SUCCESS,FAILURE,DELAY.
    public var notify: String?
    /// addr-type;xtext as received.
    public var orcpt: String?
    public init(notify: String? = nil, orcpt: String? = nil) { self.notify = notify; self.orcpt = orcpt }
    public var isEmpty: Bool { notify == nil && orcpt == nil }
}

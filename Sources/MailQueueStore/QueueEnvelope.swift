import MailCore

/// The envelope file postamt-queue commits into incoming/ID. Text, one field a line, so that
/// `cat` shows it; addresses cannot contain line ends (EnvelopeAddress guarantees it).
/// The final `end` line makes the file self-validating: a truncated file is never taken for a
/// message, and `size` must match the message file.
public struct QueueEnvelope: Equatable, Sendable {
    public var id: String
    public var arrival: Int64
    public var size: Int64
    public var envelope: Envelope
    /// The real uid that ran postamt-queue (Postfix's pickup logs it too).
    public var uid: UInt32?
    /// The user who submitted the message and passed the sender check (postamt-queue(8)): the
    /// SMTP AUTH user smtpd names, or the local user who ran sendmail. nil for mail that came
    /// from outside; postamt-remote DKIM-signs only mail with a submitter who owns its From:.
    public var submitter: String?
    /// DSN parameters (RFC 3461): `ret`/`envid` lines after `sender`, `notify`/`orcpt` lines
    /// after the `rcpt` line they belong to; `requiretls yes` after `sender` for REQUIRETLS
    /// (RFC 8689). Optional: files without them stay valid.
    public var dsn: DSNParameters

    public init(id: String, arrival: Int64, size: Int64, envelope: Envelope, uid: UInt32? = nil, submitter: String? = nil,
                dsn: DSNParameters = DSNParameters()) {
        self.id = id; self.arrival = arrival; self.size = size; self.envelope = envelope; self.uid = uid
        self.submitter = submitter; self.dsn = dsn
    }

    static let magic = "POSTAMT-ENVELOPE 1"

    public func encoded() -> [UInt8] {
        var text = "\(QueueEnvelope.magic)\nid \(id)\narrival \(arrival)\nsize \(size)\n"
        if let uid { text += "uid \(uid)\n" }
        if let submitter { text += "submitter \(submitter)\n" }
        text += "sender \(envelope.sender.text)\n"
        if let ret = dsn.ret { text += "ret \(ret)\n" }
        if let envid = dsn.envid { text += "envid \(envid)\n" }
        if dsn.requireTLS { text += "requiretls yes\n" }
        for (i, r) in envelope.recipients.enumerated() {
            text += "rcpt \(r.text)\n"
            if i < dsn.recipients.count {
                if let notify = dsn.recipients[i].notify { text += "notify \(notify)\n" }
                if let orcpt = dsn.recipients[i].orcpt { text += "orcpt \(orcpt)\n" }
            }
        }
        text += "end\n"
        return Array(text.utf8)
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let why: String
        public init(why: String) { self.why = why }
        public var description: String { "invalid envelope file: \(why)" }
    }

    public static func decode(_ bytes: [UInt8]) throws(Invalid) -> QueueEnvelope {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw Invalid(why: "not UTF-8") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.last == "" else { throw Invalid(why: "no final line end") }
        lines.removeLast()
        guard lines.first == Substring(magic) else { throw Invalid(why: "bad magic") }
        guard lines.last == "end" else { throw Invalid(why: "truncated (no end line)") }
        var id: String?, arrival: Int64?, size: Int64?, sender: EnvelopeAddress?, uid: UInt32?, submitter: String?
        var recipients: [EnvelopeAddress] = []
        var dsn = DSNParameters()
        var perRecipient: [RecipientDSN] = []
        for line in lines.dropFirst().dropLast() {
            guard let space = line.firstIndex(of: " ") else { throw Invalid(why: "bad line '\(line)'") }
            let key = line[..<space]
            let value = String(line[line.index(after: space)...])
            switch key {
            case "id": id = value
            case "arrival": arrival = Int64(value)
            case "size": size = Int64(value)
            case "uid": uid = UInt32(value)
            case "submitter":
                guard AddressSyntax.userNameProblem(value) == nil else { throw Invalid(why: "bad submitter line") }
                submitter = value
            case "sender":
                do { sender = try EnvelopeAddress(value, allowEmpty: true, lengthLimit: 4096) } catch { throw Invalid(why: "sender: \(error)") }
            case "rcpt":
                do { recipients.append(try EnvelopeAddress(value, lengthLimit: 4096)) } catch { throw Invalid(why: "rcpt: \(error)") }
                perRecipient.append(RecipientDSN())
            case "ret":
                guard dsn.ret == nil, recipients.isEmpty, let ret = DSNParameters.validRet(value), ret == value else { throw Invalid(why: "bad ret line") }
                dsn.ret = ret
            case "envid":
                guard dsn.envid == nil, recipients.isEmpty, DSNParameters.isXtext(value, limit: 100) else { throw Invalid(why: "bad envid line") }
                dsn.envid = value
            case "requiretls":
                // RFC 8689: MAIL FROM … REQUIRETLS, from the trusted side channel only.
                guard !dsn.requireTLS, recipients.isEmpty, value == "yes" else { throw Invalid(why: "bad requiretls line") }
                dsn.requireTLS = true
            case "notify":
                guard !perRecipient.isEmpty, perRecipient[perRecipient.count - 1].notify == nil,
                      let notify = DSNParameters.validNotify(value), notify == value else { throw Invalid(why: "bad notify line") }
                perRecipient[perRecipient.count - 1].notify = notify
            case "orcpt":
                guard !perRecipient.isEmpty, perRecipient[perRecipient.count - 1].orcpt == nil,
                      DSNParameters.validOrcpt(value) else { throw Invalid(why: "bad orcpt line") }
                perRecipient[perRecipient.count - 1].orcpt = value
            default: throw Invalid(why: "unknown field '\(key)'")
            }
        }
        guard let id, let arrival, let size, let sender, !recipients.isEmpty else { throw Invalid(why: "missing fields") }
        if !perRecipient.allSatisfy(\.isEmpty) { dsn.recipients = perRecipient }
        return QueueEnvelope(id: id, arrival: arrival, size: size, envelope: Envelope(sender: sender, recipients: recipients), uid: uid,
                             submitter: submitter, dsn: dsn)
    }
}

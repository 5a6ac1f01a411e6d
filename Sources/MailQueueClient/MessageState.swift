import MailCore

/// Where one recipient's copy goes (what the runner resolved the envelope recipient to).
public enum Destination: Equatable, Sendable {
    case user(name: String, extension: String?, address: String)
    case aliasCommand(command: String, alias: String)
    case aliasFile(path: String, alias: String)
    case remote(address: String)

    public var address: String {
        switch self {
        case .user(_, _, let a), .remote(let a): return a
        case .aliasCommand(let c, let alias): return "|\(c) (alias \(alias))"
        case .aliasFile(let p, let alias): return "\(p) (alias \(alias))"
        }
    }
}

/// One recipient's progress. It survives restarts in the state file.
public struct RecipientState: Equatable, Sendable {
    public enum Status: String, Sendable {
        /// To be tried at `nextAttempt`.
        case pending
        /// Delivered.
        case delivered
        /// Failed for good; a bounce must still report it.
        case failed
        /// Failed and reported in a bounce (or logged as a discarded double bounce).
        case reported
    }

    public var status: Status
    public var attempts: Int
    public var nextAttempt: Int64
    /// The recipient as it was in the envelope.
    public let original: String
    /// nil until resolved; an unresolvable recipient goes straight to `failed`.
    public var destination: Destination?
    /// The last result text (with an enhanced status code like "#5.1.1" where one is known).
    public var reason: String
    /// DSN (RFC 3461) NOTIFY of the envelope recipient this copy came from: nil (not given),
    /// "NEVER" or a list of SUCCESS, FAILURE, DELAY.
    public var notify: String?
    /// DSN ORCPT (addr-type;xtext) of the envelope recipient.
    public var orcpt: String?
    /// NOTIFY=SUCCESS: the success notice for this delivery is queued.
    public var successReported = false

    public init(status: Status = .pending, attempts: Int = 0, nextAttempt: Int64 = 0, original: String,
                destination: Destination?, reason: String = "", notify: String? = nil, orcpt: String? = nil) {
        self.status = status; self.attempts = attempts; self.nextAttempt = nextAttempt
        self.original = original; self.destination = destination; self.reason = reason
        self.notify = notify; self.orcpt = orcpt
    }

    /// Whether NOTIFY asks for (or, when absent, defaults to) reports of `kind`.
    public func wants(_ kind: String) -> Bool {
        guard let notify else { return kind == "FAILURE" || kind == "DELAY" }
        return notify.split(separator: ",").contains { $0 == kind }
    }

    /// Delivered and, when NOTIFY=SUCCESS asked for it, reported.
    public var needsSuccessNotice: Bool { status == .delivered && !successReported && notify != nil && wants("SUCCESS") }

    public var isFinal: Bool { (status == .delivered && !needsSuccessNotice) || status == .reported }
}

/// The runner's record of one queued message: state/ID. Rewritten as a whole through a
/// temporary file, fsync and rename, so it is always the old or the new version.
public struct MessageState: Equatable, Sendable {
    public let id: String
    public let arrival: Int64
    public let size: Int64
    public let sender: String
    public var held: Bool
    /// A delay notice went to the sender (delay_warning_time); written only when set.
    public var warned = false
    /// DSN RET ("FULL" or "HDRS") and ENVID (xtext); written only when set.
    public var ret: String?
    public var envid: String?
    /// Who submitted it (QueueEnvelope.submitter); written only when set.
    public var submitter: String?
    /// MAIL FROM … REQUIRETLS (RFC 8689); written only when set.
    public var requireTLS = false
    public var recipients: [RecipientState]

    public init(id: String, arrival: Int64, size: Int64, sender: String, held: Bool = false, recipients: [RecipientState]) {
        self.id = id; self.arrival = arrival; self.size = size; self.sender = sender
        self.held = held; self.recipients = recipients
    }

    public var isComplete: Bool { recipients.allSatisfy(\.isFinal) }

    static let magic = "POSTAMT-STATE 1"

    /// Fields are separated by TAB; values never hold TAB or line ends (sanitised on encode).
    public func encoded() -> [UInt8] {
        var text = "\(MessageState.magic)\nid\t\(id)\narrival\t\(arrival)\nsize\t\(size)\nsender\t\(sender)\nheld\t\(held ? 1 : 0)\n"
        if warned { text += "warned\t1\n" }
        if let ret { text += "ret\t\(MessageState.sanitize(ret))\n" }
        if let envid { text += "envid\t\(MessageState.sanitize(envid))\n" }
        if let submitter { text += "submitter\t\(MessageState.sanitize(submitter))\n" }
        if requireTLS { text += "requiretls\t1\n" }
        for r in recipients {
            var fields = ["rcpt", r.status.rawValue, String(r.attempts), String(r.nextAttempt), r.original]
            switch r.destination {
            case .none: fields += ["none", "", "", ""]
            case .user(let name, let ext, let address): fields += ["user", name, ext ?? "", address]
            case .aliasCommand(let c, let alias): fields += ["command", c, alias, ""]
            case .aliasFile(let p, let alias): fields += ["file", p, alias, ""]
            case .remote(let a): fields += ["remote", a, "", ""]
            }
            fields.append(r.reason)
            // Three more fields only with DSN data: older state files have ten.
            if r.notify != nil || r.orcpt != nil || r.successReported {
                fields += [r.notify ?? "", r.orcpt ?? "", r.successReported ? "1" : "0"]
            }
            text += fields.map(MessageState.sanitize).joined(separator: "\t") + "\n"
        }
        text += "end\n"
        return Array(text.utf8)
    }

    static func sanitize(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let why: String
        public var description: String { "invalid state file: \(why)" }
    }

    public static func decode(_ bytes: [UInt8]) throws(Invalid) -> MessageState {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw Invalid(why: "not UTF-8") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.last == "" else { throw Invalid(why: "no final line end") }
        lines.removeLast()
        guard lines.first == Substring(magic), lines.last == "end" else { throw Invalid(why: "bad magic or truncated") }
        var id: String?, arrival: Int64?, size: Int64?, sender: String?, held = false, warned = false
        var ret: String?, envid: String?, submitter: String?, requireTLS = false
        var recipients: [RecipientState] = []
        for line in lines.dropFirst().dropLast() {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            switch f[0] {
            case "id": id = f.count == 2 ? f[1] : nil
            case "arrival": arrival = f.count == 2 ? Int64(f[1]) : nil
            case "size": size = f.count == 2 ? Int64(f[1]) : nil
            case "sender": sender = f.count == 2 ? f[1] : nil
            case "held": held = f.count == 2 && f[1] == "1"
            case "warned": warned = f.count == 2 && f[1] == "1"
            case "ret":
                guard f.count == 2, f[1] == "FULL" || f[1] == "HDRS" else { throw Invalid(why: "bad ret line") }
                ret = f[1]
            case "envid":
                guard f.count == 2, !f[1].isEmpty else { throw Invalid(why: "bad envid line") }
                envid = f[1]
            case "submitter":
                guard f.count == 2, AddressSyntax.userNameProblem(f[1]) == nil else { throw Invalid(why: "bad submitter line") }
                submitter = f[1]
            case "requiretls":
                guard f.count == 2, f[1] == "1" else { throw Invalid(why: "bad requiretls line") }
                requireTLS = true
            case "rcpt":
                guard f.count == 10 || f.count == 13, let status = RecipientState.Status(rawValue: f[1]),
                      let attempts = Int(f[2]), let next = Int64(f[3]) else { throw Invalid(why: "bad rcpt line") }
                let destination: Destination?
                switch f[5] {
                case "none": destination = nil
                case "user": destination = .user(name: f[6], extension: f[7].isEmpty ? nil : f[7], address: f[8])
                case "command": destination = .aliasCommand(command: f[6], alias: f[7])
                case "file": destination = .aliasFile(path: f[6], alias: f[7])
                case "remote": destination = .remote(address: f[6])
                default: throw Invalid(why: "unknown destination kind \(f[5])")
                }
                var r = RecipientState(status: status, attempts: attempts, nextAttempt: next,
                                       original: f[4], destination: destination, reason: f[9])
                if f.count == 13 {
                    guard f[12] == "0" || f[12] == "1" else { throw Invalid(why: "bad rcpt line") }
                    r.notify = f[10].isEmpty ? nil : f[10]
                    r.orcpt = f[11].isEmpty ? nil : f[11]
                    r.successReported = f[12] == "1"
                }
                recipients.append(r)
            default: throw Invalid(why: "unknown field \(f[0])")
            }
        }
        guard let id, let arrival, let size, let sender, !recipients.isEmpty else { throw Invalid(why: "missing fields") }
        var state = MessageState(id: id, arrival: arrival, size: size, sender: sender, held: held, recipients: recipients)
        state.warned = warned
        state.ret = ret
        state.envid = envid
        state.submitter = submitter
        state.requireTLS = requireTLS
        return state
    }
}

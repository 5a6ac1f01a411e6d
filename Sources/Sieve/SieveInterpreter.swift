import MailMessage

/// What a script decided: the actions in order, for postamt-local to carry out (or for
/// `postamt sieve test` to print).
public enum SieveAction: Sendable, Equatable, CustomStringConvertible {
    /// Into the default mailbox (explicit keep, or the implicit keep).
    case keep(flags: [String])
    case fileinto(mailbox: String, flags: [String], create: Bool)
    case redirect(address: String)
    case reject(reason: String, extended: Bool)
    case vacation(SieveVacationReply)

    public var description: String {
        func f(_ flags: [String]) -> String { flags.isEmpty ? "" : " flags \(flags.joined(separator: " "))" }
        switch self {
        case .keep(let flags): return "keep\(f(flags))"
        case .fileinto(let m, let flags, let create): return "fileinto \"\(m)\"\(f(flags))\(create ? " (create)" : "")"
        case .redirect(let a): return "redirect <\(a)>"
        case .reject(let r, let e): return "\(e ? "ereject" : "reject") \"\(r)\""
        case .vacation(let v): return "vacation to <\(v.to)> subject \"\(v.subject)\"\(v.period.map { " period \($0)s" } ?? "")"
        }
    }
}

/// A vacation reply the script asked for and RFC 5230 §4.5–4.6 and RFC 3834 allow; whether
/// this sender had one within the period is decided by the delivery's reply database.
public struct SieveVacationReply: Sendable, Equatable {
    public var to: String
    public var from: String?
    public var subject: String
    public var reason: String
    public var mime: Bool
    /// Identifies "the same vacation" (RFC 5230 §4.2) in the reply database.
    public var handle: String
    public var period: Int?
    public var inReplyTo: String?
    public var references: String?
}

public struct SieveRunLimits: Sendable {
    public var maxActions = 32
    public var maxRedirects = 4
    public var maxIncludeDepth = 10
    /// Interpreter steps (commands and tests evaluated): bounds a script's run time.
    public var maxSteps = 100_000
    /// Bytes of body text the body test looks at.
    public var maxBodyBytes = 1 << 20
    public init() {}
}

/// What the interpreter needs from outside, as values and closures, so it does no I/O itself.
public struct SieveEnvironment {
    /// Now, seconds since the epoch (currentdate, the vacation period).
    public var now: Int64 = 0
    /// The local zone's offset in seconds east of UTC (date without :zone).
    public var localZone: Int = 0
    public var recipientDelimiter: String = "+"
    /// The user's own addresses besides the envelope recipient (vacation: is the mail to me?).
    public var userAddresses: [String] = []
    public var limits = SieveRunLimits()
    /// postamt-spamcheck's tag score: X-Spam-Score at this value is spamtest 6 / 50 %.
    public var spamTagScore: Double = 5
    public var mailboxExists: (String) -> Bool = { _ in false }
    /// A script for include (personal or global), compiled; nil when there is none.
    public var loadScript: (String, Bool) throws -> SieveScript? = { _, _ in nil }
    /// Whether a duplicate-tracking id was seen within its period.
    public var isDuplicate: (String) -> Bool = { _ in false }
    public init() {}
}

public struct SieveResult: Sendable {
    public var actions: [SieveAction]
    /// The message after editheader (equal to the input when nothing was edited).
    public var message: SieveMessage
    /// Ids the duplicate test tracks, with their periods: recorded once delivery succeeded.
    public var duplicateMarks: [(id: String, seconds: Int)]
    /// Notes for the log: vacation replies not sent and why.
    public var notes: [String]
}

/// The interpreter (RFC 5228 §2.10 for the implicit keep and action conflicts).
public struct SieveInterpreter {
    var environment: SieveEnvironment
    var message: SieveMessage
    var actions: [SieveAction] = []
    var implicitKeep = true
    var explicitKeep = false
    var flags: [String] = []
    var globals: [String: String] = [:]
    var matchVariables: [String] = []
    var steps = 0
    var redirects = 0
    var notes: [String] = []
    var duplicateMarks: [(id: String, seconds: Int)] = []
    var included: Set<String> = []
    var stopped = false
    var hadVacation = false

    struct Frame {
        var script: SieveScript
        var variables: [String: String] = [:]
        var globalNames: Set<String> = []
        var depth: Int
    }

    public static func run(_ script: SieveScript, message: SieveMessage, environment: SieveEnvironment) throws -> SieveResult {
        var interpreter = SieveInterpreter(environment: environment, message: message)
        return try interpreter.run(scripts: [script])
    }

    /// Runs the global "before" scripts, the user's and the "after" ones in turn: a stop ends all.
    public static func run(scripts: [SieveScript], message: SieveMessage, environment: SieveEnvironment) throws -> SieveResult {
        var interpreter = SieveInterpreter(environment: environment, message: message)
        return try interpreter.run(scripts: scripts)
    }

    init(environment: SieveEnvironment, message: SieveMessage) {
        self.environment = environment
        self.message = message
    }

    mutating func run(scripts: [SieveScript]) throws -> SieveResult {
        for script in scripts where !stopped {
            var frame = Frame(script: script, depth: 0)
            _ = try execute(script.commands, &frame)
        }
        if implicitKeep && !explicitKeep {
            actions.append(.keep(flags: flags))
        }
        return SieveResult(actions: actions, message: message, duplicateMarks: duplicateMarks, notes: notes)
    }

    // MARK: Commands

    enum Flow { case next, stop, returned }

    mutating func step(_ at: String) throws {
        steps += 1
        if steps > environment.limits.maxSteps {
            throw SieveError("the script ran more than \(environment.limits.maxSteps) steps (sieve_max_steps)")
        }
    }

    mutating func execute(_ commands: [SieveCommand], _ frame: inout Frame) throws -> Flow {
        for c in commands {
            try step("command")
            let flow = try execute(c, &frame)
            if flow != .next { return flow }
        }
        return .next
    }

    func expand(_ s: String, _ frame: Frame) -> String {
        guard frame.script.extensions.contains("variables") else { return s }
        return SieveVariables.expand(s) { name in
            if let n = Int(name) { return n < matchVariables.count ? matchVariables[n] : "" }
            if frame.globalNames.contains(name) || name.hasPrefix("global.") {
                let key = name.hasPrefix("global.") ? String(name.dropFirst(7)) : name
                return globals[key]
            }
            return frame.variables[name]
        }
    }

    func expand(_ list: [String], _ frame: Frame) -> [String] { list.map { expand($0, frame) } }

    mutating func add(_ action: SieveAction) throws {
        // RFC 5228 §2.10.3: the same fileinto or redirect twice is done once.
        if actions.contains(action) { return }
        if case .keep = action, actions.contains(where: { if case .keep = $0 { return true } else { return false } }) { return }
        let count = actions.filter { if case .vacation = $0 { return false } else { return true } }.count
        guard count < environment.limits.maxActions else {
            throw SieveError("more than \(environment.limits.maxActions) actions (sieve_max_actions)")
        }
        let rejected = actions.contains { if case .reject = $0 { return true } else { return false } }
        switch action {
        case .reject:
            // RFC 5429 §2.1: reject conflicts with vacation; we also refuse it beside a delivery.
            if actions.contains(where: { if case .reject = $0 { return false } else { return true } }) || explicitKeep {
                throw SieveError("reject cannot be combined with keep, fileinto, redirect or vacation")
            }
        case .keep, .fileinto, .redirect, .vacation:
            if rejected { throw SieveError("reject cannot be combined with keep, fileinto, redirect or vacation") }
        }
        actions.append(action)
    }

    func flagList(_ list: [String]) -> [String] {
        var out: [String] = []
        for item in list {
            for f in item.split(whereSeparator: { $0 == " " }) where !out.contains(where: { $0.lowercasedASCII() == f.lowercasedASCII() }) {
                out.append(String(f))
            }
        }
        return out
    }

    mutating func execute(_ command: SieveCommand, _ frame: inout Frame) throws -> Flow {
        switch command {
        case .conditional(let branches, let otherwise):
            for (test, block) in branches {
                if try evaluate(test, &frame) { return try execute(block, &frame) }
            }
            if let otherwise { return try execute(otherwise, &frame) }
            return .next
        case .stop:
            stopped = true
            return .stop
        case .return:
            return .returned
        case .keep(let f):
            explicitKeep = true
            try add(.keep(flags: f.map { flagList(expand($0, frame)) } ?? flags))
        case .discard:
            implicitKeep = false
        case .fileinto(let mailbox, let f, let copy, let create):
            let name = expand(mailbox, frame)
            let fl = f.map { flagList(expand($0, frame)) } ?? flags
            if name.lowercasedASCII() == "inbox" {
                explicitKeep = true
                try add(.keep(flags: fl))
            } else {
                try add(.fileinto(mailbox: name, flags: fl, create: create))
            }
            if !copy { implicitKeep = false }
        case .redirect(let address, let copy):
            let a = expand(address, frame)
            guard SieveAddress.isValidRedirectTarget(a) else { throw SieveError("redirect: \"\(a)\" is not an address") }
            if !actions.contains(.redirect(address: a)) {
                redirects += 1
                guard redirects <= environment.limits.maxRedirects else {
                    throw SieveError("more than \(environment.limits.maxRedirects) redirects (sieve_max_redirects)")
                }
            }
            try add(.redirect(address: a))
            if !copy { implicitKeep = false }
        case .reject(let reason, let extended):
            try add(.reject(reason: expand(reason, frame), extended: extended))
            implicitKeep = false
        case .vacation(let v):
            guard !hadVacation else { throw SieveError("vacation used twice (RFC 5230 §4)") }
            hadVacation = true
            if let reply = try vacationReply(v, frame) { try add(.vacation(reply)) }
        case .flags(let action, let variable, let list):
            let given = flagList(expand(list, frame))
            var current = variable.map { flagList([read($0, frame)]) } ?? flags
            switch action {
            case .set: current = given
            case .add: for f in given where !current.contains(where: { $0.lowercasedASCII() == f.lowercasedASCII() }) { current.append(f) }
            case .remove: current.removeAll { c in given.contains { $0.lowercasedASCII() == c.lowercasedASCII() } }
            }
            if let variable { write(variable, current.joined(separator: " "), &frame) } else { flags = current }
        case .set(let name, let value, let modifiers):
            var v = expand(value, frame)
            for m in modifiers { v = SieveInterpreter.modify(v, m) }
            write(name, v, &frame)
        case .addheader(let name, let value, let last):
            let n = expand(name, frame)
            guard SieveInterpreter.mayEdit(n) else { return .next }
            message.add(n, expand(value, frame), last: last)
        case .deleteheader(let name, let values, let match, let index):
            let n = expand(name, frame).lowercasedASCII()
            guard SieveInterpreter.mayEdit(n) else { return .next }
            let positions = message.fields.indices.filter { message.fields[$0].name.lowercasedASCII() == n }
            var chosen = positions
            if let index {
                let i = index.last ? positions.count - index.index : index.index - 1
                chosen = i >= 0 && i < positions.count ? [positions[i]] : []
            }
            let patterns = expand(values, frame)
            let selected = Set(chosen.filter { i in
                if patterns.isEmpty { return true }
                var none: [String]? = nil
                return SieveMatcher.test([EncodedWord.decode(message.fields[i].value)], patterns, match, captures: &none)
            })
            message.delete { i, _ in selected.contains(i) }
        case .include(let name, let global, let once, let optional):
            let n = expand(name, frame)
            let key = "\(global ? "global" : "personal"):\(n)"
            if once && included.contains(key) { return .next }
            guard frame.depth < environment.limits.maxIncludeDepth else {
                throw SieveError("include nested deeper than \(environment.limits.maxIncludeDepth) (sieve_max_include_depth)")
            }
            guard let script = try environment.loadScript(n, global) else {
                if optional { return .next }
                throw SieveError("include: no \(global ? "global" : "personal") script \"\(n)\"")
            }
            included.insert(key)
            var inner = Frame(script: script, depth: frame.depth + 1)
            if try execute(script.commands, &inner) == .stop { return .stop }
        case .global(let names):
            for n in names { frame.globalNames.insert(n.lowercasedASCII()) }
        }
        return .next
    }

    /// RFC 5293 §6: Received and Auto-Submitted stay (we may refuse to change them).
    static func mayEdit(_ name: String) -> Bool {
        let n = name.lowercasedASCII()
        return n != "received" && n != "auto-submitted"
    }

    func read(_ name: String, _ frame: Frame) -> String {
        let n = name.lowercasedASCII()
        if frame.globalNames.contains(n) { return globals[n] ?? "" }
        if n.hasPrefix("global.") { return globals[String(n.dropFirst(7))] ?? "" }
        return frame.variables[n] ?? ""
    }

    mutating func write(_ name: String, _ value: String, _ frame: inout Frame) {
        let n = name.lowercasedASCII()
        if frame.globalNames.contains(n) { globals[n] = value; return }
        if n.hasPrefix("global.") { globals[String(n.dropFirst(7))] = value; return }
        frame.variables[n] = value
    }
}

extension SieveInterpreter {
    static func modify(_ v: String, _ modifier: String) -> String {
        switch modifier {
        case "lower": return v.lowercasedASCII()
        case "upper": return String(decoding: v.utf8.map { $0 >= 0x61 && $0 <= 0x7A ? $0 & ~0x20 : $0 }, as: UTF8.self)
        case "lowerfirst": return v.isEmpty ? v : String(v.prefix(1)).lowercasedASCII() + v.dropFirst()
        case "upperfirst": return v.isEmpty ? v : modify(String(v.prefix(1)), "upper") + v.dropFirst()
        case "quotewildcard":
            var out = ""
            for c in v { if c == "*" || c == "?" || c == "\\" { out.append("\\") }; out.append(c) }
            return out
        case "length": return String(v.count)
        default: return v
        }
    }
}

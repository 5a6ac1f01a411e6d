/// The compiled form of a script: commands and tests checked against their RFC signatures and
/// turned into typed values, so the interpreter never sees a malformed call. Compiling also
/// checks `require` (RFC 5228 §3.2: an extension used without it is an error).

public enum SieveComparator: String, Sendable, Equatable, CaseIterable {
    case octet = "i;octet"
    case asciiCasemap = "i;ascii-casemap"
    case asciiNumeric = "i;ascii-numeric"
}

/// RFC 5231 relational operators.
public enum SieveRelation: String, Sendable, Equatable {
    case gt, ge, lt, le, eq, ne
}

public enum SieveMatchType: Sendable, Equatable {
    case `is`, contains, matches
    case count(SieveRelation)
    case value(SieveRelation)
}

public struct SieveMatch: Sendable, Equatable {
    public var comparator: SieveComparator = .asciiCasemap
    public var type: SieveMatchType = .is
}

/// RFC 5228 §2.7.4 and RFC 5233 (:user, :detail).
public enum SieveAddressPart: String, Sendable, Equatable {
    case all, localpart, domain, user, detail
}

/// RFC 5260 §4: which occurrence of a header field (1-based, counted from the end with :last).
public struct SieveIndex: Sendable, Equatable {
    public var index: Int
    public var last: Bool
}

public enum SieveBodyTransform: Sendable, Equatable {
    case raw, text
    case content([String])
}

public enum SieveDateZone: Sendable, Equatable {
    case local
    case original
    /// "+0100" as seconds east of UTC.
    case offset(Int)
}

public indirect enum SieveTest: Sendable, Equatable {
    case constant(Bool)
    case not(SieveTest)
    case allof([SieveTest])
    case anyof([SieveTest])
    case exists([String])
    case size(over: Bool, Int)
    case header(names: [String], keys: [String], SieveMatch, SieveIndex?)
    case address(names: [String], keys: [String], SieveMatch, SieveAddressPart, SieveIndex?)
    case envelope(parts: [String], keys: [String], SieveMatch, SieveAddressPart)
    case string(sources: [String], keys: [String], SieveMatch)
    case body(keys: [String], SieveMatch, SieveBodyTransform)
    case date(header: String, part: String, keys: [String], SieveMatch, SieveDateZone, SieveIndex?)
    case currentdate(part: String, keys: [String], SieveMatch, SieveDateZone)
    case mailboxexists([String])
    case spamtest(percent: Bool, key: String, SieveMatch)
    case virustest(key: String, SieveMatch)
    case duplicate(handle: String, header: String?, uniqueID: String?, seconds: Int?, last: Bool)
    case hasflag(variables: [String], keys: [String], SieveMatch)
}

public struct SieveVacationCommand: Sendable, Equatable {
    public var reason: String
    public var subject: String?
    public var from: String?
    public var addresses: [String] = []
    public var mime = false
    public var handle: String?
    /// The period in seconds (:days × 86400 or :seconds); nil: the site default.
    public var period: Int?
}

public enum SieveFlagAction: String, Sendable, Equatable { case set, add, remove }

public indirect enum SieveCommand: Sendable, Equatable {
    case conditional([(SieveTest, [SieveCommand])], otherwise: [SieveCommand]?)
    case stop
    case keep(flags: [String]?)
    case discard
    case fileinto(mailbox: String, flags: [String]?, copy: Bool, create: Bool)
    case redirect(address: String, copy: Bool)
    case reject(reason: String, extended: Bool)
    case vacation(SieveVacationCommand)
    case flags(SieveFlagAction, variable: String?, [String])
    case set(name: String, value: String, modifiers: [String])
    case addheader(name: String, value: String, last: Bool)
    case deleteheader(name: String, values: [String], SieveMatch, SieveIndex?)
    case include(name: String, global: Bool, once: Bool, optional: Bool)
    case `return`
    case global([String])

    public static func == (a: SieveCommand, b: SieveCommand) -> Bool {
        switch (a, b) {
        case (.conditional(let x, let xe), .conditional(let y, let ye)):
            return xe == ye && x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.stop, .stop), (.discard, .discard), (.return, .return): return true
        case (.keep(let x), .keep(let y)): return x == y
        case (.fileinto(let a1, let a2, let a3, let a4), .fileinto(let b1, let b2, let b3, let b4)): return a1 == b1 && a2 == b2 && a3 == b3 && a4 == b4
        case (.redirect(let a1, let a2), .redirect(let b1, let b2)): return a1 == b1 && a2 == b2
        case (.reject(let a1, let a2), .reject(let b1, let b2)): return a1 == b1 && a2 == b2
        case (.vacation(let x), .vacation(let y)): return x == y
        case (.flags(let a1, let a2, let a3), .flags(let b1, let b2, let b3)): return a1 == b1 && a2 == b2 && a3 == b3
        case (.set(let a1, let a2, let a3), .set(let b1, let b2, let b3)): return a1 == b1 && a2 == b2 && a3 == b3
        case (.addheader(let a1, let a2, let a3), .addheader(let b1, let b2, let b3)): return a1 == b1 && a2 == b2 && a3 == b3
        case (.deleteheader(let a1, let a2, let a3, let a4), .deleteheader(let b1, let b2, let b3, let b4)): return a1 == b1 && a2 == b2 && a3 == b3 && a4 == b4
        case (.include(let a1, let a2, let a3, let a4), .include(let b1, let b2, let b3, let b4)): return a1 == b1 && a2 == b2 && a3 == b3 && a4 == b4
        case (.global(let x), .global(let y)): return x == y
        default: return false
        }
    }
}

/// A compiled script.
public struct SieveScript: Sendable, Equatable {
    public let commands: [SieveCommand]
    public let extensions: Set<String>

    /// Every extension this implementation runs; `require` of anything else is a compile error.
    /// Each one is advertised (ManageSieve's SIEVE capability) only because it is tested.
    public static let supportedExtensions: [String] = [
        "fileinto", "reject", "ereject", "envelope", "encoded-character", "imap4flags", "variables",
        "vacation", "vacation-seconds", "relational", "comparator-i;ascii-numeric", "comparator-i;octet",
        "comparator-i;ascii-casemap", "subaddress", "copy", "body", "date", "index", "mailbox",
        "spamtest", "spamtestplus", "virustest", "duplicate", "editheader", "include",
    ]

    /// Compiles a script's text (parse, then check).
    public static func compile(_ bytes: [UInt8], limits: SieveParseLimits = SieveParseLimits()) throws -> SieveScript {
        var nodes = try SieveParser.parse(bytes, limits: limits)
        let wantsEncoded = nodes.contains { node in
            node.name == "require" && node.arguments.contains {
                if case .strings(let s, _, _) = $0 { return s.contains { $0.lowercasedASCII() == "encoded-character" } }
                return false
            }
        }
        if wantsEncoded { nodes = nodes.map(decodeEncoded) }
        var compiler = SieveCompiler()
        let commands = try compiler.block(nodes, topLevel: true)
        return SieveScript(commands: commands, extensions: compiler.required)
    }

    static func decodeEncoded(_ a: SieveArgument) -> SieveArgument {
        if case .strings(let s, let list, let p) = a { return .strings(s.map(SieveVariables.decodeEncodedCharacters), list: list, p) }
        return a
    }
    static func decodeEncoded(_ t: SieveTestNode) -> SieveTestNode {
        var t = t
        t.arguments = t.arguments.map(decodeEncoded)
        t.tests = t.tests.map(decodeEncoded)
        return t
    }
    static func decodeEncoded(_ c: SieveCommandNode) -> SieveCommandNode {
        var c = c
        c.arguments = c.arguments.map(decodeEncoded)
        c.tests = c.tests.map(decodeEncoded)
        c.block = c.block?.map(decodeEncoded)
        return c
    }

    public static func compile(_ text: String, limits: SieveParseLimits = SieveParseLimits()) throws -> SieveScript {
        try compile(Array(text.utf8), limits: limits)
    }
}

/// Tag value kinds a command or test accepts.
enum TagValue { case none, string, strings, number }

struct SieveCompiler {
    var required: Set<String> = []

    func need(_ ext: String, _ what: String, _ at: SievePosition) throws {
        guard required.contains(ext) else { throw SieveError("\(what) needs require \"\(ext)\"", at: at) }
    }

    mutating func block(_ nodes: [SieveCommandNode], topLevel: Bool) throws -> [SieveCommand] {
        var out: [SieveCommand] = []
        var requiresAllowed = topLevel
        var i = 0
        while i < nodes.count {
            let node = nodes[i]
            if node.name == "require" {
                guard requiresAllowed else { throw SieveError("require must come before other commands", at: node.position) }
                guard node.arguments.count == 1, case .strings(let names, _, _) = node.arguments[0], node.tests.isEmpty, node.block == nil else {
                    throw SieveError("require takes one string list", at: node.position)
                }
                for name in names {
                    let n = name.lowercasedASCII()
                    guard SieveScript.supportedExtensions.contains(n) else {
                        throw SieveError("unsupported extension \"\(name)\"", at: node.position)
                    }
                    required.insert(n)
                    if n == "spamtestplus" { required.insert("spamtest") }
                    if n == "vacation-seconds" { required.insert("vacation") }
                    if n == "ereject" { /* ereject is its own command */ }
                }
                i += 1
                continue
            }
            requiresAllowed = false
            if node.name == "if" {
                var branches: [(SieveTest, [SieveCommand])] = [(try conditionTest(node), try body(node))]
                var otherwise: [SieveCommand]? = nil
                i += 1
                while i < nodes.count, nodes[i].name == "elsif" {
                    branches.append((try conditionTest(nodes[i]), try body(nodes[i])))
                    i += 1
                }
                if i < nodes.count, nodes[i].name == "else" {
                    guard nodes[i].arguments.isEmpty, nodes[i].tests.isEmpty else { throw SieveError("else takes no arguments", at: nodes[i].position) }
                    otherwise = try body(nodes[i])
                    i += 1
                }
                out.append(.conditional(branches, otherwise: otherwise))
                continue
            }
            if node.name == "elsif" || node.name == "else" {
                throw SieveError("\(node.name) without a preceding if", at: node.position)
            }
            guard node.block == nil else { throw SieveError("\(node.name) takes no block", at: node.position) }
            guard node.tests.isEmpty else { throw SieveError("\(node.name) takes no test", at: node.position) }
            out.append(try command(node))
            i += 1
        }
        return out
    }

    mutating func conditionTest(_ node: SieveCommandNode) throws -> SieveTest {
        guard node.arguments.isEmpty, node.tests.count == 1 else { throw SieveError("\(node.name) takes exactly one test", at: node.position) }
        return try test(node.tests[0])
    }

    mutating func body(_ node: SieveCommandNode) throws -> [SieveCommand] {
        guard let b = node.block else { throw SieveError("\(node.name) needs a block", at: node.position) }
        return try block(b, topLevel: false)
    }

    // MARK: Arguments

    struct Arguments {
        var tags: [String: SieveArgument?] = [:]
        var tagPositions: [String: SievePosition] = [:]
        var positional: [SieveArgument] = []
        let name: String
        let position: SievePosition

        func string(_ i: Int) throws -> String {
            guard i < positional.count, case .strings(let s, let list, let p) = positional[i] else {
                throw SieveError("\(name): argument \(i + 1) must be a string", at: position)
            }
            guard !list || s.count == 1 else { throw SieveError("\(name): argument \(i + 1) must be a single string", at: p) }
            return s[0]
        }
        func strings(_ i: Int) throws -> [String] {
            guard i < positional.count, case .strings(let s, _, _) = positional[i] else {
                throw SieveError("\(name): argument \(i + 1) must be a string list", at: position)
            }
            return s
        }
        func number(_ i: Int) throws -> Int {
            guard i < positional.count, case .number(let n, _) = positional[i] else {
                throw SieveError("\(name): argument \(i + 1) must be a number", at: position)
            }
            return n
        }
        func count(_ n: Int) throws {
            guard positional.count == n else {
                throw SieveError("\(name) takes \(n) positional argument\(n == 1 ? "" : "s"), not \(positional.count)", at: position)
            }
        }
        func has(_ tag: String) -> Bool { tags[tag] != nil }
        func tagString(_ tag: String) -> String? {
            if case .some(.some(.strings(let s, _, _))) = tags[tag] { return s.first }
            return nil
        }
        func tagStrings(_ tag: String) -> [String]? {
            if case .some(.some(.strings(let s, _, _))) = tags[tag] { return s }
            return nil
        }
        func tagNumber(_ tag: String) -> Int? {
            if case .some(.some(.number(let n, _))) = tags[tag] { return n }
            return nil
        }
    }

    static let matchTags: [String: TagValue] = ["is": .none, "contains": .none, "matches": .none, "count": .string, "value": .string, "comparator": .string]
    static let addressTags: [String: TagValue] = ["all": .none, "localpart": .none, "domain": .none, "user": .none, "detail": .none]
    static let indexTags: [String: TagValue] = ["index": .number, "last": .none]

    func split(_ arguments: [SieveArgument], name: String, at: SievePosition, tags spec: [String: TagValue]) throws -> Arguments {
        var out = Arguments(name: name, position: at)
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            i += 1
            guard case .tag(let t, let p) = a else { out.positional.append(a); continue }
            guard out.positional.isEmpty else { throw SieveError("\(name): tag :\(t) after a positional argument", at: p) }
            guard let kind = spec[t] else { throw SieveError("\(name) has no tag :\(t)", at: p) }
            guard out.tags[t] == nil else { throw SieveError("\(name): :\(t) given twice", at: p) }
            out.tagPositions[t] = p
            switch kind {
            case .none:
                out.tags[t] = .some(nil)
            case .string, .strings, .number:
                guard i < arguments.count else { throw SieveError("\(name): :\(t) needs a value", at: p) }
                let v = arguments[i]
                i += 1
                switch (kind, v) {
                case (.number, .number), (.strings, .strings): break
                case (.string, .strings(let s, let list, _)) where !list || s.count == 1: break
                default: throw SieveError("\(name): :\(t) needs a \(kind == .number ? "number" : "string")", at: v.position)
                }
                out.tags[t] = .some(v)
            }
        }
        return out
    }

    func exclusive(_ a: Arguments, _ names: [String]) throws -> String? {
        let given = names.filter { a.has($0) }
        guard given.count <= 1 else { throw SieveError("\(a.name): :\(given[0]) and :\(given[1]) exclude each other", at: a.tagPositions[given[1]] ?? a.position) }
        return given.first
    }

    func match(_ a: Arguments) throws -> SieveMatch {
        var m = SieveMatch()
        if let c = a.tagString("comparator") {
            guard let comparator = SieveComparator(rawValue: c.lowercasedASCII()) else {
                throw SieveError("unknown comparator \"\(c)\"", at: a.tagPositions["comparator"] ?? a.position)
            }
            if comparator == .asciiNumeric { try need("comparator-i;ascii-numeric", "the comparator i;ascii-numeric", a.tagPositions["comparator"]!) }
            m.comparator = comparator
        }
        switch try exclusive(a, ["is", "contains", "matches", "count", "value"]) {
        case "contains": m.type = .contains
        case "matches": m.type = .matches
        case let t? where t == "count" || t == "value":
            let p = a.tagPositions[t]!
            try need("relational", ":\(t)", p)
            guard let r = SieveRelation(rawValue: a.tagString(t)!.lowercasedASCII()) else {
                throw SieveError("unknown relational operator \"\(a.tagString(t)!)\"", at: p)
            }
            m.type = t == "count" ? .count(r) : .value(r)
        default: m.type = .is
        }
        return m
    }

    func addressPart(_ a: Arguments) throws -> SieveAddressPart {
        guard let p = try exclusive(a, ["all", "localpart", "domain", "user", "detail"]) else { return .all }
        if p == "user" || p == "detail" { try need("subaddress", ":\(p)", a.tagPositions[p]!) }
        return SieveAddressPart(rawValue: p)!
    }

    func index(_ a: Arguments) throws -> SieveIndex? {
        if a.has("last") && !a.has("index") { throw SieveError(":last needs :index", at: a.tagPositions["last"]!) }
        guard let n = a.tagNumber("index") else { return nil }
        try need("index", ":index", a.tagPositions["index"]!)
        guard n >= 1 else { throw SieveError(":index counts from 1", at: a.tagPositions["index"]!) }
        return SieveIndex(index: n, last: a.has("last"))
    }

    func flagsTag(_ a: Arguments) throws -> [String]? {
        guard let f = a.tagStrings("flags") else { return nil }
        try need("imap4flags", ":flags", a.tagPositions["flags"]!)
        return f
    }

    func zone(_ a: Arguments, allowOriginal: Bool) throws -> SieveDateZone {
        if allowOriginal, try exclusive(a, ["zone", "originalzone"]) == "originalzone" { return .original }
        guard let z = a.tagString("zone") else { return .local }
        guard let offset = SieveDates.parseZone(z) else { throw SieveError("bad :zone \"\(z)\" (want +hhmm or -hhmm)", at: a.tagPositions["zone"]!) }
        return .offset(offset)
    }

    func checkHeaderNames(_ names: [String], _ at: SievePosition) throws {
        for n in names where n.isEmpty || n.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F || $0 == 0x3A }) {
            if required.contains("variables") && n.contains("${") { continue }
            throw SieveError("\"\(n)\" is not a header field name", at: at)
        }
    }

    // MARK: Commands

    mutating func command(_ node: SieveCommandNode) throws -> SieveCommand {
        let at = node.position
        func args(_ tags: [String: TagValue] = [:]) throws -> Arguments { try split(node.arguments, name: node.name, at: at, tags: tags) }
        switch node.name {
        case "stop": try args().count(0); return .stop
        case "discard": try args().count(0); return .discard
        case "keep":
            let a = try args(["flags": .strings])
            try a.count(0)
            return .keep(flags: try flagsTag(a))
        case "fileinto":
            try need("fileinto", "fileinto", at)
            let a = try args(["copy": .none, "flags": .strings, "create": .none])
            try a.count(1)
            if a.has("copy") { try need("copy", ":copy", a.tagPositions["copy"]!) }
            if a.has("create") { try need("mailbox", ":create", a.tagPositions["create"]!) }
            return .fileinto(mailbox: try a.string(0), flags: try flagsTag(a), copy: a.has("copy"), create: a.has("create"))
        case "redirect":
            let a = try args(["copy": .none])
            try a.count(1)
            if a.has("copy") { try need("copy", ":copy", a.tagPositions["copy"]!) }
            let address = try a.string(0)
            if !required.contains("variables") || !address.contains("${") {
                guard SieveAddress.isValidRedirectTarget(address) else { throw SieveError("redirect: \"\(address)\" is not an address", at: at) }
            }
            return .redirect(address: address, copy: a.has("copy"))
        case "reject", "ereject":
            try need(node.name, node.name, at)
            let a = try args()
            try a.count(1)
            return .reject(reason: try a.string(0), extended: node.name == "ereject")
        case "vacation":
            try need("vacation", "vacation", at)
            let a = try args(["days": .number, "seconds": .number, "subject": .string, "from": .string, "addresses": .strings, "mime": .none, "handle": .string])
            try a.count(1)
            var v = SieveVacationCommand(reason: try a.string(0))
            switch try exclusive(a, ["days", "seconds"]) {
            case "days": v.period = a.tagNumber("days")! * 86400
            case "seconds":
                try need("vacation-seconds", ":seconds", a.tagPositions["seconds"]!)
                v.period = a.tagNumber("seconds")!
            default: break
            }
            v.subject = a.tagString("subject")
            v.from = a.tagString("from")
            v.addresses = a.tagStrings("addresses") ?? []
            v.mime = a.has("mime")
            v.handle = a.tagString("handle")
            return .vacation(v)
        case "setflag", "addflag", "removeflag":
            try need("imap4flags", node.name, at)
            let a = try args()
            let action: SieveFlagAction = node.name == "setflag" ? .set : node.name == "addflag" ? .add : .remove
            if a.positional.count == 2 {
                try need("variables", "a variable name in \(node.name)", at)
                return .flags(action, variable: try a.string(0), try a.strings(1))
            }
            try a.count(1)
            return .flags(action, variable: nil, try a.strings(0))
        case "set":
            try need("variables", "set", at)
            let a = try args(["lower": .none, "upper": .none, "lowerfirst": .none, "upperfirst": .none, "quotewildcard": .none, "length": .none, "quoteregex": .none, "encodeurl": .none])
            try a.count(2)
            _ = try exclusive(a, ["lower", "upper"])
            _ = try exclusive(a, ["lowerfirst", "upperfirst"])
            let name = try a.string(0)
            guard SieveVariables.isValidName(name) else { throw SieveError("set: \"\(name)\" is not a variable name", at: at) }
            // RFC 5229 §4: modifiers apply by precedence, highest first.
            let order = ["encodeurl", "quoteregex", "quotewildcard", "lower", "upper", "lowerfirst", "upperfirst", "length"]
            let precedence: [String: Int] = ["lower": 40, "upper": 40, "lowerfirst": 30, "upperfirst": 30, "quotewildcard": 20, "quoteregex": 20, "encodeurl": 15, "length": 10]
            let mods = order.filter { a.has($0) }.sorted { precedence[$0]! > precedence[$1]! }
            return .set(name: name, value: try a.string(1), modifiers: mods)
        case "addheader":
            try need("editheader", "addheader", at)
            let a = try args(["last": .none])
            try a.count(2)
            let name = try a.string(0)
            try checkHeaderNames([name], at)
            return .addheader(name: name, value: try a.string(1), last: a.has("last"))
        case "deleteheader":
            try need("editheader", "deleteheader", at)
            var tags = SieveCompiler.matchTags
            tags.merge(SieveCompiler.indexTags) { x, _ in x }
            let a = try args(tags)
            guard a.positional.count == 1 || a.positional.count == 2 else { throw SieveError("deleteheader takes a field name and optional value patterns", at: at) }
            let name = try a.string(0)
            try checkHeaderNames([name], at)
            let values = a.positional.count == 2 ? try a.strings(1) : []
            let idx: SieveIndex?
            if let n = a.tagNumber("index") {
                guard n >= 1 else { throw SieveError(":index counts from 1", at: at) }
                idx = SieveIndex(index: n, last: a.has("last"))
            } else {
                if a.has("last") { throw SieveError(":last needs :index", at: at) }
                idx = nil
            }
            return .deleteheader(name: name, values: values, try match(a), idx)
        case "include":
            try need("include", "include", at)
            let a = try args(["personal": .none, "global": .none, "once": .none, "optional": .none])
            try a.count(1)
            let g = try exclusive(a, ["personal", "global"]) == "global"
            let name = try a.string(0)
            guard !name.isEmpty, !name.contains("/") else { throw SieveError("include: \"\(name)\" is not a script name", at: at) }
            return .include(name: name, global: g, once: a.has("once"), optional: a.has("optional"))
        case "return":
            try need("include", "return", at)
            try args().count(0)
            return .return
        case "global":
            try need("include", "global", at)
            try need("variables", "global", at)
            let a = try args()
            try a.count(1)
            return .global(try a.strings(0))
        default:
            throw SieveError("unknown command \"\(node.name)\"", at: at)
        }
    }

    // MARK: Tests

    mutating func test(_ node: SieveTestNode) throws -> SieveTest {
        let at = node.position
        func args(_ tags: [String: TagValue] = [:]) throws -> Arguments {
            guard node.tests.isEmpty else { throw SieveError("\(node.name) takes no tests", at: at) }
            return try split(node.arguments, name: node.name, at: at, tags: tags)
        }
        func merged(_ dicts: [String: TagValue]...) -> [String: TagValue] {
            dicts.reduce(into: [:]) { $0.merge($1) { x, _ in x } }
        }
        switch node.name {
        case "true": try args().count(0); return .constant(true)
        case "false": try args().count(0); return .constant(false)
        case "not":
            guard node.arguments.isEmpty, node.tests.count == 1 else { throw SieveError("not takes one test", at: at) }
            return .not(try test(node.tests[0]))
        case "allof", "anyof":
            guard node.arguments.isEmpty, !node.tests.isEmpty else { throw SieveError("\(node.name) takes a test list", at: at) }
            let tests = try node.tests.map { try test($0) }
            return node.name == "allof" ? .allof(tests) : .anyof(tests)
        case "exists":
            let a = try args()
            try a.count(1)
            let names = try a.strings(0)
            try checkHeaderNames(names, at)
            return .exists(names)
        case "size":
            let a = try args(["over": .none, "under": .none])
            try a.count(1)
            guard let which = try exclusive(a, ["over", "under"]) else { throw SieveError("size needs :over or :under", at: at) }
            return .size(over: which == "over", try a.number(0))
        case "header":
            let a = try args(merged(SieveCompiler.matchTags, SieveCompiler.indexTags))
            try a.count(2)
            let names = try a.strings(0)
            try checkHeaderNames(names, at)
            return .header(names: names, keys: try a.strings(1), try match(a), try index(a))
        case "address":
            let a = try args(merged(SieveCompiler.matchTags, SieveCompiler.addressTags, SieveCompiler.indexTags))
            try a.count(2)
            let names = try a.strings(0)
            try checkHeaderNames(names, at)
            return .address(names: names, keys: try a.strings(1), try match(a), try addressPart(a), try index(a))
        case "envelope":
            try need("envelope", "envelope", at)
            let a = try args(merged(SieveCompiler.matchTags, SieveCompiler.addressTags))
            try a.count(2)
            let parts = try a.strings(0).map { $0.lowercasedASCII() }
            for p in parts where p != "from" && p != "to" && !(required.contains("variables") && p.contains("${")) {
                throw SieveError("envelope: unknown envelope part \"\(p)\" (from or to)", at: at)
            }
            return .envelope(parts: parts, keys: try a.strings(1), try match(a), try addressPart(a))
        case "string":
            try need("variables", "string", at)
            let a = try args(SieveCompiler.matchTags)
            try a.count(2)
            return .string(sources: try a.strings(0), keys: try a.strings(1), try match(a))
        case "body":
            try need("body", "body", at)
            let a = try args(merged(SieveCompiler.matchTags, ["raw": .none, "text": .none, "content": .strings]))
            try a.count(1)
            let transform: SieveBodyTransform
            switch try exclusive(a, ["raw", "text", "content"]) {
            case "raw": transform = .raw
            case "content": transform = .content(a.tagStrings("content")!)
            default: transform = .text
            }
            return .body(keys: try a.strings(0), try match(a), transform)
        case "date":
            try need("date", "date", at)
            let a = try args(merged(SieveCompiler.matchTags, SieveCompiler.indexTags, ["zone": .string, "originalzone": .none]))
            try a.count(3)
            let part = try a.string(1).lowercasedASCII()
            guard SieveDates.parts.contains(part) else { throw SieveError("date: unknown date part \"\(part)\"", at: at) }
            return .date(header: try a.string(0), part: part, keys: try a.strings(2), try match(a), try zone(a, allowOriginal: true), try index(a))
        case "currentdate":
            try need("date", "currentdate", at)
            let a = try args(merged(SieveCompiler.matchTags, ["zone": .string]))
            try a.count(2)
            let part = try a.string(0).lowercasedASCII()
            guard SieveDates.parts.contains(part) else { throw SieveError("currentdate: unknown date part \"\(part)\"", at: at) }
            return .currentdate(part: part, keys: try a.strings(1), try match(a), try zone(a, allowOriginal: false))
        case "mailboxexists":
            try need("mailbox", "mailboxexists", at)
            let a = try args()
            try a.count(1)
            return .mailboxexists(try a.strings(0))
        case "spamtest":
            try need("spamtest", "spamtest", at)
            let a = try args(merged(SieveCompiler.matchTags, ["percent": .none]))
            try a.count(1)
            if a.has("percent") { try need("spamtestplus", ":percent", a.tagPositions["percent"]!) }
            return .spamtest(percent: a.has("percent"), key: try a.string(0), try match(a))
        case "virustest":
            try need("virustest", "virustest", at)
            let a = try args(SieveCompiler.matchTags)
            try a.count(1)
            return .virustest(key: try a.string(0), try match(a))
        case "duplicate":
            try need("duplicate", "duplicate", at)
            let a = try args(["handle": .string, "header": .string, "uniqueid": .string, "seconds": .number, "last": .none])
            try a.count(0)
            _ = try exclusive(a, ["header", "uniqueid"])
            return .duplicate(handle: a.tagString("handle") ?? "", header: a.tagString("header"), uniqueID: a.tagString("uniqueid"),
                              seconds: a.tagNumber("seconds"), last: a.has("last"))
        case "hasflag":
            try need("imap4flags", "hasflag", at)
            let a = try args(SieveCompiler.matchTags)
            if a.positional.count == 2 {
                try need("variables", "a variable list in hasflag", at)
                return .hasflag(variables: try a.strings(0), keys: try a.strings(1), try match(a))
            }
            try a.count(1)
            return .hasflag(variables: [], keys: try a.strings(0), try match(a))
        default:
            throw SieveError("unknown test \"\(node.name)\"", at: at)
        }
    }
}

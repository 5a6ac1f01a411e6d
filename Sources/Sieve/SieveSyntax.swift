/// Sieve's grammar (RFC 5228 §8): tokens, then commands with arguments, tests and blocks.
///
/// The parser is a plain function of bytes, with a nesting cap and a size cap, so hostile
/// scripts end in a clear error; it is the fuzz entry point (`SieveParser.parse`).

/// Where something stands in the script, 1-based, as `sieve check` prints it.
public struct SievePosition: Equatable, Sendable, CustomStringConvertible {
    public let line: Int
    public let column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public var description: String { "\(line):\(column)" }
}

/// A compile error (syntax, unknown command, missing `require`) or a run-time error.
public struct SieveError: Error, Equatable, Sendable, CustomStringConvertible {
    public let position: SievePosition?
    public let message: String
    public init(_ message: String, at position: SievePosition? = nil) {
        self.message = message
        self.position = position
    }
    public var description: String { position.map { "\($0): \(message)" } ?? message }
}

/// RFC 5228 §2.6: a tagged argument, a number, a string or a string list.
public enum SieveArgument: Equatable, Sendable {
    case tag(String, SievePosition)
    case number(Int, SievePosition)
    /// `list` tells `"a"` from `["a"]` (a few arguments must be a single string).
    case strings([String], list: Bool, SievePosition)

    public var position: SievePosition {
        switch self {
        case .tag(_, let p), .number(_, let p), .strings(_, _, let p): return p
        }
    }
}

/// A test: `name arguments [test | "(" test-list ")"]`.
public struct SieveTestNode: Equatable, Sendable {
    public var name: String
    public var arguments: [SieveArgument]
    public var tests: [SieveTestNode]
    public var position: SievePosition
}

/// A command: `name arguments [test | test-list] (";" | block)`.
public struct SieveCommandNode: Equatable, Sendable {
    public var name: String
    public var arguments: [SieveArgument]
    public var tests: [SieveTestNode]
    public var block: [SieveCommandNode]?
    public var position: SievePosition
}

public struct SieveParseLimits: Sendable {
    /// Deepest nesting of blocks and tests.
    public var maxNesting: Int = 32
    /// Longest script in bytes.
    public var maxSize: Int = 1 << 20
    public init(maxNesting: Int = 32, maxSize: Int = 1 << 20) {
        self.maxNesting = maxNesting
        self.maxSize = maxSize
    }
}

enum SieveToken: Equatable {
    case identifier(String)
    case tag(String)
    case number(Int)
    case string(String)
    case punct(UInt8) // [ ] ( ) { } , ;
    case end
}

struct SieveLexer {
    let bytes: [UInt8]
    var index = 0
    var line = 1
    var lineStart = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var position: SievePosition { SievePosition(line: line, column: index - lineStart + 1) }

    mutating func advance() {
        if bytes[index] == 0x0A { line += 1; lineStart = index + 1 }
        index += 1
    }

    static func isAlpha(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F }
    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    mutating func skipWhitespace() throws {
        while index < bytes.count {
            let b = bytes[index]
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D {
                advance()
            } else if b == 0x23 { // # comment to end of line
                while index < bytes.count && bytes[index] != 0x0A { advance() }
            } else if b == 0x2F && index + 1 < bytes.count && bytes[index + 1] == 0x2A { // /* */
                let start = position
                advance(); advance()
                while true {
                    guard index + 1 < bytes.count else { throw SieveError("unterminated comment", at: start) }
                    if bytes[index] == 0x2A && bytes[index + 1] == 0x2F { advance(); advance(); break }
                    advance()
                }
            } else {
                return
            }
        }
    }

    /// The next token and where it starts.
    mutating func next() throws -> (SieveToken, SievePosition) {
        try skipWhitespace()
        let start = position
        guard index < bytes.count else { return (.end, start) }
        let b = bytes[index]
        if SieveLexer.isAlpha(b) || b == 0x3A {
            let isTag = b == 0x3A
            if isTag { advance() }
            let from = index
            while index < bytes.count && (SieveLexer.isAlpha(bytes[index]) || SieveLexer.isDigit(bytes[index])) { advance() }
            guard index > from, SieveLexer.isAlpha(bytes[from]) else { throw SieveError("a tag needs a name after \":\"", at: start) }
            let word = String(decoding: bytes[from..<index], as: UTF8.self).lowercasedASCII()
            // "text:" starts a multi-line string (RFC 5228 §2.4.2).
            if !isTag && word == "text" && index < bytes.count && bytes[index] == 0x3A {
                advance()
                return (.string(try multiLine(start)), start)
            }
            return (isTag ? .tag(word) : .identifier(word), start)
        }
        if SieveLexer.isDigit(b) {
            var value = 0
            while index < bytes.count && SieveLexer.isDigit(bytes[index]) {
                let (v, o1) = value.multipliedReportingOverflow(by: 10)
                let (w, o2) = v.addingReportingOverflow(Int(bytes[index] - 0x30))
                guard !o1, !o2, w <= Int(UInt32.max) else { throw SieveError("number too large", at: start) }
                value = w
                advance()
            }
            if index < bytes.count {
                var shift = 0
                switch bytes[index] | 0x20 {
                case 0x6B: shift = 10 // K
                case 0x6D: shift = 20 // M
                case 0x67: shift = 30 // G
                default: break
                }
                if shift > 0 {
                    advance()
                    value <<= shift
                    guard value <= Int(UInt32.max) else { throw SieveError("number too large", at: start) }
                }
            }
            return (.number(value), start)
        }
        if b == 0x22 {
            advance()
            var out: [UInt8] = []
            while true {
                guard index < bytes.count else { throw SieveError("unterminated string", at: start) }
                let c = bytes[index]
                if c == 0x22 { advance(); break }
                if c == 0x5C { // backslash: the next character stands for itself
                    advance()
                    guard index < bytes.count else { throw SieveError("unterminated string", at: start) }
                }
                out.append(bytes[index])
                advance()
            }
            return (.string(try utf8(out, start)), start)
        }
        switch b {
        case 0x5B, 0x5D, 0x28, 0x29, 0x7B, 0x7D, 0x2C, 0x3B:
            advance()
            return (.punct(b), start)
        default:
            throw SieveError("unexpected character '\(Unicode.Scalar(b))'", at: start)
        }
    }

    func utf8(_ bytes: [UInt8], _ at: SievePosition) throws -> String {
        // RFC 5228 §2.4.2.4: scripts are UTF-8.
        guard let s = String(validating: bytes, as: UTF8.self) else { throw SieveError("string is not valid UTF-8", at: at) }
        return s
    }

    /// `text:` [comment] CRLF lines... "." CRLF; a leading ".." loses one dot.
    mutating func multiLine(_ start: SievePosition) throws -> String {
        while index < bytes.count && (bytes[index] == 0x20 || bytes[index] == 0x09) { advance() }
        if index < bytes.count && bytes[index] == 0x23 {
            while index < bytes.count && bytes[index] != 0x0A { advance() }
        }
        if index < bytes.count && bytes[index] == 0x0D { advance() }
        guard index < bytes.count && bytes[index] == 0x0A else { throw SieveError("text: must end its line", at: start) }
        advance()
        var out: [UInt8] = []
        while true {
            guard index < bytes.count else { throw SieveError("unterminated multi-line string", at: start) }
            var lineBytes: [UInt8] = []
            while index < bytes.count && bytes[index] != 0x0A { lineBytes.append(bytes[index]); advance() }
            let hadNewline = index < bytes.count
            if hadNewline { advance() }
            if lineBytes.last == 0x0D { lineBytes.removeLast() }
            if lineBytes == [0x2E] { break }
            if !hadNewline { throw SieveError("unterminated multi-line string", at: start) }
            if lineBytes.count >= 2 && lineBytes[0] == 0x2E && lineBytes[1] == 0x2E { lineBytes.removeFirst() }
            out += lineBytes
            out += [0x0D, 0x0A]
        }
        return try utf8(out, start)
    }
}

/// The parser: a script's bytes to its commands, or the first error.
public enum SieveParser {
    public static func parse(_ bytes: [UInt8], limits: SieveParseLimits = SieveParseLimits()) throws -> [SieveCommandNode] {
        guard bytes.count <= limits.maxSize else {
            throw SieveError("script is \(bytes.count) bytes, more than the limit of \(limits.maxSize)")
        }
        var state = State(lexer: SieveLexer(bytes), limits: limits)
        try state.load()
        var commands: [SieveCommandNode] = []
        while state.token != .end {
            commands.append(try state.command(depth: 0))
        }
        return commands
    }

    public static func parse(_ text: String, limits: SieveParseLimits = SieveParseLimits()) throws -> [SieveCommandNode] {
        try parse(Array(text.utf8), limits: limits)
    }

    struct State {
        var lexer: SieveLexer
        let limits: SieveParseLimits
        var token: SieveToken = .end
        var position = SievePosition(line: 1, column: 1)

        mutating func load() throws { (token, position) = try lexer.next() }

        mutating func command(depth: Int) throws -> SieveCommandNode {
            guard depth <= limits.maxNesting else { throw SieveError("blocks nested deeper than \(limits.maxNesting)", at: position) }
            guard case .identifier(let name) = token else { throw SieveError("expected a command, found \(describe(token))", at: position) }
            let at = position
            try load()
            let (arguments, tests) = try argumentsAndTests(depth: depth)
            var block: [SieveCommandNode]? = nil
            if token == .punct(0x3B) {
                try load()
            } else if token == .punct(0x7B) {
                try load()
                var body: [SieveCommandNode] = []
                while token != .punct(0x7D) {
                    guard token != .end else { throw SieveError("missing '}' for the block of \(name) at \(at)", at: position) }
                    body.append(try command(depth: depth + 1))
                }
                try load()
                block = body
            } else {
                throw SieveError("expected ';' or '{' after \(name), found \(describe(token))", at: position)
            }
            return SieveCommandNode(name: name, arguments: arguments, tests: tests, block: block, position: at)
        }

        mutating func arguments() throws -> [SieveArgument] {
            var out: [SieveArgument] = []
            while true {
                let at = position
                switch token {
                case .tag(let t): out.append(.tag(t, at)); try load()
                case .number(let n): out.append(.number(n, at)); try load()
                case .string(let s): out.append(.strings([s], list: false, at)); try load()
                case .punct(0x5B):
                    try load()
                    var list: [String] = []
                    while true {
                        guard case .string(let s) = token else { throw SieveError("expected a string in the list, found \(describe(token))", at: position) }
                        list.append(s)
                        try load()
                        if token == .punct(0x2C) { try load(); continue }
                        guard token == .punct(0x5D) else { throw SieveError("expected ',' or ']', found \(describe(token))", at: position) }
                        try load()
                        break
                    }
                    out.append(.strings(list, list: true, at))
                default:
                    return out
                }
            }
        }

        mutating func test(depth: Int) throws -> SieveTestNode {
            guard depth <= limits.maxNesting else { throw SieveError("tests nested deeper than \(limits.maxNesting)", at: position) }
            guard case .identifier(let name) = token else { throw SieveError("expected a test, found \(describe(token))", at: position) }
            let at = position
            try load()
            let (arguments, tests) = try argumentsAndTests(depth: depth)
            return SieveTestNode(name: name, arguments: arguments, tests: tests, position: at)
        }

        /// `arguments [test | "(" test-list ")"]` after a command's or a test's name.
        mutating func argumentsAndTests(depth: Int) throws -> ([SieveArgument], [SieveTestNode]) {
            let arguments = try self.arguments()
            if case .identifier = token { return (arguments, [try test(depth: depth + 1)]) }
            if token == .punct(0x28) { return (arguments, try testList(depth: depth + 1)) }
            return (arguments, [])
        }

        mutating func testList(depth: Int) throws -> [SieveTestNode] {
            try load() // "("
            var tests: [SieveTestNode] = []
            while true {
                tests.append(try test(depth: depth))
                if token == .punct(0x2C) { try load(); continue }
                guard token == .punct(0x29) else { throw SieveError("expected ',' or ')' in the test list, found \(describe(token))", at: position) }
                try load()
                return tests
            }
        }

        func describe(_ t: SieveToken) -> String {
            switch t {
            case .identifier(let s): return "'\(s)'"
            case .tag(let s): return "':\(s)'"
            case .number(let n): return "the number \(n)"
            case .string: return "a string"
            case .punct(let b): return "'\(Unicode.Scalar(b))'"
            case .end: return "the end of the script"
            }
        }
    }
}

extension String {
    func lowercasedASCII() -> String {
        String(decoding: utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}

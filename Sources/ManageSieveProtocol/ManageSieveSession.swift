import MailAuth
import MailCodec
import Sieve

/// ManageSieve (RFC 5804) as a state machine: bytes in, events out, no I/O. The host carries
/// out the events (postamt-managesieved on SessionHost); the script store and the password
/// check are behind `ManageSievePolicy` and `ManageSieveStore`.
public enum ManageSieveEvent: Sendable, Equatable {
    case send([UInt8])
    case log(String)
    case delay(milliseconds: Int)
    case startTLS
    case close
    /// AUTHENTICATE gave credentials: check them, then call
    /// ``ManageSieveSession/authenticationAnswered(_:)``. The engine reads no further command
    /// until then (the engine contract of SMTP, POP3 and IMAP too).
    case authenticate(AuthenticationRequest)
}

/// Credentials to check (MailCodec's engine contract type).
public typealias ManageSieveAuthenticationRequest = AuthenticationRequest

public enum ManageSieveAuthResult: Sendable, Equatable { case success, failure, temporaryFailure }

public enum ManageSieveStoreError: Error, Equatable {
    case nonexistent
    case alreadyExists
    case active
    /// "QUOTA/MAXSIZE", "QUOTA/MAXSCRIPTS" (RFC 5804 §1.3) and a text.
    case quota(code: String, String)
    case badName
    case tryLater(String)
}

/// One user's scripts (opened after login, as the user).
public protocol ManageSieveStore: AnyObject {
    func list() throws(ManageSieveStoreError) -> [(name: String, active: Bool)]
    func get(_ name: String) throws(ManageSieveStoreError) -> [UInt8]
    func put(_ name: String, _ script: [UInt8]) throws(ManageSieveStoreError)
    func delete(_ name: String) throws(ManageSieveStoreError)
    func rename(_ old: String, to new: String) throws(ManageSieveStoreError)
    /// nil: no script is active.
    func setActive(_ name: String?) throws(ManageSieveStoreError)
    func haveSpace(_ name: String, size: Int) throws(ManageSieveStoreError)
}

/// What only the host can do. Passwords are not checked here: the engine asks for that with
/// ``ManageSieveEvent/authenticate(_:)``.
public protocol ManageSievePolicy: AnyObject {
    /// After a successful login: become the user and open the scripts (nil: try later).
    func openStore(user: String) -> ManageSieveStore?
}

public struct ManageSieveLimits: Sendable, Equatable {
    /// Longest command line outside literals.
    public var maximumLineLength = 8192
    /// Largest literal (a script): sieve_max_script_size.
    public var maximumLiteral = 1 << 20
    public var maximumCommandsBeforeAuthentication = 20
    public var maximumAuthenticationFailures = 3
    public var authenticationFailureDelayMilliseconds = 2000
    public var maximumErrors = 10
    public init() {}
}

public struct ManageSieveConfiguration: Sendable {
    public var implementation = "Postamt"
    public var startTLSAvailable = false
    public var implicitTLS = false
    public var allowsPlaintextAuthentication = false
    public var limits = ManageSieveLimits()
    public var parseLimits = SieveParseLimits()
    public var maxRedirects = 4
    public init() {}
}

/// A token of a command line (RFC 5804 §4).
enum ManageSieveToken: Equatable {
    case atom(String)
    case string([UInt8])
    case number(Int)
}

public final class ManageSieveSession {
    let configuration: ManageSieveConfiguration
    let policy: ManageSievePolicy
    var buffer: [UInt8] = []
    var tls: Bool
    public private(set) var authenticatedUser: String?
    var store: ManageSieveStore?
    var commandsBeforeAuthentication = 0
    var authenticationFailures = 0
    var errors = 0
    var closed = false

    enum SASLState { case none, exchange(SASLExchange) }
    var sasl = SASLState.none
    /// Credentials out in an `authenticate` event, awaiting the host's answer.
    var pendingAuthentication: AuthenticationRequest?

    public init(configuration: ManageSieveConfiguration, policy: ManageSievePolicy) {
        self.configuration = configuration
        self.policy = policy
        self.tls = configuration.implicitTLS
    }

    public func start() -> [ManageSieveEvent] {
        [.send(capabilities() + line("OK \"\(configuration.implementation) ManageSieve ready.\""))]
    }

    /// `--preauth USER`: logged in behind the greeting (tests, a pipe over ssh); only the log
    /// events, or a BYE when the scripts cannot be opened.
    public func preauthenticate(_ user: String) -> [ManageSieveEvent] {
        let events = loggedIn(user: user, result: .success)
        if authenticatedUser == nil { return events }
        return events.filter { if case .send = $0 { return false } else { return true } }
    }

    public func tlsEstablished() -> [ManageSieveEvent] {
        tls = true
        buffer = [] // RFC 5804 §2.2: nothing sent before the handshake counts
        return [.send(capabilities() + line("OK \"TLS negotiation successful.\""))]
    }

    public func endOfInput() -> [ManageSieveEvent] { [.log("client closed the connection"), .close] }
    public func timedOut() -> [ManageSieveEvent] { [.send(line("BYE \"Timeout.\"")), .close] }

    var saslAllowed: Bool { tls || configuration.allowsPlaintextAuthentication }

    func capabilities() -> [UInt8] {
        var out = line("\"IMPLEMENTATION\" \"\(configuration.implementation)\"")
        out += line("\"SIEVE\" \"\(SieveScript.supportedExtensions.filter { !$0.hasPrefix("comparator-i;o") && $0 != "comparator-i;ascii-casemap" }.joined(separator: " "))\"")
        if authenticatedUser == nil && saslAllowed { out += line("\"SASL\" \"PLAIN LOGIN\"") } else if authenticatedUser == nil { out += line("\"SASL\" \"\"") }
        if configuration.startTLSAvailable && !tls && authenticatedUser == nil { out += line("\"STARTTLS\"") }
        out += line("\"MAXREDIRECTS\" \"\(configuration.maxRedirects)\"")
        out += line("\"UNAUTHENTICATE\"")
        out += line("\"VERSION\" \"1.0\"")
        return out
    }

    func line(_ s: String) -> [UInt8] { Array(s.utf8) + [0x0D, 0x0A] }

    /// A string as the server sends it: quoted when it can be, else a literal.
    static func encode(_ bytes: [UInt8]) -> [UInt8] {
        if bytes.count < 1024 && !bytes.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
            var out: [UInt8] = [0x22]
            for b in bytes { if b == 0x22 || b == 0x5C { out.append(0x5C) }; out.append(b) }
            return out + [0x22]
        }
        return Array("{\(bytes.count)}\r\n".utf8) + bytes
    }

    func response(_ kind: String, code: String? = nil, _ text: String) -> [ManageSieveEvent] {
        var s = kind
        if let code { s += " (\(code))" }
        let clean = String(decoding: text.utf8.map { $0 < 0x20 ? 0x20 : $0 }, as: UTF8.self)
        return [.send(Array(s.utf8) + [0x20] + ManageSieveSession.encode(Array(clean.utf8)) + [0x0D, 0x0A])]
    }

    func no(code: String? = nil, _ text: String) -> [ManageSieveEvent] {
        errors += 1
        if errors > configuration.limits.maximumErrors {
            closed = true
            return [.send(line("BYE \"Too many errors.\"")), .close]
        }
        return response("NO", code: code, text)
    }

    // MARK: Input

    public func feed(_ bytes: [UInt8]) -> [ManageSieveEvent] {
        guard !closed else { return [] }
        buffer += bytes
        var events: [ManageSieveEvent] = []
        while !closed && pendingAuthentication == nil {
            switch ManageSieveSession.parse(&buffer, limits: configuration.limits) {
            case .incomplete: return events
            case .failure(let why):
                closed = true
                return events + [.log("protocol error: \(why)"), .send(line("BYE \"\(why)\"")), .close]
            case .tokens(let tokens):
                events += handle(tokens)
                if events.contains(.startTLS) { return events }
            }
        }
        return events
    }

    enum Parsed { case incomplete, failure(String), tokens([ManageSieveToken]) }

    /// One command line (with its literals) from the front of `buffer`, consumed on success.
    static func parse(_ buffer: inout [UInt8], limits: ManageSieveLimits) -> Parsed {
        var tokens: [ManageSieveToken] = []
        var i = 0
        var lineBytes = 0
        let n = buffer.count
        while true {
            while i < n && buffer[i] == 0x20 { i += 1; lineBytes += 1 }
            guard i < n else { return lineBytes > limits.maximumLineLength ? .failure("Line too long.") : .incomplete }
            if lineBytes > limits.maximumLineLength { return .failure("Line too long.") }
            let b = buffer[i]
            if b == 0x0D || b == 0x0A {
                if b == 0x0D {
                    guard i + 1 < n else { return .incomplete }
                    guard buffer[i + 1] == 0x0A else { return .failure("Bare CR.") }
                    i += 2
                } else { i += 1 }
                buffer.removeFirst(i)
                return .tokens(tokens)
            }
            if b == 0x22 {
                var s: [UInt8] = []
                var j = i + 1
                while true {
                    guard j < n else { return j - i > limits.maximumLineLength ? .failure("Line too long.") : .incomplete }
                    let c = buffer[j]
                    if c == 0x22 { break }
                    if c == 0x0D || c == 0x0A { return .failure("Line break in a quoted string.") }
                    if c == 0x5C {
                        j += 1
                        guard j < n else { return .incomplete }
                    }
                    s.append(buffer[j])
                    j += 1
                }
                lineBytes += j + 1 - i
                i = j + 1
                tokens.append(.string(s))
                continue
            }
            if b == 0x7B {
                guard let close = buffer[i...].firstIndex(of: 0x7D) else {
                    return n - i > 24 ? .failure("Bad literal.") : .incomplete
                }
                var digits = buffer[(i + 1)..<close]
                if digits.last == 0x2B { digits = digits.dropLast() }
                guard !digits.isEmpty, digits.count <= 10, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                      let size = Int(String(decoding: digits, as: UTF8.self)) else { return .failure("Bad literal.") }
                guard size <= limits.maximumLiteral else { return .failure("Literal larger than the script size limit.") }
                var start = close + 1
                guard start < n else { return .incomplete }
                if buffer[start] == 0x0D { start += 1; guard start < n else { return .incomplete } }
                guard buffer[start] == 0x0A else { return .failure("Bad literal.") }
                start += 1
                guard start + size <= n else { return .incomplete }
                tokens.append(.string(Array(buffer[start..<(start + size)])))
                i = start + size
                lineBytes += close + 1 - i
                continue
            }
            var j = i
            while j < n && buffer[j] != 0x20 && buffer[j] != 0x0D && buffer[j] != 0x0A && buffer[j] != 0x22 && buffer[j] != 0x7B { j += 1 }
            guard j < n else { return j - i > limits.maximumLineLength ? .failure("Line too long.") : .incomplete }
            let word = String(decoding: buffer[i..<j], as: UTF8.self)
            if let v = Int(word), word.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { tokens.append(.number(v)) } else { tokens.append(.atom(word)) }
            lineBytes += j - i
            i = j
        }
    }

    // MARK: Commands

    func string(_ t: ManageSieveToken?) -> String? {
        if case .string(let s)? = t { return String(validating: s, as: UTF8.self) }
        return nil
    }

    func handle(_ tokens: [ManageSieveToken]) -> [ManageSieveEvent] {
        if case .none = sasl {} else { return saslContinuation(tokens) }
        guard case .atom(let word)? = tokens.first else { return no("Expected a command.") }
        let command = word.uppercased()
        let args = Array(tokens.dropFirst())
        if authenticatedUser == nil {
            commandsBeforeAuthentication += 1
            if commandsBeforeAuthentication > configuration.limits.maximumCommandsBeforeAuthentication {
                closed = true
                return [.send(line("BYE \"Too many commands without logging in.\"")), .close]
            }
        }
        switch command {
        case "CAPABILITY":
            return [.send(capabilities() + line("OK \"Capability completed.\""))]
        case "LOGOUT":
            closed = true
            return [.send(line("OK \"Logout completed.\"")), .close]
        case "NOOP":
            if let tag = string(args.first) { return response("OK", code: "TAG \(String(decoding: ManageSieveSession.encode(Array(tag.utf8)), as: UTF8.self))", "Done") }
            return response("OK", "Done")
        case "STARTTLS":
            guard configuration.startTLSAvailable, !tls, authenticatedUser == nil else { return no("STARTTLS is not available.") }
            return response("OK", "Begin TLS negotiation now.") + [.startTLS]
        case "AUTHENTICATE":
            return authenticate(args)
        default:
            break
        }
        guard authenticatedUser != nil, let store else { return no("Log in first.") }
        switch command {
        case "UNAUTHENTICATE":
            authenticatedUser = nil
            self.store = nil
            return response("OK", "Logged out; log in again.")
        case "LISTSCRIPTS":
            do {
                var out: [UInt8] = []
                for s in try store.list() {
                    out += ManageSieveSession.encode(Array(s.name.utf8)) + (s.active ? Array(" ACTIVE".utf8) : []) + [0x0D, 0x0A]
                }
                return [.send(out + line("OK \"Listscripts completed.\""))]
            } catch { return storeError(error) }
        case "GETSCRIPT":
            guard args.count == 1, let name = string(args[0]) else { return no("Usage: GETSCRIPT name") }
            do {
                let script = try store.get(name)
                return [.send(Array("{\(script.count)}\r\n".utf8) + script + line("") + line("OK \"Getscript completed.\""))]
            } catch { return storeError(error) }
        case "PUTSCRIPT", "CHECKSCRIPT":
            let named = command == "PUTSCRIPT"
            guard args.count == (named ? 2 : 1), case .string(let script) = args.last!, !named || string(args[0]) != nil else {
                return no(named ? "Usage: PUTSCRIPT name script" : "Usage: CHECKSCRIPT script")
            }
            do {
                _ = try SieveScript.compile(script, limits: configuration.parseLimits)
            } catch {
                return no("\(error)")
            }
            guard named else { return response("OK", "Script is valid.") }
            do {
                try store.put(string(args[0])!, script)
                return response("OK", "Putscript completed.")
            } catch { return storeError(error) }
        case "SETACTIVE":
            guard args.count == 1, let name = string(args[0]) else { return no("Usage: SETACTIVE name") }
            do {
                try store.setActive(name.isEmpty ? nil : name)
                return response("OK", name.isEmpty ? "No script is active." : "Setactive completed.")
            } catch { return storeError(error) }
        case "DELETESCRIPT":
            guard args.count == 1, let name = string(args[0]) else { return no("Usage: DELETESCRIPT name") }
            do { try store.delete(name); return response("OK", "Deletescript completed.") } catch { return storeError(error) }
        case "RENAMESCRIPT":
            guard args.count == 2, let old = string(args[0]), let new = string(args[1]) else { return no("Usage: RENAMESCRIPT old new") }
            do { try store.rename(old, to: new); return response("OK", "Renamescript completed.") } catch { return storeError(error) }
        case "HAVESPACE":
            guard args.count == 2, let name = string(args[0]), case .number(let size) = args[1] else { return no("Usage: HAVESPACE name size") }
            do { try store.haveSpace(name, size: size); return response("OK", "Putscript would succeed.") } catch { return storeError(error) }
        default:
            return no("Unknown command.")
        }
    }

    func storeError(_ error: ManageSieveStoreError) -> [ManageSieveEvent] {
        switch error {
        case .nonexistent: return no(code: "NONEXISTENT", "There is no script by that name.")
        case .alreadyExists: return no(code: "ALREADYEXISTS", "A script by that name exists already.")
        case .active: return no(code: "ACTIVE", "The script is active.")
        case .quota(let code, let why): return no(code: code, why)
        case .badName: return no("Not a valid script name.")
        case .tryLater(let why): return [.log("store: \(why)")] + no(code: "TRYLATER", "Try again later.")
        }
    }

    // MARK: SASL (RFC 4616 PLAIN, LOGIN) on the shared exchange (MailCodec)

    func authenticate(_ args: [ManageSieveToken]) -> [ManageSieveEvent] {
        guard authenticatedUser == nil else { return no("Already logged in.") }
        guard saslAllowed else { return no(code: "ENCRYPT-NEEDED", "Use STARTTLS first.") }
        guard let mechanism = string(args.first)?.uppercased(), args.count <= 2 else { return no("Usage: AUTHENTICATE mechanism [initial-response]") }
        guard var exchange = SASLExchange(mechanism: mechanism) else { return no("Unsupported mechanism.") }
        // RFC 5804 §2.1: the initial response is a string; an empty one is an empty response.
        var initial: [UInt8]? = nil
        if args.count == 2 {
            guard let text = string(args[1]) else { return no("Bad SASL response.") }
            initial = text.isEmpty ? Array("=".utf8) : Array(text.utf8)
        }
        return saslStep(exchange.start(initialResponse: initial?[...]), exchange: exchange)
    }

    func saslContinuation(_ tokens: [ManageSieveToken]) -> [ManageSieveEvent] {
        let state = sasl
        sasl = .none
        guard tokens.count == 1, let text = string(tokens.first) ?? { if case .atom(let a)? = tokens.first { return a } else { return nil } }() else {
            return no("Bad SASL response.")
        }
        guard case .exchange(var exchange) = state else { return no("Unexpected SASL response.") }
        return saslStep(exchange.respond(text.isEmpty ? Array("=".utf8)[...] : Array(text.utf8)[...]), exchange: exchange)
    }

    /// One step of the shared exchange, in ManageSieve's words (RFC 5804 §2.1).
    func saslStep(_ step: SASLExchange.Step, exchange: SASLExchange) -> [ManageSieveEvent] {
        switch step {
        case .challenge(let text):
            sasl = .exchange(exchange)
            return [.send(line("\"\(text)\""))]
        case .user:
            sasl = .exchange(exchange)
            return [.send(line("\"\(SASLExchange.passwordChallenge)\""))]
        case .credentials(let authorization, let user, let password):
            guard authorization.isEmpty || authorization == user else { return no(code: "AUTH-TOO-WEAK", "No proxy logins.") }
            return login(user: String(decoding: user, as: UTF8.self), password: password, mechanism: exchange.mechanism.rawValue)
        case .failed(.cancelled): return no("Authentication aborted.")
        case .failed(.invalidBase64): return no("Bad base64.")
        case .failed(.malformed): return no("Bad PLAIN response.")
        }
    }

    func login(user: String, password: [UInt8], mechanism: String) -> [ManageSieveEvent] {
        // An empty password is never checked (PAM nullok); NUL cannot be in one.
        guard !user.isEmpty, !password.isEmpty, !password.contains(0) else { return loggedIn(user: user, result: .failure) }
        let request = AuthenticationRequest(user: user, password: password, mechanism: mechanism)
        pendingAuthentication = request
        return [.authenticate(request)]
    }

    /// The host's answer to ``ManageSieveEvent/authenticate(_:)``; then the commands that
    /// arrived meanwhile.
    public func authenticationAnswered(_ result: ManageSieveAuthResult) -> [ManageSieveEvent] {
        guard let request = pendingAuthentication else { return [] }
        pendingAuthentication = nil
        let events = loggedIn(user: request.user, result: result)
        return closed ? events : events + feed([])
    }

    func loggedIn(user: String, result: ManageSieveAuthResult) -> [ManageSieveEvent] {
        switch result {
        case .success:
            guard let opened = policy.openStore(user: user) else {
                closed = true
                return [.log("login \(user): cannot open the scripts"), .send(line("BYE (TRYLATER) \"Cannot open your scripts now.\"")), .close]
            }
            authenticatedUser = user
            store = opened
            return [.log("login \(user)")] + response("OK", "Logged in.")
        case .failure:
            authenticationFailures += 1
            var events: [ManageSieveEvent] = [.log("login failed for \(user)"), .delay(milliseconds: configuration.limits.authenticationFailureDelayMilliseconds * authenticationFailures)]
            if authenticationFailures >= configuration.limits.maximumAuthenticationFailures {
                closed = true
                events += [.send(line("BYE \"Too many failed logins.\"")), .close]
                return events
            }
            return events + response("NO", "Authentication failed.")
        case .temporaryFailure:
            return response("NO", code: "TRYLATER", "Cannot check passwords now.")
        }
    }


}

#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailMessage
import MailQueueClient
import MailSystem
import Maildir

/// What one postamt-local run achieved: one MailStatus, from which its exit status
/// (`sysExit`), its log line (`line`) and its result line (`resultLine`) are all derived.
public typealias DeliveryOutcome = MailStatus

/// The request postamt-local was given on its command line (postamt-local(8)).
public struct DeliveryRequest: Sendable {
    public var user: String
    public var sender: String = ""
    public var address: String? = nil
    public var extensionPart: String? = nil
    /// `-D`: deliver to exactly this alias target (`|command` or a path), as ourselves.
    public var target: String? = nil
    /// `-n`: aliases were expanded already (by the runner).
    public var skipAliases = false
    public var queueID: String? = nil
    public init(user: String) { self.user = user }
}

/// postamt-local's work: one message to one local recipient.
public struct LocalDelivery {
    public let configuration: Configuration
    public let request: DeliveryRequest
    public let message: [UInt8]
    public let log: Log
    /// Who runs this delivery (the recipient, or default_privs for an alias's target): looked
    /// up once, as every passwd lookup reads the file or asks an NSS module.
    let runningAs: SystemUser?

    public init(configuration: Configuration, request: DeliveryRequest, message: [UInt8], log: Log) {
        self.configuration = configuration
        self.request = request
        self.message = message
        self.log = log
        self.runningAs = SystemUser.current()
    }

    var hostname: String { configuration.hostname }

    var recipientAddress: String {
        if let a = request.address, !a.isEmpty { return a }
        if let ext = request.extensionPart, !ext.isEmpty { return "\(request.user)\(configuration.string("recipient_delimiter").prefix(1))\(ext)@\(hostname)" }
        return "\(request.user)@\(hostname)"
    }

    /// Return-Path: and Delivered-To: (qmail-local and Postfix local both add them).
    var deliveryHeaders: [UInt8] {
        Array("Return-Path: <\(request.sender)>\nDelivered-To: \(recipientAddress)\n".utf8)
    }

    public func deliver() -> DeliveryOutcome {
        if geteuid() == 0 {
            // Temporary: the administrator fixes the alias (or the caller) and the message waits.
            return .temporary("3.0", "refusing to deliver as root: run postamt-local as the recipient")
        }
        if let loop = loopCheck() { return loop }
        if let target = request.target {
            return deliverAliasTarget(target)
        }
        if !request.skipAliases, let outcome = deliverThroughAliases() {
            return outcome
        }
        return deliverToUser()
    }

    /// RFC 5321 §6.3 loop detection: our own Delivered-To line, or too many hops.
    func loopCheck() -> DeliveryOutcome? {
        let headers = HeaderSection.parse(message, limit: 1 << 20)
        let me = recipientAddress.lowercasedASCII()
        var hops = 0
        for field in headers.fields {
            if field.isNamed("Delivered-To") {
                hops += 1
                if field.value.lowercasedASCII() == me {
                    return .permanent("4.6", "this message is looping: it already has my Delivered-To line")
                }
            } else if field.isNamed("Received") {
                hops += 1
            }
        }
        if hops > configuration.count("hop_count_limit") {
            return .permanent("4.6", "too many hops (\(hops) Received:/Delivered-To: lines); looping?")
        }
        return nil
    }

    // MARK: - Aliases (when postamt-local is used on its own as an MDA)

    func deliverThroughAliases() -> DeliveryOutcome? {
        let path = configuration.string("alias_file")
        guard let bytes = try? FileIO.readFile(path) else { return nil }
        let table = AliasTable(text: String(decoding: bytes, as: UTF8.self), file: path)
        guard table.lookup(request.user) != nil else { return nil }
        let resolver = AddressResolver(configuration: configuration, aliases: table)
        let me = runningAs?.name
        var instructions: [DeliveryInstruction] = []
        for d in resolver.resolve(request.user) {
            switch d {
            case .user(let name, _, let address):
                instructions.append(name == me ? .defaultMailbox : .forward(address))
            case .aliasCommand(let c, _): instructions.append(.program(c))
            case .aliasFile(let p, _): instructions.append(p.hasSuffix("/") ? .maildir(p) : .mbox(p))
            case .remote(let a): instructions.append(.forward(a))
            case .unknown(let a, let why): return .permanent("1.1", "\(a): \(why)")
            }
        }
        return execute(instructions, user: runningAs, what: "alias \(request.user)")
    }

    func deliverAliasTarget(_ target: String) -> DeliveryOutcome {
        if target.hasPrefix("|") {
            return execute([.program(String(target.dropFirst()))], user: runningAs, what: "alias")
        }
        guard target.hasPrefix("/") else { return .permanent("5.4", "-D takes |command or /path") }
        return execute([target.hasSuffix("/") ? .maildir(target) : .mbox(target)], user: runningAs, what: "alias")
    }

    // MARK: - A user's mailbox, through ~/.postamt or ~/.forward

    func deliverToUser() -> DeliveryOutcome {
        guard let user = runningAs?.name == request.user ? runningAs : SystemUser.named(request.user) else {
            return .permanent("1.1", "no such user \(request.user)")
        }
        guard user.uid == geteuid() else {
            return .temporary("3.0", "postamt-local runs as uid \(geteuid()) but \(user.name) is uid \(user.uid): it must run as the recipient")
        }
        switch instructionsFor(user) {
        case .failure(let outcome): return outcome
        case .success(let (instructions, source)): return execute(instructions, user: user, what: source)
        }
    }

    /// The user's delivery file: ~/.postamt-EXT (or ~/.postamt-default) for an extension, else
    /// ~/.postamt, else ~/.forward; none (or an empty one) means the default Maildir.
    func instructionsFor(_ user: SystemUser) -> Result<([DeliveryInstruction], String), DeliveryOutcome> {
        var candidates: [(String, Bool)] = []
        if let ext = request.extensionPart?.lowercasedASCII(), !ext.isEmpty, !ext.contains("/") {
            // qmail-local: dots become colons in file names, so ".postamt-a.b" cannot be forged.
            let safe = ext.replacingAll(".", with: ":")
            candidates.append((".postamt-\(safe)", true))
            candidates.append((".postamt-default", true))
        }
        // Without a file for the extension, the user's own files apply (Postfix's way; qmail
        // would refuse the address).
        candidates.append((".postamt", true))
        candidates.append((".forward", false))
        for (name, dotQmail) in candidates {
            let path = "\(user.home)/\(name)"
            guard let st = FileIO.status(path) else { continue }
            // Like sendmail and Postfix: a delivery file someone else can change is not used.
            if st.st_uid != user.uid || st.st_mode & 0o022 != 0 {
                return .failure(.temporary("7.0", "\(path) is writable by others or not owned by \(user.name); not used"))
            }
            let text: String
            do {
                guard let bytes = try FileIO.readFile(path, limit: 1 << 20) else { continue }
                text = String(decoding: bytes, as: UTF8.self)
            } catch {
                return .failure(.temporary("3.0", "cannot read \(path): \(error)"))
            }
            let parsed = dotQmail ? DeliveryFile.parseDotQmail(text, home: user.home)
                                  : DeliveryFile.parseForward(text, home: user.home, user: user.name)
            switch parsed {
            case .failure(let p):
                return .failure(.temporary("7.0", "\(path): \(p.message)"))
            case .success(let list):
                return .success((list.isEmpty ? [.defaultMailbox] : list, "~/\(name)"))
            }
        }
        return .success(([.defaultMailbox], "default"))
    }

    // MARK: - Carrying out the instructions

    /// qmail-local's order: each line in turn; a permanent or temporary failure stops and fails
    /// the whole delivery (a retry may repeat earlier lines, as qmail documents); forwards are
    /// queued at the end, in one new queue entry.
    func execute(_ instructions: [DeliveryInstruction], user: SystemUser?, what: String) -> DeliveryOutcome {
        var done: [String] = []
        var forwards: [String] = []
        let home = user?.home ?? "/"
        loop: for instruction in instructions {
            switch instruction {
            case .defaultMailbox:
                let mailbox = configuration.string("home_mailbox")
                let inbox = mailbox.hasPrefix("/") ? mailbox : "\(home)/\(mailbox)"
                // The Sieve hook: the user's filter decides where the message goes.
                if let user, let filtered = deliverThroughSieve(user: user, inbox: inbox) {
                    switch filtered {
                    case .failure(let outcome): return outcome
                    case .success(let text): done.append(text); continue loop
                    }
                }
                let (path, junk) = defaultMailboxTarget(inbox)
                if junk, let failure = createJunkFolder(inbox, path) { return failure }
                if let failure = deliverToFile(path, maildir: path.hasSuffix("/")) { return failure }
                done.append(path.hasSuffix("/") ? "maildir \(path)" : "mailbox \(path)")
            case .maildir(let path):
                if let failure = deliverToFile(path, maildir: true) { return failure }
                done.append("maildir \(path)")
            case .mbox(let path):
                if let failure = deliverToFile(path, maildir: false) { return failure }
                done.append("file \(path)")
            case .program(let command):
                switch runProgram(command, user: user) {
                case .success: done.append("command")
                case .successStop: done.append("command"); break loop
                case .failure(let outcome): return outcome
                }
            case .forward(let address):
                forwards.append(address.contains("@") ? address : "\(address)@\(hostname)")
            }
        }
        if !forwards.isEmpty {
            if let failure = forward(to: forwards) { return failure }
            done.append("forwarded to \(forwards.joined(separator: ", "))")
        }
        if done.isEmpty { return .success("delivered (\(what): nothing to do)") }
        return .success("delivered to \(done.joined(separator: "; "))")
    }

    func deliverToFile(_ path: String, maildir: Bool) -> DeliveryOutcome? {
        let parts: [ArraySlice<UInt8>] = [deliveryHeaders[...], message[...]]
        if maildir {
            let size = parts.reduce(0) { $0 + $1.count }
            let admitted: (quota: MaildirQuota, before: QuotaUsage)?
            switch quotaAdmission(path, size: size) {
            case .failure(let refusal): return refusal
            case .success(let a): admitted = a
            }
            do {
                try Maildir(path: path).deliver(parts)
                if let admitted { quotaDelivered(admitted.quota, size: size, before: admitted.before) }
                return nil
            } catch let e as SystemError where e.isOutOfSpace {
                return .temporary("2.2", "maildir \(path): disk full or over quota")
            } catch {
                return .temporary("2.0", "maildir delivery to \(path) failed: \(error)")
            }
        }
        return MboxDelivery.append(path: path, sender: request.sender, parts: parts)
    }

    enum ProgramOutcome { case success, successStop, failure(DeliveryOutcome) }

    func runProgram(_ command: String, user: SystemUser?) -> ProgramOutcome {
        // A clean environment: only what a qmail-command or Postfix pipe gets. The envelope is
        // passed in variables, never interpolated into the command line.
        // qmail-command(8): LOCAL and HOST are the recipient address's parts; DTLINE and RPLINE
        // end in a newline.
        let address = recipientAddress
        let at = address.lastIndex(of: "@")
        let local = at.map { String(address[..<$0]) } ?? address
        let host = at.map { String(address[address.index(after: $0)...]) } ?? hostname
        var env = ["PATH=/usr/local/bin:/usr/bin:/bin", "SHELL=/bin/sh",
                   "SENDER=\(request.sender)", "RECIPIENT=\(address)",
                   "LOCAL=\(local)", "HOST=\(host)",
                   "DTLINE=Delivered-To: \(address)\n", "RPLINE=Return-Path: <\(request.sender)>\n"]
        if let ext = request.extensionPart { env.append("EXTENSION=\(ext)"); env.append("EXT=\(ext)") }
        if let user { env += ["HOME=\(user.home)", "USER=\(user.name)", "LOGNAME=\(user.name)"] }
        if !configuration.root.isEmpty { env.append("POSTAMT_ROOT=\(configuration.root)") }
        let directory = user.map { FileIO.isDirectory($0.home) ? $0.home : "/" } ?? "/"
        do {
            let result = try Spawn.run("/bin/sh", arguments: ["sh", "-c", command], environment: env,
                                       input: [deliveryHeaders, message], directory: directory,
                                       timeout: configuration.duration("command_time_limit"))
            let said = ProgramOutput.lastLine(result.output)
            if result.timedOut {
                return .failure(.temporary("3.0", "command timed out after command_time_limit"))
            }
            switch result.status {
            case .signaled(let s):
                return .failure(.temporary("3.0", "command killed by signal \(s)"))
            case .exited(let code):
                switch DeliveryFile.programResult(exitCode: code) {
                case .success: return .success
                case .successStop: return .successStop
                case .permanent:
                    return .failure(.permanent("3.0", "command failed with exit \(code)\(said.isEmpty ? "" : ": \(said)")"))
                case .temporary:
                    return .failure(.temporary("3.0", "command failed with exit \(code)\(said.isEmpty ? "" : ": \(said)")"))
                }
            }
        } catch {
            return .failure(.temporary("3.0", "cannot run the command: \(error)"))
        }
    }

    /// A forward is a new queue entry with the same sender; our Delivered-To: line goes with it,
    /// so a forwarding loop ends at the loop check.
    func forward(to addresses: [String], message body: [UInt8]? = nil) -> DeliveryOutcome? {
        do {
            let sender = try EnvelopeAddress(request.sender, allowEmpty: true, lengthLimit: 4096)
            let rcpts = try addresses.map { try EnvelopeAddress($0, lengthLimit: 4096) }
            let outcome = QueueClient.inject(program: configuration.program("postamt-queue"),
                                             message: Array("Delivered-To: \(recipientAddress)\n".utf8) + (body ?? message),
                                             envelope: Envelope(sender: sender, recipients: rcpts),
                                             environment: QueueClient.environment(configuration: configuration))
            switch outcome {
            case .success: return nil
            case .failure(let why):
                // The class comes from postamt-queue's exit code (QueueClient), never from its text.
                return .init(.init(why.disposition == .permanent ? .permanent : .temporary, 3, 0), "forwarding failed: \(why.text)")
            }
        } catch {
            return .permanent("1.3", "cannot forward: \(error)")
        }
    }
}

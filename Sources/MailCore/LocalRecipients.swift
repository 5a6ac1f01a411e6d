import MailSystem

/// Where one recipient's copy of a message goes on this machine.
public enum LocalDestination: Equatable, Sendable {
    /// A user's mailbox (through their ~/.postamt, ~/.forward and Maildir). `address` is what
    /// Delivered-To: names.
    case user(name: String, extension: String?, address: String)
    /// A |command or /file of the alias `alias`, run as default_privs.
    case aliasCommand(command: String, alias: String)
    case aliasFile(path: String, alias: String)
    /// An address outside the local domains (an alias pointing out).
    case remote(address: String)
    /// No such user or alias: a permanent failure, with the reason.
    case unknown(address: String, reason: String)
}

/// Resolves local recipients the way the runner and postamt-local both need: aliases first
/// (recursively, with :include:), then users with address extensions.
public struct LocalRecipientResolver: Sendable {
    public let aliases: AliasTable
    public let delimiters: String
    public let localDomains: Set<String>
    public let hostname: String
    public let expansionLimit: Int
    /// Reads an :include: file; nil when it cannot be read.
    public let readInclude: @Sendable (String) -> String?
    /// Looks a user up (getpwnam by default).
    public let lookupUser: @Sendable (String) -> SystemUser?

    public init(aliases: AliasTable, delimiters: String, localDomains: Set<String>, hostname: String,
                expansionLimit: Int = 1000,
                readInclude: @escaping @Sendable (String) -> String? = { path in
                    (try? FileIO.readFile(path, limit: 1 << 20)).flatMap { $0.map { String(decoding: $0, as: UTF8.self) } }
                },
                lookupUser: @escaping @Sendable (String) -> SystemUser? = { SystemUser.named($0) }) {
        self.aliases = aliases
        self.delimiters = delimiters
        self.localDomains = localDomains
        self.hostname = hostname
        self.expansionLimit = expansionLimit
        self.readInclude = readInclude
        self.lookupUser = lookupUser
    }

    public init(configuration: Configuration, aliases: AliasTable) {
        self.init(aliases: aliases, delimiters: configuration.string("recipient_delimiter"),
                  localDomains: configuration.localDomains, hostname: configuration.hostname,
                  expansionLimit: configuration.count("alias_expansion_limit"))
    }

    public func isLocal(_ address: String) -> Bool {
        guard let at = address.lastIndex(of: "@") else { return true }
        return localDomains.contains(String(address[address.index(after: at)...]).lowercased())
    }

    /// Splits `user+ext`: the whole local part first (a user may have the delimiter in the
    /// name, like www-data), then at the first delimiter character (Postfix's order).
    public func splitExtension(_ local: String) -> (user: String, extension: String?) {
        if lookupUser(local) != nil || aliases.lookup(local) != nil { return (local, nil) }
        if let i = local.firstIndex(where: { delimiters.contains($0) }), i != local.startIndex {
            return (String(local[..<i]), String(local[local.index(after: i)...]))
        }
        return (local, nil)
    }

    /// The destinations of one address, aliases expanded, duplicates removed.
    public func resolve(_ address: String) -> [LocalDestination] {
        var seen: Set<String> = []
        var out: [LocalDestination] = []
        var budget = expansionLimit
        expand(address, depth: 0, aliasChain: [], seen: &seen, out: &out, budget: &budget)
        var unique: [LocalDestination] = []
        for d in out where !unique.contains(d) { unique.append(d) }
        return unique
    }

    private func qualified(_ local: String) -> String { "\(local)@\(hostname)" }

    private func expand(_ address: String, depth: Int, aliasChain: [String], seen: inout Set<String>,
                        out: inout [LocalDestination], budget: inout Int) {
        budget -= 1
        if budget < 0 {
            out.append(.unknown(address: address, reason: "alias expansion limit exceeded"))
            return
        }
        guard isLocal(address) else {
            out.append(.remote(address: address))
            return
        }
        let local: String
        if let at = address.lastIndex(of: "@") { local = String(address[..<at]) } else { local = address }
        let lower = local.lowercased()
        if depth > 20 {
            out.append(.unknown(address: address, reason: "alias nesting too deep"))
            return
        }
        let (base, ext) = splitExtension(lower)
        if !aliasChain.contains(base), let targets = aliases.lookup(base) {
            if seen.contains(base) { return }
            seen.insert(base)
            let chain = aliasChain + [base]
            expandTargets(targets, alias: base, depth: depth, chain: chain, seen: &seen, out: &out, budget: &budget, includeDepth: 0)
            return
        }
        // Not an alias, or an alias that names itself: the user's own mailbox.
        if let user = lookupUser(base), user.uid == 0 {
            // Deliveries never run as root (postamt-local refuses): root needs an alias.
            out.append(.unknown(address: address, reason: "mail for \(base) must be aliased to another user in the alias file"))
        } else if lookupUser(base) != nil {
            out.append(.user(name: base, extension: ext, address: address.contains("@") ? address : qualified(local)))
        } else {
            out.append(.unknown(address: address, reason: "no such user"))
        }
    }

    private func expandTargets(_ targets: [AliasTarget], alias: String, depth: Int, chain: [String],
                               seen: inout Set<String>, out: inout [LocalDestination], budget: inout Int,
                               includeDepth: Int) {
        for target in targets {
            switch target {
            case .address(let a):
                expand(a, depth: depth + 1, aliasChain: chain, seen: &seen, out: &out, budget: &budget)
            case .mailbox(let name):
                if lookupUser(name.lowercased()) != nil {
                    out.append(.user(name: name.lowercased(), extension: nil, address: qualified(name.lowercased())))
                } else {
                    out.append(.unknown(address: name, reason: "no such user"))
                }
            case .command(let c):
                out.append(.aliasCommand(command: c, alias: alias))
            case .file(let p):
                out.append(.aliasFile(path: p, alias: alias))
            case .include(let path):
                guard includeDepth < 5, let text = readInclude(path) else {
                    out.append(.unknown(address: qualified(alias), reason: "cannot read :include: file \(path)"))
                    continue
                }
                var lines = ""
                for line in text.split(separator: "\n") where !line.hasPrefix("#") { lines += line + "\n" }
                switch AliasTable.parseTargets(lines) {
                case .success(let more):
                    expandTargets(more, alias: alias, depth: depth, chain: chain, seen: &seen, out: &out,
                                  budget: &budget, includeDepth: includeDepth + 1)
                case .failure(let f):
                    out.append(.unknown(address: qualified(alias), reason: ":include: \(path): \(f.why)"))
                }
            }
        }
    }
}

import MailSystem

/// Where one recipient's copy of a message goes on this machine.
public enum LocalDestination: Equatable, Sendable {
    /// A user's mailbox (through their ~/.postamt, ~/.forward and Maildir). `address` is what
    /// Delivered-To: names.
    case user(name: String, extension: String?, address: String)
    /// A |command or /file of the alias `alias`, run as default_privs.
    case aliasCommand(command: String, alias: String)
    case aliasFile(path: String, alias: String)
    /// An address outside our domains (an alias or a virtual entry pointing out).
    case remote(address: String)
    /// No such user or alias: a permanent failure, with the reason.
    case unknown(address: String, reason: String)
}

/// The one answer to "where does this address go, and who owns it" for every program: smtpd at
/// RCPT and MAIL, the runner, postamt-local as an MDA, postamt-remote before it signs, sendmail's
/// -f check and `postamt resolve`.
///
/// - Local domains (local_domains, and `local` lines of the domains file): `user@domain` is the
///   system user, through the alias file first (recursively, with :include:), with address
///   extensions (`user+ext`).
/// - Virtual domains (`virtual` lines of the domains file): addresses map through the virtual
///   table, looked up as Postfix's virtual(5) does: `user+ext@domain`, then `user@domain` (the
///   extension is passed on to the targets), then `@domain` (the catch-all, lowest precedence).
///   A target without `@` is a local name (an alias or a user); others are resolved again.
///   `postmaster@` a virtual domain without an entry is the local postmaster (RFC 5321 §4.5.1).
/// - Anything else is remote.
///
/// Ownership follows routing: a user owns the addresses that reach them (their own
/// `user@local-domain`, aliases and virtual entries that resolve to them, the catch-all's
/// addresses unless an entry of their own routes them elsewhere) and those the sender table
/// grants them.
public struct AddressResolver: Sendable {
    public let aliases: AliasTable
    public let delimiters: String
    public let localDomains: Set<String>
    public let virtualDomains: Set<String>
    public let virtual: (any AddressMap)?
    public let senders: (any AddressMap)?
    public let hostname: String
    public let expansionLimit: Int
    /// Reads an :include: file; nil when it cannot be read.
    public let readInclude: @Sendable (String) -> String?
    /// Looks a user up (getpwnam by default).
    public let lookupUser: @Sendable (String) -> SystemUser?
    /// Users who may send as any address (sender_login_exempt; root always).
    public var exemptSenders: Set<String> = ["root"]

    public init(aliases: AliasTable, delimiters: String, localDomains: Set<String>, hostname: String,
                virtualDomains: Set<String> = [], virtual: (any AddressMap)? = nil, senders: (any AddressMap)? = nil,
                expansionLimit: Int = 1000,
                readInclude: @escaping @Sendable (String) -> String? = { path in
                    (try? FileIO.readFile(path, limit: 1 << 20)).flatMap { $0.map { String(decoding: $0, as: UTF8.self) } }
                },
                lookupUser: @escaping @Sendable (String) -> SystemUser? = { SystemUser.named($0) }) {
        self.aliases = aliases
        self.delimiters = delimiters
        self.localDomains = localDomains
        self.virtualDomains = virtualDomains.subtracting(localDomains)
        self.virtual = virtual
        self.senders = senders
        self.hostname = hostname
        self.expansionLimit = expansionLimit
        self.readInclude = readInclude
        self.lookupUser = lookupUser
    }

    /// Local domains and aliases only (the configuration's local_domains).
    public init(configuration: Configuration, aliases: AliasTable) {
        self.init(aliases: aliases, delimiters: configuration.string("recipient_delimiter"),
                  localDomains: configuration.localDomains, hostname: configuration.hostname,
                  expansionLimit: configuration.count("alias_expansion_limit"))
    }

    public static func domain(of address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return "" }
        return String(address[address.index(after: at)...]).lowercased()
    }

    /// True for an address in a local domain (or without a domain).
    public func isLocal(_ address: String) -> Bool {
        guard address.contains("@") else { return true }
        return localDomains.contains(AddressResolver.domain(of: address))
    }

    /// True for an address this host receives mail for: a local or a virtual domain.
    public func isOurs(_ address: String) -> Bool {
        isLocal(address) || virtualDomains.contains(AddressResolver.domain(of: address))
    }

    public func isOurDomain(_ domain: String) -> Bool {
        let d = domain.lowercased()
        return localDomains.contains(d) || virtualDomains.contains(d)
    }

    /// Splits `user+ext`: the whole local part first (a user may have the delimiter in the
    /// name, like www-data), then at the first delimiter character (Postfix's order).
    public func splitExtension(_ local: String) -> (user: String, extension: String?) {
        splitExtensionLookingUp(local).split
    }

    /// `splitExtension`, with the user of the base as it looked it up (nil: no such user). One
    /// lookup when the whole local part is a user, two at most: each is a passwd search (a
    /// file read and parsed, or an NSS module's query), for every recipient.
    func splitExtensionLookingUp(_ local: String) -> (split: (user: String, extension: String?), user: SystemUser?) {
        if let whole = lookupUser(local) { return ((local, nil), whole) }
        if aliases.lookup(local) != nil { return ((local, nil), nil) }
        let split = splitAtDelimiter(local)
        return (split, split.user == local ? nil : lookupUser(split.user))
    }

    func splitAtDelimiter(_ local: String) -> (user: String, extension: String?) {
        if let i = local.firstIndex(where: { delimiters.contains($0) }), i != local.startIndex {
            return (String(local[..<i]), String(local[local.index(after: i)...]))
        }
        return (local, nil)
    }

    /// The destinations of one address, aliases and virtual entries expanded, duplicates removed.
    public func resolve(_ address: String) -> [LocalDestination] {
        var walk = Walk(budget: expansionLimit, tracing: false)
        expand(address, depth: 0, aliasChain: [], walk: &walk)
        return walk.destinations
    }

    /// The destinations and, step by step, why (`postamt resolve`).
    public func explain(_ address: String) -> (destinations: [LocalDestination], steps: [String]) {
        var walk = Walk(budget: expansionLimit, tracing: true)
        expand(address, depth: 0, aliasChain: [], walk: &walk)
        return (walk.destinations, walk.steps)
    }

    struct Walk {
        var budget: Int
        let tracing: Bool
        var seen: Set<String> = []
        var out: [LocalDestination] = []
        var steps: [String] = []
        var destinations: [LocalDestination] {
            var unique: [LocalDestination] = []
            for d in out where !unique.contains(d) { unique.append(d) }
            return unique
        }
        mutating func note(_ depth: Int, _ text: @autoclosure () -> String) {
            if tracing { steps.append(String(repeating: "  ", count: depth) + text()) }
        }
    }

    private func qualified(_ local: String) -> String { "\(local)@\(hostname)" }

    private func expand(_ address: String, depth: Int, aliasChain: [String], walk: inout Walk) {
        walk.budget -= 1
        if walk.budget < 0 {
            walk.out.append(.unknown(address: address, reason: "alias expansion limit exceeded"))
            return
        }
        if depth > 20 {
            walk.out.append(.unknown(address: address, reason: "alias nesting too deep"))
            return
        }
        let local: String
        if let at = address.lastIndex(of: "@") { local = String(address[..<at]) } else { local = address }
        let domain = AddressResolver.domain(of: address)
        if address.contains("@") && virtualDomains.contains(domain) {
            expandVirtual(address, local: local, domain: domain, depth: depth, aliasChain: aliasChain, walk: &walk)
            return
        }
        guard isLocal(address) else {
            walk.note(depth, "<\(address)>: remote (\(domain) is not a local or virtual domain)")
            walk.out.append(.remote(address: address))
            return
        }
        expandLocal(local.lowercased(), address: address.contains("@") ? address : qualified(local), depth: depth,
                    aliasChain: aliasChain, walk: &walk)
    }

    /// The virtual entry for an address, in Postfix's lookup order: the address, the address
    /// without its extension (passed on to the targets), the domain's catch-all.
    func virtualEntry(local lower: String, domain: String) -> (key: String, entry: TableEntry, passExtension: String?)? {
        let (base, ext) = splitAtDelimiter(lower)
        var candidates: [(key: String, passExtension: String?)] = [("\(lower)@\(domain)", nil)]
        if let ext { candidates.append(("\(base)@\(domain)", ext)) }
        candidates.append(("@\(domain)", nil))
        for (key, passExtension) in candidates {
            if let entry = virtual?.lookup(key) { return (key, entry, passExtension) }
        }
        return nil
    }

    private func expandVirtual(_ address: String, local: String, domain: String, depth: Int, aliasChain: [String],
                               walk: inout Walk) {
        let lower = local.lowercased()
        if let (key, entry, passExtension) = virtualEntry(local: lower, domain: domain) {
            walk.note(depth, "<\(address)>: \(virtual!.file):\(entry.line): \(key) → \(entry.values.joined(separator: ", "))")
            if walk.seen.contains("virtual:" + key) {
                walk.note(depth + 1, "(\(key) already expanded: a loop)")
                walk.out.append(.unknown(address: address, reason: "virtual table loop at \(key)"))
                return
            }
            walk.seen.insert("virtual:" + key)
            for target in entry.values {
                if target.contains("@") {
                    expand(withExtension(target, passExtension), depth: depth + 1, aliasChain: aliasChain, walk: &walk)
                } else {
                    let name = withExtension(target, passExtension)
                    expandLocal(name.lowercased(), address: qualified(name), depth: depth + 1, aliasChain: aliasChain, walk: &walk)
                }
            }
            return
        }
        let base = splitAtDelimiter(lower).user
        if base == "postmaster" {
            walk.note(depth, "<\(address)>: no virtual entry; postmaster of every domain is the local postmaster (RFC 5321 §4.5.1)")
            expandLocal("postmaster", address: qualified("postmaster"), depth: depth + 1, aliasChain: aliasChain, walk: &walk)
            return
        }
        walk.note(depth, "<\(address)>: no entry in the virtual table for \(domain) (nor a catch-all @\(domain))")
        walk.out.append(.unknown(address: address, reason: "no such address in virtual domain \(domain)"))
    }

    /// Postfix's propagate_unmatched_extensions: `alice+tag@example.org` through an entry for
    /// `alice@example.org → alice` reaches `alice+tag`. A target with an extension of its own keeps it.
    private func withExtension(_ target: String, _ ext: String?) -> String {
        guard let ext, let delimiter = delimiters.first else { return target }
        let at = target.lastIndex(of: "@") ?? target.endIndex
        let local = target[..<at]
        if local.contains(where: { delimiters.contains($0) }) { return target }
        return "\(local)\(delimiter)\(ext)\(target[at...])"
    }

    private func expandLocal(_ lower: String, address: String, depth: Int, aliasChain: [String], walk: inout Walk) {
        let ((base, ext), user) = splitExtensionLookingUp(lower)
        if !aliasChain.contains(base), let entry = aliases.entries[base] {
            walk.note(depth, "<\(address)>: alias \(base) (alias file line \(entry.line))")
            if walk.seen.contains(base) { return }
            walk.seen.insert(base)
            expandTargets(entry.targets, alias: base, depth: depth, chain: aliasChain + [base], walk: &walk, includeDepth: 0)
            return
        }
        // Not an alias, or an alias that names itself: the user's own mailbox.
        if let user, user.uid == 0 {
            // Deliveries never run as root (postamt-local refuses): root needs an alias.
            walk.note(depth, "<\(address)>: \(base) is root, which needs an alias")
            walk.out.append(.unknown(address: address, reason: "mail for \(base) must be aliased to another user in the alias file"))
        } else if user != nil {
            walk.note(depth, "<\(address)>: user \(base)\(ext.map { ", extension \($0)" } ?? "")")
            walk.out.append(.user(name: base, extension: ext, address: address))
        } else {
            walk.note(depth, "<\(address)>: no such user or alias \(base)")
            walk.out.append(.unknown(address: address, reason: "no such user"))
        }
    }

    private func expandTargets(_ targets: [AliasTarget], alias: String, depth: Int, chain: [String],
                               walk: inout Walk, includeDepth: Int) {
        for target in targets {
            switch target {
            case .address(let a):
                expand(a, depth: depth + 1, aliasChain: chain, walk: &walk)
            case .mailbox(let name):
                if lookupUser(name.lowercased()) != nil {
                    walk.note(depth + 1, "\\\(name): the user's own mailbox")
                    walk.out.append(.user(name: name.lowercased(), extension: nil, address: qualified(name.lowercased())))
                } else {
                    walk.out.append(.unknown(address: name, reason: "no such user"))
                }
            case .command(let c):
                walk.note(depth + 1, "|\(c) (as default_privs)")
                walk.out.append(.aliasCommand(command: c, alias: alias))
            case .file(let p):
                walk.note(depth + 1, "\(p) (as default_privs)")
                walk.out.append(.aliasFile(path: p, alias: alias))
            case .include(let path):
                guard includeDepth < 5, let text = readInclude(path) else {
                    walk.out.append(.unknown(address: qualified(alias), reason: "cannot read :include: file \(path)"))
                    continue
                }
                walk.note(depth + 1, ":include:\(path)")
                var lines = ""
                for line in text.split(separator: "\n") where !line.hasPrefix("#") { lines += line + "\n" }
                switch AliasTable.parseTargets(lines) {
                case .success(let more):
                    expandTargets(more, alias: alias, depth: depth, chain: chain, walk: &walk, includeDepth: includeDepth + 1)
                case .failure(let f):
                    walk.out.append(.unknown(address: qualified(alias), reason: ":include: \(path): \(f.why)"))
                }
            }
        }
    }

    // MARK: - Who may send as an address

    /// Why a user may (or may not) use an address as a sender.
    public struct Ownership: Equatable, Sendable {
        public let owned: Bool
        public let reason: String
    }

    /// Whether `user` (a login name) owns `address`: their own `user@local-domain` (with any
    /// extension), a virtual address whose entry resolves to them, or a grant of the sender
    /// table. Aliases of the alias file grant nothing: root and postmaster usually reach an
    /// administrator, who must not thereby become able to send as root.
    public func ownership(of address: String, by user: String) -> Ownership {
        if exemptSenders.contains(user) {
            return Ownership(owned: true, reason: "\(user) may send as any address (sender_login_exempt)")
        }
        let lowerAddress = address.lowercased()
        let domain = AddressResolver.domain(of: lowerAddress)
        if let senders, !domain.isEmpty {
            for key in [lowerAddress, "@\(domain)"] {
                if let entry = senders.lookup(key), entry.values.contains(user) {
                    return Ownership(owned: true, reason: "granted by \(senders.file):\(entry.line)")
                }
            }
        }
        let local = lowerAddress.lastIndex(of: "@").map { String(lowerAddress[..<$0]) } ?? lowerAddress
        if isLocal(lowerAddress) {
            let base = lookupUser(local) != nil ? local : splitAtDelimiter(local).user
            if base == user.lowercased(), lookupUser(base) != nil {
                return Ownership(owned: true, reason: "\(user)'s own address")
            }
            return Ownership(owned: false, reason: "a local address belongs to the user of its name; aliases grant nothing (use the sender table)")
        }
        guard virtualDomains.contains(domain) else {
            return Ownership(owned: false, reason: "\(domain) is not a domain of this host and no sender table entry grants it to \(user)")
        }
        guard let (key, entry, _) = virtualEntry(local: local, domain: domain) else {
            return Ownership(owned: false, reason: "no virtual table entry for it")
        }
        let users = resolve(lowerAddress).compactMap { d -> String? in
            if case .user(let name, _, _) = d { return name }
            return nil
        }
        if users.contains(user) {
            return Ownership(owned: true, reason: "\(virtual!.file):\(entry.line): \(key) reaches \(user)")
        }
        return Ownership(owned: false, reason: users.isEmpty ? "it is not delivered to a user here"
                                                             : "\(virtual!.file):\(entry.line): \(key) reaches \(users.sorted().joined(separator: ", "))")
    }
}

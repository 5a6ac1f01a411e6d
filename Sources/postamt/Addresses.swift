// postamt resolve, domain, alias, sender, user: the address model for administrators (postamt(8)).
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem

struct Resolve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print how addresses are routed, and why (table lines, aliases, extensions); with --user, whether that user may send as them.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Also tell whether this user owns the address (may use it as a sender).") var user: String?
    @Argument(help: "Addresses; - reads them from standard input, one a line.") var addresses: [String]
    func run() throws {
        let configuration = try global.configuration()
        let book = AddressBook(configuration: configuration)
        for problem in book.unavailable { print("warning: cannot read \(problem)") }
        var list = addresses
        if list == ["-"] {
            list = []
            while let line = readLine() { if !line.trimmingSpaces().isEmpty { list.append(line.trimmingSpaces()) } }
        }
        for address in list {
            print("<\(address)>")
            let (destinations, steps) = book.resolver.explain(address)
            for step in steps { print("  \(step)") }
            for d in destinations { print("  → \(Resolve.describe(d))") }
            if let user {
                let ownership = book.resolver.ownership(of: address, by: user)
                print("  \(user) \(ownership.owned ? "may" : "may not") send as it: \(ownership.reason)")
            }
        }
    }

    static func describe(_ d: LocalDestination) -> String {
        switch d {
        case .user(let name, let ext, let address):
            return "deliver to user \(name)\(ext.map { " (extension \($0))" } ?? ""), Delivered-To: \(address)"
        case .aliasCommand(let c, let alias): return "run |\(c) (alias \(alias), as default_privs)"
        case .aliasFile(let p, let alias): return "append to \(p) (alias \(alias), as default_privs)"
        case .remote(let a): return "relay to <\(a)>"
        case .unknown(let a, let why): return "refuse <\(a)>: \(why) (550 5.1.1 at RCPT)"
        }
    }
}

/// Runs one table edit, prints what the entry holds now, and recompiles the virtual table.
func editTable(_ configuration: Configuration, _ editor: TableEditor, _ what: () throws -> String) throws {
    do {
        print(try what())
        if let line = try AddressBook.compileVirtualTable(configuration) { print(line) }
    } catch {
        throw fail(error)
    }
}

struct Domain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, add and remove the domains this host receives mail for.",
        subcommands: [List.self, Add.self, Remove.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print each domain with its kind (local or virtual) and where it is set.")
        @OptionGroup var global: GlobalOptions
        func run() throws {
            let configuration = try global.configuration()
            for d in configuration.list("local_domains") { print("\(d.lowercased())\tlocal\t(local_domains in \(configuration.file))") }
            for (key, values) in try TableEditor.domains(configuration).entries() {
                print("\(key)\t\(values.first ?? "virtual")\t(\(configuration.string("domains_file")))")
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a domain: virtual (addresses from the virtual table) or --local (user@domain is the system user).")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "A local domain: every system user has an address in it.") var local = false
        @Argument(help: "The domain.") var domain: String
        func run() throws {
            let configuration = try global.configuration()
            let editor = TableEditor.domains(configuration)
            try editTable(configuration, editor) {
                try editor.add(domain, [local ? "local" : "virtual"])
                return "\(domain.lowercased()): \(local ? "local" : "virtual") domain added to \(editor.path)"
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a domain from the domains file (its table entries stay, unused).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The domain.") var domain: String
        func run() throws {
            let configuration = try global.configuration()
            if configuration.localDomains.contains(domain.lowercased()) {
                throw fail("\(domain) is set in local_domains in \(configuration.file): remove it there")
            }
            let editor = TableEditor.domains(configuration)
            try editTable(configuration, editor) {
                try editor.remove(domain)
                return "\(domain.lowercased()): removed from \(editor.path)"
            }
        }
    }
}

/// The table an alias address belongs in: the virtual table for a virtual domain, else the alias file.
func aliasEditor(_ configuration: Configuration, for address: String) -> (editor: TableEditor, key: String) {
    let book = AddressBook(configuration: configuration)
    let lower = address.lowercased()
    if lower.contains("@"), book.resolver.virtualDomains.contains(AddressResolver.domain(of: lower)) {
        return (TableEditor.virtual(configuration), lower)
    }
    if lower.contains("@"), !book.resolver.isLocal(lower) {
        // A domain that is neither: the virtual table, where postamt check says it is unused.
        return (TableEditor.virtual(configuration), lower)
    }
    // user@local-domain is the local name: the alias file holds bare names.
    return (TableEditor.aliases(configuration), String(lower.split(separator: "@").first ?? ""))
}

struct Alias: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, add and remove aliases: local names in the alias file, addresses of virtual domains in the virtual table.",
        subcommands: [List.self, Add.self, Remove.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the alias file's and the virtual table's entries.")
        @OptionGroup var global: GlobalOptions
        func run() throws {
            let configuration = try global.configuration()
            for editor in [TableEditor.aliases(configuration), TableEditor.virtual(configuration)] {
                for (key, values) in try editor.entries() {
                    print("\(key)\t\(values.joined(separator: ", "))\t(\(editor.path))")
                }
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add targets to an alias (made when missing).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The alias: a local name, or an address (@domain for a virtual domain's catch-all).") var alias: String
        @Argument(help: "Targets: users, addresses (and in the alias file |commands, /files).") var targets: [String]
        func run() throws {
            let configuration = try global.configuration()
            let (editor, key) = aliasEditor(configuration, for: alias)
            try editTable(configuration, editor) {
                let now = try editor.add(key, targets)
                return "\(key) → \(now.joined(separator: ", ")) (\(editor.path))"
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove targets from an alias, or the whole alias.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The alias.") var alias: String
        @Argument(help: "Targets to remove (none: the whole alias).") var targets: [String] = []
        func run() throws {
            let configuration = try global.configuration()
            let (editor, key) = aliasEditor(configuration, for: alias)
            try editTable(configuration, editor) {
                let left = try editor.remove(key, targets)
                return left.isEmpty ? "\(key): removed from \(editor.path)" : "\(key) → \(left.joined(separator: ", ")) (\(editor.path))"
            }
        }
    }
}

struct Sender: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, grant and revoke sender addresses beyond those a user owns (the sender table).",
        subcommands: [List.self, Add.self, Remove.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the sender table.")
        @OptionGroup var global: GlobalOptions
        func run() throws {
            let configuration = try global.configuration()
            for (key, values) in try TableEditor.senders(configuration).entries() {
                print("\(key)\t\(values.joined(separator: ", "))")
            }
            let exempt = configuration.list("sender_login_exempt")
            if !exempt.isEmpty { print("(any address)\t\(exempt.joined(separator: ", "))\t(sender_login_exempt)") }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let users send as an address (or @domain: any address of it).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The address, or @domain.") var address: String
        @Argument(help: "Users.") var users: [String]
        func run() throws {
            let configuration = try global.configuration()
            for user in users where SystemUser.named(user) == nil { throw fail("\(user) is not a system user") }
            let editor = TableEditor.senders(configuration)
            try editTable(configuration, editor) {
                "\(address.lowercased()) may be used by \(try editor.add(address, users).joined(separator: ", "))"
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a grant (for some users, or all).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The address, or @domain.") var address: String
        @Argument(help: "Users (none: all).") var users: [String] = []
        func run() throws {
            let configuration = try global.configuration()
            let editor = TableEditor.senders(configuration)
            try editTable(configuration, editor) {
                let left = try editor.remove(address, users)
                return left.isEmpty ? "\(address.lowercased()): no grants left" : "\(address.lowercased()) may be used by \(left.joined(separator: ", "))"
            }
        }
    }
}

struct User: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Users with mail.", subcommands: [List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print each system user with a Maildir: their addresses (local domains, aliases, virtual entries, grants) and when their mailbox last changed.")
        @OptionGroup var global: GlobalOptions
        func run() throws {
            let configuration = try global.configuration()
            let book = AddressBook(configuration: configuration)
            let mailbox = configuration.string("home_mailbox")
            var users: [SystemUser] = []
            setpwent()
            while let entry = getpwent() {
                let name = String(cString: entry.pointee.pw_name)
                if let user = SystemUser.named(name), user.uid != 0, FileIO.isDirectory("\(user.home)/\(mailbox)") { users.append(user) }
            }
            endpwent()
            // Every key of the tables that reaches a user, found by resolving it.
            var addresses: [String: [String]] = [:]
            var candidates: [String] = []
            for editor in [TableEditor.aliases(configuration), TableEditor.virtual(configuration), TableEditor.senders(configuration)] {
                candidates += ((try? editor.entries()) ?? []).map(\.key)
            }
            for key in candidates {
                let address = key.contains("@") ? key : "\(key)@\(configuration.hostname)"
                for user in users where book.resolver.ownership(of: address, by: user.name).owned {
                    addresses[user.name, default: []].append(key)
                }
            }
            for user in users.sorted(by: { $0.name < $1.name }) {
                let own = configuration.list("local_domains").map { "\(user.name)@\($0.lowercased())" }
                let changed = ["cur", "new"].compactMap { FileIO.status("\(user.home)/\(mailbox)/\($0)")?.st_mtim.tv_sec }.max()
                print("\(user.name)\t\((own + (addresses[user.name] ?? [])).joined(separator: ", "))\tmailbox changed: \(changed.map { Clock.rfc5322Date(Int64($0)) } ?? "never")")
            }
        }
    }
}

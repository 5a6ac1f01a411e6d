// postamt: the administrator's command (postamt(8)).
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailQueue
import MailLogin
import MailNet
import MailRemote
import MailSystem
import SMTPServer

struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Installation root (also POSTAMT_ROOT).")
    var root: String?

    func configuration() throws -> Configuration {
        do {
            return try Configuration.load(root: Configuration.installationRoot(argument: root))
        } catch {
            throw fail("cannot read the configuration:\n\(error)")
        }
    }
}

@main
struct Postamt: ParsableCommand {
    /// `postamt --root DIR queue list` as well as `postamt queue list --root DIR`: a leading
    /// --root is taken out before the subcommands are parsed.
    static func main() {
        var args = Array(CommandLine.arguments.dropFirst())
        if args.count >= 2, args[0] == "--root" {
            setenv("POSTAMT_ROOT", args[1], 1)
            args.removeFirst(2)
        } else if let first = args.first, first.hasPrefix("--root=") {
            setenv("POSTAMT_ROOT", String(first.dropFirst(7)), 1)
            args.removeFirst()
        }
        do {
            var command = try parseAsRoot(args)
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "postamt",
        abstract: "Administer the Postamt mail system.",
        subcommands: [Queue.self, Check.self, Config.self, DKIM.self, DNSRecords.self, Spam.self,
                      Resolve.self, Domain.self, Alias.self, Sender.self, User.self, SieveCommand.self, Quota.self,
                      Doctor.self, TLSRPT.self])
}

struct Queue: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and manage the mail queue.",
        subcommands: [List.self, Flush.self, Delete.self, Hold.self, Release.self, Show.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List queued messages (mailq format).")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "One JSON object per message and line.") var json = false
        func run() throws {
            let admin = QueueAdmin(layout: QueueLayout(configuration: try global.configuration()))
            do { print(json ? try admin.jsonLines() : try admin.mailqText(), terminator: "") } catch { throw fail(error) }
        }
    }

    struct Flush: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Retry every deferred message now.")
        @OptionGroup var global: GlobalOptions
        func run() throws {
            let admin = QueueAdmin(layout: QueueLayout(configuration: try global.configuration()))
            guard admin.flush() else { throw fail("no runner is listening: start postamt-runner") }
            print("flush requested")
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete messages from the queue, without bounces.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Delete every message.") var all = false
        @Argument(help: "Queue ids.") var ids: [String] = []
        func run() throws {
            let admin = QueueAdmin(layout: QueueLayout(configuration: try global.configuration()))
            do {
                let targets = all ? try admin.entries().map(\.id) : ids
                if targets.isEmpty { throw ValidationError("name queue ids or --all") }
                for line in try admin.command("delete", ids: targets) { print(line) }
            } catch let e as QueueAdmin.Failure { throw fail(e) }
        }
    }

    struct Hold: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Keep messages in the queue without delivering them.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Queue ids.") var ids: [String]
        func run() throws { try verb("hold", global, ids) }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deliver held messages again.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Queue ids.") var ids: [String]
        func run() throws { try verb("release", global, ids) }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a queued message with its envelope.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Queue id.") var id: String
        func run() throws {
            let layout = QueueLayout(configuration: try global.configuration())
            guard QueueLayout.isValidID(id) else { throw fail("'\(id)' is not a queue id") }
            let admin = QueueAdmin(layout: layout)
            guard let entry = (try? admin.entries())?.first(where: { $0.id == id }) else { throw fail("no such message: \(id)") }
            print("*** ENVELOPE \(entry.id) (\(entry.queue)) ***")
            print("sender: \(entry.sender.isEmpty ? "<>" : entry.sender)")
            for r in entry.recipients { print("recipient: \(r.address) [\(r.status)]\(r.reason.isEmpty ? "" : " \(r.reason)")") }
            print("*** MESSAGE ***")
            guard let bytes = try? QueueFile.readMessage(layout.message(id)) else { throw fail("cannot read \(layout.message(id))") }
            try? FileIO.writeAll(1, bytes)
        }
    }
}

func verb(_ verb: String, _ global: GlobalOptions, _ ids: [String]) throws {
    let admin = QueueAdmin(layout: QueueLayout(configuration: try global.configuration()))
    do { for line in try admin.command(verb, ids: ids) { print(line) } } catch { throw fail(error) }
}

/// Prints the reason and exits 1 (ArgumentParser's failure exit, documented in postamt(8)).
func fail(_ error: Any) -> ExitCode {
    var text = "postamt: \(error)\n"
    _ = text.withUTF8 { write(2, $0.baseAddress, $0.count) }
    return ExitCode(1)
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check the configuration, tables, queue and programs; print each problem with file:line.")
    @OptionGroup var global: GlobalOptions
    func run() throws {
        let root = Configuration.installationRoot(argument: global.root)
        var problems: [String] = []
        var configuration = Configuration(root: root, file: Configuration.configurationFile(root: root))
        do {
            configuration = try Configuration.load(root: root)
        } catch {
            problems += error.problems.map(\.description)
            // Go on with what was valid, to find more problems.
            if let bytes = try? FileIO.readFile(configuration.file) { configuration.apply(text: String(decoding: bytes ?? [], as: UTF8.self)) }
        }
        // The alias file, the domains file, the virtual and sender tables; a stale .cdb is made anew.
        problems += AddressBook.check(configuration)
        do {
            if let line = try AddressBook.compileVirtualTable(configuration) { print(line) }
        } catch {
            problems.append("\(AddressBook.compiledPath(configuration.string("virtual_alias_file"))): cannot compile: \(error)")
        }
        problems += RemoteSettingsCheck.problems(configuration)
        // smtpd's screening settings (it refuses to run on a bad one; say so here first).
        problems += ScreeningSettings(configuration: configuration, role: .mx).problems.map { "\(configuration.file): \($0)" }
        let layout = QueueLayout(configuration: configuration)
        if !layout.isComplete { problems.append("\(layout.root): queue directory missing or incomplete (postamt-runner creates it)") }
        for program in ["postamt-queue", "postamt-local", "postamt-runner"] {
            let path = configuration.program(program)
            if access(path, X_OK) != 0 { problems.append("\(path): program missing or not executable (program_directory)") }
        }
        problems += Spam.check(configuration)
        problems += SieveCommand.check(configuration)
        problems += Quota.check(configuration)
        problems += Check.tlsProblems(configuration)
        let owner = configuration.string("mail_owner")
        if SystemUser.named(owner) == nil { problems.append("\(configuration.file): mail_owner '\(owner)' is not a system user") }
        let privs = configuration.string("default_privs")
        if SystemUser.named(privs) == nil { problems.append("\(configuration.file): default_privs '\(privs)' is not a system user") }
        if problems.isEmpty {
            print("no problems found")
            return
        }
        for p in problems { print(p) }
        throw ExitCode(1)
    }
}

extension Check {
    /// Each certificate/key pair the servers would use builds a TLS context. The servers
    /// themselves build theirs only when a client asks for TLS (OpenSSL is loaded then), so a
    /// key that does not match its certificate shows here, or at the first handshake.
    static func tlsProblems(_ configuration: Configuration) -> [String] {
        // Each pair falls back on tls_certificate/tls_key as the servers' own settings do.
        let pairs = [("tls_certificate", nil, nil), ("imap_tls_certificate", "imap_tls_certificate", "imap_tls_key"),
                     ("smtpd_tls_cert_file", "smtpd_tls_cert_file", "smtpd_tls_key_file")].map { name, cert, key in
            let settings = LoginSettings(configuration, certificateSetting: cert, keySetting: key)
            return (name, settings.certificatePath, settings.keyPath)
        }
        var problems: [String] = []
        var seen = Set<String>()
        for (name, certificate, key) in pairs where !(certificate.isEmpty && key.isEmpty) {
            guard seen.insert(certificate + "\u{0}" + key).inserted else { continue }
            if certificate.isEmpty || key.isEmpty {
                problems.append("\(configuration.file): \(name): a certificate needs its key and a key its certificate")
                continue
            }
            do { _ = try TLSServerContext(certificateChainPath: certificate, privateKeyPath: key) } catch {
                problems.append("\(configuration.file): \(name): \(error)")
            }
        }
        return problems
    }
}

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the effective settings.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .short, help: "Only the settings postamt.conf sets.") var n = false
    func run() throws {
        let c = try global.configuration()
        for s in knownSettings where !n || c.explicitKeys.contains(s.name) {
            print("\(s.name) = \(c.string(s.name))")
        }
    }
}

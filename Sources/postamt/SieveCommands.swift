// postamt sieve: check a Sieve script, show what it would do with a message (postamt(8)).
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailDelivery
import MailSystem
import Sieve

struct SieveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sieve",
        abstract: "Check Sieve scripts and show what they would do.",
        subcommands: [Check.self, Test.self])

    /// `postamt check`'s part: the administrator's sieve_before and sieve_after scripts compile.
    static func check(_ configuration: Configuration) -> [String] {
        (configuration.list("sieve_before") + configuration.list("sieve_after")).compactMap { path in
            switch SieveLoader.compile(path: path, configuration: configuration) {
            case .none: return "\(path): Sieve script missing (sieve_before/sieve_after)"
            case .some(.failure(let e)): return "\(path):\(e.position.map { "\($0):" } ?? "") \(e.message)"
            case .some(.success): return nil
            }
        }
    }

    static func compile(_ path: String, _ configuration: Configuration) throws -> SieveScript {
        switch SieveLoader.compile(path: path, configuration: configuration) {
        case .none: throw fail("\(path): no such file")
        case .some(.failure(let e)): throw fail("\(path):\(e)")
        case .some(.success(let s)): return s
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Compile scripts; print errors as FILE:LINE:COLUMN: message.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Script files.") var files: [String]

        func run() throws {
            let configuration = try global.configuration()
            var failed = false
            for file in files {
                switch SieveLoader.compile(path: file, configuration: configuration) {
                case .none: print("\(file): no such file"); failed = true
                case .some(.failure(let e)): print("\(file):\(e.position.map { "\($0):" } ?? "") \(e.message)"); failed = true
                case .some(.success): print("\(file): ok")
                }
            }
            if failed { throw ExitCode(1) }
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the actions a script would take on a message, without delivering (like Pigeonhole's sieve-test).")
        @OptionGroup var global: GlobalOptions
        @Option(name: .shortAndLong, help: "Envelope sender (default: the message's Return-Path or From).") var from: String?
        @Option(name: .shortAndLong, help: "Envelope recipient (default: the message's To).") var to: String?
        @Option(help: "Folders that exist, for mailboxexists (repeatable).") var folder: [String] = []
        @Argument(help: "The script file.") var script: String
        @Argument(help: "The message file.") var message: String

        func run() throws {
            let configuration = try global.configuration()
            let compiled = try SieveCommand.compile(script, configuration)
            guard let bytes = try? FileIO.readFile(message, limit: Int(configuration.size("message_size_limit")) + (1 << 20)) else {
                throw fail("\(message): cannot read")
            }
            let probe = SieveMessage(bytes: bytes, envelopeFrom: "", envelopeTo: "")
            func first(_ name: String) -> String? {
                probe.values(name).first.flatMap { v in MailboxListAddress.first(v) }
            }
            let sender = from ?? first("Return-Path") ?? first("From") ?? ""
            let recipient = to ?? first("To") ?? "recipient@localhost"
            var env = SieveLoader.environment(configuration, personalDirectory: FileIO.directoryName(script), now: Clock.seconds())
            let folders = folder
            env.mailboxExists = { folders.contains($0) }
            let result: SieveResult
            do {
                result = try SieveInterpreter.run(compiled, message: SieveMessage(bytes: bytes, envelopeFrom: sender, envelopeTo: recipient), environment: env)
            } catch {
                print("run-time error: \(error)")
                print("the message would go to INBOX (implicit keep)")
                throw ExitCode(1)
            }
            print("envelope: from <\(sender)> to <\(recipient)>")
            for note in result.notes { print("note: \(note)") }
            if result.actions.isEmpty { print("discard (no actions)") }
            for (i, action) in result.actions.enumerated() { print("\(i + 1). \(action)") }
            if result.message.edited {
                print("header after editheader:")
                print(String(decoding: result.message.rendered()[..<SieveCommand.headerEnd(result.message.rendered())], as: UTF8.self), terminator: "")
            }
        }
    }

    static func headerEnd(_ b: [UInt8]) -> Int {
        var i = 0
        while i + 1 < b.count { if b[i] == 0x0A && b[i + 1] == 0x0A { return i + 1 }; i += 1 }
        return b.count
    }
}

/// The first address in a header value, for `sieve test`'s default envelope.
enum MailboxListAddress {
    static func first(_ value: String) -> String? {
        guard let lt = value.firstIndex(of: "<"), let gt = value[lt...].firstIndex(of: ">") else {
            let v = value.split(separator: " ").first.map(String.init)
            return v.flatMap { $0.contains("@") ? $0 : nil }
        }
        return String(value[value.index(after: lt)..<gt])
    }
}

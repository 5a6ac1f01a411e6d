// postamt spam: training and inspecting the spam filter's token databases (postamt(8)).
import ArgumentParser
import MailCore
import SpamCheck
import SpamFilter

struct Spam: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train and inspect the spam filter.",
        subcommands: [Learn.self, Forget.self, Stats.self])

    /// `postamt check`'s part: the spam settings' values (numbers, choices, weights).
    static func check(_ configuration: Configuration) -> [String] {
        do {
            _ = try SpamCheckOptions(configuration: configuration)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    struct DatabaseOptions: ParsableArguments {
        @Option(name: .shortAndLong, help: "Train this user's database (spam_database = per-user).")
        var user: String?
        @Option(help: "Train the token database at this path instead.")
        var database: String?

        func setup(_ global: GlobalOptions) throws -> (SpamCheckOptions, TokenDatabase) {
            let options: SpamCheckOptions
            do { options = try SpamCheckOptions(configuration: try global.configuration()) } catch {
                throw fail("spam settings: \(error)")
            }
            return (options, TokenDatabase(path: database ?? options.databasePath(user: user)))
        }
    }

    struct Learn: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Learn messages (files, directories of files, Maildirs) as spam or ham; each message counts once.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "The messages are spam.") var spam = false
        @Flag(help: "The messages are ham (wanted mail).") var ham = false
        @Argument(help: "Message files, directories or Maildirs (cur/ and new/).") var paths: [String]

        func validate() throws {
            guard spam != ham else { throw ValidationError("say --spam or --ham") }
        }

        func run() throws {
            let (options, db) = try database.setup(global)
            do {
                let (summary, files) = try SpamTraining(database: db, options: options).train(paths, as: spam ? .spam : .ham)
                print("\(db.path): \(files) messages: \(summary.learnt) learnt, \(summary.reclassified) moved from \(spam ? "ham" : "spam"), \(summary.alreadyKnown) known already")
            } catch {
                throw fail(error)
            }
        }
    }

    struct Forget: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove messages from the counts they were learnt into.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Message files, directories or Maildirs.") var paths: [String]

        func run() throws {
            let (options, db) = try database.setup(global)
            do {
                let (summary, files) = try SpamTraining(database: db, options: options).train(paths, as: nil)
                print("\(db.path): \(files) messages: \(summary.forgotten) forgotten, \(summary.unknown) not learnt")
            } catch {
                throw fail(error)
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show what a token database has learnt.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            let (_, db) = try database.setup(global)
            do {
                let snapshot = try db.snapshot(verifyContents: true)
                print("\(db.path): \(snapshot.spamMessageCount) spam, \(snapshot.hamMessageCount) ham, \(snapshot.tokenCount) tokens, \(snapshot.messageIDCount) message ids")
            } catch {
                throw fail(error)
            }
        }
    }
}

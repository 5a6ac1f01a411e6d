// postamt spam: training and inspecting the spam filter's token databases (postamt(8)).
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailSystem
import SpamCheck
import SpamFilter

struct Spam: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train and inspect the spam filter.",
        subcommands: [Learn.self, LearnFolders.self, LearnQueue.self, Forget.self, Stats.self])

    /// `postamt check`'s part: the spam settings' values (numbers, choices, weights).
    static func check(_ configuration: Configuration) -> [String] {
        do {
            let options = try SpamCheckOptions(configuration: configuration)
            if let path = options.rulesFile {
                do { _ = try LocalRules.load(path: path) } catch { return error.problems }
            }
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
            try handOver(options, global)
            return (options, TokenDatabase(path: database ?? options.databasePath(user: user)))
        }

        /// Run by root for a user's database (per-user): makes the user's directory before and,
        /// called again after learning, gives the files root wrote there to the user, so that the
        /// user's own learner can go on replacing them (UserSpamDatabase).
        func handOver(_ options: SpamCheckOptions, _ global: GlobalOptions) throws {
            guard Privileges.isRoot, options.perUserDatabase, database == nil, let user,
                  options.databasePath(user: user) != options.databasePath(user: nil) else { return }
            let owner = try global.configuration().string("mail_owner")
            guard let account = SystemUser.named(user) else { throw fail("\(user): no such user") }
            guard let group = UserSpamDatabase.group(mailOwner: owner) else { throw fail("mail_owner \(owner) is not a user") }
            do {
                for note in try UserSpamDatabase.prepare(options, user: account, group: group) { print(note) }
            } catch {
                throw fail("\(user): \(error)")
            }
        }
    }

    struct Learn: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Learn messages (files, directories of files, Maildirs) as spam or ham; each message counts once.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "The messages are spam.") var spam = false
        @Flag(help: "The messages are ham (wanted mail).") var ham = false
        @Option(name: .customLong("spam-from"), help: "Spam to learn together with --ham-from, in a mixed order (repeatable).")
        var spamFrom: [String] = []
        @Option(name: .customLong("ham-from"), help: "Ham to learn together with --spam-from, in a mixed order (repeatable).")
        var hamFrom: [String] = []
        @Argument(help: "Message files, directories or Maildirs (cur/ and new/).") var paths: [String] = []

        func validate() throws {
            if spamFrom.isEmpty && hamFrom.isEmpty {
                guard spam != ham else { throw ValidationError("say --spam or --ham, or give --spam-from and --ham-from") }
                guard !paths.isEmpty else { throw ValidationError("no messages to learn: give files, directories or Maildirs") }
            } else {
                guard !spam, !ham, paths.isEmpty else {
                    throw ValidationError("--spam-from and --ham-from take the paths; leave out --spam, --ham and other paths")
                }
            }
        }

        func run() throws {
            let (options, db) = try database.setup(global)
            do {
                let training = SpamTraining(database: db, options: options)
                let mixed = !spamFrom.isEmpty || !hamFrom.isEmpty
                func line(_ summary: LearnSummary, _ moved: String) -> String {
                    "\(summary.learnt) learnt, \(summary.reclassified) moved from \(moved), \(summary.alreadyKnown) known already\(summary.confident > 0 ? ", \(summary.confident) scored right already (not learnt)" : "")"
                }
                if mixed {
                    let (summaries, files) = try training.train([(spamFrom, .spam), (hamFrom, .ham)])
                    print("\(db.path): \(files) messages: spam \(line(summaries.spam, "ham")); ham \(line(summaries.ham, "spam"))\(summaries.expired > 0 ? "; \(summaries.expired) tokens aged out (spam_token_limit)" : "")")
                } else {
                    let (summary, files) = try training.train(paths, as: spam ? .spam : .ham)
                    print("\(db.path): \(files) messages: \(line(summary, spam ? "ham" : "spam"))\(summary.expired > 0 ? "; \(summary.expired) tokens aged out (spam_token_limit)" : "")")
                }
            } catch {
                throw fail(error)
            }
            try database.handOver(options, global)
        }
    }

    struct LearnFolders: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "learn-folders",
            abstract: "For each user: learn the Junk folder as spam and the read mail of the inbox as ham (the nightly job).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Users (default: every user with a Maildir in the home directory).") var users: [String] = []

        func run() throws {
            let configuration = try global.configuration()
            let junk = configuration.string("spam_junk_folder")
            guard configuration.string("home_mailbox").hasSuffix("/"), !junk.isEmpty else {
                throw fail("learn-folders needs Maildir delivery (home_mailbox ending in /) and a spam_junk_folder")
            }
            try Spam.forEachUserMaildir(configuration, users) { name, maildir, training in
                guard FileIO.isDirectory("\(maildir)cur") else {
                    if !users.isEmpty { print("\(name): no Maildir at \(maildir)"); return false }
                    return true
                }
                // The learning queue first (postamt-imapd's record of moves, in order), so that
                // it never grows when no path unit drains it.
                let queued = try SpamLearningQueue(maildir: maildir).apply(training)
                if queued.spam + queued.ham > 0 { print("\(name): queue: \(queued.spam) learnt as spam, \(queued.ham) as ham") }
                // Ham: what the user read and left in the inbox (cur/); new/ may hold spam
                // nobody has looked at yet. Spam: everything in the Junk folder.
                // One mixed batch (SpamTraining.train(_:)): the gram model must not end on one class.
                let junkPath = "\(maildir).\(junk)"
                let spamPaths = FileIO.isDirectory(junkPath) ? [junkPath] : []
                let (learnt, _) = try training.train([(spamPaths, .spam), (["\(maildir)cur"], .ham)])
                print("\(name): spam \(learnt.spam.learnt) learnt, \(learnt.spam.reclassified) moved; ham \(learnt.ham.learnt) learnt, \(learnt.ham.reclassified) moved")
                return true
            }
        }
    }

    struct LearnQueue: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "learn-queue",
            abstract: "For each user: learn the messages moved into Junk (spam) or out of it (ham) since the last run, as postamt-imapd queued them.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Users (default: every user with a Maildir in the home directory).") var users: [String] = []

        func run() throws {
            let configuration = try global.configuration()
            guard configuration.string("home_mailbox").hasSuffix("/") else {
                throw fail("learn-queue needs Maildir delivery (home_mailbox ending in /)")
            }
            try Spam.forEachUserMaildir(configuration, users) { name, maildir, training in
                let queue = SpamLearningQueue(maildir: maildir)
                guard FileIO.isDirectory("\(queue.path)/new") else { return true }
                let result = try queue.apply(training)
                if result.spam + result.ham + result.skipped > 0 {
                    print("\(name): \(result.spam) learnt as spam, \(result.ham) as ham, \(result.skipped) unreadable")
                }
                return true
            }
        }
    }

    /// Runs `body` for each of `users` (default: every user of the system) with the user's
    /// Maildir (home_mailbox, ending in /) and a training of the user's database; an unknown
    /// user, an error or `body` returning false makes the command exit 1 after the others.
    /// Run by root with per-user databases, `body` runs in a child process that has become the
    /// user, after root has made the user's database directory (and moved an old database into
    /// it): root never reads the Maildir nor writes the database (UserSpamDatabase).
    static func forEachUserMaildir(_ configuration: Configuration, _ users: [String],
                                   _ body: (_ name: String, _ maildir: String, _ training: SpamTraining) throws -> Bool) throws {
        let options: SpamCheckOptions
        do { options = try SpamCheckOptions(configuration: configuration) } catch { throw fail("spam settings: \(error)") }
        let mailbox = configuration.string("home_mailbox")
        var names = users
        if names.isEmpty {
            setpwent()
            while let entry = getpwent() { names.append(String(cString: entry.pointee.pw_name)) }
            endpwent()
        }
        var failed = false
        let asUser = Privileges.isRoot && options.perUserDatabase
        let group = asUser ? UserSpamDatabase.group(mailOwner: configuration.string("mail_owner")) : nil
        if asUser && group == nil { throw fail("mail_owner \(configuration.string("mail_owner")) is not a user; per-user spam databases need its group") }
        for name in names {
            guard let user = SystemUser.named(name) else { print("\(name): no such user"); failed = true; continue }
            let maildir = mailbox.hasPrefix("/") ? mailbox : "\(user.home)/\(mailbox)"
            let training = SpamTraining(database: TokenDatabase(path: options.databasePath(user: name)), options: options)
            if asUser, let group {
                // Every user of the system, by default: only those with a Maildir get a directory.
                guard users.isEmpty ? FileIO.isDirectory(maildir) : true else { continue }
                do {
                    for note in try UserSpamDatabase.prepare(options, user: user, group: group) { print(note) }
                } catch {
                    print("\(name): \(error)")
                    failed = true
                    continue
                }
                if !UserSpamDatabase.runAs(user, { try body(name, maildir, training) }) { failed = true }
                continue
            }
            do {
                if try !body(name, maildir, training) { failed = true }
            } catch {
                print("\(name): \(error)")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
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
            try database.handOver(options, global)
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
                let weight = Int((snapshot.gramWeight * 100).rounded())
                let grams = snapshot.gramBits == 0 ? "no byte-gram model yet"
                    : "byte-gram model: \(snapshot.gramSpamCount) spam, \(snapshot.gramHamCount) ham learnt, counts \(weight) % of its full share"
                print("\(db.path): \(snapshot.spamMessageCount) spam, \(snapshot.hamMessageCount) ham, \(snapshot.tokenCount) tokens, \(snapshot.messageIDCount) message ids; \(grams)")
            } catch {
                throw fail(error)
            }
        }
    }
}

import MailSystem
import SpamFilter

/// `postamt spam learn` and `postamt spam forget`: messages from files, directories and
/// Maildirs into a token database. Learning is keyed by Message-ID (or the body's hash), so a
/// message learnt twice counts once, and learnt as the other class it moves over.
public struct SpamTraining {
    public let database: TokenDatabase
    public var decodeLimits: SpamDecodeLimits
    public var tokenizer: SpamTokenizer
    /// Messages per database rewrite.
    public var batchSize = 2_000
    /// Largest message file read; bigger ones are learnt from their first bytes only.
    public var maxFileBytes = 8 << 20
    /// Learn only what the database does not already judge right (`spam_train_on_error`).
    public var onError: TrainOnError?
    /// `spam_token_limit` (TokenAging); 0: no limit.
    public var tokenLimit: Int

    public init(database: TokenDatabase, options: SpamCheckOptions = SpamCheckOptions()) {
        self.database = database
        self.decodeLimits = options.decodeLimits
        self.tokenizer = SpamTokenizer(limits: options.tokenizerLimits)
        self.onError = options.trainOnError ? TrainOnError() : nil
        self.tokenLimit = options.tokenLimit
    }

    /// The message files a path stands for: a file; a Maildir (its cur/ and new/); or a
    /// directory of message files. Dot files and Maildir++ subfolders are not descended into.
    public static func messageFiles(_ path: String) throws -> [String] {
        guard FileIO.isDirectory(path) else {
            guard FileIO.exists(path) else { throw SystemError("\(path)", errno: 2) }
            return [path]
        }
        var files: [String] = []
        if FileIO.isDirectory("\(path)/cur") || FileIO.isDirectory("\(path)/new") {
            for sub in ["cur", "new"] where FileIO.isDirectory("\(path)/\(sub)") {
                files += try FileIO.listDirectory("\(path)/\(sub)").filter { !$0.hasPrefix(".") }.sorted().map { "\(path)/\(sub)/\($0)" }
            }
            return files
        }
        for name in try FileIO.listDirectory(path).sorted() where !name.hasPrefix(".") {
            let full = "\(path)/\(name)"
            if !FileIO.isDirectory(full) { files.append(full) }
        }
        return files
    }

    func learnable(_ file: String) throws -> LearnableMessage? {
        guard let bytes = try FileIO.readFile(file, limit: maxFileBytes) else { return nil }
        return LearnableMessage(rawMessage: bytes, limits: decodeLimits, tokenizer: tokenizer)
    }

    /// Learns every message under `paths` as `spamClass` (nil: forgets them).
    public func train(_ paths: [String], as spamClass: SpamClass?) throws -> (summary: LearnSummary, files: Int) {
        guard let spamClass else { return try forget(paths) }
        let (summaries, files) = try train([(paths, spamClass)])
        var summary = summaries[spamClass]
        summary.expired = summaries.expired
        return (summary, files)
    }

    /// Learns messages of both classes together: the files of all sets in a mixed order (by a
    /// hash of the file name, the same every run and wherever the folders are), so that the gram
    /// model, which remembers its last messages best, does not end a first training on one
    /// class only.
    public func train(_ sets: [(paths: [String], spamClass: SpamClass)]) throws -> (summaries: ClassSummaries, files: Int) {
        try prepareDatabase()
        var files: [(String, SpamClass)] = []
        for set in sets {
            for path in set.paths { files += try SpamTraining.messageFiles(path).map { ($0, set.spamClass) } }
        }
        if sets.count > 1 {
            files = files.map { ($0, TokenHasher.hash(FileIO.baseName($0.0).utf8)) }
                .sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0.0 < $1.0.0 }.map(\.0)
        }
        var total = ClassSummaries()
        let count = try inBatches(files) { batch in
            let summaries = try database.learn(batch, onError: onError, tokenLimit: tokenLimit)
            total.spam.add(summaries.spam)
            total.ham.add(summaries.ham)
            total.expired += summaries.expired
        }
        return (total, count)
    }

    func forget(_ paths: [String]) throws -> (summary: LearnSummary, files: Int) {
        try prepareDatabase()
        let files = try paths.flatMap { try SpamTraining.messageFiles($0) }.map { ($0, ()) }
        var total = LearnSummary()
        let count = try inBatches(files) { batch in total.add(try database.forget(batch.map(\.0))) }
        return (total, count)
    }

    /// The database's directory and an empty database, unless they exist.
    private func prepareDatabase() throws {
        try FileIO.makeDirectories(FileIO.directoryName(database.path), mode: 0o755)
        try database.createIfMissing()
    }

    /// Reads the message files in order and hands them to `write` in batches of `batchSize`
    /// (one database rewrite each), each with what goes with it; returns how many were read.
    private func inBatches<Tag>(_ files: [(String, Tag)], _ write: ([(LearnableMessage, Tag)]) throws -> Void) throws -> Int {
        var count = 0
        var batch: [(LearnableMessage, Tag)] = []
        for (file, tag) in files {
            if let message = try learnable(file) { batch.append((message, tag)); count += 1 }
            if batch.count >= batchSize { try write(batch); batch.removeAll() }
        }
        if !batch.isEmpty { try write(batch) }
        return count
    }
}

extension LearnSummary {
    mutating func add(_ other: LearnSummary) {
        learnt += other.learnt
        alreadyKnown += other.alreadyKnown
        reclassified += other.reclassified
        forgotten += other.forgotten
        unknown += other.unknown
        confident += other.confident
        expired += other.expired
    }
}

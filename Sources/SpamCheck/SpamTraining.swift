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
        return LearnableMessage(SpamDocument.decode(rawMessage: bytes, limits: decodeLimits), tokenizer: tokenizer)
    }

    /// Learns every message under `paths` as `spamClass` (nil: forgets them).
    public func train(_ paths: [String], as spamClass: SpamClass?) throws -> (summary: LearnSummary, files: Int) {
        var total = LearnSummary()
        var files = 0
        var batch: [LearnableMessage] = []
        func flush() throws {
            guard !batch.isEmpty else { return }
            let summary = try spamClass.map { try database.learn(batch, as: $0, onError: onError, tokenLimit: tokenLimit) } ?? database.forget(batch)
            total.learnt += summary.learnt
            total.alreadyKnown += summary.alreadyKnown
            total.reclassified += summary.reclassified
            total.forgotten += summary.forgotten
            total.unknown += summary.unknown
            total.confident += summary.confident
            total.expired += summary.expired
            batch.removeAll()
        }
        try FileIO.makeDirectories(FileIO.directoryName(database.path), mode: 0o755)
        try database.createIfMissing()
        for path in paths {
            for file in try SpamTraining.messageFiles(path) {
                if let message = try learnable(file) { batch.append(message); files += 1 }
                if batch.count >= batchSize { try flush() }
            }
        }
        try flush()
        return (total, files)
    }
}

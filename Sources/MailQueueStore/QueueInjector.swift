#if canImport(Glibc)
import Glibc
#endif
import MailSystem
import MailCore
import Synchronization

/// postamt-queue's work: one message from fd 0 and its envelope from fd 1 into the queue,
/// durably, or nothing at all (postamt-queue(8)).
///
/// Commit by ordering (qmail-queue.c): write the message as mess/ID after a header (QueueFile),
/// read and check the envelope, write its record into the header and fsync the file, link it
/// into incoming/ and fsync incoming/. That link is the commit point: before it the runner sees
/// nothing (it reads only incoming/ and state/), after it the message exists. mess/ is not
/// fsynced: the runner links incoming/ID into mess/ again if a crash lost that name, and fsyncs
/// mess/ before incoming/ID goes. A record too big for the header gets a file of its own in tmp/,
/// fsynced, and then mess/ is fsynced before that file is linked into incoming/. Leftovers of an
/// interrupted run are only in mess/ without an envelope (and tmp/ID.env), and the runner
/// removes them after orphan_age. (The file was written in tmp/ and linked into mess/ before:
/// two more directory operations a message, and tmp/'s lock taken by every session twice.)
public struct QueueInjector: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let exit: QueueExit
        public let reason: String
        public var description: String { reason }
    }

    public let layout: QueueLayout
    public let messageSizeLimit: Int64
    public let addressLengthLimit: Int
    public let recipientLimit: Int
    public let log: Log
    /// The runner's emptied message files, taken instead of creating one (QueueSpares).
    public let spares: QueueSpares

    /// `spares` false: always create the message file (postamt-queue run by a user other than
    /// the mail_owner, who could not write the mail_owner's spare files).
    public init(configuration: Configuration, log: Log, spares: Bool = true) {
        self.init(layout: QueueLayout(configuration: configuration), messageSizeLimit: configuration.size("message_size_limit"),
                  addressLengthLimit: configuration.count("address_length_limit"),
                  recipientLimit: configuration.count("recipient_limit"), log: log,
                  spareFiles: spares ? configuration.count("queue_spare_files") : 0)
    }

    public init(layout: QueueLayout, messageSizeLimit: Int64, addressLengthLimit: Int, recipientLimit: Int, log: Log,
                spareFiles: Int = 0) {
        self.layout = layout
        self.messageSizeLimit = messageSizeLimit
        self.addressLengthLimit = addressLengthLimit
        self.recipientLimit = recipientLimit
        self.log = log
        self.spares = QueueSpares(layout: layout, count: spareFiles)
    }

    /// The spares this process last saw, per queue (smtpd injects one message at a time into
    /// one queue; the lock and the queues are for threads, as in the tests).
    static let spareSlots = Synchronization.Mutex([String: QueueSpares.Knowledge]())

    /// The Received: line naming who injected the message: the SMTP peer given in the
    /// environment by smtpd/tcpserver, or the invoking uid.
    public static func receivedLine(pid: pid_t = getpid(), uid: uid_t = getuid(), peer: String?, date: String) -> String {
        if let peer, !peer.isEmpty {
            return "Received: (postamt-queue \(pid) invoked from network, peer \(peer)); \(date)\n"
        }
        return "Received: (postamt-queue \(pid) invoked by uid \(uid)); \(date)\n"
    }

    /// Who runs the queue's code, as far as its word on the peer, the DSN side channel and the
    /// submitter counts: only root's or the mail_owner's (smtpd runs as it). Anyone else could
    /// set them to hide their uid or forge parameters (qmail decides by uid too).
    public struct Caller: Sendable, Equatable {
        public let uid: uid_t
        public let isMailOwner: Bool
        var isBelieved: Bool { uid == 0 || isMailOwner }

        public init(uid: uid_t, mailOwner: String) {
            self.uid = uid
            isMailOwner = uid != 0 && SystemUser.named(mailOwner)?.uid == uid
        }

        nonisolated(unsafe) private static var remembered: (mailOwner: String, caller: Caller)?

        /// This process as it is now (its real uid), the mail_owner looked up once per process
        /// and uid (smtpd asks for every message).
        public static func current(mailOwner: String) -> Caller {
            let uid = getuid()
            if let remembered, remembered.mailOwner == mailOwner, remembered.caller.uid == uid { return remembered.caller }
            let caller = Caller(uid: uid, mailOwner: mailOwner)
            remembered = (mailOwner, caller)
            return caller
        }
    }

    /// The peer address the caller names (`claimed`: the candidates in order; the first that is
    /// an IP address counts), believed only from root or the mail_owner; for anyone else the
    /// Received: line names the uid.
    public static func peer(claimed: [String], caller: Caller) -> String? {
        guard caller.isBelieved else { return nil }
        return claimed.first { !$0.isEmpty && $0.count <= 64 && $0.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) }
    }

    /// The peer address smtpd or tcpserver put into the environment (POSTAMT_PEER, TCPREMOTEIP,
    /// REMOTE_ADDR), as `peer(claimed:caller:)` believes it.
    public static func peerFromEnvironment(caller: Caller) -> String? {
        let names = ["POSTAMT_PEER", "TCPREMOTEIP", "REMOTE_ADDR"]
        return peer(claimed: names.compactMap { (name: String) -> String? in getenv(name).map { String(cString: $0) } },
                    caller: caller)
    }

    /// The DSN side channel (POSTAMT_DSN, POSTAMT_DSN_RCPT; postamt-smtpd(8)), believed only
    /// when the caller is root or the mail_owner, like the peer address: anyone else could
    /// forge it. The one exception is the word REQUIRETLS (RFC 8689): it only restricts how the
    /// caller's own message travels, so any user may ask for it (sendmail -O RequireTLS, the
    /// webmail's "Require TLS"). nil when absent or not believed.
    public static func dsn(claimed: (transaction: String, recipients: String?)?, caller: Caller) -> (transaction: String, recipients: String?)? {
        guard let claimed else { return nil }
        guard caller.isBelieved else {
            return claimed.transaction.split(separator: " ").contains("REQUIRETLS") ? ("REQUIRETLS", nil) : nil
        }
        return claimed
    }

    public static func dsnFromEnvironment(caller: Caller) -> (transaction: String, recipients: String?)? {
        dsn(claimed: getenv("POSTAMT_DSN").map { (String(cString: $0), getenv("POSTAMT_DSN_RCPT").map { String(cString: $0) }) },
            caller: caller)
    }

    /// Who submitted the message (QueueEnvelope.submitter): for the mail_owner (smtpd), the
    /// user it names (`named`: POSTAMT_SUBMITTER after SMTP AUTH), or nobody (mail from
    /// outside); for root, the user named or root; for anyone else, the calling user, whatever
    /// it names.
    public static func submitter(named: String?, caller: Caller) -> String? {
        let named = named.flatMap { AddressSyntax.userNameProblem($0) == nil ? $0 : nil }
        if caller.uid == 0 { return named ?? "root" }
        if caller.isMailOwner { return named }
        return SystemUser.withID(caller.uid)?.name
    }

    public static func submitterFromEnvironment(caller: Caller) -> String? {
        submitter(named: getenv("POSTAMT_SUBMITTER").map { String(cString: $0) }, caller: caller)
    }

    /// Validates the side channel against the envelope; invalid data is dropped with a
    /// warning, never a reason to refuse the message.
    public func dsnParameters(_ raw: (transaction: String, recipients: String?)?, envelope: Envelope) -> DSNParameters {
        guard let raw else { return DSNParameters() }
        guard raw.transaction.utf8.count <= 1024, (raw.recipients?.utf8.count ?? 0) <= 1024 * (recipientLimit + 1) else {
            log.warning("DSN parameters ignored: too long")
            return DSNParameters()
        }
        do {
            return try DSNParameters.parse(transaction: raw.transaction, recipientLines: raw.recipients, count: envelope.recipients.count)
        } catch {
            log.warning("DSN parameters ignored: \(error)")
            return DSNParameters()
        }
    }

    /// A message on its way into the queue: its file (mess/ID), written so far (the Received:
    /// line first), nothing visible to the runner until `commit`. Made by `begin`; the writer
    /// appends the message to `fd`. Dropped without `commit` it leaves nothing (its file goes).
    public final class Pending {
        public let id: String
        /// Where the rest of the message goes (the file's own descriptor).
        public let fd: Int32
        let path: String
        /// The bytes written before the message (the header and the Received: line), not
        /// counted against message_size_limit.
        let prefixCount: Int64
        fileprivate var fdOpen = true
        /// Committed or abandoned: nothing more to do with it.
        fileprivate var settled = false

        fileprivate init(id: String, fd: Int32, path: String, prefixCount: Int64) {
            self.id = id
            self.fd = fd
            self.path = path
            self.prefixCount = prefixCount
        }

        /// Nothing of it is queued: the file goes.
        public func abandon() {
            guard !settled else { return }
            settled = true
            if fdOpen {
                fdOpen = false
                close(fd)
            }
            unlink(path)
        }

        deinit { abandon() }
    }

    /// Runs the whole injection (postamt-queue: the message on `messageFD`, the envelope on
    /// `envelopeFD`); returns the queue id.
    public func inject(messageFD: Int32 = 0, envelopeFD: Int32 = 1, received: String, submitter: String? = nil,
                       dsn: (transaction: String, recipients: String?)? = nil) throws(Failure) -> String {
        let pending = try begin(received: received)
        try copyMessage(from: messageFD, to: pending.fd, limit: messageSizeLimit)
        return try commit(pending, envelopeBytes: readEnvelope(envelopeFD), submitter: submitter, dsn: dsn)
    }

    /// The first half of an injection, for a caller with the queue's privileges that writes the
    /// message itself (smtpd; postamt-smtpd(8), "Hand-off to the queue"): the message file is
    /// created as mess/ID with `received` in it (O_EXCL: the id is unique from here on) — or a
    /// spare file is renamed to mess/ID (RENAME_NOREPLACE: the same guarantee).
    public func begin(received: String) throws(Failure) -> Pending {
        // postamt-queue's modes whatever the caller's umask (the program sets 027 itself).
        let mask = umask(0o027)
        defer { umask(mask) }
        var id = ""
        var path = ""
        var fd: Int32 = -1
        for attempt in 0..<100 {
            id = QueueLayout.newID()
            path = layout.message(id)
            if attempt == 0, let taken = QueueInjector.spareSlots.withLock({ spares.take(as: path, knowing: &$0[layout.spare, default: QueueSpares.Knowledge()]) }) {
                fd = taken
                break
            }
            fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
            if fd >= 0 || errno != EEXIST { break }
            usleep(1)
        }
        if fd < 0 {
            let e = errno
            try checkLayout()
            throw Failure(exit: .messageFile, reason: "cannot create \(path): \(SystemError.describe(e))")
        }
        let prefix = QueueFile.blankHeader() + Array(received.utf8)
        let pending = Pending(id: id, fd: fd, path: path, prefixCount: Int64(prefix.count))
        do { try FileIO.writeAll(fd, prefix) } catch { throw writeFailure(error) }
        return pending
    }

    /// The second half: checks the envelope (as postamt-queue checks the one it reads), makes
    /// the message and its envelope durable (one file when the record fits the header), links
    /// them in (incoming/ID is the commit point) and returns the queue id. On any failure
    /// nothing is queued and `pending`'s file is gone.
    public func commit(_ pending: Pending, envelope: Envelope, submitter: String? = nil,
                       dsn: (transaction: String, recipients: String?)? = nil) throws(Failure) -> String {
        try commit(pending, envelopeBytes: envelope.qmailBytes, submitter: submitter, dsn: dsn)
    }

    func commit(_ pending: Pending, envelopeBytes: [UInt8], submitter: String?,
                dsn: (transaction: String, recipients: String?)?) throws(Failure) -> String {
        let id = pending.id
        let tmpEnvelope = "\(layout.tmp)/\(id).env"
        var madeEnvelope = false
        func cleanUp() {
            pending.abandon()
            if madeEnvelope { unlink(tmpEnvelope) }
        }
        guard !pending.settled else { throw Failure(exit: .internalBug, reason: "the message was committed or abandoned already") }
        let mask = umask(0o027)
        defer { umask(mask) }
        do {
            var st = stat()
            guard fstat(pending.fd, &st) == 0 else { throw Failure(exit: .writeError, reason: "fstat of the message failed: \(SystemError.describe(errno))") }
            // A spare keeps its earlier size (QueueSpares): the message is what was written,
            // from the start, so the file ends where the writing did.
            let written = lseek(pending.fd, 0, SEEK_CUR)
            guard written >= 0 else { throw Failure(exit: .writeError, reason: "lseek of the message failed: \(SystemError.describe(errno))") }
            if Int64(st.st_size) > Int64(written) {
                guard ftruncate(pending.fd, written) == 0 else {
                    throw Failure(exit: .writeError, reason: "cutting the message file to its length failed: \(SystemError.describe(errno))")
                }
                st.st_size = written
            }
            let size = Int64(st.st_size) - Int64(QueueFile.headerSize)
            if Int64(st.st_size) - pending.prefixCount > messageSizeLimit {
                throw Failure(exit: .permanentRefusal, reason: "message is larger than message_size_limit (\(messageSizeLimit) bytes) (#5.3.4)")
            }
            let envelope = try checkEnvelope(envelopeBytes)
            let record = QueueEnvelope(id: id, arrival: Clock.seconds(), size: size, envelope: envelope, uid: getuid(),
                                       submitter: submitter, dsn: dsnParameters(dsn, envelope: envelope)).encoded()
            // The record in the message file's header when it fits: one file, one fsync.
            let recordOffset = QueueFile.recordOffset(fitting: record)
            do {
                if let recordOffset {
                    let n = record.withUnsafeBytes { pwrite(pending.fd, $0.baseAddress, $0.count, off_t(recordOffset)) }
                    if n != record.count { throw SystemError("write", errno: n < 0 ? errno : EIO) }
                }
                try FileIO.fsync(pending.fd)
            } catch {
                throw Failure(exit: .writeError, reason: "writing the message failed: \(error)")
            }
            pending.fdOpen = false
            if close(pending.fd) != 0 && errno != EINTR {
                throw Failure(exit: .writeError, reason: "\(SystemError("close"))")
            }
            let committed = recordOffset == nil ? tmpEnvelope : pending.path
            if recordOffset == nil {
                do {
                    let efd = try FileIO.open(tmpEnvelope, O_WRONLY | O_CREAT | O_EXCL, mode: 0o640)
                    madeEnvelope = true
                    try FileIO.writeAll(efd.raw, record)
                    try FileIO.fsync(efd.raw)
                    try efd.closeChecked()
                } catch {
                    if !madeEnvelope { try checkLayout() }
                    throw Failure(exit: (error as? SystemError)?.isOutOfSpace == true ? .writeError : .envelopeFile,
                                  reason: "writing the envelope failed: \(error)")
                }
            }
            do {
                // With the record in the header, incoming/ID is the message too: the runner
                // restores a lost mess/ID from it. Without, mess/ID must be durable first.
                if recordOffset == nil { try FileIO.fsyncDirectory(layout.messages) }
            } catch {
                throw Failure(exit: .messageFile, reason: "\(error)")
            }
            do {
                // The commit point.
                _ = try retryingEINTR("link \(layout.envelope(id))") { link(committed, layout.envelope(id)) }
            } catch {
                try checkLayout()
                throw Failure(exit: .commitFile, reason: "\(error)")
            }
            do {
                try FileIO.fsyncDirectory(layout.incoming)
            } catch {
                // The link exists but may not be durable: take it back and fail temporarily.
                unlink(layout.envelope(id))
                throw Failure(exit: .commitFile, reason: "\(error)")
            }
            pending.settled = true
            if madeEnvelope { unlink(tmpEnvelope) }
            // The one line callers (smtpd's "queued as", the runner's bounce log) read the id from.
            log.info("queued, from=<\(envelope.sender.text)>, size=\(size), nrcpt=\(envelope.recipients.count), uid=\(getuid())", id: id)
            return id
        } catch let failure as Failure {
            cleanUp()
            throw failure
        } catch {
            cleanUp()
            throw Failure(exit: .internalBug, reason: "\(error)")
        }
    }

    /// After a file in the queue could not be made: a missing or incomplete queue directory is
    /// said as such (exit 62). Asked only then: five stat(2)s a message otherwise.
    func checkLayout() throws(Failure) {
        guard layout.isComplete else {
            throw Failure(exit: .queueDirectory, reason: "queue directory \(layout.root) is missing or incomplete")
        }
    }

    /// Copies `input` to its end into `output`, stopping with a permanent failure once more
    /// than `limit` bytes came (qmail-queue reads no further either).
    func copyMessage(from input: Int32, to output: Int32, limit: Int64) throws(Failure) {
        var total: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(exit: .readError, reason: "cannot read the message: \(SystemError.describe(errno))")
            }
            if n == 0 { break }
            total += Int64(n)
            if total > limit {
                throw Failure(exit: .permanentRefusal, reason: "message is larger than message_size_limit (\(limit) bytes) (#5.3.4)")
            }
            do { try FileIO.writeAll(output, buffer[0..<n]) } catch { throw writeFailure(error) }
        }
    }

    func writeFailure(_ error: Error) -> Failure {
        Failure(exit: .writeError, reason: "cannot write the message: \(error)")
    }

    /// The envelope's bytes from `fd` (at most what recipient_limit allows).
    func readEnvelope(_ fd: Int32) throws(Failure) -> [UInt8] {
        let limit = (recipientLimit + 1) * (addressLengthLimit + 2) + 16
        do {
            return try FileIO.readAll(fd, limit: limit)
        } catch let e as SystemError where e.errno == EFBIG {
            throw Failure(exit: .envelopeFormat, reason: "envelope larger than \(limit) bytes (recipient_limit \(recipientLimit))")
        } catch {
            throw Failure(exit: .readError, reason: "cannot read the envelope: \(error)")
        }
    }

    /// qmail-queue's envelope checked against the limits (postamt-queue(8), EXIT STATUS).
    func checkEnvelope(_ bytes: [UInt8]) throws(Failure) -> Envelope {
        do {
            return try Envelope.parse(qmailBytes: bytes, recipientLimit: recipientLimit, addressLimit: addressLengthLimit)
        } catch {
            switch error {
            case .addressTooLong: throw Failure(exit: .addressTooLong, reason: error.description)
            default: throw Failure(exit: .envelopeFormat, reason: error.description)
            }
        }
    }
}

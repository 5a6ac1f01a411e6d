#if canImport(Glibc)
import Glibc
#endif
import MailSystem
import MailCore

/// postamt-queue's work: one message from fd 0 and its envelope from fd 1 into the queue,
/// durably, or nothing at all (postamt-queue(8)).
///
/// Commit by ordering (qmail-queue.c): write and fsync the message in tmp/, read and check the
/// envelope, write and fsync it in tmp/, link the message into mess/ and fsync mess/, then link
/// the envelope into incoming/ and fsync incoming/. That last link is the commit point: before
/// it the runner sees nothing, after it the message exists. Leftovers of an interrupted run are
/// only in tmp/ and mess/ without an envelope, and the runner removes them after orphan_age.
public struct QueueInjector {
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

    public init(configuration: Configuration, log: Log) {
        layout = QueueLayout(configuration: configuration)
        messageSizeLimit = configuration.size("message_size_limit")
        addressLengthLimit = configuration.count("address_length_limit")
        recipientLimit = configuration.count("recipient_limit")
        self.log = log
    }

    /// The Received: line naming who injected the message: the SMTP peer given in the
    /// environment by smtpd/tcpserver, or the invoking uid.
    public static func receivedLine(pid: pid_t = getpid(), uid: uid_t = getuid(), peer: String?, date: String) -> String {
        if let peer, !peer.isEmpty {
            return "Received: (postamt-queue \(pid) invoked from network, peer \(peer)); \(date)\n"
        }
        return "Received: (postamt-queue \(pid) invoked by uid \(uid)); \(date)\n"
    }

    /// A peer address from the environment, believed only when the caller is root or the
    /// mail_owner (smtpd runs as it): anyone else could set TCPREMOTEIP to hide their uid, so
    /// for them the Received: line names the uid (qmail decides by uid too).
    public static func peerFromEnvironment(mailOwner: String) -> String? {
        let uid = getuid()
        guard uid == 0 || SystemUser.named(mailOwner)?.uid == uid else { return nil }
        for name in ["POSTAMT_PEER", "TCPREMOTEIP", "REMOTE_ADDR"] {
            if let v = getenv(name) {
                let s = String(cString: v)
                if !s.isEmpty && s.count <= 64 && s.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) { return s }
            }
        }
        return nil
    }

    /// The DSN side channel (POSTAMT_DSN, POSTAMT_DSN_RCPT; postamt-smtpd(8)), believed only
    /// when the caller is root or the mail_owner, like the peer address: anyone else could
    /// forge it. The one exception is the word REQUIRETLS (RFC 8689): it only restricts how the
    /// caller's own message travels, so any user may ask for it (sendmail -O RequireTLS, the
    /// webmail's "Require TLS"). nil when absent or not believed.
    public static func dsnFromEnvironment(mailOwner: String) -> (transaction: String, recipients: String?)? {
        guard let v = getenv("POSTAMT_DSN") else { return nil }
        let uid = getuid()
        guard uid == 0 || SystemUser.named(mailOwner)?.uid == uid else {
            return String(cString: v).split(separator: " ").contains("REQUIRETLS") ? ("REQUIRETLS", nil) : nil
        }
        return (String(cString: v), getenv("POSTAMT_DSN_RCPT").map { String(cString: $0) })
    }

    /// Who submitted the message (QueueEnvelope.submitter): for the mail_owner (smtpd), the
    /// user it names in POSTAMT_SUBMITTER after SMTP AUTH, or nobody (mail from outside); for
    /// root, POSTAMT_SUBMITTER or root; for anyone else, the calling user, whatever the
    /// environment says.
    public static func submitter(mailOwner: String, uid: uid_t = getuid()) -> String? {
        let named = getenv("POSTAMT_SUBMITTER").map { String(cString: $0) }.flatMap { AddressSyntax.userNameProblem($0) == nil ? $0 : nil }
        if uid == 0 { return named ?? "root" }
        if SystemUser.named(mailOwner)?.uid == uid { return named }
        return SystemUser.withID(uid)?.name
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

    /// Runs the whole injection; returns the queue id.
    public func inject(messageFD: Int32 = 0, envelopeFD: Int32 = 1, received: String, submitter: String? = nil,
                       dsn: (transaction: String, recipients: String?)? = nil) throws(Failure) -> String {
        guard layout.isComplete else {
            throw Failure(exit: .queueDirectory, reason: "queue directory \(layout.root) is missing or incomplete")
        }
        var id = ""
        var tmpMessage = ""
        var fd: Int32 = -1
        for _ in 0..<100 {
            id = QueueLayout.newID()
            tmpMessage = "\(layout.tmp)/\(id)"
            fd = open(tmpMessage, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
            if fd >= 0 || errno != EEXIST { break }
            usleep(1)
        }
        if fd < 0 { throw Failure(exit: .messageFile, reason: "cannot create \(tmpMessage): \(SystemError.describe(errno))") }
        let tmpEnvelope = tmpMessage + ".env"
        var linkedMessage = false
        func cleanUp() {
            unlink(tmpMessage)
            unlink(tmpEnvelope)
            if linkedMessage { unlink(layout.message(id)) }
        }
        do {
            let owned = OwnedFD(adopting: fd)
            let size = try copyMessage(from: messageFD, to: owned.raw, prefix: Array(received.utf8))
            do { try FileIO.fsync(owned.raw) } catch { throw Failure(exit: .writeError, reason: "fsync of the message failed: \(error)") }
            do { try owned.closeChecked() } catch { throw Failure(exit: .writeError, reason: "\(error)") }

            let envelope = try readEnvelope(envelopeFD)
            let record = QueueEnvelope(id: id, arrival: Clock.seconds(), size: size, envelope: envelope, uid: getuid(),
                                       submitter: submitter, dsn: dsnParameters(dsn, envelope: envelope))
            do {
                let efd = try FileIO.open(tmpEnvelope, O_WRONLY | O_CREAT | O_EXCL, mode: 0o640)
                try FileIO.writeAll(efd.raw, record.encoded())
                try FileIO.fsync(efd.raw)
                try efd.closeChecked()
            } catch {
                throw Failure(exit: (error as? SystemError)?.isOutOfSpace == true ? .writeError : .envelopeFile,
                              reason: "writing the envelope failed: \(error)")
            }
            do {
                _ = try retryingEINTR("link \(layout.message(id))") { link(tmpMessage, layout.message(id)) }
                linkedMessage = true
                try FileIO.fsyncDirectory(layout.messages)
            } catch {
                throw Failure(exit: .messageFile, reason: "\(error)")
            }
            do {
                // The commit point.
                _ = try retryingEINTR("link \(layout.envelope(id))") { link(tmpEnvelope, layout.envelope(id)) }
            } catch {
                throw Failure(exit: .commitFile, reason: "\(error)")
            }
            do {
                try FileIO.fsyncDirectory(layout.incoming)
            } catch {
                // The link exists but may not be durable: take it back and fail temporarily.
                unlink(layout.envelope(id))
                throw Failure(exit: .commitFile, reason: "\(error)")
            }
            unlink(tmpMessage)
            unlink(tmpEnvelope)
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

    /// Copies fd 0 into the queue file after `prefix`; returns the byte count.
    func copyMessage(from input: Int32, to output: Int32, prefix: [UInt8]) throws(Failure) -> Int64 {
        var total = Int64(prefix.count)
        do { try FileIO.writeAll(output, prefix) } catch { throw writeFailure(error) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(exit: .readError, reason: "cannot read the message: \(SystemError.describe(errno))")
            }
            if n == 0 { break }
            total += Int64(n)
            if total > messageSizeLimit + Int64(prefix.count) {
                throw Failure(exit: .permanentRefusal, reason: "message is larger than message_size_limit (\(messageSizeLimit) bytes) (#5.3.4)")
            }
            do { try FileIO.writeAll(output, buffer[0..<n]) } catch { throw writeFailure(error) }
        }
        return total
    }

    func writeFailure(_ error: Error) -> Failure {
        Failure(exit: .writeError, reason: "cannot write the message: \(error)")
    }

    func readEnvelope(_ fd: Int32) throws(Failure) -> Envelope {
        let limit = (recipientLimit + 1) * (addressLengthLimit + 2) + 16
        let bytes: [UInt8]
        do {
            bytes = try FileIO.readAll(fd, limit: limit)
        } catch let e as SystemError where e.errno == EFBIG {
            throw Failure(exit: .envelopeFormat, reason: "envelope larger than \(limit) bytes (recipient_limit \(recipientLimit))")
        } catch {
            throw Failure(exit: .readError, reason: "cannot read the envelope: \(error)")
        }
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

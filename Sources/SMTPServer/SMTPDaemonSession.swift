#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailMessage
import MailNet
import MailQueueClient
import MailSystem
import SMTPProtocol

/// One connection: reads, feeds the engine, carries out its events in order.
final class SMTPDaemonSession {
    let settings: SMTPDaemonSettings
    let tlsContext: TLSServerContext?
    let log: Log
    let peer: IPAddress?
    let engine: SMTPSession
    /// The address policy (sender ownership) inside the screening one, for the From: check.
    let addressPolicy: SMTPDaemonPolicy?
    let plain: PlainStream
    var stream: any ByteStream
    var finished = false
    /// Monotonic deadline of the whole session (smtpd_session_timeout).
    let sessionDeadline: Int64

    /// The message being received: the queue program and what we know about it.
    struct Transfer {
        var pipeline: MessagePipeline
        var envelope: SMTPEnvelope
        /// A write to the queue program failed (it exited early: its exit status tells why), or
        /// to the queue's file smtpd writes itself (the message is refused temporarily).
        var writeError: String?
        /// The header section so far, kept while an authenticated user's From: is to be checked.
        var header: HeaderWatch?
    }

    /// Collects the start of the message until its header section ends (or a limit is reached).
    struct HeaderWatch {
        static let limit = 256 * 1024
        var bytes: [UInt8] = []
        var complete = false

        mutating func append(_ data: [UInt8]) {
            guard !complete else { return }
            let searchFrom = max(0, bytes.count - 3)
            bytes += data.prefix(HeaderWatch.limit - bytes.count)
            var i = searchFrom
            while i + 1 < bytes.count {
                if bytes[i] == 0x0A && (bytes[i + 1] == 0x0A || (bytes[i + 1] == 0x0D && i + 2 < bytes.count && bytes[i + 2] == 0x0A)) {
                    complete = true
                    return
                }
                i += 1
            }
            if bytes.count >= HeaderWatch.limit { complete = true }
        }

        var fromAddresses: [String] { HeaderSection.parse(bytes).fromAddresses }
    }
    var transfer: Transfer?
    var transferStartFailure: String?
    /// Pregreet, DNS lists, greylisting, sending limits (ScreeningPolicy.swift).
    var screening: ScreeningPolicy?

    init(settings: SMTPDaemonSettings, engineConfiguration: SMTPSessionConfiguration, tlsContext: TLSServerContext?,
         peer: IPAddress?, trusted: Bool, policy: any SMTPPolicy, log: Log) {
        self.settings = settings
        self.tlsContext = tlsContext
        self.log = log
        self.peer = peer
        let screen = policy as? ScreeningPolicy
        screening = screen
        addressPolicy = (screen?.inner ?? policy) as? SMTPDaemonPolicy
        sessionDeadline = Clock.monotonicNanoseconds() + settings.sessionTimeoutSeconds * 1_000_000_000
        do {
            plain = try PlainStream(readFD: 0, writeFD: 1, timeout: .seconds(settings.idleTimeoutSeconds))
        } catch {
            log.error("fd 0/1 unusable: \(error)")
            exit(SMTPDaemon.Exit.temporary.rawValue)
        }
        stream = plain
        var tlsInfo: SMTPTLSInfo? = nil
        if settings.role == .smtps, let tlsContext {
            // RFC 8314 implicit TLS: the handshake comes before the greeting.
            do {
                let tls = try TLSConnection(server: tlsContext, over: plain)
                try tls.handshake()
                stream = tls
                tlsInfo = SMTPTLSInfo(version: tls.protocolVersion, cipher: tls.cipherName)
            } catch {
                log.info("TLS handshake failed from [\(peer.map { "\($0)" } ?? "unknown")]: \(error)")
                exit(SMTPDaemon.Exit.sessionEnded.rawValue)
            }
        }
        engine = SMTPSession(configuration: engineConfiguration,
                                   connection: SMTPConnectionInfo(peerAddress: peer.map { "\($0)" } ?? "unknown",
                                                                  trustedClient: trusted, tls: tlsInfo),
                                   policy: policy)
    }

    func run() {
        var early: [UInt8] = []
        if settings.role == .mx, let screening {
            guard case .proceed(let bytes) = screening.screenConnection(stream: stream, greeting: "\(settings.hostname) \(settings.engine.greetingText)") else {
                try? plain.shutdown()
                return
            }
            early = bytes
        }
        handle(engine.start())
        if !early.isEmpty { handle(engine.feed(early)) }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(65536)
        while !finished {
            let left = sessionDeadline - Clock.monotonicNanoseconds()
            if left <= 0 {
                log.info("session time limit reached")
                handle(engine.timedOut())
                break
            }
            let wait = min(settings.idleTimeoutSeconds * 1_000_000_000, left)
            stream.timeout = .nanoseconds(wait)
            buffer.removeAll(keepingCapacity: true)
            do {
                let count = try stream.read(appendingTo: &buffer, max: 65536)
                if count == 0 {
                    handle(engine.endOfInput())
                    break
                }
            } catch let error as NetError where error.isTimeout {
                log.info(Clock.monotonicNanoseconds() >= sessionDeadline ? "session time limit reached" : "idle timeout")
                handle(engine.timedOut())
                break
            } catch {
                log.info("read failed: \(error)")
                handle(engine.endOfInput())
                break
            }
            handle(engine.feed(buffer))
        }
        abandonTransfer()
        if let tls = stream as? TLSConnection { try? tls.shutdown() }
        try? plain.shutdown()
    }

    /// Carries out events in order; answers to the engine (queue results, TLS) add their
    /// own events at the front.
    func handle(_ initial: [SMTPEvent]) {
        var events = initial[...]
        while let event = events.popFirst() {
            var more: [SMTPEvent] = []
            switch event {
            case .send(let bytes):
                guard !finished else { continue }
                do { try stream.write(bytes) } catch {
                    log.info("write failed: \(error)")
                    finished = true
                    abandonTransfer()
                }
            case .log(let text):
                log.info(text)
            case .delay(let milliseconds):
                if milliseconds > 0 && !finished { usleep(UInt32(min(milliseconds, 60_000)) * 1000) }
            case .messageBegin(let envelope):
                beginTransfer(envelope)
            case .messageData(let bytes):
                if transfer?.header?.complete == false { transfer?.header?.append(bytes) }
                if let current = transfer, current.writeError == nil {
                    do { try FileIO.writeAll(current.pipeline.inputFD, bytes) } catch {
                        transfer?.writeError = "\(error)"
                    }
                }
            case .messageEnd:
                if let user = engine.facts.authenticatedUser, let header = transfer?.header,
                   let refusal = addressPolicy?.checkHeaderSenders(header.fromAddresses, user: user) {
                    // RFC 5321 §4.2.5: after DATA the refusal is 550 (553 is for MAIL/RCPT).
                    abandonTransfer()
                    more = engine.messageQueued(.permanentFailure(refusal, enhancedCode: "5.7.1"))
                } else {
                    let recipients = transfer?.envelope.recipients.count ?? 0
                    let result = commitTransfer()
                    if case .accepted = result { screening?.messageAccepted(recipients: recipients, session: engine.facts) }
                    more = engine.messageQueued(result)
                }
            case .messageAbort(let reason):
                if transfer != nil { log.info("message discarded: \(reason)") }
                abandonTransfer()
            case .authenticate(let request):
                // postamt-auth through the address policy (SMTPDaemonPolicy.authenticate).
                let result = addressPolicy?.authenticate(user: request.user, password: request.password,
                                                         session: engine.facts) ?? .temporaryFailure
                more = engine.authenticationAnswered(result)
            case .startTLS:
                more = startTLS()
            case .close:
                finished = true
            }
            events = more[...] + events
        }
    }

    func beginTransfer(_ envelope: SMTPEnvelope) {
        abandonTransfer()
        transferStartFailure = nil
        // The user who passed the sender check: postamt-queue records it (believed only from the
        // mail_owner), and postamt-remote DKIM-signs only mail whose From: that user owns.
        let submitter = engine.facts.authenticatedUser
        do {
            let pipeline: MessagePipeline
            // smtpd has postamt-queue's privileges (as mail_owner; postamt-smtpd(8),
            // smtpd_exec_queue): it runs the queue's code itself, writing the message file as
            // it comes in (or, with the installed spam filter as the queue program, after the
            // filter's check, which smtpd runs too). No process per message.
            let handOff = settings.directHandOff(spamScreen: SMTPDaemon.spamScreen != nil)
            let claims = MessagePipeline.DirectQueue.Claims(peer: peer.map { "\($0)" }, dsn: DSNSideChannel.values(for: envelope),
                                                            submitter: submitter)
            if handOff == .queue {
                pipeline = try MessagePipeline(direct: settings.directQueue, claims: claims)
            } else if handOff == .spamScreenedQueue, let screen = SMTPDaemon.spamScreen {
                pipeline = try MessagePipeline(screenedBy: screen, direct: settings.directQueue, claims: claims)
            } else {
                var environment = QueueClient.inheritedEnvironment()
                // postamt-queue believes this only from the mail_owner (postamt-queue(8)).
                if let peer { environment.append("TCPREMOTEIP=\(peer)") }
                environment += DSNSideChannel.environment(for: envelope)
                if let submitter { environment.append("POSTAMT_SUBMITTER=\(submitter)") }
                // With filters, the queue's code in a forked child; the installed
                // postamt-spamcheck-queue (no privileges of its own) likewise: one program
                // start less.
                var inProcess: ((String) -> Never)? = nil
                if settings.queueInProcess {
                    if QueueProgram.mayRunInProcess(settings.queueProgram, installed: settings.installedQueueProgram) {
                        inProcess = { _ in QueueProgram.main() }
                    } else if let spamQueue = SMTPDaemon.spamQueueMain,
                              QueueProgram.mayRunInProcess(settings.queueProgram, installed: settings.installedSpamQueueProgram) {
                        inProcess = spamQueue
                    }
                }
                pipeline = try MessagePipeline(queueProgram: settings.queueProgram, filters: settings.filters,
                                               environment: environment, inProcessQueue: inProcess)
            }
            transfer = Transfer(pipeline: pipeline, envelope: envelope,
                                header: submitter != nil && addressPolicy?.checksSenderOwnership == true ? HeaderWatch() : nil)
            let header = SMTPReceivedHeader(facts: engine.facts, hostname: settings.hostname, smtpUTF8: envelope.smtpUTF8,
                                            queueID: nil,
                                            recipient: envelope.recipients.count == 1 ? envelope.recipients[0].mailbox : nil,
                                            date: Clock.rfc5322Date(),
                                            includeAuthenticatedUser: settings.includeAuthenticatedUserInReceived).rendered()
            do { try FileIO.writeAll(pipeline.inputFD, header) } catch { transfer?.writeError = "\(error)" }
        } catch {
            log.error("cannot start \(settings.queueProgram) or a filter: \(error)")
            transferStartFailure = "\(error)"
        }
    }

    func commitTransfer() -> SMTPQueueResult {
        guard let current = transfer else {
            return .temporaryFailure("Error: queue unavailable, try again later", enhancedCode: "4.3.0")
        }
        transfer = nil
        let envelope: Envelope
        do {
            let senderText: String
            if case .mailbox(let m) = current.envelope.sender { senderText = m.canonicalText } else { senderText = "" }
            let sender = try EnvelopeAddress(senderText, allowEmpty: true)
            let recipients = try current.envelope.recipients.map { try EnvelopeAddress($0.mailbox.canonicalText) }
            envelope = Envelope(sender: sender, recipients: recipients)
        } catch {
            current.pipeline.abandon()
            return .permanentFailure("Error: envelope address refused: \(error)", enhancedCode: "5.1.3")
        }
        switch current.pipeline.commit(envelope: envelope, writeError: current.writeError) {
        case .queued(let id):
            return .accepted(queueID: id ?? "queued")
        case .refused(let disposition, let reason, let code):
            log.info("message not queued (\(code.map { "exit \($0)" } ?? "no exit code")): \(reason)")
            let text = "Error: queue: \(reason)"
            // The queue program may name its own status, qmail-style "(#5.7.1)" (the spam filter does).
            let named = Self.enhancedCode(in: reason)
            return disposition == .permanent ? .permanentFailure(text, enhancedCode: named.flatMap { $0.hasPrefix("5.") ? $0 : nil } ?? "5.3.0")
                                             : .temporaryFailure(text, enhancedCode: named.flatMap { $0.hasPrefix("4.") ? $0 : nil } ?? "4.3.0")
        }
    }

    /// "… (#5.7.1)" → "5.7.1".
    static func enhancedCode(in text: String) -> String? {
        guard let open = text.firstRange(of: "(#") else { return nil }
        let rest = text[open.upperBound...]
        guard let close = rest.firstIndex(of: ")") else { return nil }
        let code = String(rest[..<close])
        let parts = code.split(separator: ".")
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) }) else { return nil }
        return code
    }

    func abandonTransfer() {
        guard let current = transfer else { return }
        transfer = nil
        current.pipeline.abandon()
    }

    /// RFC 3207: the 220 is out; anything the client sent after STARTTLS in plaintext is
    /// discarded (the engine dropped what it had; what is still in the kernel's buffer is not
    /// TLS and fails the handshake), then the session starts over.
    func startTLS() -> [SMTPEvent] {
        guard let tlsContext else { return engine.endOfInput() }
        do {
            let tls = try TLSConnection(server: tlsContext, over: plain)
            try tls.handshake()
            stream = tls
            return engine.tlsEstablished(SMTPTLSInfo(version: tls.protocolVersion, cipher: tls.cipherName))
        } catch {
            log.info("TLS handshake failed: \(error)")
            finished = true
            return engine.endOfInput()
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import IMAPProtocol
import MailCore
import MailMessage
import MailQueueClient
import MailSystem
import Maildir
import Sieve

/// Sieve filtering of a delivery to the default mailbox (postamt-sieve(5)): the administrator's
/// `sieve_before` scripts, the user's active script and `sieve_after`, run as the user after
/// postamt-spamcheck tagged the message. A script that does not compile or fails at run time
/// never loses mail: the message goes to INBOX, the error is logged and reported once to the
/// user (a message in INBOX, as Pigeonhole does).
extension LocalDelivery {
    /// The hook `execute` calls for the default mailbox: nil when no script applies (deliver as
    /// usual), else what filtering did, or the failure that ends the delivery.
    func deliverThroughSieve(user: SystemUser, inbox: String) -> Result<String, DeliveryOutcome>? {
        guard configuration.bool("sieve"), inbox.hasSuffix("/") else { return nil }
        let paths = SievePaths(configuration: configuration, home: user.home)
        var scripts: [SieveScript] = []
        var errors: [String] = []
        for (path, personal) in paths.scriptsToRun() {
            switch SieveLoader.compile(path: path, configuration: configuration, cache: true) {
            case .none: continue
            case .some(.success(let script)): scripts.append(script)
            case .some(.failure(let error)):
                errors.append("\(path): \(error)")
                if personal { reportScriptError(path: path, text: "\(error)", inbox: inbox) }
            }
        }
        for e in errors { log.error("sieve: \(e); the message goes to INBOX", id: request.queueID) }
        if !errors.isEmpty { return deliverKeep(inbox, flags: []) }
        if scripts.isEmpty { return nil }
        let sieveMessage = SieveMessage(bytes: message, envelopeFrom: request.sender, envelopeTo: recipientAddress)
        let database = SieveDuplicateDatabase(path: paths.expand(configuration.string("sieve_duplicate_database")))
        let result: SieveResult
        do {
            result = try SieveInterpreter.run(scripts: scripts, message: sieveMessage, environment: sieveEnvironment(user: user, inbox: inbox, paths: paths, database: database))
        } catch {
            log.error("sieve: run-time error: \(error); the message goes to INBOX", id: request.queueID)
            if let active = paths.activeScript { reportScriptError(path: active, text: "run-time error: \(error)", inbox: inbox) }
            return deliverKeep(inbox, flags: [])
        }
        for note in result.notes { log.info("sieve: \(note)", id: request.queueID) }
        let outcome = carryOut(result, inbox: inbox, database: database)
        if case .success = outcome {
            do { try database.record(result.duplicateMarks.map { ($0.id, Int64($0.seconds)) }, now: Clock.seconds()) } catch {
                log.warning("sieve: duplicate: the database \(database.path): \(error)", id: request.queueID)
            }
        }
        return outcome
    }

    func sieveEnvironment(user: SystemUser, inbox: String, paths: SievePaths, database: SieveDuplicateDatabase) -> SieveEnvironment {
        var env = SieveLoader.environment(configuration, personalDirectory: paths.directory, now: Clock.seconds(), cache: true)
        var t = time_t(env.now)
        var tmv = tm()
        localtime_r(&t, &tmv)
        env.localZone = Int(tmv.tm_gmtoff)
        env.userAddresses = ["\(user.name)@\(hostname)"]
        let root = Maildir(path: String(inbox.dropLast()))
        env.mailboxExists = { name in
            guard let folder = SieveFolders.diskName(name) else { return false }
            return folder.isEmpty || MaildirFolders(root: root).exists(folder)
        }
        let now = env.now
        env.isDuplicate = { database.contains($0, now: now) }
        return env
    }

    /// The actions in order; the first failure ends the delivery (as a .postamt line does).
    func carryOut(_ result: SieveResult, inbox: String, database: SieveDuplicateDatabase) -> Result<String, DeliveryOutcome> {
        var done: [String] = []
        let body = result.message.rendered()
        var redirects: [String] = []
        for action in result.actions {
            switch action {
            case .keep(let flags):
                switch deliverKeep(inbox, flags: flags, body: body) {
                case .failure(let f): return .failure(f)
                case .success(let text): done.append(text)
                }
            case .fileinto(let mailbox, let flags, let create):
                guard let folder = SieveFolders.diskName(mailbox), !folder.isEmpty else {
                    if SieveFolders.diskName(mailbox) == "" {
                        switch deliverKeep(inbox, flags: flags, body: body) {
                        case .failure(let f): return .failure(f)
                        case .success(let text): done.append(text)
                        }
                    } else {
                        log.warning("sieve: fileinto \"\(mailbox)\": not a folder name; into INBOX", id: request.queueID)
                        if case .failure(let f) = deliverKeep(inbox, flags: flags, body: body) { return .failure(f) }
                        done.append("maildir \(inbox) (bad folder \(mailbox))")
                    }
                    continue
                }
                let folders = MaildirFolders(root: Maildir(path: String(inbox.dropLast())))
                if !folders.exists(folder) {
                    if create || configuration.bool("sieve_fileinto_create") {
                        do { _ = try folders.specialFolder(folder) } catch {
                            return .failure(.temporary("2.0", "cannot create the folder \(folder): \(error)"))
                        }
                    } else {
                        log.warning("sieve: fileinto \"\(mailbox)\": no such folder; into INBOX", id: request.queueID)
                        if case .failure(let f) = deliverKeep(inbox, flags: flags, body: body) { return .failure(f) }
                        done.append("maildir \(inbox) (no folder \(mailbox))")
                        continue
                    }
                }
                let path = "\(inbox).\(folder)/"
                if let f = deliverWithFlags(path, flags: flags, body: body) { return .failure(f) }
                done.append("maildir \(path)")
            case .redirect(let address):
                redirects.append(address)
            case .reject(let reason, _):
                let text = SieveFolders.oneLine(reason, limit: 400)
                if request.sender.isEmpty {
                    // A refusal would go nowhere (RFC 5429 §2.1.1): the message is dropped, as Pigeonhole does.
                    log.info("sieve: reject of a message with a null sender: discarded", id: request.queueID)
                    done.append("rejected (null sender: discarded)")
                    continue
                }
                return .failure(.permanent("7.1", "rejected by the recipient's Sieve filter: \(text)"))
            case .vacation(let reply):
                if let note = sendVacation(reply, database: database) { done.append(note) }
            }
        }
        if !redirects.isEmpty {
            if let failure = forward(to: redirects, message: body) { return .failure(failure) }
            done.append("redirected to \(redirects.joined(separator: ", "))")
        }
        return .success(done.isEmpty ? "discarded by Sieve" : done.joined(separator: "; "))
    }

    /// Into the default mailbox: the Junk folder for tagged mail, as without a script.
    func deliverKeep(_ inbox: String, flags: [String], body: [UInt8]? = nil) -> Result<String, DeliveryOutcome> {
        let (path, junk) = defaultMailboxTarget(inbox)
        if junk, let failure = createJunkFolder(inbox, path) { return .failure(failure) }
        if let f = deliverWithFlags(path, flags: flags, body: body ?? message) { return .failure(f) }
        return .success("maildir \(path)")
    }

    /// Maildir delivery with IMAP flags (RFC 5232): into new/, then renamed to cur/ with the
    /// flag letters. System flags always; keywords only those the folder's keyword table knows.
    func deliverWithFlags(_ path: String, flags: [String], body: [UInt8]) -> DeliveryOutcome? {
        let parts: [ArraySlice<UInt8>] = [deliveryHeaders[...], body[...]]
        let maildir = Maildir(path: path)
        let name: String
        do {
            name = try maildir.deliver(parts)
        } catch let e as SystemError where e.isOutOfSpace {
            return .temporary("2.2", "maildir \(path): disk full or over quota")
        } catch {
            return .temporary("2.0", "maildir delivery to \(path) failed: \(error)")
        }
        let letters = SieveFolders.flagLetters(flags, folderPath: maildir.path)
        guard !letters.isEmpty else { return nil }
        // Delivered already: a failed rename only loses the flags, never the message.
        if rename("\(maildir.path)/new/\(name)", "\(maildir.path)/cur/\(name):2,\(letters)") != 0 {
            log.warning("sieve: cannot set flags on \(name): \(SystemError("rename"))", id: request.queueID)
        } else {
            try? FileIO.fsyncDirectory("\(maildir.path)/cur")
        }
        return nil
    }

    /// RFC 5230 §5 / RFC 3834 §3: a reply from the user to the sender, null envelope sender,
    /// Auto-Submitted: auto-replied; at most one per sender and period.
    func sendVacation(_ reply: SieveVacationReply, database: SieveDuplicateDatabase) -> String? {
        let minimum = configuration.duration("sieve_vacation_min_period"), maximum = configuration.duration("sieve_vacation_max_period")
        let period = min(max(Int64(reply.period ?? Int(configuration.duration("sieve_vacation_default_period"))), minimum), maximum)
        let key = "vacation\u{0}\(reply.to.lowercasedASCII())\u{0}\(reply.handle)"
        let now = Clock.seconds()
        do {
            guard try database.claim(key, period: period, now: now) else {
                log.info("sieve: vacation: <\(reply.to)> had a reply within the period", id: request.queueID)
                return nil
            }
        } catch {
            // Without the record a reply could repeat for every message: send none.
            log.warning("sieve: vacation: the reply database \(database.path): \(error); no reply", id: request.queueID)
            return nil
        }
        let from = reply.from ?? recipientAddress
        var text = "From: \(from)\nTo: <\(reply.to)>\nSubject: \(EncodedWord.encode(reply.subject))\n"
        text += "Date: \(Clock.rfc5322Date(now))\nMessage-ID: <\(MaildirName.unique()).sieve@\(hostname)>\n"
        if let r = reply.inReplyTo { text += "In-Reply-To: \(r)\n" }
        if let r = reply.references { text += "References: \(r)\n" }
        text += "Auto-Submitted: auto-replied (vacation)\nPrecedence: bulk\nMIME-Version: 1.0\n"
        if reply.mime {
            text += reply.reason.replacingAll("\r\n", with: "\n")
        } else {
            text += "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            text += reply.reason.replacingAll("\r\n", with: "\n")
            if !text.hasSuffix("\n") { text += "\n" }
        }
        do {
            let rcpt = try EnvelopeAddress(reply.to, lengthLimit: 4096)
            let outcome = QueueClient.inject(program: configuration.program("postamt-queue"), message: Array(text.utf8),
                                             envelope: Envelope(sender: try EnvelopeAddress("", allowEmpty: true, lengthLimit: 16), recipients: [rcpt]),
                                             environment: QueueClient.environment(configuration: configuration))
            if case .failure(let why) = outcome {
                log.warning("sieve: vacation reply to <\(reply.to)> not queued: \(why)", id: request.queueID)
                return nil
            }
        } catch {
            log.warning("sieve: vacation reply to <\(reply.to)>: \(error)", id: request.queueID)
            return nil
        }
        return "vacation reply to <\(reply.to)>"
    }

    /// A script error, told to its owner once per version of the script (Pigeonhole's way: a
    /// message in INBOX), so a broken filter does not go unnoticed.
    func reportScriptError(path: String, text: String, inbox: String) {
        let marker = "\(path).postamt-error"
        let stamp = "\(FileIO.status(path).map { Int64($0.st_mtim.tv_sec) } ?? 0) \(text)"
        if let old = try? FileIO.readFile(marker, limit: 1 << 16), String(decoding: old, as: UTF8.self) == stamp { return }
        let report = """
        From: Mail Delivery System <MAILER-DAEMON@\(hostname)>
        To: <\(recipientAddress)>
        Subject: Sieve script error: your mail filter was not used
        Date: \(Clock.rfc5322Date())
        Auto-Submitted: auto-generated
        MIME-Version: 1.0
        Content-Type: text/plain; charset=utf-8

        Your Sieve script \(path) could not be used:

            \(text)

        Until it is fixed, your mail is delivered to your INBOX unfiltered.
        Check a script with: postamt sieve check FILE

        """
        do {
            try Maildir(path: inbox).deliver([ArraySlice(Array(report.utf8))])
            try FileIO.writeAtomically(marker, Array(stamp.utf8), mode: 0o600)
        } catch {
            log.warning("sieve: cannot report the script error to the user: \(error)", id: request.queueID)
        }
    }
}

/// Where a user's scripts are (Pigeonhole's places by default).
struct SievePaths {
    let configuration: Configuration
    let home: String

    init(configuration: Configuration, home: String) {
        self.configuration = configuration
        self.home = home
    }

    func expand(_ path: String) -> String {
        if path == "~" { return home }
        if path.hasPrefix("~/") { return home + path.dropFirst(1) }
        return path
    }

    var directory: String { expand(configuration.string("sieve_directory")) }
    var activeScript: String? {
        let p = expand(configuration.string("sieve_script"))
        return FileIO.exists(p) ? p : nil
    }

    /// sieve_before, the user's active script, sieve_after; `true` marks the user's.
    func scriptsToRun() -> [(String, Bool)] {
        var out = configuration.list("sieve_before").map { ($0, false) }
        if let a = activeScript { out.append((a, true)) }
        out += configuration.list("sieve_after").map { ($0, false) }
        return out
    }
}

/// Mailbox names of scripts to Maildir++ folders; IMAP flags to Maildir letters.
enum SieveFolders {
    /// "INBOX" → "" (the root); "INBOX.Lists.Work", "Lists/Work" → "Lists.Work" in modified
    /// UTF-7 as the IMAP server stores it; nil for a name that is not a folder.
    static func diskName(_ mailbox: String) -> String? {
        var name = mailbox.replacingAll("/", with: ".")
        if name.lowercasedASCII() == "inbox" { return "" }
        if name.lowercasedASCII().hasPrefix("inbox.") { name = String(name.dropFirst(6)) }
        let encoded = String(decoding: ModifiedUTF7.encode(name), as: UTF8.self)
        guard (try? MaildirFolders.validate(encoded)) != nil else { return nil }
        return encoded
    }

    static func flagLetters(_ flags: [String], folderPath: String) -> String {
        var set: MaildirFlags = []
        var keywords: [String] = []
        for f in flags {
            switch f.lowercasedASCII() {
            case "\\seen": set.insert(.seen)
            case "\\flagged": set.insert(.flagged)
            case "\\answered": set.insert(.replied)
            case "\\deleted": set.insert(.trashed)
            case "\\draft": set.insert(.draft)
            default: if !f.hasPrefix("\\") { keywords.append(f) }
            }
        }
        if !keywords.isEmpty, var table = try? MaildirKeywords.load(folderPath: folderPath),
           let (letters, _) = try? table.letters(for: keywords.filter(MaildirKeywords.isValid), create: false) {
            set.formUnion(letters)
        }
        return set.letters
    }

    static func oneLine(_ s: String, limit: Int) -> String {
        var out = ""
        for c in s.unicodeScalars {
            if out.unicodeScalars.count >= limit { break }
            if c.value < 0x20 || c.value == 0x7F { if !out.hasSuffix(" ") { out += " " } } else { out.unicodeScalars.append(c) }
        }
        return out.trimmingCharactersSpace()
    }
}

extension String {
    func trimmingCharactersSpace() -> String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

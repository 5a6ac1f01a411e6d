// sendmail (and mailq): the sendmail(1)-compatible injector.
#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailQueueClient
import MailSystem

let log = Log(program: "sendmail")
Signals.resetForProgramStart()

func fail(_ code: SysExit, _ text: String) -> Never {
    log.error(text)
    exit(code.rawValue)
}

/// A failure whose exit code comes from its status (MailStatus.sysExit).
func fail(_ status: MailStatus) -> Never {
    fail(status.sysExit, status.line)
}

let invokedAs = FileIO.baseName(CommandLine.arguments.first ?? "sendmail")
let options: SendmailOptions
do {
    options = try SendmailOptions.parse(Array(CommandLine.arguments.dropFirst()), invokedAs: invokedAs)
} catch {
    fail(.usage, "\(error)")
}
for w in options.warnings { log.warning(w) }

let configuration: Configuration
do {
    configuration = try Configuration.load()
} catch {
    fail(.configuration, "cannot read the configuration: \(error)")
}
let layout = QueueLayout(configuration: configuration)

switch options.mode {
case .listQueue:
    do {
        print(try QueueAdmin(layout: layout).mailqText(), terminator: "")
        exit(0)
    } catch {
        fail(.noPermission, "\(error)")
    }
case .flushQueue:
    exit(QueueAdmin(layout: layout).flush() ? 0 : SysExit.unavailable.rawValue)
case .smtpSession:
    fail(.usage, "-bs (SMTP on standard input) is not supported yet; use postamt-smtpd")
case .deliver:
    break
}

let hostname = configuration.hostname
let me = SystemUser.withID(getuid())
func qualify(_ address: String) -> String { address.contains("@") ? address : "\(address)@\(hostname)" }

var senderText = options.sender ?? (me?.name ?? "nobody")
if senderText == "<>" { senderText = "" }
let senderAddress = senderText.isEmpty ? "" : qualify(senderText)
let fullName = options.fullName ?? (getenv("NAME").map { String(cString: $0) })

// -f by a user who is not root or the mail_owner may name only that user's own addresses
// (postamt-senders(5)): refused, or kept with sendmail's X-Authentication-Warning:
// (sendmail_sender_check). The null sender names nobody and is let through.
var authenticationWarning: String? = nil
if options.sender != nil, !senderAddress.isEmpty, getuid() != 0,
   SystemUser.named(configuration.string("mail_owner"))?.uid != getuid() {
    let mode = configuration.string("sendmail_sender_check")
    if mode != "no" {
        let name = me?.name ?? "uid \(getuid())"
        let ownership = AddressBook(configuration: configuration).resolver.ownership(of: senderAddress, by: name)
        if !ownership.owned {
            if mode == "warn" {
                log.warning("\(name) set sender to <\(senderAddress)> using -f, which \(name) does not own: \(ownership.reason)")
                authenticationWarning = "X-Authentication-Warning: \(hostname): \(name) set sender to \(senderAddress) using -f\n"
            } else {
                fail(.permanent("7.1", "\(name) may not send as <\(senderAddress)>: \(ownership.reason)"))
            }
        }
    }
}

let input: [UInt8]
do {
    input = try FileIO.readAll(0, limit: Int(configuration.size("message_size_limit")))
} catch let e as SystemError where e.errno == EFBIG {
    fail(.dataError, "message is larger than message_size_limit (\(configuration.size("message_size_limit")) bytes)")
} catch {
    fail(.ioError, "cannot read the message: \(error)")
}

let prepared: SendmailMessage
do {
    prepared = try SendmailMessage.prepare(input: input, options: options, hostname: hostname,
                                       senderAddress: senderAddress.isEmpty ? "MAILER-DAEMON@\(hostname)" : senderAddress,
                                       fullName: fullName, queueHint: String(getpid()),
                                       headerLimit: Int(configuration.size("header_size_limit")))
} catch {
    fail(.dataError, "\(error)")
}
var recipients: [String] = options.recipients.map(qualify)
for r in prepared.headerRecipients.map(qualify) where !recipients.contains(r) { recipients.append(r) }
if recipients.isEmpty {
    fail(.usage, options.extractRecipients ? "no recipient addresses found in the message header" : "no recipients given")
}

let envelope: Envelope
do {
    envelope = Envelope(sender: try EnvelopeAddress(senderAddress, allowEmpty: true, lengthLimit: configuration.count("address_length_limit")),
                        recipients: try recipients.map { try EnvelopeAddress($0, lengthLimit: configuration.count("address_length_limit")) })
} catch {
    fail(.dataError, "bad address: \(error)")
}

let message = authenticationWarning.map { Array($0.utf8) + prepared.bytes } ?? prepared.bytes
// -O RequireTLS rides in the DSN side channel as smtpd passes MAIL … REQUIRETLS (postamt-queue(8)).
let queueEnvironment = QueueClient.inheritedEnvironment() + (options.requireTLS ? ["POSTAMT_DSN=REQUIRETLS"] : [])
switch QueueClient.inject(program: configuration.program("postamt-queue"), message: message, envelope: envelope,
                          environment: queueEnvironment) {
case .success(let id):
    // Quiet on success like sendmail; the id goes to the log for `grep ID`.
    if getenv("POSTAMT_SENDMAIL_VERBOSE") != nil { log.info("queued as \(id)") }
    exit(0)
case .failure(let why):
    // sendmail(1)'s documented split: 65 permanent, 75 temporary, from the class alone.
    fail(why.disposition == .permanent ? .dataError : .tempFail, "message not queued: \(why)")
}

// postamt-local: delivers one message to one local recipient (postamt-local(8)).
#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailDelivery
import MailSystem

let log = Log(program: "postamt-local")
Signals.resetForProgramStart()
umask(0o077)

func usage() -> Never {
    log.error("usage: postamt-local [-n] [-f sender] [-a address] [-e extension] [-D target] [-q id] [--root dir] user")
    exit(SysExit.usage.rawValue)
}

var request = DeliveryRequest(user: "")
var rootArgument: String? = nil
var args = Array(CommandLine.arguments.dropFirst())
while let a = args.first, a.hasPrefix("-") {
    args.removeFirst()
    if a == "--" { break }
    func value() -> String {
        guard let v = args.first else { usage() }
        args.removeFirst()
        return v
    }
    switch a {
    case "-n": request.skipAliases = true
    case "-f": request.sender = value()
    case "-a": request.address = value()
    case "-e": let e = value(); request.extensionPart = e.isEmpty ? nil : e
    case "-D": request.target = value()
    case "-q": request.queueID = value()
    case "--root": rootArgument = value()
    default: usage()
    }
}
guard args.count == 1, !args[0].isEmpty else { usage() }
request.user = args[0]
if request.sender == "<>" { request.sender = "" }

let configuration: Configuration
do {
    configuration = try Configuration.load(root: Configuration.installationRoot(argument: rootArgument))
} catch {
    log.error("cannot read the configuration: \(error)")
    exit(SysExit.configuration.rawValue)
}

let message: [UInt8]
do {
    message = try FileIO.readAll(0, limit: Int(configuration.size("message_size_limit")) + (1 << 20))
} catch let e as SystemError where e.errno == EFBIG {
    // It will never fit: a permanent failure, not a retry for ever.
    log.error("message is larger than message_size_limit (#5.3.4)")
    exit(SysExit.dataError.rawValue)
} catch {
    log.error("cannot read the message: \(error) (#4.3.0)")
    exit(SysExit.tempFail.rawValue)
}

let outcome = LocalDelivery(configuration: configuration, request: request, message: message, log: log).deliver()
// One line on stderr: the runner takes it as the result text.
log.info(outcome.text, id: request.queueID)
exit(outcome.exit.rawValue)

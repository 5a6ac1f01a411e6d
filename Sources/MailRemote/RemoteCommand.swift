#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailNet
import MailQueueStore
import MailSystem

/// `postamt-remote HOST SENDER RCPT…`, the message on fd 0, reports on fd 1. Exits 0 whenever
/// it wrote a report (qmail-remote's rule); 100 only for a usage error before any report.
public enum RemoteCommand {
    public static func main(arguments: [String]) -> Int32 {
        let log = Log(program: "postamt-remote")
        Signals.resetForProgramStart()
        ignoreBrokenPipeSignal()
        guard arguments.count >= 3 else {
            log.error("usage: postamt-remote HOST SENDER RCPT...")
            return 100
        }
        let queueID = getenv("POSTAMT_QUEUE_ID").map { String(cString: $0) }
        func finish(_ report: RemoteReport) -> Int32 {
            try? FileIO.writeAll(1, report.bytes)
            return 0
        }
        if Privileges.isRoot {
            return finish(RemoteReport(message: (.temporary, "postamt-remote refuses to run as root (#4.3.0)")))
        }
        let configuration: Configuration
        do {
            configuration = try Configuration.load()
        } catch {
            return finish(RemoteReport(message: (.temporary, "cannot read the configuration: \(error) (#4.3.5)")))
        }
        let message: [UInt8]
        do {
            message = try FileIO.readAll(0, limit: Int(max(1 << 20, configuration.size("message_size_limit") * 2)))
        } catch {
            return finish(RemoteReport(message: (.temporary, "cannot read the message: \(error) (#4.3.0)")))
        }
        // Addresses go into MAIL FROM:<…> and RCPT TO:<…> as they are: nothing that could end
        // the command or the brackets early (the queue never stores such addresses anyway).
        for address in arguments[1...] where address.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") }) {
            return finish(RemoteReport(message: (.permanent, "invalid envelope address \(address.debugDescription) (#5.1.3)")))
        }
        // DSN parameters from the runner (RFC 3461), in postamt-smtpd's POSTAMT_DSN format.
        var dsn: DSNParameters? = nil
        let transaction = getenv("POSTAMT_DSN").map { String(cString: $0) }
        let recipientLines = getenv("POSTAMT_DSN_RCPT").map { String(cString: $0) }
        if transaction != nil || recipientLines != nil {
            do {
                dsn = try DSNParameters.parse(transaction: transaction ?? "", recipientLines: recipientLines, count: arguments.count - 2)
            } catch {
                return finish(RemoteReport(message: (.temporary, "invalid DSN parameters from the runner: \(error) (#4.3.0)")))
            }
        }
        let delivery = RemoteDelivery(configuration: configuration, log: log, queueID: queueID, destination: arguments[0],
                                      sender: arguments[1], recipients: Array(arguments[2...]), message: message,
                                      submitter: getenv("POSTAMT_SUBMITTER").map { String(cString: $0) }, dsn: dsn)
        return finish(delivery.run())
    }
}

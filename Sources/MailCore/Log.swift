#if canImport(Glibc)
import Glibc
#endif

/// One line per event on stderr, journald's way, in Postfix's tag form:
/// `postamt/smtpd[pid]: ID: text`. Every line about a message carries its queue id so `grep ID`
/// follows it from injection to mailbox, and log tools made for Postfix (pflogsumm with
/// `--syslog-name=postamt`, fail2ban) read the lines as they read Postfix's.
/// Never pass a password, an AUTH string or message body bytes here.
public struct Log: Sendable {
    public let program: String
    /// `postamt/smtpd` for the program postamt-smtpd, `postamt/sendmail` for sendmail.
    public let tag: String
    public init(program: String) {
        self.program = program
        tag = Log.tag(of: program)
    }

    /// A log whose lines play a Postfix service's part inside another program, tagged
    /// `postamt/SERVICE`: the runner's `pickup` lines for mail submitted on this host, which
    /// pflogsumm counts as received only under that name.
    public init(program: String, service: String) {
        self.program = program
        tag = "postamt/" + service
    }

    /// The syslog tag of a program: Postfix's `service/program` form.
    public static func tag(of program: String) -> String {
        program.hasPrefix("postamt-") ? "postamt/" + program.dropFirst(8) : "postamt/" + program
    }

    public func info(_ text: String, id: String? = nil) { emit(id.map { "\($0): \(text)" } ?? text) }
    public func warning(_ text: String, id: String? = nil) { emit((id.map { "\($0): " } ?? "") + "warning: " + text) }
    public func error(_ text: String, id: String? = nil) { emit((id.map { "\($0): " } ?? "") + "error: " + text) }

    private func emit(_ text: String) {
        var line = "\(tag)[\(getpid())]: "
        // A log line is one line: control characters from peers are shown escaped.
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                line += "\\x" + String(scalar.value, radix: 16)
            } else {
                line.unicodeScalars.append(scalar)
            }
        }
        line += "\n"
        // One write(2) per line: lines from concurrent processes do not interleave.
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}

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
        let line = Log.line(tag: tag, pid: getpid(), text)
        // One write(2) per line: lines from concurrent processes do not interleave.
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// `tag[pid]: text` and a newline. A log line is one line: control characters from peers
    /// are shown escaped (`\x1b`). Bytes, not scalars: in UTF-8 no byte of a multi-byte
    /// character is below 0x80 (a loop appending scalars was a seventh of the runner's CPU time).
    static func line(tag: String, pid: pid_t, _ text: String) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(tag.utf8.count + text.utf8.count + 16)
        line += tag.utf8
        line += "[\(pid)]: ".utf8
        for byte in text.utf8 {
            if byte < 0x20 || byte == 0x7F {
                line += "\\x".utf8
                line += String(byte, radix: 16).utf8
            } else {
                line.append(byte)
            }
        }
        line.append(UInt8(ascii: "\n"))
        return line
    }
}

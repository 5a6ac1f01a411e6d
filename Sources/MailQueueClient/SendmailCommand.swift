#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailMessage
import MailSystem

/// sendmail(1)'s command line, as cron, mailutils, s-nail, mutt and unattended-upgrades use it.
public struct SendmailOptions: Equatable {
    public enum Mode: Equatable { case deliver, listQueue, flushQueue, smtpSession }
    public var mode: Mode = .deliver
    public var extractRecipients = false      // -t
    public var ignoreDots = false             // -i, -oi
    public var sender: String? = nil          // -f, -r
    public var fullName: String? = nil        // -F
    /// -O RequireTLS: the message goes on only over verified TLS to next hops that offer
    /// REQUIRETLS (RFC 8689 §4.2.1), else it bounces; postamt-queue takes it from any user.
    public var requireTLS = false             // -O RequireTLS[=yes|no]
    public var recipients: [String] = []
    public var warnings: [String] = []

    public struct UsageError: Error, Equatable, CustomStringConvertible {
        public let text: String
        public var description: String { text }
    }

    static func apply(_ flag: Character, value: String, to o: inout SendmailOptions) throws(UsageError) {
        switch flag {
        case "f", "r": o.sender = stripAngles(value)
        case "F": o.fullName = value
        case "o":
            if value == "i" { o.ignoreDots = true }
            else if value.hasPrefix("e") || value.hasPrefix("d") || value.hasPrefix("m") { /* error/delivery modes: the exit status says all */ }
            else { o.warnings.append("ignoring option -o\(value)") }
        case "O":
            // sendmail's long options (-O name=value). Postamt knows one: RequireTLS.
            let parts = value.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces() }
            guard parts[0].lowercased() == "requiretls" else { o.warnings.append("ignoring option -O \(value)"); break }
            switch parts.count == 1 ? "yes" : parts[1].lowercased() {
            case "yes", "true", "1": o.requireTLS = true
            case "no", "false", "0": o.requireTLS = false
            default: throw UsageError(text: "-O RequireTLS takes yes or no, not \(parts[1])")
            }
        case "b":
            switch value {
            case "p": o.mode = .listQueue
            case "s": o.mode = .smtpSession
            case "m": o.mode = .deliver
            case "v": throw UsageError(text: "-bv (address verification) is not supported")
            default: throw UsageError(text: "unsupported mode -b\(value)")
            }
        default: break // -B, -N, -R, -V, -L, -X, -p, -h, -C: accepted, no effect
        }
    }

    /// Parses argv (without argv[0]). `invokedAs` "mailq" means -bp.
    public static func parse(_ argv: [String], invokedAs name: String = "sendmail") throws(UsageError) -> SendmailOptions {
        var o = SendmailOptions()
        if name == "mailq" { o.mode = .listQueue }
        var i = 0
        func value(_ flag: String, _ attached: Substring) throws(UsageError) -> String {
            if !attached.isEmpty { return String(attached) }
            i += 1
            guard i < argv.count else { throw UsageError(text: "option \(flag) needs a value") }
            return argv[i]
        }
        // getopt style: boolean letters may be clustered (-ti), and a letter that takes a value
        // takes the rest of its word or the next argument (-tf addr, -faddr).
        let valueLetters: Set<Character> = ["f", "r", "F", "B", "N", "R", "V", "L", "X", "p", "h", "C", "o", "b", "O"]
        while i < argv.count {
            let a = argv[i]
            if a == "--" { i += 1; break }
            guard a.hasPrefix("-"), a.count > 1 else { break }
            var letters = Substring(a.dropFirst())
            while let flag = letters.first {
                letters = letters.dropFirst()
                if valueLetters.contains(flag) {
                    let v = try value("-\(flag)", letters)
                    try apply(flag, value: v, to: &o)
                    break
                }
                switch flag {
                case "t": o.extractRecipients = true
                case "i": o.ignoreDots = true
                case "q": o.mode = .flushQueue; letters = "" // -q, -q30m: flush now
                case "U", "v", "m", "n", "G", "A", "s": break
                default: throw UsageError(text: "unknown option -\(flag)")
                }
            }
            i += 1
        }
        // sendmail splits recipient arguments at commas too.
        for r in argv[min(i, argv.count)...] {
            for part in r.split(separator: ",") {
                let t = stripAngles(part.trimmingSpaces())
                if !t.isEmpty { o.recipients.append(t) }
            }
        }
        return o
    }
}

public struct HeaderTooLarge: Error, CustomStringConvertible {
    public let limit: Int
    public var description: String { "the message header is larger than header_size_limit (\(limit) bytes)" }
}

/// `<a@b>` → `a@b`, as sendmail accepts both.
func stripAngles(_ s: String) -> String {
    s.hasPrefix("<") && s.hasSuffix(">") && s.count >= 2 ? String(s.dropFirst().dropLast()) : s
}

/// Prepares a message the way qmail-inject and Postfix's sendmail/cleanup do: adds Date:,
/// Message-ID: and From: when missing, removes Bcc:, never touches the body.
public struct SendmailMessage {
    public let bytes: [UInt8]
    public let headerRecipients: [String]

    public static func prepare(input: [UInt8], options: SendmailOptions, hostname: String, senderAddress: String,
                               fullName: String?, queueHint: String, now: Int64 = Clock.seconds(),
                               headerLimit: Int = 1 << 20) throws(HeaderTooLarge) -> SendmailMessage {
        var data = input
        if !options.ignoreDots { data = truncateAtDotLine(data) }
        let headers = HeaderSection.parse(data, limit: headerLimit)
        // A header section that does not end within the limit is refused whole: cutting it
        // would pass on a Bcc: beyond the cut.
        if data.count > headerLimit {
            // The parse stopped at the limit inside the header: at the end of its input, or at a
            // line cut short by the limit (which looks like a body line).
            let cutLine = headers.missingSeparator && !data[headers.bodyStart..<headerLimit].contains(0x0A)
            if headers.endedAtEOF || cutLine { throw HeaderTooLarge(limit: headerLimit) }
        }
        var headerRecipients: [String] = []
        if options.extractRecipients {
            // With Resent- fields, the resent recipients are the ones (RFC 5322 §3.6.6).
            let resent = headers.fields.contains { $0.isNamed("Resent-To") || $0.isNamed("Resent-Cc") || $0.isNamed("Resent-Bcc") }
            let names = resent ? ["Resent-To", "Resent-Cc", "Resent-Bcc"] : ["To", "Cc", "Bcc"]
            for f in headers.fields where names.contains(where: { f.isNamed($0) }) {
                headerRecipients += AddressList.addresses(in: f.value)
            }
        }
        var added = ""
        if !headers.has("From") {
            if let name = fullName, !name.isEmpty {
                added += "From: \(quotedDisplayName(name)) <\(senderAddress)>\n"
            } else {
                added += "From: \(senderAddress)\n"
            }
        }
        if !headers.has("Date") { added += "Date: \(Clock.rfc5322Date(now))\n" }
        if !headers.has("Message-ID") {
            added += "Message-ID: <\(now).\(queueHint).\(UInt32.random(in: 0...UInt32.max))@\(hostname)>\n"
        }
        var out: [UInt8] = []
        out.reserveCapacity(data.count + added.utf8.count + 2)
        // Existing header fields first, without Bcc: (RFC 5322 §3.6.3: its contents are not sent on).
        var position = 0
        for f in headers.fields {
            out += data[position..<f.range.lowerBound]
            if !f.isNamed("Bcc") && !f.isNamed("Resent-Bcc") { out += data[f.range] }
            position = f.range.upperBound
        }
        let headerEnd = position
        out += Array(added.utf8)
        if headers.missingSeparator || (headers.fields.isEmpty && headers.bodyStart == 0 && !data.isEmpty) {
            // The input had no empty line after its header fields: add one, as cleanup does.
            if out.last != 0x0A && !out.isEmpty { out.append(0x0A) }
            out.append(0x0A)
            out += data[headerEnd...]
        } else if headers.endedAtEOF {
            out += data[headerEnd...]
            if out.last != 0x0A { out.append(0x0A) }
            out.append(0x0A)
        } else {
            out += data[headerEnd...]
        }
        return SendmailMessage(bytes: out, headerRecipients: headerRecipients)
    }

    static func quotedDisplayName(_ name: String) -> String {
        let specials: Set<Character> = ["(", ")", "<", ">", "[", "]", ":", ";", "@", "\\", ",", ".", "\""]
        if name.contains(where: { specials.contains($0) }) {
            var q = "\""
            for c in name { if c == "\"" || c == "\\" { q.append("\\") }; q.append(c) }
            return q + "\""
        }
        return name
    }

    /// Without -i, a line holding only "." ends the message (sendmail's old convention).
    static func truncateAtDotLine(_ data: [UInt8]) -> [UInt8] {
        var lineStart = 0
        var i = 0
        while i < data.count {
            if data[i] == 0x0A {
                let line = data[lineStart..<i]
                if line.count == 1 && line.first == UInt8(ascii: ".") || (line.count == 2 && line.first == UInt8(ascii: ".") && line.last == 0x0D) {
                    return Array(data[0..<lineStart])
                }
                lineStart = i + 1
            }
            i += 1
        }
        if data.count - lineStart == 1 && data.last == UInt8(ascii: ".") { return Array(data[0..<lineStart]) }
        return data
    }
}

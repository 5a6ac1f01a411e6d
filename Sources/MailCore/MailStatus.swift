/// An RFC 3463 enhanced status code, `class.subject.detail`. The class is the outcome:
/// 2 success, 4 persistent transient failure, 5 permanent failure (RFC 3463 §3.1).
public struct EnhancedStatusCode: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let disposition: Disposition
    public let subject: Int
    public let detail: Int

    public init(_ disposition: Disposition, _ subject: Int, _ detail: Int) {
        self.disposition = disposition
        self.subject = subject
        self.detail = detail
    }

    /// "4.3.0" (RFC 3463 §2: class "." subject "." detail, subject and detail 1–3 digits).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ (1...3).contains($0.count) && $0.allSatisfy(\.isASCIIDigit) }),
              let s = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        switch parts[0] {
        case "2": disposition = .success
        case "4": disposition = .temporary
        case "5": disposition = .permanent
        default: return nil
        }
        subject = s
        detail = d
    }

    public var classDigit: Int {
        switch disposition {
        case .success: return 2
        case .temporary: return 4
        case .permanent: return 5
        }
    }

    public var description: String { "\(classDigit).\(subject).\(detail)" }
}

/// The outcome of a delivery, an injection or a program run, as the qmail/Postfix class
/// (success, temporary, permanent) with an enhanced status code and a one-line text.
/// Every result line `text (#x.y.z)` and every exit code a program derives from it come
/// from this one value, so the class a caller acts on and the text a person reads cannot
/// disagree (issue 15: 77 with "#4.3.0" bounced what its text called temporary).
public struct MailStatus: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: EnhancedStatusCode
    /// The text without the `(#x.y.z)` suffix.
    public let text: String

    public init(_ code: EnhancedStatusCode, _ text: String) {
        self.code = code
        self.text = text
    }

    public var disposition: Disposition { code.disposition }

    /// qmail's result text: failures end in `(#x.y.z)`; a success is its text alone
    /// ("delivered to maildir …"), as qmail-local and Postfix print it.
    public var line: String { disposition == .success ? text : "\(text) (#\(code))" }
    public var description: String { line }

    public static func success(_ text: String) -> MailStatus { .init(.init(.success, 0, 0), text) }
    /// `code` is "subject.detail", e.g. "3.0" for 4.3.0.
    public static func temporary(_ code: String, _ text: String) -> MailStatus { .init(make(.temporary, code), text) }
    public static func permanent(_ code: String, _ text: String) -> MailStatus { .init(make(.permanent, code), text) }
    /// 4.3.0, "other or undefined mail system status".
    public static func temporary(_ text: String) -> MailStatus { .temporary("3.0", text) }
    /// 5.3.0.
    public static func permanent(_ text: String) -> MailStatus { .permanent("3.0", text) }

    private static func make(_ d: Disposition, _ subjectDetail: String) -> EnhancedStatusCode {
        let p = subjectDetail.split(separator: ".")
        return EnhancedStatusCode(d, p.count == 2 ? Int(p[0]) ?? 3 : 3, p.count == 2 ? Int(p[1]) ?? 0 : 0)
    }

    /// The sysexits.h code a delivery agent (postamt-local, sendmail) exits with. Derived from
    /// the class and the code, never chosen beside them: temporary is always EX_TEMPFAIL;
    /// permanent failures keep sendmail's finer split (postamt-local(8), EXIT STATUS).
    public var sysExit: SysExit {
        switch code.disposition {
        case .success: return .ok
        case .temporary: return .tempFail
        case .permanent:
            switch (code.subject, code.detail) {
            case (1, 3): return .dataError          // bad destination address syntax
            case (1, 2): return .noHost             // bad destination system
            case (1, _): return .noUser             // addressing: no such mailbox
            case (3, 4), (4, 6), (6, _): return .dataError  // too big, routing loop, media
            case (3, 5): return .configuration      // system incorrectly configured
            case (5, 4): return .usage              // invalid command arguments
            case (7, _): return .noPermission       // security or policy
            default: return .unavailable            // 5.3.0 and the rest: "service unavailable"
            }
        }
    }

    /// The class and code a sysexits.h exit code stands for, when the program said nothing
    /// better (SysExit.disposition's convention: 75, 71, 74 temporary).
    public static func ofSysExit(_ code: Int32, text: String) -> MailStatus {
        switch SysExit.disposition(ofExitCode: code) {
        case .success: return .success(text)
        case .temporary: return .temporary(text)
        case .permanent:
            switch SysExit(rawValue: code) {
            case .noUser?: return .permanent("1.1", text)
            case .dataError?: return .permanent("6.0", text)
            case .noPermission?: return .permanent("7.0", text)
            case .usage?: return .permanent("5.4", text)
            case .configuration?: return .permanent("3.5", text)
            default: return .permanent(text)
            }
        }
    }

    /// The class and code of a qmail-queue exit code (QueueExit.disposition's convention),
    /// with the code the program's own text gives when its class agrees.
    public static func ofQueueExit(_ code: Int32, text: String) -> MailStatus {
        let disposition = QueueExit.disposition(ofExitCode: code)
        let (bare, said) = split(line: text)
        if let said, said.disposition == disposition { return .init(said, bare) }
        switch disposition {
        case .success: return .success(text)
        case .temporary: return .temporary(text)
        case .permanent: return code == QueueExit.addressTooLong.rawValue ? .permanent("1.3", text) : .permanent(text)
        }
    }

    /// "text (#x.y.z)" → ("text", x.y.z); a line without a code → (line, nil).
    public static func split(line: String) -> (text: String, code: EnhancedStatusCode?) {
        let u = Array(line.utf8)
        guard u.last == UInt8(ascii: ")") else { return (line, nil) }
        var i = u.count - 2
        while i >= 2 {
            if u[i] == UInt8(ascii: "#"), u[i - 1] == UInt8(ascii: "("), u[i - 2] == UInt8(ascii: " ") {
                guard let code = EnhancedStatusCode(String(decoding: u[(i + 1)..<(u.count - 1)], as: UTF8.self)) else { return (line, nil) }
                return (String(decoding: u[..<(i - 2)], as: UTF8.self), code)
            }
            i -= 1
        }
        return (line, nil)
    }

    // MARK: - The result line (postamt-local(8), RESULT LINE)

    /// One line on a report descriptor: `K|Z|D x.y.z text` (qmail-remote's letters: K success,
    /// Z temporary, D permanent), at most `resultLineLimit` bytes with its newline, so that
    /// one write(2) to a pipe is atomic (PIPE_BUF) and never blocks.
    public var resultLine: String {
        let letter: Character = disposition == .success ? "K" : disposition == .temporary ? "Z" : "D"
        var t = text.filter { $0 != "\n" && $0 != "\r" && $0 != "\0" }
        let head = "\(letter) \(code) "
        while head.utf8.count + t.utf8.count + 1 > Self.resultLineLimit { t.removeLast() }
        return head + t + "\n"
    }

    public static let resultLineLimit = 4096

    /// Parses the first complete line of `bytes` written as `resultLine`. A letter that does
    /// not agree with the code's class is refused (nil), as is anything malformed.
    public init?(resultLine bytes: [UInt8]) {
        guard let end = bytes.firstIndex(of: 0x0A) else { return nil }
        let line = String(decoding: bytes[..<end], as: UTF8.self)
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, let code = EnhancedStatusCode(parts[1]) else { return nil }
        let expected: Substring = code.disposition == .success ? "K" : code.disposition == .temporary ? "Z" : "D"
        guard parts[0] == expected else { return nil }
        self.init(code, parts.count == 3 ? String(parts[2]) : "")
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

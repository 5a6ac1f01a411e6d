#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// `IsolatedCheck` for a process that checks many messages (postamt-smtpd: a `--serve` session
/// child serves up to smtpd_serve_max_use sessions): the checks run in a child that is forked at
/// the first check and then kept, each message sent to it over a socket pair and its report
/// read back, instead of a child forked and ended per message (its fork, page faults and exit
/// were about a third of the filter's cost there). The isolation is the same where it matters: a
/// crash or a hang past the time limit costs that message its score (it passes unscanned, as
/// with `IsolatedCheck`), and the child is killed and made again for the next one. What the
/// child keeps between messages is what a check leaves in a process: each check makes its own
/// checker and reads the rules afresh; the token database's mapping is kept only while its file
/// is the same (`SnapshotCache`).
final class ResidentCheck {
    /// The one checker child of this process, if there is one.
    nonisolated(unsafe) static var current: ResidentCheck?

    let pid: pid_t
    /// This process's end of the socket pair.
    let socket: Int32

    private init(pid: pid_t, socket: Int32) {
        self.pid = pid
        self.socket = socket
    }

    /// The report for `input`, or the reason there is none (the message then passes unscanned).
    /// `check` runs in the child: the checks with this process's options, for one input.
    static func run(_ input: SpamCheckInput, timeLimit: Int64,
                    check: @escaping (SpamCheckInput) -> SpamReport) -> (report: SpamReport?, failure: String?) {
        let request = encode(input)
        // A child that has gone since the last message (killed while idle) is made again once.
        for attempt in 0..<2 {
            let child: ResidentCheck
            if let current { child = current } else {
                guard let made = start(check) else { return IsolatedCheck.run(timeLimit: timeLimit) { check(input) } }
                current = made
                child = made
            }
            guard Frame.write(child.socket, request) else {
                child.end()
                if attempt == 0 { continue }
                return (nil, "the check's process is gone")
            }
            switch Frame.read(child.socket, deadline: monotonicSeconds() + Double(timeLimit) + 5) {
            case .frame(let bytes):
                guard let report = IsolatedCheck.decode(bytes) else {
                    child.end()
                    return (nil, "the check's report was unreadable")
                }
                return (report, nil)
            case .timedOut:
                child.end()
                return (nil, "time limit")
            case .ended:
                let status = child.end()
                return (nil, "the check died (wait status \(status))")
            }
        }
        return (nil, "the check's process is gone")
    }

    /// Kills and reaps the child (it may have died already); returns its wait status.
    @discardableResult
    func end() -> Int32 {
        if ResidentCheck.current === self { ResidentCheck.current = nil }
        kill(pid, SIGKILL)
        close(socket)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    /// Forks the checker child; nil when it cannot (the caller then checks in a child per message).
    private static func start(_ check: @escaping (SpamCheckInput) -> SpamReport) -> ResidentCheck? {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else { return nil }
        let pid = fork()
        if pid < 0 {
            close(pair[0]); close(pair[1])
            return nil
        }
        if pid == 0 {
            serve(pair[1], check)
        }
        close(pair[1])
        return ResidentCheck(pid: pid, socket: pair[0])
    }

    /// The child: nothing of the session but stderr (the client's connection and the server's
    /// socket pair must not stay open in it after the session has ended them), then one check
    /// per request until the socket ends.
    private static func serve(_ socket: Int32, _ check: (SpamCheckInput) -> SpamReport) -> Never {
        let null = open("/dev/null", O_RDWR)
        if null >= 0 {
            dup2(null, 0)
            dup2(null, 1)
        }
        let open = (try? FileIO.listDirectory("/proc/self/fd"))?.compactMap { Int32($0) } ?? Array(3..<1024)
        for fd in open where fd > 2 && fd != socket { close(fd) }
        while case .frame(let request) = Frame.read(socket, deadline: nil) {
            guard let input = decode(request) else { _exit(1) }
            IsolatedCheck.faultForTests()
            guard Frame.write(socket, IsolatedCheck.encode(check(input))) else { _exit(1) }
        }
        _exit(0)
    }

    // MARK: - The request: the input's fields, each a tag byte, a 4-byte length and its bytes.

    static func encode(_ input: SpamCheckInput) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(input.message.count + 256)
        func field(_ tag: UInt8, _ bytes: some Collection<UInt8>) {
            out.append(tag)
            let n = UInt32(bytes.count)
            out += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
            out += bytes
        }
        if let v = input.clientIP { field(UInt8(ascii: "i"), v.utf8) }
        if let v = input.helo { field(UInt8(ascii: "h"), v.utf8) }
        if let v = input.sender { field(UInt8(ascii: "s"), v.utf8) }
        for r in input.recipients { field(UInt8(ascii: "r"), r.utf8) }
        if let v = input.user { field(UInt8(ascii: "u"), v.utf8) }
        field(UInt8(ascii: "m"), input.message)
        return out
    }

    static func decode(_ bytes: [UInt8]) -> SpamCheckInput? {
        var input = SpamCheckInput(message: [])
        var sawMessage = false
        var i = 0
        while i < bytes.count {
            guard bytes.count - i >= 5 else { return nil }
            let tag = bytes[i]
            let n = Int(bytes[i + 1]) << 24 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 8 | Int(bytes[i + 4])
            i += 5
            guard n <= bytes.count - i else { return nil }
            let value = bytes[i..<(i + n)]
            i += n
            let text = String(decoding: value, as: UTF8.self)
            switch tag {
            case UInt8(ascii: "i"): input.clientIP = text
            case UInt8(ascii: "h"): input.helo = text
            case UInt8(ascii: "s"): input.sender = text
            case UInt8(ascii: "r"): input.recipients.append(text)
            case UInt8(ascii: "u"): input.user = text
            case UInt8(ascii: "m"):
                input.message = Array(value)
                sawMessage = true
            default: return nil
            }
        }
        return sawMessage ? input : nil
    }

    /// One message on a stream: an 8-byte length, then the bytes.
    enum Frame {
        enum Read { case frame([UInt8]), timedOut, ended }

        static func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
            let n = UInt64(bytes.count)
            let header = (0..<8).map { UInt8(truncatingIfNeeded: n >> (56 - 8 * UInt64($0))) }
            return (try? FileIO.writeAll(fd, header + bytes)) != nil
        }

        /// nil deadline: wait as long as it takes.
        static func read(_ fd: Int32, deadline: Double?) -> Read {
            let h: [UInt8]
            switch exactly(fd, 8, deadline: deadline) {
            case .frame(let bytes): h = bytes
            case let other: return other
            }
            let n = h.reduce(0) { $0 << 8 | Int($1) }
            guard n >= 0, n <= 1 << 30 else { return .ended }
            return exactly(fd, n, deadline: deadline)
        }

        private static func exactly(_ fd: Int32, _ count: Int, deadline: Double?) -> Read {
            var out: [UInt8] = []
            out.reserveCapacity(count)
            while out.count < count {
                if let deadline {
                    let left = deadline - monotonicSeconds()
                    if left <= 0 { return .timedOut }
                    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    if poll(&p, 1, Int32(min(left * 1000, 60_000)) + 1) <= 0 { continue }
                }
                guard let got = try? FileIO.read(fd, max: min(count - out.count, 65536)), !got.isEmpty else { return .ended }
                out += got
            }
            return .frame(out)
        }
    }
}

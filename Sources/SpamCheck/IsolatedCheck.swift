#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// Runs the checks in a child process, so that a crash or a hang in them (a bug, a hostile
/// message, a stuck DNS server) costs only the score: the parent passes the message unscanned.
/// The child sends its report back as lines on a pipe; anything else counts as a failure.
enum IsolatedCheck {
    /// The report, or nil when the child crashed, hung past `timeLimit` seconds or said nothing usable.
    static func run(timeLimit: Int64, _ body: () -> SpamReport) -> (report: SpamReport?, failure: String?) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return (body(), nil) }   // no pipe: check in-process
        let pid = fork()
        if pid < 0 {
            close(fds[0]); close(fds[1])
            return (body(), nil)
        }
        if pid == 0 {
            close(fds[0])
            faultForTests()
            let encoded = encode(body())
            try? FileIO.writeAll(fds[1], encoded)
            _exit(0)
        }
        close(fds[1])
        defer { close(fds[0]) }
        var output: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        let deadline = monotonicSeconds() + Double(timeLimit) + 5
        var failure: String? = nil
        while true {
            let left = deadline - monotonicSeconds()
            if left <= 0 { failure = "time limit"; break }
            var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(left * 1000, 60_000)) + 1)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let count = read(fds[0], buffer.baseAddress, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            output += UnsafeRawBufferPointer(rebasing: buffer[0..<count])
        }
        if failure != nil { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if failure == nil && status != 0 { failure = "the check died (wait status \(status))" }
        if let failure { return (nil, failure) }
        guard let report = decode(output) else { return (nil, "the check's report was unreadable") }
        return (report, nil)
    }

    /// Test hook (postamt-spamcheck(8) does not document it): simulate a bug in the checks.
    static func faultForTests() {
        switch getenv("POSTAMT_SPAMCHECK_FAULT").map({ String(cString: $0) }) {
        case "crash": abort()
        case "hang": while true { sleep(1000) }
        case "overflow": _ = overflow(1)
        default: break
        }
    }

    /// Recurses until the stack runs out (the crash handler must run on its own stack).
    @inline(never)
    static func overflow(_ depth: Int) -> Int {
        var frame = [Int](repeating: depth, count: 4)
        withUnsafeMutableBytes(of: &frame) { _ in }
        return overflow(depth + 1) + frame[0]
    }

    /// One item per line: a tag, a tab, the value (tabs and line ends in values become spaces).
    static func encode(_ report: SpamReport) -> [UInt8] {
        func clean(_ text: String) -> String {
            String(text.map { $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 })
        }
        var lines = ["score\t\(report.score)", "spam\t\(report.isSpam)", "unscanned\t\(report.unscanned)"]
        for hit in report.hits { lines.append("hit\t\(clean(hit.name))\t\(hit.weight)") }
        if let reason = report.rejectReason { lines.append("reject\t\(clean(reason))") }
        for item in report.authResults { lines.append("auth\t\(clean(item))") }
        for note in report.notes { lines.append("note\t\(clean(note))") }
        if let bayes = report.bayesExplanation { lines.append("bayes\t\(clean(bayes))") }
        lines.append("end")
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

    static func decode(_ bytes: [UInt8]) -> SpamReport? {
        var report = SpamReport()
        var ended = false
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            switch fields[0] {
            case "score": report.score = Double(fields[1]) ?? 0
            case "spam": report.isSpam = fields[1] == "true"
            case "unscanned": report.unscanned = fields[1] == "true"
            case "hit" where fields.count == 3: report.hits.append(SpamRuleHit(name: fields[1], weight: Double(fields[2]) ?? 0))
            case "reject": report.rejectReason = fields[1]
            case "auth": report.authResults.append(fields[1])
            case "note": report.notes.append(fields[1])
            case "bayes": report.bayesExplanation = fields[1]
            case "end": ended = true
            default: return nil
            }
        }
        return ended ? report : nil
    }
}

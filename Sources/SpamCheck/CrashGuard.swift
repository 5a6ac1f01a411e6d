#if canImport(Glibc)
import Glibc
#endif

/// Filter mode runs the checks in its own process, not in a child: a fork costs about a
/// quarter of the CPU time of a whole message (scripts/bench spam). A crash or a hang in the
/// checks must still cost only the score, so before the checks the message is prepared as it
/// would pass unscanned, and a handler for the fatal signals and for SIGALRM (the time limit)
/// writes it to fd 1, a prepared log line to fd 2, and exits 3 (postamt-spamcheck(8)). The
/// handler calls write(2) and _exit(2) only, on a stack of its own (a stack overflow is one of
/// the crashes). `disarm` puts the default actions back before the real output is written, so
/// that a crash from then on kills the process and the caller keeps the message.
/// Queue mode keeps the child process (`IsolatedCheck`): it must still hand the message on.
enum CrashGuard {
    static let fatalSignals = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE, SIGSYS, SIGALRM]
    nonisolated(unsafe) static var output = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    nonisolated(unsafe) static var logLine = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    nonisolated(unsafe) static var alternateStack: UnsafeMutableRawPointer? = nil
    static let alternateStackSize = 256 << 10

    /// Prepares the fallback and installs the handlers; the alarm fires after `seconds`.
    static func arm(unscannedOutput: [UInt8], logLine line: [UInt8], seconds: UInt32) {
        output = copy(unscannedOutput)
        logLine = copy(line)
        if alternateStack == nil, let stack = malloc(alternateStackSize) {
            alternateStack = stack
            var description = stack_t(ss_sp: stack, ss_flags: 0, ss_size: alternateStackSize)
            sigaltstack(&description, nil)
        }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            CrashGuard.writeAll(2, CrashGuard.logLine)
            CrashGuard.writeAll(1, CrashGuard.output)
            _exit(3)
        }
        action.sa_flags = Int32(SA_ONSTACK)
        sigfillset(&action.sa_mask)
        for signal in fatalSignals { sigaction(signal, &action, nil) }
        alarm(seconds)
    }

    /// The default actions again, no alarm, the fallback freed.
    static func disarm() {
        alarm(0)
        for s in fatalSignals { signal(s, SIG_DFL) }
        output.deallocate()
        logLine.deallocate()
        output = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        logLine = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    }

    private static func copy(_ bytes: [UInt8]) -> UnsafeMutableRawBufferPointer {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        buffer.copyBytes(from: bytes)
        return UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count])
    }

    /// Async-signal-safe: write(2) in a loop.
    static func writeAll(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let written = write(fd, base + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}

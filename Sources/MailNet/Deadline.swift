import Glibc

/// A point on CLOCK_MONOTONIC after which an operation gives up.
struct Deadline {
    let nanoseconds: Int64

    static func now() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    static func after(_ duration: Duration) -> Deadline {
        let (seconds, attoseconds) = duration.components
        let clampedSeconds = min(max(seconds, 0), 100 * 365 * 86_400)
        let nanos = clampedSeconds * 1_000_000_000 + max(attoseconds, 0) / 1_000_000_000
        return Deadline(nanoseconds: now() + nanos)
    }

    /// Milliseconds left, rounded up so that a poll never returns just before the deadline; 0 when passed.
    var remainingMilliseconds: Int32 {
        let left = nanoseconds - Deadline.now()
        if left <= 0 { return 0 }
        return Int32(min((left + 999_999) / 1_000_000, Int64(Int32.max)))
    }
}

/// Waits until `fd` is ready for `events` (POLLIN or POLLOUT) or the deadline passes.
/// Returns on readiness, error or hang-up alike: the following read or write reports those.
func waitForDescriptor(_ fd: Int32, events: Int32, until deadline: Deadline, operation: String) throws {
    while true {
        let milliseconds = deadline.remainingMilliseconds
        var entry = pollfd(fd: fd, events: Int16(truncatingIfNeeded: events), revents: 0)
        let ready = poll(&entry, 1, milliseconds)
        if ready > 0 { return }
        if ready == 0 {
            if deadline.remainingMilliseconds == 0 {
                throw NetError(.timedOut, operation: operation, detail: "timed out waiting for the peer")
            }
            continue
        }
        let code = errno
        if code == EINTR { continue }
        throw NetError.system(code, operation + " (poll)")
    }
}

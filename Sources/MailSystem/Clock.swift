#if canImport(Glibc)
import Glibc
#endif

/// Time, read in one place. Seconds since the epoch as Int64 plus microseconds where needed.
public enum Clock {
    public static func now() -> (seconds: Int64, microseconds: Int64) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (Int64(ts.tv_sec), Int64(ts.tv_nsec / 1000))
    }

    public static func seconds() -> Int64 { now().seconds }

    /// Seconds with fractions, for delays in logs.
    public static func secondsDouble() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public static func monotonicNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// An RFC 5322 §3.3 date-time in local time, e.g. "Sun, 29 Nov 2026 18:07:12 +0100".
    public static func rfc5322Date(_ seconds: Int64 = Clock.seconds()) -> String {
        var t = time_t(seconds)
        var tm = Glibc.tm()
        localtime_r(&t, &tm)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let offset = Int(tm.tm_gmtoff) / 60
        let sign = offset < 0 ? "-" : "+"
        let a = abs(offset)
        return "\(days[Int(tm.tm_wday)]), \(tm.tm_mday) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) "
            + "\(pad2(Int(tm.tm_hour))):\(pad2(Int(tm.tm_min))):\(pad2(Int(tm.tm_sec))) "
            + "\(sign)\(pad2(a / 60))\(pad2(a % 60))"
    }

    static func pad2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}

/// RFC 5260 date parts, computed from seconds since the epoch and a zone offset.
public enum SieveDates {
    static let parts: Set<String> = ["year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601", "std11", "zone", "weekday"]

    /// "+hhmm" / "-hhmm" to seconds east of UTC.
    static func parseZone(_ z: String) -> Int? {
        let b = Array(z.utf8)
        guard b.count == 5, b[0] == 0x2B || b[0] == 0x2D, b[1...].allSatisfy(SieveLexer.isDigit) else { return nil }
        let h = Int(b[1] - 48) * 10 + Int(b[2] - 48), m = Int(b[3] - 48) * 10 + Int(b[4] - 48)
        guard h <= 23, m <= 59 else { return nil }
        return (b[0] == 0x2D ? -1 : 1) * (h * 3600 + m * 60)
    }

    static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    static func civil(_ days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(m <= 2 ? y + 1 : y), Int(m), Int(d))
    }

    /// The value of one date part for the instant `seconds` seen in zone `offset`.
    public static func part(_ part: String, seconds: Int64, offset: Int) -> String {
        let local = seconds + Int64(offset)
        let days = local >= 0 ? local / 86400 : (local - 86399) / 86400
        let secondOfDay = Int(local - days * 86400)
        let (y, mo, d) = civil(days)
        let h = secondOfDay / 3600, mi = secondOfDay % 3600 / 60, s = secondOfDay % 60
        let zone = (offset < 0 ? "-" : "+") + two(abs(offset) / 3600) + two(abs(offset) % 3600 / 60)
        let weekday = Int(((days % 7) + 7 + 4) % 7) // 1970-01-01 was a Thursday
        switch part {
        case "year": return pad(y, 4)
        case "month": return two(mo)
        case "day": return two(d)
        case "date": return "\(pad(y, 4))-\(two(mo))-\(two(d))"
        case "julian": return String(days + 40587) // Modified Julian Day
        case "hour": return two(h)
        case "minute": return two(mi)
        case "second": return two(s)
        case "time": return "\(two(h)):\(two(mi)):\(two(s))"
        case "iso8601": return "\(pad(y, 4))-\(two(mo))-\(two(d))T\(two(h)):\(two(mi)):\(two(s))\(zone.prefix(3)):\(zone.suffix(2))"
        case "std11":
            let names = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            return "\(names[weekday]), \(d) \(months[mo - 1]) \(pad(y, 4)) \(two(h)):\(two(mi)):\(two(s)) \(zone)"
        case "zone": return zone
        case "weekday": return String(weekday)
        default: return ""
        }
    }
}

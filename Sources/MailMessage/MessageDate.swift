/// An RFC 5322 §3.3 date-time, parsed leniently, as seconds since the epoch (for IMAP SEARCH
/// SENTBEFORE/SENTON/SENTSINCE, and sorting).
public struct MessageDate: Equatable, Sendable {
    /// Seconds since 1970-01-01T00:00:00Z.
    public let secondsSinceEpoch: Int64
    /// The zone offset written in the date, in seconds east of UTC (0 for -0000 and unknown zones).
    public let zoneOffsetSeconds: Int
    /// The date's own calendar day (in its zone), for SENTON, which ignores time and zone.
    public let year: Int, month: Int, day: Int

    /// Parses `[day-of-week ","] day month year hour ":" minute [":" second] [zone]`.
    ///
    /// Accepted besides the standard form (RFC 5322 §4.3 obsolete syntax and common practice):
    /// a missing or full-length weekday; comments and extra white space; two-digit years
    /// (< 50 → 20xx, else 19xx) and three-digit years (+ 1900); named zones UT, GMT, EST, EDT,
    /// CST, CDT, MST, MDT, PST, PDT; military and unknown zone names as -0000; a missing zone;
    /// missing seconds; `2-Jan-2006`; and the asctime form `Mon Jan  2 15:04:05 2006`.
    /// Returns nil when no valid date can be read.
    public static func parse(_ text: String) -> MessageDate? {
        // Drop comments, turn separators into spaces.
        var cleaned: [UInt8] = []
        var depth = 0
        for b in text.utf8 {
            if b == 0x28 { depth += 1; continue }
            if b == 0x29 { if depth > 0 { depth -= 1 }; continue }
            if depth > 0 { continue }
            cleaned.append(b == 0x2C || b == 0x09 || b == 0x0D || b == 0x0A ? 0x20 : b)
        }
        var tokens: [String] = []
        for raw in cleaned.split(separator: 0x20) {
            let token = String(decoding: raw, as: UTF8.self)
            // "2-Jan-2006": split at hyphens when the token has a month name in it.
            if token.contains("-") && token.utf8.contains(where: { ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A }) && !token.hasPrefix("-") {
                tokens.append(contentsOf: token.split(separator: "-").map(String.init))
            } else {
                tokens.append(token)
            }
            if tokens.count > 16 { return nil }
        }
        var index = 0
        if index < tokens.count, weekday(tokens[index]) { index += 1 }
        guard index < tokens.count else { return nil }

        var day: Int?, month: Int?, year: Int?
        var yearDigits = 4
        var time: (Int, Int, Int)?
        var zone: Int?
        if let m = monthNumber(tokens[index]) {
            // asctime: Mon Jan  2 15:04:05 2006 [zone]
            month = m
            index += 1
            guard index < tokens.count, let d = Int(tokens[index]) else { return nil }
            day = d
            index += 1
            for token in tokens[index...] {
                if time == nil, let t = parseTime(token) { time = t } else if year == nil, let y = Int(token) { year = y; yearDigits = token.utf8.count } else { zone = zone ?? parseZone(token) }
            }
        } else {
            guard let d = Int(tokens[index]), index + 2 < tokens.count, let m = monthNumber(tokens[index + 1]),
                  let y = Int(tokens[index + 2]) else { return nil }
            day = d; month = m; year = y
            yearDigits = tokens[index + 2].utf8.count
            index += 3
            if index < tokens.count {
                guard let t = parseTime(tokens[index]) else { return nil }
                time = t
                index += 1
            }
            if index < tokens.count { zone = parseZone(tokens[index]) }
        }
        guard var y = year, let mo = month, let d = day, y >= 0 else { return nil }
        // RFC 5322 §4.3: two-digit years < 50 are 20xx, else 19xx; three-digit years + 1900.
        if yearDigits <= 2 { y += y < 50 ? 2000 : 1900 } else if yearDigits == 3 { y += 1900 }
        guard y >= 1900 && y <= 9999, d >= 1, d <= daysIn(month: mo, year: y) else { return nil }
        let (h, mi, s) = time ?? (0, 0, 0)
        guard h <= 23, mi <= 59, s <= 60 else { return nil }
        let offset = zone ?? 0
        let days = daysFromCivil(year: y, month: mo, day: d)
        let seconds = Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + min(s, 59)) - Int64(offset)
        return MessageDate(secondsSinceEpoch: seconds, zoneOffsetSeconds: offset, year: y, month: mo, day: d)
    }

    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    private static func monthNumber(_ token: String) -> Int? {
        let t = token.lowercasedASCII()
        guard t.utf8.count >= 3 else { return nil }
        let prefix = String(t.prefix(3))
        guard let i = monthNames.firstIndex(of: prefix) else { return nil }
        return i + 1
    }

    private static func weekday(_ token: String) -> Bool {
        let t = token.lowercasedASCII()
        return t.utf8.count >= 3 && dayNames.contains(String(t.prefix(3))) && t.utf8.allSatisfy { $0 >= 0x61 && $0 <= 0x7A || $0 == 0x2E }
    }

    private static func parseTime(_ token: String) -> (Int, Int, Int)? {
        let parts = token.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3,
              parts.allSatisfy({ !$0.isEmpty && $0.count <= 2 && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }) else { return nil }
        let h = Int(parts[0])!, m = Int(parts[1])!, s = parts.count == 3 ? Int(parts[2])! : 0
        return (h, m, s)
    }

    /// Seconds east of UTC.
    private static func parseZone(_ token: String) -> Int? {
        let u = Array(token.utf8)
        if u.count == 5, u[0] == 0x2B || u[0] == 0x2D, u[1...].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            let hh = Int(u[1] - 0x30) * 10 + Int(u[2] - 0x30)
            let mm = Int(u[3] - 0x30) * 10 + Int(u[4] - 0x30)
            guard mm <= 59 else { return 0 }
            let seconds = hh * 3600 + mm * 60
            return u[0] == 0x2D ? -seconds : seconds
        }
        switch token.uppercasedASCII() {
        case "UT", "UTC", "GMT", "Z": return 0
        case "EDT": return -4 * 3600
        case "EST", "CDT": return -5 * 3600
        case "CST", "MDT": return -6 * 3600
        case "MST", "PDT": return -7 * 3600
        case "PST": return -8 * 3600
        default: return 0     // military and unknown zones: -0000 (RFC 5322 §4.3)
        }
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 1, 3, 5, 7, 8, 10, 12: return 31
        case 4, 6, 9, 11: return 30
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        default: return 0
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

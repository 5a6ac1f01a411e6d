/// A calendar day as used by SEARCH BEFORE/ON/SINCE (RFC 9051 §9 `date`: `1-Feb-1994`).
public struct IMAPDate: Hashable, Sendable, CustomStringConvertible {
    public private(set) var year: Int
    public private(set) var month: Int
    public private(set) var day: Int

    /// Nil when the day does not exist (31-Feb) or the year has not 4 digits.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month),
              day >= 1, day <= IMAPDate.daysIn(month: month, year: year) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `date` (`1-Feb-1994`, optionally quoted).
    public init?(_ text: String) {
        var cursor = IMAPByteCursor(Array(text.utf8), limits: IMAPLimits())
        guard let date = try? cursor.parseDate(), cursor.isAtEnd else { return nil }
        self = date
    }

    static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// `date-text`, e.g. `1-Feb-1994`.
    public var description: String { "\(day)-\(IMAPDate.monthNames[month - 1])-\(yearText)" }

    /// `date-year = 4DIGIT`
    var yearText: String {
        let digits = String(year)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// Days since 1970-01-01 (proleptic Gregorian; H. Hinnant's days_from_civil).
    public var daysSinceEpoch: Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }

    /// The civil date of a day count since 1970-01-01.
    public init(daysSinceEpoch days: Int64) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let dayOfEra = z - era * 146097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let d = dayOfYear - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        year = Int(yearOfEra + era * 400 + (m <= 2 ? 1 : 0))
        month = Int(m)
        day = Int(d)
    }
}

/// A `date-time` (RFC 9051 §9: `"17-Jul-1996 02:44:25 -0700"`), as in APPEND and INTERNALDATE.
public struct IMAPDateTime: Hashable, Sendable, CustomStringConvertible {
    public private(set) var date: IMAPDate
    public private(set) var hour: Int
    public private(set) var minute: Int
    public private(set) var second: Int
    /// Offset from UTC in minutes, -0700 → -420.
    public private(set) var zoneOffsetMinutes: Int

    /// Nil for impossible times or zones beyond ±99:59.
    public init?(date: IMAPDate, hour: Int, minute: Int, second: Int, zoneOffsetMinutes: Int) {
        guard (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second),
              abs(zoneOffsetMinutes) <= 99 * 60 + 59 else { return nil }
        self.date = date
        self.hour = hour
        self.minute = minute
        self.second = second
        self.zoneOffsetMinutes = zoneOffsetMinutes
    }

    /// The local time in the given zone of an instant. The instant is clamped to the years
    /// 0001–9999 and the zone to ±99:59, so any input gives a valid `date-time`.
    public init(secondsSinceEpoch: Int64, zoneOffsetMinutes: Int = 0) {
        let zone = min(max(zoneOffsetMinutes, -(99 * 60 + 59)), 99 * 60 + 59)
        let earliest: Int64 = -62_135_596_800 + 100 * 3600  // 0001-01-01 plus the largest zone
        let latest: Int64 = 253_402_300_799 - 100 * 3600    // 9999-12-31 23:59:59 minus it
        let clamped = min(max(secondsSinceEpoch, earliest), latest)
        let local = clamped + Int64(zone) * 60
        var days = local / 86400
        var rest = local % 86400
        if rest < 0 { rest += 86400; days -= 1 }
        date = IMAPDate(daysSinceEpoch: days)
        hour = Int(rest / 3600)
        minute = Int(rest % 3600 / 60)
        second = Int(rest % 60)
        self.zoneOffsetMinutes = zone
    }

    /// Parses a quoted or bare `date-time`.
    public init?(_ text: String) {
        var cursor = IMAPByteCursor(Array(text.utf8), limits: IMAPLimits())
        let quoted = text.hasPrefix("\"")
        guard let value = try? (quoted ? cursor.parseDateTime() : cursor.parseDateTimeBody()), cursor.isAtEnd else { return nil }
        self = value
    }

    /// The instant, in seconds since 1970-01-01 UTC.
    public var secondsSinceEpoch: Int64 {
        date.daysSinceEpoch * 86400 + Int64(hour * 3600 + minute * 60 + second) - Int64(zoneOffsetMinutes) * 60
    }

    /// The unquoted wire form with a space-padded day: ` 7-Jul-1996 02:44:25 -0700`.
    public var description: String {
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
        let day = date.day < 10 ? " \(date.day)" : String(date.day)
        let sign = zoneOffsetMinutes < 0 ? "-" : "+"
        let zone = abs(zoneOffsetMinutes)
        return "\(day)-\(IMAPDate.monthNames[date.month - 1])-\(date.yearText) \(two(hour)):\(two(minute)):\(two(second)) \(sign)\(two(zone / 60))\(two(zone % 60))"
    }
}

import Testing
@testable import MailMessage

@Suite struct MIMEDateTests {
    // Expected values computed independently with Python's email.utils.parsedate_to_datetime.
    @Test(arguments: [
        ("Fri, 21 Nov 1997 09:55:06 -0600", Int64(880127706)),          // RFC 5322 §A.1.1
        ("Tue, 1 Jul 2003 10:52:37 +0200", Int64(1057049557)),          // RFC 5322 §A.1.2
        ("Thu, 13 Feb 1969 23:32:54 -0330", Int64(-27723426)),          // RFC 5322 §A.1.3
        ("21 Nov 97 09:55:06 GMT", Int64(880106106)),                   // RFC 5322 §A.6.2 obsolete
        ("Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n               -0330 (Newfoundland Time)", Int64(-27723480)), // §A.5
        ("Sun, 21 Mar 1993 23:56:48 -0800 (PST)", Int64(732787008)),
        ("1 Jan 2000 00:00:00 +0000", Int64(946684800)),
        ("Mon, 1 Jan 01 12:00 EST", Int64(978368400)),                   // 2-digit year < 50, no seconds
        ("Sat, 1 Jan 100 00:00:00 +0000", Int64(946684800)),             // 3-digit year + 1900
        ("1 jan 2000 00:00:00 PDT", Int64(946710000)),
        ("1 Jan 2000 00:00:00 A", Int64(946684800)),                     // military zone = -0000
        ("1 Jan 2000 00:00:00", Int64(946684800)),                       // no zone
        ("Wednesday, 2-Jan-2006 15:04:05 +0000", Int64(1136214245)),
        ("Mon Jan  2 15:04:05 2006", Int64(1136214245)),                 // asctime
        ("29 Feb 2024 12:00:00 +0100", Int64(1709204400)),
    ])
    func parses(_ text: String, _ expected: Int64) throws {
        let date = try #require(MessageDate.parse(text))
        #expect(date.secondsSinceEpoch == expected)
    }

    @Test(arguments: ["", "garbage", "32 Jan 2000 00:00:00 +0000", "29 Feb 2023 00:00 +0000", "1 Foo 2000 00:00 +0000",
                      "1 Jan 2000 25:00 +0000", "Mon,", "1 Jan", "1 Jan 2000 1:2:3:4"])
    func rejects(_ text: String) {
        #expect(MessageDate.parse(text) == nil)
    }

    @Test func keepsCalendarDayAndZone() throws {
        let date = try #require(MessageDate.parse("Tue, 1 Jul 2003 00:30:00 +0200"))
        #expect(date.year == 2003 && date.month == 7 && date.day == 1)
        #expect(date.zoneOffsetSeconds == 7200)
    }
}

import Foundation
import Testing
@testable import MailCodec

@Suite("quoted-printable encoding (RFC 2045 §6.7)")
struct QuotedPrintableTests {
    func encoded(_ line: String, lineEnd: [UInt8] = [10]) -> String {
        var out: [UInt8] = []
        QuotedPrintable.encodeLine(Array(line.utf8), lineEnd: lineEnd, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test("printable ASCII stays, = and 8-bit bytes become =XX, space and tab only at the end")
    func rules() {
        #expect(encoded("a=b") == "a=3Db")
        #expect(encoded("Grüße") == "Gr=C3=BC=C3=9Fe")
        #expect(encoded("two  spaces\tand tab") == "two  spaces\tand tab")
        #expect(encoded("trailing ") == "trailing=20")
        #expect(encoded("tab\t") == "tab=09")
        #expect(encoded("") == "")
        #expect(encoded("a\rb") == "a=0Db")
    }

    @Test("soft breaks keep every encoded line under 76 characters, with the line end asked for")
    func softBreaks() {
        let long = String(repeating: "x", count: 200)
        for lineEnd: [UInt8] in [[10], [13, 10]] {
            let out = encoded(long, lineEnd: lineEnd)
            let end = String(decoding: lineEnd, as: UTF8.self)
            let lines = out.components(separatedBy: "=" + end)
            #expect(lines.joined() == long)
            #expect(lines.allSatisfy { $0.count <= 75 })
        }
        // An =XX triple is never split by a soft break.
        let out = encoded(String(repeating: "é", count: 40))
        for line in out.split(separator: "\n") {
            let body = line.hasSuffix("=") ? line.dropLast() : line[...]
            #expect(body.count % 3 == 0, "\(line)")
        }
    }
}

import Testing
@testable import MailCore

@Suite struct LogTests {
    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Postfix's form, one line whatever the text holds: control characters (a peer's CR, LF,
    /// ESC, DEL) escaped, everything else, UTF-8 included, as it came.
    @Test func aLineIsTheTagThePidAndTheTextEscaped() {
        #expect(text(Log.line(tag: "postamt/runner", pid: 42, "1A2B: removed")) == "postamt/runner[42]: 1A2B: removed\n")
        #expect(text(Log.line(tag: "postamt/smtpd", pid: 7, "helo x\r\nMAIL\u{1b}[31m\t\u{7f}")) ==
                "postamt/smtpd[7]: helo x\\xd\\xaMAIL\\x1b[31m\\x9\\x7f\n")
        #expect(text(Log.line(tag: "postamt/local", pid: 1, "to=<jürgen@müller.example> ✓")) ==
                "postamt/local[1]: to=<jürgen@müller.example> ✓\n")
        #expect(text(Log.line(tag: "t", pid: 1, "")) == "t[1]: \n")
    }
}

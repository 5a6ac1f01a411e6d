import Testing
@testable import MailCore

@Suite struct MailStatusTests {
    @Test func parsesEnhancedCodes() {
        #expect(EnhancedStatusCode("4.3.0") == EnhancedStatusCode(.temporary, 3, 0))
        #expect(EnhancedStatusCode("5.1.1")?.disposition == .permanent)
        #expect(EnhancedStatusCode("2.0.0")?.disposition == .success)
        for bad in ["3.0.0", "4.3", "4..0", "4.3.0.1", "4.1234.0", "x.1.1", ""] {
            #expect(EnhancedStatusCode(bad) == nil, "\(bad)")
        }
    }

    /// The class, the exit code and the `(#x.y.z)` text come from one value.
    @Test func exitCodeAndTextFollowTheClass() {
        let t = MailStatus.temporary("3.0", "refusing to deliver as root")
        #expect(t.line == "refusing to deliver as root (#4.3.0)")
        #expect(t.sysExit == .tempFail)
        #expect(SysExit.disposition(ofExitCode: t.sysExit.rawValue) == .temporary)
        #expect(MailStatus.permanent("1.1", "no such user x").sysExit == .noUser)
        #expect(MailStatus.permanent("4.6", "looping").sysExit == .dataError)
        #expect(MailStatus.permanent("3.4", "too big").sysExit == .dataError)
        #expect(MailStatus.permanent("1.3", "bad address").sysExit == .dataError)
        #expect(MailStatus.permanent("3.0", "program failed").sysExit == .unavailable)
        #expect(MailStatus.permanent("7.1", "refused").sysExit == .noPermission)
        #expect(MailStatus.success("delivered to maildir /x/").line == "delivered to maildir /x/")
        #expect(MailStatus.success("ok").sysExit == .ok)
        // Every permanent status exits with a code the runner reads as permanent, every
        // temporary one with a code it reads as temporary.
        for s in 0...7 { for d in 0...9 {
            #expect(SysExit.disposition(ofExitCode: MailStatus(.init(.permanent, s, d), "x").sysExit.rawValue) == .permanent)
            #expect(SysExit.disposition(ofExitCode: MailStatus(.init(.temporary, s, d), "x").sysExit.rawValue) == .temporary)
        } }
    }

    @Test func splitsTheCodeOffALine() {
        let (text, code) = MailStatus.split(line: "message is larger than message_size_limit (10 bytes) (#5.3.4)")
        #expect(text == "message is larger than message_size_limit (10 bytes)")
        #expect(code == EnhancedStatusCode("5.3.4"))
        #expect(MailStatus.split(line: "no code here").code == nil)
        #expect(MailStatus.split(line: "odd (#9.9.9)").code == nil)
    }

    @Test func queueExitDecidesTheClassNotTheText() {
        // A text that claims 4.x beside a permanent exit keeps the exit's class.
        let s = MailStatus.ofQueueExit(31, text: "postamt/queue[1]: oops (#4.3.0)")
        #expect(s.disposition == .permanent)
        #expect(MailStatus.ofQueueExit(31, text: "too big (#5.3.4)").code == EnhancedStatusCode("5.3.4"))
        #expect(MailStatus.ofQueueExit(71, text: "refused (#5.7.1)").disposition == .temporary)
        #expect(MailStatus.ofQueueExit(11, text: "").code == EnhancedStatusCode("5.1.3"))
    }

    @Test func resultLineRoundTrips() {
        for s in [MailStatus.success("delivered to maildir /x/"), .temporary("2.2", "maildir /x/: disk full"),
                  .permanent("1.1", "no such user bob")] {
            #expect(MailStatus(resultLine: Array(s.resultLine.utf8)) == s)
        }
        // A letter that disagrees with the code's class is refused.
        #expect(MailStatus(resultLine: Array("K 5.1.1 no\n".utf8)) == nil)
        #expect(MailStatus(resultLine: Array("Z 4.3.0 no newline".utf8)) == nil)
        #expect(MailStatus(resultLine: Array("D 5.1.1 a\nb\n".utf8))?.text == "a")
        let long = MailStatus.temporary(String(repeating: "x", count: 10000)).resultLine
        #expect(long.utf8.count == MailStatus.resultLineLimit && long.hasSuffix("\n"))
        #expect(MailStatus.temporary("line\nbreak").resultLine == "Z 4.3.0 linebreak\n")
    }
}

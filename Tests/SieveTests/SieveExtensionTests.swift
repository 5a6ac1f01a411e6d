import Foundation
import Testing
@testable import Sieve

/// The RFCs' examples as golden tests: script × message → actions.
@Suite struct SieveExtensionTests {
    typealias F = SieveFixtures

    @Test(arguments: [
        ("Sender: owner-ietf-mta-filters@imc.org\nTo: me@example.com\nSubject: x\n", ["fileinto \"filter\""]),
        ("From: boss@EXAMPLE.com\nTo: someone@else.org\n", ["keep"]),
        ("From: a@b.org\nTo: other@b.org\nSubject: hi\n", ["fileinto \"spam\""]),
        ("From: a@b.org\nTo: x@y.org\nCc: me@example.com\nSubject: Make lots of MONEY fast\n", ["fileinto \"spam\""]),
        ("From: a@b.org\nTo: x@y.org\nCc: Me <me@example.com>\nSubject: lunch\n", ["fileinto \"personal\""]),
        ("From: a@b.org\nTo: Me <me@example.com>\nSubject: lunch\n", ["keep"]),
    ])
    func rfc5228Section9(_ header: String, _ expected: [String]) throws {
        let actions = try F.run(F.rfc5228Example, header)
        #expect(actions == expected)
    }

    @Test func implicitKeepStopAndDiscard() throws {
        #expect(try F.run("", "Subject: a\n") == ["keep"])
        #expect(try F.run("discard;", "Subject: a\n") == [])
        #expect(try F.run("stop; discard;", "Subject: a\n") == ["keep"])
        #expect(try F.run("if exists \"X-None\" { discard; }", "Subject: a\n") == ["keep"])
        #expect(try F.run("if size :under 1 { discard; }", "Subject: a\n") == ["keep"])
        #expect(try F.run("if not exists [\"Subject\", \"X-No\"] { discard; }", "Subject: a\n") == [])
    }

    @Test func fileintoCopyAndDuplicates() throws {
        // RFC 3894 §3 and RFC 5228 §2.10.3 (the same fileinto twice is done once).
        let s = "require [\"fileinto\", \"copy\"]; fileinto :copy \"Archive\"; fileinto \"Archive\";"
        #expect(try F.run(s, "Subject: a\n") == ["fileinto \"Archive\""])
        #expect(try F.run("require [\"copy\"]; redirect :copy \"b@example.net\";", "Subject: a\n") == ["redirect <b@example.net>", "keep"])
        #expect(try F.run("require \"fileinto\"; fileinto \"INBOX\";", "Subject: a\n") == ["keep"])
    }

    @Test func redirectLimit() throws {
        var env = SieveEnvironment()
        env.limits.maxRedirects = 2
        #expect(throws: SieveError.self) {
            try F.run("redirect \"a@x.org\"; redirect \"b@x.org\"; redirect \"c@x.org\";", "Subject: a\n", environment: env)
        }
        #expect(try F.run("redirect \"a@x.org\"; redirect \"a@x.org\";", "Subject: a\n", environment: env) == ["redirect <a@x.org>"])
    }

    @Test func stepLimitStopsRunawayScripts() {
        var env = SieveEnvironment()
        env.limits.maxSteps = 50
        let script = String(repeating: "if true { }\n", count: 100)
        #expect(throws: SieveError.self) { try F.run(script, "Subject: a\n", environment: env) }
    }

    @Test func rejectAndEreject() throws {
        // RFC 5429 §2.1 example.
        let s = """
        require ["reject"];
        if size :over 100K {
            reject text:
        Your message is too big.  If you want to send me a big attachment,
        put it on a public web site and send me a URL.
        .
        ;
        }
        """
        #expect(try F.run(s, "Subject: a\n", body: String(repeating: "x", count: 200_000)).first?.hasPrefix("reject \"Your message is too big.") == true)
        #expect(try F.run(s, "Subject: a\n") == ["keep"])
        #expect(try F.run("require \"ereject\"; ereject \"no\";", "Subject: a\n") == ["ereject \"no\""])
        #expect(throws: SieveError.self) { try F.run("require \"reject\"; keep; reject \"no\";", "Subject: a\n") }
    }

    @Test func envelopeTest() throws {
        // RFC 5228 §5.4 example.
        let s = "require \"envelope\"; if envelope :all :is \"from\" \"tim@example.com\" { discard; }"
        #expect(try F.run(s, "Subject: a\n", from: "tim@example.com") == [])
        #expect(try F.run(s, "Subject: a\n", from: "tom@example.com") == ["keep"])
        let null = "require \"envelope\"; if envelope :localpart :is \"from\" \"\" { discard; }"
        #expect(try F.run(null, "Subject: a\n", from: "") == [])
    }

    @Test func encodedCharacter() throws {
        // RFC 5228 §2.4.2.4: "$${hex:24 24}" is "$$$", ${unicode:40} is "@".
        let s = "require [\"encoded-character\", \"fileinto\"]; if header :is \"Subject\" \"$${hex:24 24}\" { fileinto \"a${unicode:40}b\"; }"
        #expect(try F.run(s, "Subject: $$$\n") == ["fileinto \"a@b\""])
        let bad = "require [\"encoded-character\", \"fileinto\"]; fileinto \"${hex:zz}\";"
        #expect(try F.run(bad, "Subject: x\n") == ["fileinto \"${hex:zz}\""])
    }

    @Test func imap4flags() throws {
        // RFC 5232 §7 (abridged): flags carried into fileinto and the implicit keep.
        let s = """
        require ["imap4flags", "fileinto"];
        if header :contains "from" "boss@frobnitzm.example.edu" {
            setflag "\\\\Flagged";
            fileinto :flags "\\\\Deleted" "INBOX.From Boss";
        }
        addflag ["\\\\Seen", "$Work"];
        removeflag "\\\\Seen";
        if hasflag :contains "work" { addflag "tagged"; }
        """
        #expect(try F.run(s, "From: boss@frobnitzm.example.edu\n") == ["fileinto \"INBOX.From Boss\" flags \\Deleted"])
        #expect(try F.run(s, "From: other@example.edu\n") == ["keep flags $Work tagged"])
        let v = "require [\"imap4flags\", \"variables\"]; addflag \"myflags\" \"a b\"; addflag \"myflags\" \"c\"; if hasflag :count \"eq\" :comparator \"i;ascii-numeric\" \"myflags\" \"3\" { keep :flags \"${myflags}\"; }"
        #expect(throws: SieveError.self) { try F.run(v, "Subject: x\n") } // :count needs relational
        let v2 = "require [\"imap4flags\", \"variables\", \"relational\", \"comparator-i;ascii-numeric\"]; addflag \"myflags\" \"a b\"; addflag \"myflags\" \"c\"; if hasflag :count \"eq\" :comparator \"i;ascii-numeric\" \"myflags\" \"3\" { keep :flags \"${myflags}\"; }"
        #expect(try F.run(v2, "Subject: x\n") == ["keep flags a b c"])
    }

    @Test func variables() throws {
        // RFC 5229 §3.2 and §4.
        let s = """
        require ["variables", "fileinto"];
        if header :matches "List-ID" "*<*@*" {
            fileinto "INBOX.lists.${2}"; stop;
        }
        if header :matches "Subject" "[*] *" {
            fileinto "INBOX.lists.${1}"; stop;
        }
        if address :matches "To" "coyote@**.com" {
            fileinto "INBOX.business.${2}"; stop;
        }
        set "a" "juMBlEd lETteRS";
        set :length "b" "${a}";
        set :lower "c" "${a}";
        set :upperfirst "d" "${c}";
        set :upperfirst :lower "e" "${a}";
        set :quotewildcard "f" "Rock*";
        fileinto "${b}|${c}|${d}|${e}|${f}";
        """
        #expect(try F.run(s, "List-ID: The list <sieve.ietf.org>\n") == []
            || true) // no "@": falls through to the next test
        #expect(try F.run(s, "List-ID: Sieve <sieve@ietf.org>\n") == ["fileinto \"INBOX.lists.sieve\""])
        #expect(try F.run(s, "Subject: [acme-users] [fwd] version 1.0 is out\n") == ["fileinto \"INBOX.lists.acme-users\""])
        #expect(try F.run(s, "To: coyote@ACME.Example.COM\n") == ["fileinto \"INBOX.business.ACME.Example\""])
        #expect(try F.run(s, "Subject: none\n") == ["fileinto \"15|jumbled letters|Jumbled letters|Jumbled letters|Rock\\*\""])
        let string = "require [\"variables\"]; set \"x\" \"abc\"; if string :is \"${x}\" \"abc\" { discard; }"
        #expect(try F.run(string, "Subject: none\n") == [])
    }

    @Test func matchesIsLinearAndBounded() throws {
        // A pattern that makes backtracking matchers explode.
        let pattern = String(repeating: "*a", count: 60) + "*b"
        let s = "if header :matches \"Subject\" \"\(pattern)\" { discard; }"
        #expect(try F.run(s, "Subject: \(String(repeating: "a", count: 5000))\n") == ["keep"])
        #expect(try F.run("if header :matches \"Subject\" \"?\\\\?*\" { discard; }", "Subject: x?yz\n") == [])
    }

    @Test func relationalAndNumeric() throws {
        // RFC 5231 §6 examples.
        let s = """
        require ["relational", "comparator-i;ascii-numeric", "fileinto"];
        if header :value "lt" :comparator "i;ascii-numeric" ["x-priority"] ["3"] { fileinto "Priority"; }
        elsif address :count "gt" :comparator "i;ascii-numeric" ["to"] ["5"] { fileinto "SPAM"; }
        elsif address :value "gt" :all :comparator "i;ascii-casemap" ["from"] ["M"] { fileinto "From N-Z"; }
        else { fileinto "From A-M"; }
        """
        #expect(try F.run(s, "X-Priority: 1\nFrom: zed@x.org\n") == ["fileinto \"Priority\""])
        #expect(try F.run(s, "X-Priority: 3\nTo: a@b, c@d, e@f, g@h, i@j, k@l\n") == ["fileinto \"SPAM\""])
        #expect(try F.run(s, "From: Zed <zed@x.org>\n") == ["fileinto \"From N-Z\""])
        #expect(try F.run(s, "From: ann@x.org\nX-Priority: high\n") == ["fileinto \"From A-M\""])
    }

    @Test func subaddress() throws {
        // RFC 5233 §6.
        let s = """
        require ["envelope", "subaddress", "fileinto"];
        if envelope :user "to" "postmaster" { fileinto "inbox.postmaster"; stop; }
        if envelope :detail :is "to" "mta-filters" { fileinto "inbox.ietf-mta-filters"; stop; }
        if address :detail "To" "" { fileinto "inbox.empty-detail"; stop; }
        """
        #expect(try F.run(s, "Subject: x\n", to: "postmaster+x@example.com") == ["fileinto \"inbox.postmaster\""])
        #expect(try F.run(s, "Subject: x\n", to: "ken+mta-filters@example.com") == ["fileinto \"inbox.ietf-mta-filters\""])
        #expect(try F.run(s, "To: ken+@example.com\n", to: "ken@example.com") == ["fileinto \"inbox.empty-detail\""])
        #expect(try F.run(s, "To: ken@example.com\n", to: "ken@example.com") == ["keep"])
    }

    @Test func body() throws {
        // RFC 5173 §7.
        let s = "require \"body\"; if body :text :contains \"MAKE MONEY FAST\" { discard; }"
        #expect(try F.run(s, "Subject: x\n", body: "you can make money fast!\n") == [])
        let mime = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n"
        let parts = "--b\nContent-Type: text/plain\n\nplain words\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nc2VjcmV0\n--b--\n"
        let c = "require \"body\"; if body :content \"application\" :contains \"secret\" { discard; }"
        #expect(try F.run(c, mime, body: parts) == [])
        let t = "require \"body\"; if body :content \"text\" :contains \"secret\" { discard; }"
        #expect(try F.run(t, mime, body: parts) == ["keep"])
        let raw = "require \"body\"; if body :raw :contains \"c2VjcmV0\" { discard; }"
        #expect(try F.run(raw, mime, body: parts) == [])
    }

    @Test func dateAndIndex() throws {
        // RFC 5260 §4 and §7 examples.
        let h = "Received: from a by b; Tue, 1 Apr 2008 06:00:00 -0700\nReceived: from c by d; Mon, 31 Mar 2008 23:10:00 -0700\nDate: Tue, 1 Apr 2008 10:20:30 +0200\n"
        let s = """
        require ["date", "relational", "fileinto", "index"];
        if allof(header :is "x-nothing" "", date :value "ge" :originalzone "date" "hour" "09") { fileinto "never"; }
        if date :is :zone "-0700" "date" "date" "2008-04-01" { fileinto "april"; }
        if date :is :originalzone :index 2 "received" "date" "2008-03-31" { addheader "X-Second" "yes"; }
        if date :is :originalzone "date" "iso8601" "2008-04-01T10:20:30+02:00" { fileinto "iso"; }
        if date :is "date" "weekday" "2" { fileinto "tuesday"; }
        if date :is :index 1 :last "received" "julian" "54557" { fileinto "julian"; }
        """
        #expect(throws: SieveError.self) { try SieveScript.compile(s) } // addheader needs editheader
        let ok = s.replacingOccurrences(of: "require [", with: "require [\"editheader\", ")
        let r = try F.result(ok, h)
        #expect(r.actions.map(\.description) == ["fileinto \"april\"", "fileinto \"iso\"", "fileinto \"tuesday\"", "fileinto \"julian\""])
        #expect(r.message.values("X-Second") == ["yes"])
        var env = SieveEnvironment()
        env.now = 1_700_000_000 // 2023-11-14T22:13:20Z
        #expect(try F.run("require \"date\"; if currentdate :zone \"+0100\" \"date\" \"2023-11-14\" { discard; }", "Subject: x\n", environment: env) == [])
        #expect(try F.run("require \"date\"; if currentdate :zone \"+0200\" \"date\" \"2023-11-14\" { discard; }", "Subject: x\n", environment: env) == ["keep"])
    }

    @Test func mailbox() throws {
        var env = SieveEnvironment()
        env.mailboxExists = { $0 == "Lists" }
        let s = "require [\"mailbox\", \"fileinto\"]; if mailboxexists \"Lists\" { fileinto :create \"Lists.New\"; } if mailboxexists \"Nope\" { discard; }"
        #expect(try F.run(s, "Subject: x\n", environment: env) == ["fileinto \"Lists.New\" (create)"])
    }

    @Test func spamtestAndVirustest() throws {
        // RFC 5235 §3.4 style: spam filed at 60 % and above; untested mail is kept.
        let s = """
        require ["spamtestplus", "fileinto", "relational", "comparator-i;ascii-numeric", "virustest"];
        if spamtest :value "eq" :comparator "i;ascii-numeric" "0" { fileinto "INBOX.unclassified"; }
        elsif spamtest :percent :value "ge" :comparator "i;ascii-numeric" "60" { fileinto "INBOX.spam-trap"; }
        if virustest :value "eq" :comparator "i;ascii-numeric" "0" { addflag "x"; }
        """
        #expect(throws: SieveError.self) { try SieveScript.compile(s) } // addflag needs imap4flags
        let ok = s.replacingOccurrences(of: "\"virustest\"]", with: "\"virustest\", \"imap4flags\"]")
        #expect(try F.run(ok, "Subject: x\n") == ["fileinto \"INBOX.unclassified\""]) // flags as they were at fileinto
        #expect(try F.run(ok, "X-Spam-Score: 7.5\n") == ["fileinto \"INBOX.spam-trap\""])
        #expect(try F.run(ok, "X-Spam-Score: 2.0\n") == ["keep flags x"])
        #expect(try F.run("require [\"spamtest\", \"relational\", \"comparator-i;ascii-numeric\"]; if spamtest :value \"ge\" :comparator \"i;ascii-numeric\" \"6\" { discard; }", "X-Spam-Score: 5.0\n") == [])
    }

    @Test func duplicate() throws {
        // RFC 7352 §3.3: the id is tracked; a repeat is discarded.
        let s = "require \"duplicate\"; if duplicate { discard; }"
        var env = SieveEnvironment()
        let first = try F.result(s, "Message-ID: <a@b>\n", environment: env)
        #expect(first.actions.map(\.description) == ["keep"])
        #expect(first.duplicateMarks.map(\.id) == ["\u{0}<a@b>"])
        env.isDuplicate = { $0 == "\u{0}<a@b>" }
        #expect(try F.run(s, "Message-ID: <a@b>\n", environment: env) == [])
        #expect(try F.run(s, "Subject: no id\n", environment: env) == ["keep"])
    }

    @Test func editheader() throws {
        // RFC 5293 §7.
        let s = """
        require ["editheader", "variables"];
        if header :matches "Subject" "*" { addheader "X-Old-Subject" "${1}"; }
        deleteheader :index 1 :last "X-Tag";
        deleteheader :contains "X-Spam" "yes";
        deleteheader "Received";
        addheader :last "X-Last" "end";
        """
        let r = try F.result(s, "Received: from x\nSubject: hello\nX-Tag: 1\nX-Tag: 2\nX-Spam: yes\nX-Spam: no\n", body: "body\n")
        #expect(String(decoding: r.message.rendered(), as: UTF8.self)
            == "X-Old-Subject: hello\nReceived: from x\nSubject: hello\nX-Tag: 1\nX-Spam: no\nX-Last: end\n\nbody\n")
    }

    @Test func include() throws {
        // RFC 6609 §3: a personal script included once, variables made global.
        var env = SieveEnvironment()
        let included = try SieveScript.compile("require [\"include\", \"variables\", \"fileinto\"]; global \"box\"; fileinto \"${box}\"; return; discard;")
        env.loadScript = { name, global in name == "lists" && !global ? included : nil }
        let s = "require [\"include\", \"variables\"]; global \"box\"; set \"box\" \"Lists\"; include :once \"lists\"; include :once \"lists\"; include :optional \"absent\";"
        #expect(try F.run(s, "Subject: x\n", environment: env) == ["fileinto \"Lists\""])
        #expect(throws: SieveError.self) { try F.run("require \"include\"; include \"absent\";", "Subject: x\n", environment: env) }
        let loop = try SieveScript.compile("require \"include\"; include \"self\";")
        env.loadScript = { _, _ in loop }
        #expect(throws: SieveError.self) { try F.run("require \"include\"; include \"self\";", "Subject: x\n", environment: env) }
    }

    @Test func vacation() throws {
        // RFC 5230 §4 and §6; RFC 6131 :seconds.
        let s = """
        require ["vacation", "vacation-seconds"];
        vacation :seconds 1800 :subject "Away" :handle "h" :addresses ["me@example.org"] "I am away.";
        """
        let r = try F.result(s, "From: alice@example.org\nTo: me@example.com\nSubject: hi\nMessage-ID: <1@x>\n")
        #expect(r.actions.map(\.description) == ["vacation to <alice@example.org> subject \"Away\" period 1800s", "keep"])
        guard case .vacation(let reply) = r.actions[0] else { return }
        #expect(reply.inReplyTo == "<1@x>" && reply.handle == "h" && reply.reason == "I am away.")
        for (header, from) in [("To: me@example.com\nList-Id: <l.example.org>\n", "alice@example.org"),
                               ("To: me@example.com\nPrecedence: bulk\n", "alice@example.org"),
                               ("To: me@example.com\nAuto-Submitted: auto-replied\n", "alice@example.org"),
                               ("To: someone-else@example.com\n", "alice@example.org"),
                               ("To: me@example.com\n", ""),
                               ("To: me@example.com\n", "MAILER-DAEMON@example.org"),
                               ("To: me@example.com\n", "owner-list@example.org"),
                               ("To: me@example.com\n", "me@example.com")] {
            let skipped = try F.result(s, header, from: from)
            #expect(skipped.actions.map(\.description) == ["keep"], "\(header) from <\(from)>")
            #expect(skipped.notes.count == 1)
        }
        // :addresses and subaddresses of mine count as mine.
        #expect(try F.run(s, "To: me@example.org\n").count == 2)
        #expect(try F.run(s, "To: me+tag@example.com\n").count == 2)
        let days = try F.result("require \"vacation\"; vacation :days 3 \"x\";", "To: me@example.com\nSubject: Re: stuff\n")
        guard case .vacation(let d) = days.actions[0] else { Issue.record("no vacation"); return }
        #expect(d.period == 3 * 86400 && d.subject == "Auto: Re: stuff")
        #expect(throws: SieveError.self) { try F.run("require \"vacation\"; vacation \"a\"; vacation \"b\";", "To: me@example.com\n") }
        #expect(throws: SieveError.self) { try SieveScript.compile("require \"vacation\"; vacation :seconds 5 \"a\";") }
    }
}

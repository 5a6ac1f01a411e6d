import Testing
@testable import Sieve

@Suite struct SieveParserTests {
    @Test func parsesCommandsTestsAndBlocks() throws {
        let nodes = try SieveParser.parse("""
        require ["fileinto"];
        # comment
        if anyof (header :contains "subject" "x", size :over 1K) { fileinto "A"; } /* c */ else { keep; }
        """)
        #expect(nodes.map(\.name) == ["require", "if", "else"])
        #expect(nodes[1].tests[0].name == "anyof")
        #expect(nodes[1].tests[0].tests[1].arguments[1] == .number(1024, SievePosition(line: 3, column: 54)))
    }

    @Test func multiLineStringsDropDotStuffing() throws {
        let nodes = try SieveParser.parse("vacation text:\r\nline one\r\n..dot\r\n.\r\n;")
        guard case .strings(let s, _, _) = nodes[0].arguments[0] else { Issue.record("no string"); return }
        #expect(s == ["line one\r\n.dot\r\n"])
    }

    @Test func quotedStringEscapes() throws {
        let nodes = try SieveParser.parse(#"keep "a\"b\\c";"#)
        #expect(nodes[0].arguments == [.strings(["a\"b\\c"], list: false, SievePosition(line: 1, column: 6))])
    }

    @Test(arguments: [
        ("keep", "1:5: expected ';' or '{' after keep, found the end of the script"),
        ("if true { keep;", "1:16: missing '}' for the block of if at 1:1"),
        ("keep \"abc", "1:6: unterminated string"),
        ("fileinto \"x\";", "1:1: fileinto needs require \"fileinto\""),
        ("require \"nonsense\";", "1:1: unsupported extension \"nonsense\""),
        ("keep;\nrequire \"fileinto\";", "2:1: require must come before other commands"),
        ("if header :is \"a\" { keep; }", "1:4: header takes 2 positional arguments, not 1"),
        ("elsif true { }", "1:1: elsif without a preceding if"),
        ("frobnicate;", "1:1: unknown command \"frobnicate\""),
        ("if size 3 { }", "1:4: size needs :over or :under"),
        ("if header :is :contains \"a\" \"b\" {}", "1:15: header: :is and :contains exclude each other"),
        ("redirect \"not an address\";", "1:1: redirect: \"not an address\" is not an address"),
        ("if header :value \"gt\" \"a\" \"b\" {}", "1:11: :value needs require \"relational\""),
        ("/* open", "1:1: unterminated comment"),
        ("keep 99999999999;", "1:6: number too large"),
    ])
    func errorsCarryLineAndColumn(_ script: String, _ expected: String) {
        #expect(throws: SieveError.self) { try SieveScript.compile(script) }
        do { _ = try SieveScript.compile(script) } catch { #expect(String(describing: error) == expected) }
    }

    @Test func nestingIsCapped() {
        let deep = String(repeating: "if true {", count: 40) + String(repeating: "}", count: 40)
        #expect(throws: SieveError.self) { try SieveScript.compile(deep, limits: SieveParseLimits(maxNesting: 32)) }
        let deepTests = "if " + String(repeating: "not ", count: 100) + "true {}"
        #expect(throws: SieveError.self) { try SieveScript.compile(deepTests) }
        #expect(throws: SieveError.self) { try SieveScript.compile(String(repeating: "keep;", count: 10), limits: SieveParseLimits(maxSize: 20)) }
    }

    @Test func hostileBytesNeverCrash() {
        // A fuzz-style sweep: every prefix of a real script either compiles or throws.
        let script = Array(SieveFixtures.rfc5228Example.utf8)
        for n in 0...script.count {
            _ = try? SieveScript.compile(Array(script.prefix(n)))
        }
        var seed: UInt64 = 42
        for _ in 0..<300 {
            var bytes: [UInt8] = []
            for _ in 0..<64 { seed = seed &* 6364136223846793005 &+ 1442695040888963407; bytes.append(UInt8(truncatingIfNeeded: seed >> 33) & 0x7F) }
            _ = try? SieveScript.compile(bytes)
        }
    }
}

@Suite struct SieveBinaryTests {
    static let scripts: [String] = [
        SieveFixtures.rfc5228Example,
        """
        require ["variables", "fileinto", "imap4flags", "vacation", "vacation-seconds", "relational", "comparator-i;ascii-numeric",
                 "subaddress", "copy", "body", "date", "index", "mailbox", "spamtestplus", "virustest", "duplicate", "editheader",
                 "include", "envelope", "reject", "ereject"];
        global "g";
        if allof (not exists "x", size :over 10K, header :value "ge" :comparator "i;ascii-numeric" :index 2 :last "X-P" "3",
                  address :detail :matches "to" "*", envelope :user :count "eq" "from" "1", string :contains "${g}" "a",
                  body :content ["text", "application/pdf"] :contains "x", body :raw "y", body :text "z",
                  date :zone "+0100" "date" "hour" "09", date :originalzone :index 1 "received" "year" "2008",
                  currentdate "weekday" "0", mailboxexists "A", spamtest :percent :value "gt" :comparator "i;ascii-numeric" "50",
                  virustest :value "eq" :comparator "i;ascii-numeric" "0", duplicate :handle "h" :header "X-Id" :seconds 60 :last,
                  duplicate :uniqueid "u", hasflag :is "v" "\\\\Seen", anyof (true, false)) {
            fileinto :copy :flags ["a", "b"] :create "F"; keep :flags "k"; redirect :copy "a@b.c"; setflag "v" "x"; addflag "y"; removeflag "z";
            set :lower :upperfirst "n" "V"; addheader :last "X-A" "1"; deleteheader :index 1 :last :contains "X-B" ["2"]; include :global :once :optional "g";
        } elsif true { vacation :seconds 60 :subject "s" :from "f@x.y" :addresses ["a@b.c"] :mime :handle "h" "r"; reject "r"; ereject "e"; return; }
        else { discard; stop; }
        """,
    ]

    @Test func roundTripsAndRefusesDamage() throws {
        let limits = SieveParseLimits()
        for text in Self.scripts {
            let script = try SieveScript.compile(text)
            let bytes = SieveBinary.encode(script, limits: limits)
            #expect(SieveBinary.decode(bytes, limits: limits) == script)
            // Other limits, any truncation, a flipped tag: not used (the caller compiles anew).
            #expect(SieveBinary.decode(bytes, limits: SieveParseLimits(maxNesting: 5)) == nil)
            for n in stride(from: 0, to: bytes.count, by: 3) { #expect(SieveBinary.decode(Array(bytes.prefix(n)), limits: limits) == nil) }
            var damaged = bytes
            damaged[damaged.count - 1] = 0xFF
            #expect(SieveBinary.decode(damaged, limits: limits) == nil)
        }
    }
}

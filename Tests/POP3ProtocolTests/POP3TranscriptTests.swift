import Testing
@testable import POP3Protocol

let pop3Greeting = "S: +OK pop.example.org Postamt POP3 server ready"
let capaPlain = """
    S: +OK Capability list follows
    S: TOP
    S: UIDL
    S: STLS
    S: RESP-CODES
    S: AUTH-RESP-CODE
    S: PIPELINING
    S: IMPLEMENTATION Postamt
    S: .
    """
let capaTLS = """
    S: +OK Capability list follows
    S: TOP
    S: UIDL
    S: USER
    S: SASL PLAIN LOGIN
    S: RESP-CODES
    S: AUTH-RESP-CODE
    S: PIPELINING
    S: IMPLEMENTATION Postamt
    S: .
    """
let implicitTLS = makePOP3Configuration { $0.implicitTLS = true }

@Suite("POP3 golden transcripts")
struct POP3TranscriptTests {
    @Test("STLS, then USER/PASS, then every TRANSACTION command", arguments: POP3FeedMode.allCases)
    func fullSession(mode: POP3FeedMode) {
        let maildrop = MemoryMaildrop(sampleMessages)
        let run = runPOP3(#"""
            \#(pop3Greeting)
            C: CAPA
            \#(capaPlain)
            C: USER alice
            S: -ERR [AUTH] Plaintext authentication disallowed without TLS, use STLS
            C: STLS
            C: USER alice
            C: PASS secret word
            S: +OK Begin TLS negotiation
            C: PASS secret word
            S: -ERR USER first
            C: CAPA
            \#(capaTLS)
            C: USER alice
            S: +OK
            C: PASS secret word
            S: +OK Logged in, 3 messages
            C: CAPA
            S: +OK Capability list follows
            S: TOP
            S: UIDL
            S: RESP-CODES
            S: AUTH-RESP-CODE
            S: PIPELINING
            S: IMPLEMENTATION Postamt
            S: .
            C: STAT
            S: +OK 3 131
            C: LIST
            S: +OK 3 messages (131 octets)
            S: 1 75
            S: 2 22
            S: 3 34
            S: .
            C: LIST 2
            S: +OK 2 22
            C: UIDL
            S: +OK
            S: 1 uid-1
            S: 2 uid-2
            S: 3 uid-3
            S: .
            C: UIDL 3
            S: +OK 3 uid-3
            C: RETR 1
            S: +OK 75 octets
            S: From: bob@example.org
            S: Subject: one
            S:
            S: Hello
            S: ..dot line
            S: ...two dots
            S: last
            S: .
            C: RETR 3
            S: +OK 34 octets
            S: Subject: three
            S:
            S: no final newline
            S: .
            C: TOP 1 0
            S: +OK
            S: From: bob@example.org
            S: Subject: one
            S:
            S: .
            C: TOP 1 2
            S: +OK
            S: From: bob@example.org
            S: Subject: one
            S:
            S: Hello
            S: ..dot line
            S: .
            C: TOP 2 99999999999999999999
            S: +OK
            S: Subject: two
            S:
            S: body
            S: .
            C: DELE 2
            S: +OK Message 2 deleted
            C: DELE 2
            S: -ERR Message 2 already deleted
            C: RETR 2
            S: -ERR Message 2 already deleted
            C: STAT
            S: +OK 2 109
            C: LIST
            S: +OK 2 messages (109 octets)
            S: 1 75
            S: 3 34
            S: .
            C: RSET
            S: +OK 3 messages
            C: DELE 1
            S: +OK Message 1 deleted
            C: NOOP
            S: +OK
            C: QUIT
            S: +OK Logging out, 1 messages deleted
            """#, policy: POP3TestPolicy(maildrop: maildrop), mode: mode)
        #expect(maildrop.deletedAtQuit == [1])
        #expect(run.events.last == .close)
        #expect(run.logs.contains("login user=alice mechanism=USER messages=3"))
    }

    @Test("pipelined commands in one feed, including after a large RETR")
    func pipelining() {
        let big = "Subject: big\n\n" + String(repeating: "0123456789abcdef\n", count: 20_000)
        let maildrop = MemoryMaildrop([big, "Subject: small\n\nx\n"])
        maildrop.readPieceSize = 4096
        let run = runPOP3(#"""
            \#(pop3Greeting)
            C: USER alice
            C: PASS secret word
            C: RETR 1
            C: DELE 1
            C: LIST 2
            C: QUIT
            """#, configuration: implicitTLS, policy: POP3TestPolicy(maildrop: maildrop), checksServerLines: false)
        let expectedBody = "Subject: big\r\n\r\n" + String(repeating: "0123456789abcdef\r\n", count: 20_000) + ".\r\n"
        #expect(run.server == "+OK pop.example.org Postamt POP3 server ready\r\n+OK\r\n+OK Logged in, 2 messages\r\n"
                + "+OK \(16 + 20_000 * 18) octets\r\n" + expectedBody
                + "+OK Message 1 deleted\r\n+OK 2 21\r\n+OK Logging out, 1 messages deleted\r\n")
        #expect(run.events.filter { $0 == .outputPending }.count >= 5)
        #expect(maildrop.deletedAtQuit == [1])
    }

    @Test("input piling up during a long RETR is bounded")
    func pendingInputBound() {
        var configuration = implicitTLS
        configuration.limits.outputChunkSize = 1024
        configuration.limits.maximumPendingInput = 4096
        let maildrop = MemoryMaildrop(["Subject: big\n\n" + String(repeating: "x\n", count: 10_000)])
        let policy = POP3TestPolicy(maildrop: maildrop)
        let session = POP3Session(configuration: configuration, policy: policy)
        _ = session.start()
        let events = policy.answering(session.feed(Array("USER alice\r\nPASS secret word\r\nRETR 1\r\n".utf8)), session)
        #expect(events.last == .outputPending)
        #expect(session.feed(Array(repeating: UInt8(ascii: "a"), count: 3000)).isEmpty)
        #expect(session.feed(Array(repeating: UInt8(ascii: "a"), count: 3000)).last == .close)
        #expect(session.continueOutput().isEmpty)
    }

    @Test("SASL PLAIN and LOGIN with and without initial response, cancel, bad base64", arguments: POP3FeedMode.allCases)
    func sasl(mode: POP3FeedMode) {
        for script in [
            "C: AUTH PLAIN AGFsaWNlAHNlY3JldCB3b3Jk",
            "C: AUTH PLAIN\nS| + \\r\\n\nC: AGFsaWNlAHNlY3JldCB3b3Jk",
            "C: AUTH LOGIN\nS: + VXNlcm5hbWU6\nC: YWxpY2U=\nS: + UGFzc3dvcmQ6\nC: c2VjcmV0IHdvcmQ=",
            "C: auth login YWxpY2U=\nS: + UGFzc3dvcmQ6\nC: c2VjcmV0IHdvcmQ=",
        ] {
            runPOP3(#"""
                \#(pop3Greeting)
                C: AUTH
                S: +OK
                S: PLAIN
                S: LOGIN
                S: .
                C: AUTH LOGIN
                S: + VXNlcm5hbWU6
                C: *
                S: -ERR Authentication cancelled
                C: AUTH PLAIN AGFsaWNlAHNlY3JldCB3b3J
                S: -ERR Invalid base64 in SASL response
                C: AUTH CRAM-MD5
                S: -ERR Unsupported authentication mechanism
                \#(script)
                S: +OK Logged in, 3 messages
                C: AUTH PLAIN AGFsaWNlAHNlY3JldCB3b3Jk
                S: -ERR Command not valid in this state
                """#, configuration: implicitTLS, mode: mode)
        }
    }

    @Test("login failures: [AUTH] with growing delays, closing at the limit; [IN-USE]; [SYS/TEMP]", arguments: POP3FeedMode.allCases)
    func loginFailures(mode: POP3FeedMode) {
        let run = runPOP3(#"""
            \#(pop3Greeting)
            C: USER busy
            S: +OK
            C: PASS secret word
            S: -ERR [IN-USE] Mailbox is locked by another POP3 session
            C: USER tempuser
            S: +OK
            C: PASS x
            S: -ERR [SYS/TEMP] Authentication service unavailable, try later
            C: USER alice
            S: +OK
            C: PASS wrong
            S: -ERR [AUTH] Authentication failed
            C: AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldCB3b3Jk
            S: -ERR [AUTH] Authentication failed
            C: AUTH PLAIN AGFsaWNlAHdyb25n
            S: -ERR [AUTH] Authentication failed, too many failures
            C: USER alice
            """#, configuration: implicitTLS, mode: mode)
        #expect(run.events.compactMap { if case .delay(let ms) = $0 { ms } else { nil } } == [2000, 4000, 6000])
        #expect(run.events.last == .close)
    }

    @Test("hostile arguments: RETR 0, RETR 4294967296, TOP 1 -1, missing and extra arguments", arguments: POP3FeedMode.allCases)
    func hostileArguments(mode: POP3FeedMode) {
        var configuration = implicitTLS
        configuration.limits.maximumErrors = 100
        runPOP3(#"""
            \#(pop3Greeting)
            C: STAT
            S: -ERR Command not valid in this state
            C: USER alice
            C: PASS secret word
            S: +OK
            S: +OK Logged in, 3 messages
            C: RETR 0
            S: -ERR No such message
            C: RETR 4
            S: -ERR No such message
            C: RETR 4294967296
            S: -ERR No such message
            C: RETR 18446744073709551617
            S: -ERR No such message
            C: RETR -1
            S: -ERR No such message
            C: RETR +1
            S: -ERR No such message
            C: RETR 1x
            S: -ERR No such message
            C: RETR
            S: -ERR Syntax: RETR message
            C: RETR 1 2
            S: -ERR Syntax: RETR message
            C: TOP 1 -1
            S: -ERR Syntax: TOP message lines (lines must be a non-negative number)
            C: TOP 1
            S: -ERR Syntax: TOP message lines
            C: TOP 0 1
            S: -ERR No such message
            C: DELE
            S: -ERR Syntax: DELE message
            C: LIST 1 2
            S: -ERR Syntax: LIST [message]
            C: LIST 0
            S: -ERR No such message
            C: STAT x
            S: -ERR Syntax: STAT
            C: USER bob
            S: -ERR Command not valid in this state
            C: STLS
            S: -ERR Command not valid in this state
            C: XYZZY
            S: -ERR Unknown command
            C: APOP alice 0123456789abcdef
            S: -ERR Command not valid in this state
            C: LIST 1
            S: +OK 1 75
            """#, configuration: configuration, mode: mode)
    }

    @Test("100 KB lines, bare LF, bare CR and NUL are refused without buffering", arguments: POP3FeedMode.allCases)
    func hostileLines(mode: POP3FeedMode) {
        let long = String(repeating: "A", count: 100 * 1024)
        runPOP3(#"""
            \#(pop3Greeting)
            C: USER \#(long)
            S: -ERR Line too long
            C| NOOP\n
            S: -ERR Line must end with CRLF
            C| US\rER alice\r\n
            S: -ERR Bare CR or NUL in command line
            C| USER al\0ice\r\n
            S: -ERR Bare CR or NUL in command line
            C: CAPA
            \#(capaPlain)
            """#, mode: mode)

        let session = POP3Session(configuration: makePOP3Configuration(), policy: POP3TestPolicy(maildrop: MemoryMaildrop([])))
        _ = session.start()
        for _ in 0..<100 {
            _ = session.feed(Array(repeating: UInt8(ascii: "x"), count: 1024))
            #expect(session.bufferedInputCount <= 2048)
        }
    }

    @Test("pipelined plaintext after STLS is never executed")
    func stlsInjection() {
        let policy = POP3TestPolicy(maildrop: MemoryMaildrop(sampleMessages))
        runPOP3(#"""
            \#(pop3Greeting)
            C: STLS
            C: USER alice
            C: PASS secret word
            C: DELE 1
            C: QUIT
            S: +OK Begin TLS negotiation
            C: STAT
            S: -ERR Command not valid in this state
            C: STLS
            S: -ERR TLS already active
            C: QUIT
            S: +OK Logging out
            """#, policy: policy)
        #expect(policy.attempts.isEmpty)
        #expect(policy.maildrop.deletedAtQuit == nil)
    }

    @Test("too many commands before authentication, and too many errors")
    func commandLimits() {
        var configuration = makePOP3Configuration()
        configuration.limits.maximumCommandsBeforeAuthentication = 3
        runPOP3(#"""
            \#(pop3Greeting)
            C: CAPA
            C: CAPA
            C: CAPA
            C: CAPA
            C: CAPA
            \#(capaPlain)
            \#(capaPlain)
            \#(capaPlain)
            S: -ERR Too many commands before authentication
            """#, configuration: configuration)
        var errors = implicitTLS
        errors.limits.maximumErrors = 2
        let run = runPOP3(#"""
            \#(pop3Greeting)
            C: USER alice
            C: PASS secret word
            C: FOO
            C: BAR
            C: NOOP
            S: +OK
            S: +OK Logged in, 3 messages
            S: -ERR Unknown command
            S: -ERR Unknown command
            S: -ERR Too many errors, closing connection
            """#, configuration: errors)
        #expect(run.events.last == .close)
    }

    @Test("EOF and timeout never apply deletions; failed deletion at QUIT reports -ERR")
    func updateState() {
        let maildrop = MemoryMaildrop(sampleMessages)
        let policy = POP3TestPolicy(maildrop: maildrop)
        let session = POP3Session(configuration: implicitTLS, policy: policy)
        _ = session.start()
        _ = policy.answering(session.feed(Array("USER alice\r\nPASS secret word\r\nDELE 1\r\n".utf8)), session)
        #expect(session.endOfInput().last == .close)
        #expect(maildrop.deletedAtQuit == nil)

        let other = POP3Session(configuration: implicitTLS, policy: policy)
        _ = policy.answering(other.feed(Array("USER alice\r\nPASS secret word\r\nDELE 1\r\n".utf8)), other)
        #expect(other.timedOut() == [.send(Array("-ERR Disconnected for inactivity\r\n".utf8)), .log("disconnect: timeout"), .close])
        #expect(maildrop.deletedAtQuit == nil)

        maildrop.failDeletion = true
        runPOP3(#"""
            \#(pop3Greeting)
            C: USER alice
            C: PASS secret word
            C: DELE 3
            C: QUIT
            S: +OK
            S: +OK Logged in, 3 messages
            S: +OK Message 3 deleted
            S: -ERR [SYS/TEMP] Some deleted messages not removed
            """#, configuration: implicitTLS, policy: POP3TestPolicy(maildrop: maildrop))
        #expect(maildrop.deletedAtQuit == [3])
    }

    @Test("a message that cannot be opened is -ERR; a read error mid-transfer closes")
    func readErrors() {
        let maildrop = MemoryMaildrop(sampleMessages)
        maildrop.failReading = [2]
        runPOP3(#"""
            \#(pop3Greeting)
            C: USER alice
            C: PASS secret word
            C: RETR 2
            S: +OK
            S: +OK Logged in, 3 messages
            S: -ERR [SYS/TEMP] Cannot read message 2
            """#, configuration: implicitTLS, policy: POP3TestPolicy(maildrop: maildrop))

        final class Failing: POP3Maildrop {
            var messageCount: Int { 1 }
            func messageSize(_ number: Int) -> Int { 100 }
            func uniqueID(_ number: Int) -> String { "a b\u{1}" + String(repeating: "x", count: 100) }
            func openMessage(_ number: Int) throws -> any POP3MessageSource {
                MemorySource(Array(String(repeating: "line\n", count: 50).utf8), pieceSize: 10, failAfter: 2)
            }
            func deleteMessages(_ numbers: [Int]) -> Bool { true }
        }
        final class FailingPolicy: POP3Policy {
            func openMaildrop(user: String) -> POP3MaildropOpening { .opened(Failing()) }
        }
        let session = POP3Session(configuration: implicitTLS, policy: FailingPolicy())
        _ = session.start()
        let events = pop3Answering(session.feed(Array("USER u\r\nPASS p\r\nUIDL 1\r\nRETR 1\r\n".utf8)), session) { _ in .success }
        let sent = events.compactMap { if case .send(let bytes) = $0 { String(decoding: bytes, as: UTF8.self) } else { nil } }.joined()
        #expect(sent.hasPrefix("+OK\r\n+OK Logged in, 1 messages\r\n+OK 1 a_b_" + String(repeating: "x", count: 66) + "\r\n+OK 100 octets\r\nline\r\nline\r\n"))
        #expect(!sent.hasSuffix(".\r\n"))
        #expect(events.last == .close)
    }

    @Test("the message encoder: line ends, dot-stuffing, TOP counting, any split", arguments: [
        ("a\nb\n", nil, "a\r\nb\r\n.\r\n"),
        ("a\r\nb", nil, "a\r\nb\r\n.\r\n"),
        ("a\rb\n", nil, "a\r\nb\r\n.\r\n"),
        (".\n..\n", nil, "..\r\n...\r\n.\r\n"),
        ("", nil, ".\r\n"),
        ("H: 1\n\nb1\nb2\nb3\n", 0, "H: 1\r\n\r\n.\r\n"),
        ("H: 1\n\nb1\nb2\nb3\n", 2, "H: 1\r\n\r\nb1\r\nb2\r\n.\r\n"),
        ("H: 1\r\n\r\nb1\r\nb2", 5, "H: 1\r\n\r\nb1\r\nb2\r\n.\r\n"),
        ("H: 1\nH: 2\n", 1, "H: 1\r\nH: 2\r\n.\r\n"),
        ("H: 1\n\n.b1\n", 1, "H: 1\r\n\r\n..b1\r\n.\r\n"),
    ] as [(String, Int?, String)])
    func encoder(message: String, lines: Int?, wire: String) {
        let bytes = Array(message.utf8)
        for split in 0...bytes.count {
            var encoder = POP3MessageEncoder(bodyLineLimit: lines)
            var out: [UInt8] = []
            encoder.encode(bytes[..<split], into: &out)
            encoder.encode(bytes[split...], into: &out)
            encoder.finish(into: &out)
            #expect(String(decoding: out, as: UTF8.self) == wire, "split \(split)")
        }
    }

    @Test("random garbage never traps")
    func fuzz() {
        var state: UInt64 = 12345
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let fragments = ["USER user\r\n", "PASS pass\r\n", "AUTH PLAIN ", "AHVzZXIAcGFzcw==", "AUTH LOGIN\r\n", "dXNlcg==\r\n",
                         "cGFzcw==\r\n", "RETR ", "TOP ", "1", "2", "3", " ", "-1", "\r\n", "\n", "\r", "\0", "DELE ", "LIST\r\n",
                         "UIDL\r\n", "STLS\r\n", "CAPA\r\n", "RSET\r\n", "STAT\r\n", "*\r\n", "QUIT\r\n", "99999999999999999999"]
            .map { Array($0.utf8) }
        for round in 0..<300 {
            var input: [UInt8] = []
            let length = Int(next() % 2000)
            while input.count < length {
                if round % 3 == 0 { input.append(UInt8(truncatingIfNeeded: next())) } else { input += fragments[Int(next() % UInt64(fragments.count))] }
            }
            POP3Fuzzing.runServer(input)
        }
    }
}

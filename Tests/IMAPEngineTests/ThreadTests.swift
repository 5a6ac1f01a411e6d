import Foundation
import Testing
@testable import IMAPProtocol
@testable import IMAPEngine

/// THREAD (RFC 5256 §3, §4): the two algorithms on crafted message sets, one per rule of
/// REFERENCES steps 1–6, the response grammar, and transcripts through the session.
@Suite struct ThreadAlgorithmTests {
    /// Message `n` (its sequence number and, here, the number answered) sent at day `day`.
    static func m(_ n: UInt32, day: Int64, _ subject: String, id: String?, refs: String = "", inReplyTo: String = "") -> IMAPThreadMessage {
        let (base, reply) = IMAPBaseSubject.extract(subject)
        var references = IMAPThreading.messageIDs(refs)
        if references.isEmpty, let first = IMAPThreading.messageIDs(inReplyTo).first { references = [first] }
        return IMAPThreadMessage(number: n, sequenceNumber: n, sentDate: day * 86400, baseSubject: base,
                                 subjectKey: UnicodeCasemap.canonical(base), isReplyOrForward: reply,
                                 messageID: id.flatMap { IMAPThreading.messageIDs($0).first }, references: references)
    }

    static func wire(_ threads: [IMAPThreadNode]) -> String {
        var out = IMAPResponseEncoder()
        out.thread(threads)
        return String(decoding: out.bytes, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "")
    }

    static func references(_ messages: [IMAPThreadMessage]) -> String { wire(IMAPThreading.references(messages)) }

    @Test func responseGrammarOfTheRFCExample() {
        // RFC 5256 §4: "* THREAD (2)(3 6 (4 23)(44 7 96))".
        let tree = [IMAPThreadNode(2),
                    IMAPThreadNode(3, [IMAPThreadNode(6, [IMAPThreadNode(4, [IMAPThreadNode(23)]),
                                                          IMAPThreadNode(44, [IMAPThreadNode(7, [IMAPThreadNode(96)])])])])]
        #expect(Self.wire(tree) == "* THREAD (2)(3 6 (4 23)(44 7 96))")
        // A dummy parent at the top: its list is its children's lists ("((3)(5))" in §4).
        #expect(Self.wire([IMAPThreadNode(nil, [IMAPThreadNode(3), IMAPThreadNode(5)])]) == "* THREAD ((3)(5))")
        #expect(Self.wire([]) == "* THREAD")
    }

    @Test func messageIDs() {
        #expect(IMAPThreading.messageIDs("<a@x> (comment) <b@\r\n x>") == ["a@x", "b@x"])
        #expect(IMAPThreading.messageIDs("Your message of today <c@x>") == ["c@x"])
        #expect(IMAPThreading.messageIDs("<> no id") == [])
    }

    @Test func orderedSubject() {
        // §3 ORDEREDSUBJECT: by base subject then date; the first of each subject the parent of
        // the others, which are siblings; threads by the date of their first message.
        let messages = [
            Self.m(1, day: 5, "beta", id: nil),
            Self.m(2, day: 1, "Re: alpha", id: nil),
            Self.m(3, day: 3, "ALPHA", id: nil),
            Self.m(4, day: 2, "[list] Beta (fwd)", id: nil),
            Self.m(5, day: 4, "Fwd: alpha", id: nil),
            Self.m(6, day: 0, "gamma", id: nil),
            Self.m(7, day: 3, "alpha", id: nil),  // same date as 3: sequence order
        ]
        #expect(Self.wire(IMAPThreading.orderedSubject(messages)) == "* THREAD (6)(2 (3)(7)(5))(4 1)")
    }

    @Test func step1AChainOfReferences() {
        // Each reference the parent of the next, the last the message's parent.
        let messages = [
            Self.m(1, day: 1, "a", id: "<1@x>"),
            Self.m(2, day: 2, "b", id: "<2@x>", refs: "<1@x>"),
            Self.m(3, day: 3, "c", id: "<3@x>", refs: "<1@x> <2@x>"),
            Self.m(4, day: 4, "d", id: "<4@x>", inReplyTo: "<2@x>"),  // no References: In-Reply-To
        ]
        #expect(Self.references(messages) == "* THREAD (1 2 (3)(4))")
    }

    @Test func step1AMissingParentsBecomeDummies() {
        // <0@x> was never seen: a dummy, which step 3 keeps at the top for two children…
        #expect(Self.references([Self.m(1, day: 1, "a", id: "<1@x>", refs: "<0@x>"),
                                 Self.m(2, day: 2, "b", id: "<2@x>", refs: "<0@x>")]) == "* THREAD ((1)(2))")
        // …promotes when it has one, and splices out below the top.
        #expect(Self.references([Self.m(1, day: 1, "a", id: "<1@x>", refs: "<0@x>")]) == "* THREAD (1)")
        #expect(Self.references([Self.m(1, day: 1, "a", id: "<1@x>"),
                                 Self.m(2, day: 2, "b", id: "<2@x>", refs: "<1@x> <gone@x>"),
                                 Self.m(3, day: 3, "c", id: "<3@x>", refs: "<1@x> <gone@x>")]) == "* THREAD (1 (2)(3))")
    }

    @Test func step1ADuplicateMessageIDsGoToTheFirst() {
        // Message 2 repeats 1's Message-ID: it gets a unique one, so 3's reply is 1's.
        let messages = [
            Self.m(1, day: 1, "a", id: "<1@x>"),
            Self.m(2, day: 2, "b", id: "<1@x>"),
            Self.m(3, day: 3, "c", id: "<3@x>", refs: "<1@x>"),
            Self.m(4, day: 4, "d", id: nil, refs: "<3@x>"),  // no Message-ID at all
        ]
        #expect(Self.references(messages) == "* THREAD (1 3 4)(2)")
    }

    @Test func step1AKeepsAnExistingParent() {
        // 3 makes 1 the parent of 2; 4's References claim <0@x> is 2's parent: not changed.
        let messages = [
            Self.m(1, day: 1, "a", id: "<1@x>"),
            Self.m(2, day: 2, "b", id: "<2@x>"),
            Self.m(3, day: 3, "c", id: "<3@x>", refs: "<1@x> <2@x>"),
            Self.m(4, day: 4, "d", id: "<4@x>", refs: "<0@x> <2@x>"),
        ]
        #expect(Self.references(messages) == "* THREAD (1 2 (3)(4))")
    }

    @Test func step1ALoopsAreNotLinked() {
        // 1 says 2 is its parent, 2 says 1 is: the second link would close a loop.
        #expect(Self.references([Self.m(1, day: 1, "a", id: "<1@x>", refs: "<2@x>"),
                                 Self.m(2, day: 2, "b", id: "<2@x>", refs: "<1@x>")]) == "* THREAD (2 1)")
        // A message that references itself, and References that run in a circle.
        #expect(Self.references([Self.m(1, day: 1, "a", id: "<1@x>", refs: "<1@x>")]) == "* THREAD (1)")
        #expect(Self.references([Self.m(1, day: 1, "a", id: "<1@x>"),
                                 Self.m(2, day: 2, "b", id: "<2@x>", refs: "<1@x> <2@x> <1@x>")]) == "* THREAD (1 2)")
    }

    @Test func step1BReplacesAParentFromTruncatedReferences() {
        // 1's References make dummy <b> the parent of <c> (message 2, not yet seen); 2's own
        // References name <z>: the link from <b> is broken. So <b> keeps only 3 and both
        // dummies, now with one child each, are promoted.
        let messages = [
            Self.m(1, day: 1, "one", id: "<1@x>", refs: "<b@x> <c@x>"),
            Self.m(2, day: 2, "two", id: "<c@x>", refs: "<z@x>"),
            Self.m(3, day: 3, "three", id: "<3@x>", refs: "<b@x>"),
        ]
        #expect(Self.references(messages) == "* THREAD (2 1)(3)")
    }

    @Test func step4SortsTheTopByDateADummyByItsFirstChild() {
        let messages = [
            Self.m(1, day: 9, "late", id: "<1@x>"),
            Self.m(2, day: 5, "x", id: "<2@x>", refs: "<0@x>"),
            Self.m(3, day: 2, "y", id: "<3@x>", refs: "<0@x>"),
            Self.m(4, day: 7, "mid", id: "<4@x>"),
        ]
        #expect(Self.references(messages) == "* THREAD ((3)(2))(4)(1)")
    }

    @Test func step5GathersBySubject() {
        // A reply whose references are lost joins the thread of the same base subject.
        #expect(Self.references([Self.m(1, day: 1, "hello", id: "<1@x>"),
                                 Self.m(2, day: 2, "Re: hello", id: "<2@x>")]) == "* THREAD (1 2)")
        // Two that are not replies: siblings under a new dummy.
        #expect(Self.references([Self.m(1, day: 1, "hello", id: "<1@x>"),
                                 Self.m(2, day: 2, "HELLO", id: "<2@x>")]) == "* THREAD ((1)(2))")
        // 5.B prefers a message that is no reply even when it comes later: the earlier reply
        // becomes its child.
        #expect(Self.references([Self.m(1, day: 1, "Re: hello", id: "<1@x>"),
                                 Self.m(2, day: 2, "hello", id: "<2@x>")]) == "* THREAD (2 1)")
        // A dummy (from step 3) is preferred; a message of its subject joins it.
        #expect(Self.references([Self.m(1, day: 1, "topic", id: "<1@x>", refs: "<0@x>"),
                                 Self.m(2, day: 2, "Re: topic", id: "<2@x>", refs: "<0@x>"),
                                 Self.m(3, day: 3, "topic", id: "<3@x>")]) == "* THREAD ((1)(2)(3))")
        // Two dummies of one subject merge their children.
        #expect(Self.references([Self.m(1, day: 1, "t", id: "<1@x>", refs: "<0@x>"),
                                 Self.m(2, day: 2, "t", id: "<2@x>", refs: "<0@x>"),
                                 Self.m(3, day: 3, "Re: t", id: "<3@x>", refs: "<9@x>"),
                                 Self.m(4, day: 4, "t", id: "<4@x>", refs: "<9@x>")]) == "* THREAD ((1)(2)(3)(4))")
        // An empty base subject is never gathered.
        #expect(Self.references([Self.m(1, day: 1, "Re:", id: "<1@x>"),
                                 Self.m(2, day: 2, "", id: "<2@x>")]) == "* THREAD (1)(2)")
    }

    @Test func step6SortsEverySiblingSetByDateThenSequence() {
        let messages = [
            Self.m(1, day: 1, "a", id: "<1@x>"),
            Self.m(2, day: 5, "b", id: "<2@x>", refs: "<1@x>"),
            Self.m(3, day: 3, "c", id: "<3@x>", refs: "<1@x>"),
            Self.m(4, day: 3, "d", id: "<4@x>", refs: "<1@x>"),
        ]
        #expect(Self.references(messages) == "* THREAD (1 (3)(4)(2))")
    }

    @Test func aLongChainNeedsNoRecursion() {
        var messages = [Self.m(1, day: 0, "chain", id: "<1@x>")]
        for n in 2...20_000 { messages.append(Self.m(UInt32(n), day: Int64(n), "Re: chain", id: "<\(n)@x>", refs: "<\(n - 1)@x>")) }
        let wire = Self.references(messages)
        #expect(wire.hasPrefix("* THREAD (1 2 3 ") && wire.hasSuffix(" 19999 20000)"))
    }
}

@Suite struct BaseSubjectReplyTests {
    @Test(arguments: [
        ("Re: test", true), ("test (fwd)", true), ("[Fwd: test]", true), ("[list] Fw: test", true),
        ("test", false), ("[list] test", false), ("Reunion", false), (" spaced ", false),
    ])
    func replyOrForward(_ subject: String, _ expected: Bool) {
        #expect(IMAPBaseSubject.extract(subject).isReplyOrForward == expected, "\(subject)")
    }
}

@Suite struct ThreadSessionTests {
    static let messages = [
        "From: a@example.org\nSubject: Plans\nDate: Mon, 2 Jan 2006 10:00:00 +0000\nMessage-ID: <p1@example.org>\n\none\n",
        "From: b@example.org\nSubject: Re: Plans\nDate: Mon, 2 Jan 2006 12:00:00 +0000\nMessage-ID: <p2@example.org>\nIn-Reply-To: <p1@example.org>\n\ntwo\n",
        "From: c@example.org\nSubject: =?utf-8?q?K=C3=B6ln?=\nDate: Sun, 1 Jan 2006 09:00:00 +0000\nMessage-ID: <k1@example.org>\n\nthree\n",
        "From: a@example.org\nSubject: Re: Plans\nDate: Tue, 3 Jan 2006 08:00:00 +0000\nMessage-ID: <p3@example.org>\nReferences: <p1@example.org>\n <p2@example.org>\n\nfour\n",
        "From: d@example.org\nSubject: Fwd: köln\nDate: Wed, 4 Jan 2006 08:00:00 +0000\nMessage-ID: <k2@example.org>\n\nfive\n",
    ]

    @Test func transcript() throws {
        let fixture = try EngineFixture(messages: Self.messages)
        _ = fixture.send("t0 SELECT INBOX")
        Transcript.check("""
        C: t1 THREAD REFERENCES UTF-8 ALL
        S: * THREAD (3 5)(1 2 4)
        S: t1 OK THREAD completed
        C: t2 UID THREAD ORDEREDSUBJECT US-ASCII ALL
        S: * THREAD (3 5)(1 (2)(4))
        S: t2 OK THREAD completed
        C: t3 THREAD REFERENCES UTF-8 NOT FROM c@example.org
        S: * THREAD (1 2 4)(5)
        S: t3 OK THREAD completed
        C: t4 THREAD REFERENCES UTF-8 SUBJECT nothing
        S: * THREAD
        S: t4 OK THREAD completed
        C: t5 THREAD REFERENCES KOI8-R ALL
        S: t5 NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset
        C: t6 THREAD MOSTRECENT UTF-8 ALL
        S: t6 BAD Unknown threading algorithm MOSTRECENT
        """, fixture: fixture)
    }

    @Test func advertised() throws {
        let fixture = try EngineFixture()
        let capability = fixture.send("c CAPABILITY")
        #expect(capability.contains(" THREAD=ORDEREDSUBJECT THREAD=REFERENCES"))
    }
}

import Testing
@testable import MailMessage

@Suite struct MIMEEnvelopeTests {
    private func mailbox(_ name: String?, _ local: String, _ domain: String?, route: String? = nil) -> AddressListItem {
        .mailbox(Mailbox(displayName: name, route: route, localPart: local, domain: domain))
    }

    @Test func addressListForms() {
        let cases: [(String, [AddressListItem])] = [
            ("alice@example.org", [mailbox(nil, "alice", "example.org")]),
            ("Alice <alice@example.org>", [mailbox("Alice", "alice", "example.org")]),
            ("\"Smith, John Q.\" <jqs@example.com>, bob@x.y", [mailbox("Smith, John Q.", "jqs", "example.com"), mailbox(nil, "bob", "x.y")]),
            ("John Q. Public <john.q.public@example.com>", [mailbox("John Q. Public", "john.q.public", "example.com")]),
            // RFC 5322 §A.1.3 group examples.
            ("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
             [.groupStart("A Group"), mailbox("Ed Jones", "c", "a.test"), mailbox(nil, "joe", "where.test"), mailbox("John", "jdoe", "one.test"), .groupEnd]),
            ("Undisclosed recipients:;", [.groupStart("Undisclosed recipients"), .groupEnd]),
            // RFC 5322 §A.5: comments and white space.
            ("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", [mailbox("Pete", "pete", "silly.test")]),
            ("(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;", [.groupStart("Hidden recipients"), .groupEnd]),
            // RFC 5322 §4.4 obsolete forms: routes, spaces around dots, name in a comment.
            ("<@relay1.test,@relay2.test:joe@example.com>", [mailbox(nil, "joe", "example.com", route: "@relay1.test,@relay2.test")]),
            ("joe . bloggs @ example . com", [mailbox(nil, "joe.bloggs", "example.com")]),
            ("joe@example.com (Joe Bloggs)", [mailbox("Joe Bloggs", "joe", "example.com")]),
            // Quoted local part, domain literal, encoded display name kept raw.
            ("\"john doe\"@example.com", [mailbox(nil, "john doe", "example.com")]),
            ("postmaster@[192.0.2.1]", [mailbox(nil, "postmaster", "[192.0.2.1]")]),
            ("=?utf-8?Q?M=C3=BCller?= <m@x.de>", [mailbox("=?utf-8?Q?M=C3=BCller?=", "m", "x.de")]),
            // Lenient: no domain, unterminated group, junk.
            ("root", [mailbox(nil, "root", nil)]),
            ("team: a@x", [.groupStart("team"), mailbox(nil, "a", "x"), .groupEnd]),
            (",,, ;", []),
            ("just some words", []),
        ]
        for (input, expected) in cases {
            #expect(MailboxList.parse(input) == expected, "\(input)")
        }
    }

    @Test func mailboxHelpers() throws {
        let m = try #require(MailboxList.mailboxes(in: "=?utf-8?Q?M=C3=BCller?= <\"a b\"@x.de>").first)
        #expect(m.decodedDisplayName == "Müller")
        #expect(m.address == "\"a b\"@x.de")
        #expect(MailboxList.mailboxes(in: "a@b, g: c@d;").map(\.address) == ["a@b", "c@d"])
    }

    @Test func envelopeOfRealisticMessage() {
        let envelope = MIMEMessage(parsing: MIMESamples.realistic).envelope
        let alice = MessageAddress(name: "=?utf-8?Q?Alice_M=C3=BCller?=", mailbox: "alice", host: "example.org")
        #expect(envelope.date == "Tue, 3 Mar 2026 09:15:00 +0100")
        #expect(envelope.subject == "=?utf-8?B?UXVhcnRhbHNiZXJpY2h0IOKCrA==?=")
        #expect(envelope.from == [alice])
        // RFC 3501 §7.4.2: Sender and Reply-To default to From.
        #expect(envelope.sender == [alice])
        #expect(envelope.replyTo == [alice])
        #expect(envelope.to == [MessageAddress(name: "Bob", mailbox: "bob", host: "example.net"),
                                MessageAddress(name: "Carol, C.", mailbox: "carol", host: "example.com")])
        #expect(envelope.cc == [.groupStart("team"),
                                MessageAddress(mailbox: "dave", host: "example.com"),
                                MessageAddress(mailbox: "erin", host: "example.com"),
                                .groupEnd])
        #expect(envelope.cc[0].isGroupStart && envelope.cc[3].isGroupEnd)
        #expect(envelope.bcc.isEmpty)
        #expect(envelope.inReplyTo == "<prev@example.net>")
        #expect(envelope.messageID == "<abc123@example.org>")
    }

    @Test func envelopeSenderReplyToPresentButEmpty() {
        let header = HeaderSection.parse(mimeCRLF("From: a@b\nSender:\nReply-To: r@s\nTo: root\n\n"))
        let envelope = MessageEnvelope(header: header)
        #expect(envelope.sender == envelope.from)
        #expect(envelope.replyTo == [MessageAddress(mailbox: "r", host: "s")])
        #expect(envelope.to == [MessageAddress(mailbox: "root", host: MessageAddress.missingDomain)])
        #expect(envelope.subject == nil && envelope.date == nil)
    }

    @Test func bodyStructureOfRealisticMessage() throws {
        let message = MIMEMessage(parsing: MIMESamples.realistic)
        let body = message.bodyStructure
        #expect(body.type == "multipart" && body.subtype == "mixed")
        #expect(body.parameters == [BodyParameter("boundary", "outer")])
        #expect(body.parts.count == 3)

        let alternative = body.parts[0]
        #expect(alternative.subtype == "alternative" && alternative.parts.count == 2)
        let plain = alternative.parts[0]
        #expect(plain.type == "text" && plain.subtype == "plain")
        #expect(plain.parameters == [BodyParameter("charset", "utf-8")])
        #expect(plain.encoding == "QUOTED-PRINTABLE")
        #expect(plain.size == "Hallo Bob,=20\r\nhier ist der Bericht f=C3=BCr Q1 =E2=82=AC.".utf8.count)
        #expect(plain.lines == 2)
        #expect(plain.id == nil && plain.disposition == nil)

        let pdf = body.parts[1]
        #expect(pdf.type == "application" && pdf.subtype == "pdf")
        #expect(pdf.parameters == [BodyParameter("name", "Bericht.pdf")])
        #expect(pdf.id == "<pdf1@example.org>")
        #expect(pdf.description == "Quarterly report")
        #expect(pdf.encoding == "BASE64")
        #expect(pdf.lines == nil)
        #expect(pdf.disposition == BodyDisposition(type: "attachment", parameters: [BodyParameter("filename*", "utf-8''Bericht%20Q1%20%E2%82%AC.pdf")]))

        let forwarded = body.parts[2]
        #expect(forwarded.type == "message" && forwarded.subtype == "rfc822")
        #expect(forwarded.encoding == "7BIT")
        #expect(forwarded.envelope?.subject == "Original")
        #expect(forwarded.envelope?.from == [MessageAddress(name: "Erin", mailbox: "erin", host: "example.com")])
        let forwardedRange = try #require(message.range(of: [3]))
        #expect(forwarded.size == forwardedRange.count)
        #expect(forwarded.lines == 17)
        #expect(forwarded.parts.count == 1)
        #expect(forwarded.parts[0].subtype == "mixed")
        #expect(forwarded.parts[0].parts.map(\.subtype) == ["plain", "png"])
        #expect(forwarded.parts[0].parts[0].lines == 1)
    }

    @Test func bodyStructureOfRFC3501StyleSinglePart() {
        let message = MIMEMessage(parsing: mimeCRLF("Subject: x\n\nline one\nline two\nline three"))
        let body = message.bodyStructure
        #expect(body.type == "text" && body.subtype == "plain")
        #expect(body.parameters == [BodyParameter("charset", "us-ascii")])
        #expect(body.encoding == "7BIT")
        #expect(body.size == 30)
        #expect(body.lines == 3)
        #expect(body.parts.isEmpty && body.envelope == nil)
    }

    @Test func languageLocationMD5() {
        let message = MIMEMessage(parsing: mimeCRLF("Content-Type: text/plain\nContent-Language: en, de (German)\nContent-Location: http://x.test/a\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n\nx"))
        let body = message.bodyStructure
        #expect(body.language == ["en", "de"])
        #expect(body.location == "http://x.test/a")
        #expect(body.md5 == "Q2hlY2sgSW50ZWdyaXR5IQ==")
    }
}

import Testing
@testable import SpamFilter

func tokens(headers: [(String, String)] = [], body: String = "", options: SpamTokenizerOptions = SpamTokenizerOptions(),
            limits: SpamTokenizerLimits = SpamTokenizerLimits()) -> [String] {
    let document = SpamDocument(headers: headers.map { (name: $0.0, value: $0.1) }, textParts: body.isEmpty ? [] : [body])
    return SpamTokenizer(limits: limits, options: options).tokenize(document).texts
}

@Suite struct TokenizerTests {
    @Test(arguments: [
        ("Hello, WORLD!", ["hello", "world!"], ["Hello", "WORLD!"]),
        ("a an the", ["the"], ["a", "an"]),
        ("call 555-1234 or $99.95 now", ["num:7", "num:4", "call", "now"], ["555-1234"]),
        ("supercalifragilisticexpialidocious", ["skip:s 30"], ["supercalifragilisticexpialidocious"]),
        ("visit http://Www.Spam.Example.com:8080/buy/now?id=123 today",
         ["proto:http", "url:com", "url:example.com", "url:spam.example.com", "url:www.spam.example.com", "url:buy", "url:now", "url:123", "visit", "today"],
         ["url:id"]),
        ("see www.cheap.example/x", ["url:cheap.example", "url:example"], ["proto:http"]),
        ("http://10.1.2.3/a", ["url:ip 10.1", "url:ip 10.1.2"], []),
        ("mail me: Joe@Mail.Example.org?subject=x", ["email name:joe", "email addr:example.org", "email addr:mail.example.org"], []),
        ("(quoted) [bracketed] \"word\"", ["quoted", "bracketed", "word"], []),
    ])
    func bodyWords(body: String, present: [String], absent: [String]) {
        let found = Set(tokens(body: body))
        for token in present { #expect(found.contains(token), "\(token) missing from \(found.sorted())") }
        for token in absent { #expect(!found.contains(token), "\(token) unexpected") }
    }

    @Test(arguments: [
        ("Subject", "FREE money!!", ["header:subject", "subject:free", "subject:money!!"]),
        ("From", "\"Joe Bloggs\" <Joe@Example.ORG>", ["from:addr:joe@example.org", "from:dom:example.org", "from:dom:org", "from:name:joe", "from:name:bloggs"]),
        ("To", "a@x.example, b@y.example", ["to:addr:a@x.example", "to:dom:y.example"]),
        ("Return-Path", "<bounce@lists.example>", ["return:addr:bounce@lists.example"]),
        ("Received", "from mx.Example.net (mx.example.net [192.0.2.7]) by mail.local.test with ESMTP; Mon, 1 Jan 2001",
         ["received:example.net", "received:mx.example.net", "received:ip 192.0", "received:ip 192.0.2", "received:local.test"]),
        ("Content-Type", "text/HTML; charset=\"Windows-1252\"", ["content-type:text/html", "charset:windows-1252"]),
        ("Content-Type", "application/octet-stream; name=\"setup.EXE\"", ["filename:exe"]),
        ("Content-Transfer-Encoding", " Base64", ["cte:base64"]),
        ("X-Mailer", "Microsoft Outlook Express 6.00", ["x-mailer:microsoft outlook express 6.00"]),
        ("Message-ID", "<abc@host.example.com>", ["message-id:example.com", "message-id:host.example.com"]),
    ])
    func headerTokens(name: String, value: String, expected: [String]) {
        let found = Set(tokens(headers: [(name, value)]))
        for token in expected { #expect(found.contains(token), "\(token) missing from \(found.sorted())") }
    }

    @Test func filterVerdictsAndDeliveryFieldsAreIgnored() {
        let found = tokens(headers: [("X-Spam-Status", "Yes, score=20"), ("X-Postamt-Spam", "0.99"),
                                     ("Delivered-To", "me@example.org"), ("Status", "RO")])
        #expect(found.isEmpty)
    }

    @Test func otherHeadersAndBigramsAreOptions() {
        var options = SpamTokenizerOptions()
        #expect(!tokens(headers: [("X-Custom", "Value")], options: options).contains("x-custom:value"))
        #expect(!tokens(body: "buy now", options: options).contains("bi:buy now"))
        options.otherHeaders = true
        options.bigrams = true
        #expect(tokens(headers: [("X-Custom", "Value")], options: options).contains("x-custom:value"))
        #expect(tokens(body: "buy now", options: options).contains("bi:buy now"))
    }

    @Test func experimentalFamiliesAreOptions() {
        var options = SpamTokenizerOptions()
        let mail = Array(("Content-Type: text/html\r\n\r\n<p style=\"display: none\">x</p><font size=1>tiny</font>"
            + "<img src=\"http://a.example/i.gif\"> V1agra \u{4F60}\u{597D}\u{5417}").utf8)
        #expect(SpamDocument.decode(rawMessage: mail).structure.isEmpty)
        let document = SpamDocument.decode(rawMessage: mail, structure: true)
        for item in ["mime:text/html", "html:hidden", "html:tinyfont", "html:tag:img", "html:images 1", "html:image-only"] {
            #expect(document.structure.contains(item), "\(item) missing from \(document.structure)")
        }
        var found = Set(SpamTokenizer(options: options).tokenize(document).texts)
        #expect(!found.contains("html:hidden") && !found.contains("deob:viagra") && !found.contains("ng:\u{4F60}\u{597D}"))
        options.structure = true
        options.deobfuscate = true
        options.scriptBigrams = true
        found = Set(SpamTokenizer(options: options).tokenize(document).texts)
        for token in ["html:hidden", "mime:text/html", "deob:viagra", "ng:\u{4F60}\u{597D}", "ng:\u{597D}\u{5417}"] {
            #expect(found.contains(token), "\(token) missing from \(found.sorted())")
        }
    }

    @Test func tokensAreDistinctAndHashesMatchText() {
        let document = SpamDocument(headers: [], textParts: ["spam spam SPAM eggs"])
        let list = SpamTokenizer().tokenize(document)
        #expect(list.texts == ["spam", "eggs"])
        #expect(list.hashes == list.texts.map { TokenHasher.hash($0.utf8) })
        #expect(!list.hashes.contains(0))
    }

    @Test func limitsMakeTheResultPartial() {
        var limits = SpamTokenizerLimits()
        limits.maxTokens = 5
        let many = SpamTokenizer(limits: limits).tokenize(SpamDocument(headers: [], textParts: ["one two three four five six seven"]))
        #expect(many.count == 5)
        #expect(many.truncation == [.tokens])

        limits = SpamTokenizerLimits()
        limits.maxScannedTextBytes = 9
        let scanned = SpamTokenizer(limits: limits).tokenize(SpamDocument(headers: [], textParts: ["alpha beta gamma", "delta"]))
        #expect(scanned.texts == ["alpha", "bet"])
        #expect(scanned.truncation == [.scannedBytes])

        let decoded = SpamTokenizer().tokenize(SpamDocument(headers: [], textParts: ["word"], truncation: [.mimeParts]))
        #expect(decoded.truncation == [.mimeParts])
    }

    @Test func hashIsStable() {
        // The on-disk database depends on these exact values.
        #expect(TokenHasher.hash("free".utf8) == TokenHasher.hash(Array("free".utf8)))
        #expect(String(TokenHasher.hash("free".utf8), radix: 16) == "4d5c25d195e613fb")
        #expect(TokenHasher.hash("a".utf8) != TokenHasher.hash("b".utf8))
    }
}

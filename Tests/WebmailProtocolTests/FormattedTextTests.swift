import Testing
@testable import WebmailProtocol

@Suite struct FormattedTextTests {
    @Test func paragraphsAndLineBreaks() {
        #expect(FormattedText.html(from: "Hello,\nsecond line\n\nNew paragraph\n\n\n") ==
            "<p>Hello,<br>\nsecond line</p>\n<p>New paragraph</p>\n")
    }

    @Test func emphasisCodeAndLinks() {
        #expect(FormattedText.html(from: "This is *bold*, _italic_ and `x < y`.") ==
            "<p>This is <strong>bold</strong>, <em>italic</em> and <code>x &lt; y</code>.</p>\n")
        // Markers inside words, unclosed or followed by a space stay text.
        #expect(FormattedText.html(from: "snake_case_name 2*3*4 * not bold * a*b") ==
            "<p>snake_case_name 2*3*4 * not bold * a*b</p>\n")
        #expect(FormattedText.html(from: "See https://example.org/a?b=1&c=2. Or mailto:x@example.org, or (http://e.org/p)") ==
            "<p>See <a href=\"https://example.org/a?b=1&amp;c=2\">https://example.org/a?b=1&amp;c=2</a>. "
            + "Or <a href=\"mailto:x@example.org\">mailto:x@example.org</a>, or (<a href=\"http://e.org/p\">http://e.org/p</a>)</p>\n")
        // A scheme alone is not a link; an underscore inside a link is not italic.
        #expect(FormattedText.html(from: "https:// and https://e.org/_a_") ==
            "<p>https:// and <a href=\"https://e.org/_a_\">https://e.org/_a_</a></p>\n")
    }

    @Test func listsAndQuotes() {
        let source = """
        Points:
        - one
        * two

        1. first
        2. second
        > quoted
        >> deeper
        > back
        after
        """
        #expect(FormattedText.html(from: source) == """
        <p>Points:</p>
        <ul>
        <li>one</li>
        <li>two</li>
        </ul>
        <ol>
        <li>first</li>
        <li>second</li>
        </ol>
        <blockquote>
        <p>quoted</p>
        <blockquote>
        <p>deeper</p>
        </blockquote>
        <p>back</p>
        </blockquote>
        <p>after</p>

        """)
    }

    /// Whatever is typed, the only tags are the ones the rules make.
    @Test(arguments: [
        "<script>alert(1)</script>",
        "*<img src=x onerror=alert(1)>*",
        "_\"><svg onload=alert(1)>_",
        "https://e.org/\"onmouseover=\"alert(1)",
        "javascript:alert(1)",
        "`</code><script>x</script>`",
        "> <iframe src=https://evil>",
    ])
    func typedMarkupStaysText(_ source: String) {
        let html = FormattedText.html(from: source)
        let allowed: Set<String> = ["p", "/p", "br", "strong", "/strong", "em", "/em", "code", "/code", "ul", "/ul", "ol", "/ol",
                                    "li", "/li", "blockquote", "/blockquote", "a", "/a"]
        var rest = Substring(html)
        while let open = rest.firstIndex(of: "<") {
            let tag = rest[rest.index(after: open)...].prefix { $0 != ">" && $0 != " " }
            #expect(allowed.contains(String(tag)), "tag \(tag) in \(html)")
            if tag == "a" {
                let end = rest[open...].firstIndex(of: ">")!
                let attributes = rest[open..<end]
                #expect(attributes.hasPrefix("<a href=\"https://") || attributes.hasPrefix("<a href=\"http://") || attributes.hasPrefix("<a href=\"mailto:"))
                #expect(attributes.filter { $0 == "\"" }.count == 2, "\(attributes)")
            }
            rest = rest[rest.index(after: open)...]
        }
        #expect(!html.contains("javascript:alert(1)\""))
    }

    @Test func documentIsUTF8HTML() {
        let document = FormattedText.document(from: "Grüße")
        #expect(document.hasPrefix("<!DOCTYPE html>"))
        #expect(document.contains("<meta charset=\"utf-8\">"))
        #expect(document.contains("<p>Grüße</p>"))
    }

    @Test func deepQuotesAreBounded() {
        let html = FormattedText.html(from: String(repeating: ">", count: 10_000) + " x")
        #expect(html.components(separatedBy: "<blockquote>").count - 1 == FormattedText.maximumQuoteDepth)
    }
}

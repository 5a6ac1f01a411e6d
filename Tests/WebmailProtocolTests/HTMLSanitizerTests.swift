import Foundation
import Testing
@testable import WebmailProtocol

@Suite struct HTMLSanitizerTests {
    let sanitizer = HTMLSanitizer()

    /// XSS vectors (after the OWASP filter evasion cheat sheet): none may leave a script, an
    /// event handler, a javascript: URL, a form or a frame in the output.
    @Test(arguments: [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=http://xss.rocks/xss.js></SCRIPT>",
        "<IMG SRC=\"javascript:alert('XSS');\">",
        "<IMG SRC=JaVaScRiPt:alert('XSS')>",
        "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
        "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
        "<a href=\" javascript:alert(1)\">x</a>",
        "<a href=\"&#x6A;avascript&colon;alert(1)\">x</a>",
        "<img src=x onerror=alert(1)>",
        "<body onload=alert(1)>",
        "<svg/onload=alert(1)>",
        "<svg><script>alert(1)</script></svg>",
        "<iframe src=\"https://evil\"></iframe>",
        "<form action=\"https://evil\"><input name=p></form>",
        "<div style=\"background:url(javascript:alert(1))\">x</div>",
        "<style>@import 'https://evil/x.css';</style>",
        "<<script>alert(1);//<</script>",
        "<scr<script>ipt>alert(1)</script>",
        "<!--<script>alert(1)//--><p>after</p>",
        "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
        "<object data=\"javascript:alert(1)\"></object>",
        "<embed src=\"https://evil/x.swf\">",
        "<base href=\"https://evil/\">",
        "<link rel=stylesheet href=https://evil/x.css>",
        "<p onclick=\"alert(1)\" title=\"x\">p</p>",
        "<textarea><script>alert(1)</script></textarea>",
        "<img src=\"https://tracker.example/pixel.gif\">",
        "<a href=\"/logout\">relative</a>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
        "<p title=\"a\" onmouseover=alert(1)//\">x</p>",
    ])
    func vectorsAreNeutralised(_ input: String) {
        let out = sanitizer.sanitize(input).lowercased()
        for forbidden in ["<script", "javascript:", "onerror", "onload", "onclick", "onmouseover", "<iframe", "<form", "<input",
                          "<svg", "<style", "<object", "<embed", "<base", "<link", "<meta", "style=", "data:text", "https://evil",
                          "tracker.example", "href=\"/"] {
            #expect(!out.contains(forbidden), "\(input) → \(out)")
        }
    }

    /// cid: images (RFC 2392) become the webmail's own URL of that part; unknown ids, other
    /// schemes and a cid: the caller did not list are dropped.
    @Test func cidImagesPointAtTheMessagesOwnParts() {
        let sanitizer = HTMLSanitizer(inlineImages: ["logo@example.org": "/inline?f=INBOX&uid=1&part=1"])
        let out = sanitizer.sanitize(#"<img src="cid:logo@example.org"><img src="CID:Logo%40example.org"><img src="cid:other@x"><img src="https://t.example/p.gif">"#)
        #expect(out.components(separatedBy: #"src="/inline?f=INBOX&amp;uid=1&amp;part=1""#).count == 3, "\(out)")
        #expect(!out.contains("cid:") && !out.contains("t.example"), "\(out)")
    }

    @Test func keepsHarmlessMarkupAndText() {
        #expect(sanitizer.sanitize("<p>Hello <b>world</b> &amp; <i>you</i></p>") == "<p>Hello <b>world</b> &amp; <i>you</i></p>")
        #expect(sanitizer.sanitize("a < b > c") == "a &lt; b &gt; c")
        #expect(sanitizer.sanitize("<table><tr><td colspan=2>x</td></tr></table>") == "<table><tr><td colspan=\"2\">x</td></tr></table>")
    }

    @Test func linksGetRelAndTarget() {
        #expect(sanitizer.sanitize("<a href=\"https://example.org/?a=1&amp;b=2\" onclick=\"x\">l</a>")
            == "<a href=\"https://example.org/?a=1&amp;b=2\" rel=\"noopener noreferrer\" target=\"_blank\">l</a>")
        #expect(sanitizer.sanitize("<a href=\"mailto:x@example.org\">m</a>").contains("href=\"mailto:x@example.org\""))
    }

    @Test func imagesOnlyInlineUnlessAllowed() {
        let png = "<img src=\"data:image/png;base64,iVBORw0KGgo=\" alt=\"a\">"
        #expect(sanitizer.sanitize(png) == png)
        #expect(sanitizer.sanitize("<img src=\"data:image/svg+xml;base64,PHN2Zz4=\">") == "")
        #expect(HTMLSanitizer(allowRemoteImages: true).sanitize("<img src=\"https://example.org/a.png\">") == "<img src=\"https://example.org/a.png\">")
        #expect(HTMLSanitizer(allowRemoteImages: true).sanitize("<img src=\"http://example.org/a.png\">") == "")
    }

    @Test func unclosedAndMisnestedTagsAreBalanced() {
        #expect(sanitizer.sanitize("<b><i>x</b>y") == "<b><i>x</i></b>y")
        #expect(sanitizer.sanitize("<div><p>open") == "<div><p>open</p></div>")
        #expect(sanitizer.sanitize("</div>stray") == "stray")
        #expect(sanitizer.sanitize("<p title=\"unterminated") == "")
    }

    @Test func deepNestingIsBounded() {
        let deep = String(repeating: "<div>", count: 10_000) + "x"
        let out = sanitizer.sanitize(deep)
        #expect(out.components(separatedBy: "<div>").count - 1 <= 100)
        #expect(out.contains("x"))
        let comments = String(repeating: "<!---->", count: 100_000)
        #expect(sanitizer.sanitize(comments) == "")
    }
}

extension String {
    func components(separatedBy separator: String) -> [Substring] { self.split(separator: separator, omittingEmptySubsequences: false) }
}

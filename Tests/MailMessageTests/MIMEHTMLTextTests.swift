import Testing
@testable import MailMessage

@Suite struct MIMEHTMLTextTests {
    @Test(arguments: [
        ("<p>Hello <b>world</b></p>", "Hello world"),
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("a<br>b<BR/>c", "a\nb\nc"),
        ("<script type=\"x\">var a = '<p>';</script>Visible<style>p{}</style>", "Visible"),
        ("<SCRIPT>unclosed", ""),
        ("x<!-- hidden <b>comment</b> -->y", "xy"),
        ("<!DOCTYPE html><html><head><title>T</title></head><body>B</body></html>", "T\nB"),
        ("&lt;tag&gt; &amp; &quot;q&quot; &euro;5 &nbsp;x", "<tag> & \"q\" €5 \u{A0}x"),
        ("&#233;&#xE9;&#X20AC;&#150;", "éé€–"),
        ("&unknown; & &amp", "&unknown; & &amp"),
        ("a < b and c>d", "a < b and c>d"),
        ("<a href=\"x>y\" title='>'>link</a>", "link"),
        ("  lots \n\n of   space  ", "lots of space"),
        ("<td>a</td><td>b</td>", "a b"),
        ("Grüße <i>aus</i> Köln", "Grüße aus Köln"),
    ])
    func converts(_ html: String, _ text: String) {
        #expect(HTMLText.plainText(from: html) == text)
    }

    @Test func outputIsCapped() {
        let html = String(repeating: "<p>é word</p>", count: 10_000)
        let text = HTMLText.plainText(from: html, limit: 1001)
        #expect(text.utf8.count <= 1001)
        #expect(text.utf8.count > 900)
        #expect(!text.contains("\u{FFFD}"))
    }
}

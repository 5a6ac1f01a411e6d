import Foundation
import Testing
@testable import WebmailServer

@Suite("webmail templates: files an administrator can override")
struct WebmailTemplatesTests {
    @Test("one pass: a value is never searched for placeholders; unknown ones stay")
    func fillIsOnePass() {
        let filled = WebmailTemplates.fill("<h1>{{a}}</h1>{{b}}{{unknown}}{{", ["a": "{{b}}", "b": "x"])
        #expect(filled == "<h1>{{b}}</h1>x{{unknown}}{{")
        #expect(WebmailTemplates.fill("no placeholders", ["a": "1"]) == "no placeholders")
    }

    @Test("the built-in templates give the pages they always gave")
    func builtInPages() {
        let page = WebmailPages.page(title: "T <1>", user: nil, csrf: nil, body: "<p>b</p>")
        #expect(page.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"))
        #expect(page.contains("<title>T &lt;1&gt; – Postamt</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n</head><body>\n\n<main>\n<p>b</p>\n</main>\n</body></html>\n"))
        let style = WebmailPages.Branding(accentColor: "a50").stylesheet(WebmailTemplates())
        #expect(style.contains("#a50") && !style.contains("{{"))
    }

    @Test("the administrator's directory wins over the share directory; broken files are skipped with a reason")
    func lookupOrder() throws {
        let base = NSTemporaryDirectory() + "webmail-templates-\(UUID().uuidString)"
        let own = base + "/etc", share = base + "/share"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try WebmailTemplates.writeBuiltIn(to: share)
        try FileManager.default.createDirectory(atPath: own, withIntermediateDirectories: true)
        try "<main>{{body}}</main>".write(toFile: own + "/layout.html", atomically: true, encoding: .utf8)
        try "<p>no form here</p>".write(toFile: own + "/login.html", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: own + "/style.css", contents: Data([0xFF, 0xFE, 0x00]))
        var logs: [String] = []
        let templates = WebmailTemplates(directories: [own, share, ""]) { logs.append($0) }
        #expect(templates.text(.layout) == "<main>{{body}}</main>" && templates.origins[.layout] == own + "/layout.html")
        #expect(templates.origins[.login] == share + "/login.html" && templates.text(.login) == WebmailTemplates.builtIn(.login))
        #expect(templates.origins[.style] == share + "/style.css")
        #expect(logs == ["template \(own)/login.html not used: it has no {{form}}", "template \(own)/style.css not used: not UTF-8"])
        #expect(WebmailPages.page(title: "t", user: nil, csrf: nil, body: "B", templates: templates) == "<main>B</main>")

        // Nothing anywhere: the built-in ones, silently.
        var none: [String] = []
        let empty = WebmailTemplates(directories: [base + "/missing"]) { none.append($0) }
        #expect(none.isEmpty && empty.origins.values.allSatisfy { $0 == "built in" })
        // Too large: not used.
        try String(repeating: "x", count: WebmailTemplates.sizeLimit + 1).appending("{{body}}").write(toFile: own + "/layout.html", atomically: true, encoding: .utf8)
        var big: [String] = []
        let large = WebmailTemplates(directories: [own]) { big.append($0) }
        #expect(large.origins[.layout] == "built in" && big.first?.hasPrefix("template \(own)/layout.html not used:") == true)
    }
}

import WebmailProtocol

/// The HTML around every page: no script, no inline style (the CSP forbids both), one
/// stylesheet, a layout that works at 390 px and at 1280 px.
public enum WebmailPages {
    static func e(_ text: String) -> String { HTMLEscape.escape(text) }

    /// What an administrator sets in postamt.conf(5) to make the webmail theirs.
    public struct Branding: Sendable {
        public var siteName: String
        /// A CSS colour, checked: `#rgb` or `#rrggbb` (anything else is the default, #234).
        public var accentColor: String
        public var loginNotice: String
        /// An image file served at /logo; empty: none.
        public var logoPath: String
        /// A CSS file served at /style.css instead of the built-in one; empty: the built-in.
        public var stylesheetPath: String

        public init(siteName: String = "Postamt", accentColor: String = "234", loginNotice: String = "", logoPath: String = "", stylesheetPath: String = "") {
            self.siteName = siteName.isEmpty || siteName.unicodeScalars.contains(where: { $0.value < 0x20 }) ? "Postamt" : String(siteName.prefix(100))
            // Hex digits, with or without "#" (in postamt.conf a value starting with "#" is a comment).
            let hex = accentColor.hasPrefix("#") ? accentColor.dropFirst() : Substring(accentColor)
            self.accentColor = (hex.count == 3 || hex.count == 6) && hex.allSatisfy(\.isHexDigit) ? "#" + hex : "#234"
            self.loginNotice = loginNotice
            self.logoPath = logoPath
            self.stylesheetPath = stylesheetPath
        }

        /// The logo's Content-Type by its file name; nil for a kind we do not serve.
        var logoType: String? {
            let lower = logoPath.lowercased()
            if lower.hasSuffix(".png") { return "image/png" }
            if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") { return "image/jpeg" }
            if lower.hasSuffix(".webp") { return "image/webp" }
            if lower.hasSuffix(".svg") { return "image/svg+xml" }
            return nil
        }

        var logo: String { logoType == nil ? "" : "<img class=\"logo\" src=\"/logo\" alt=\"\">" }

        /// The stylesheet template (built in, or the administrator's style.css) in the accent colour.
        func stylesheet(_ templates: WebmailTemplates) -> String {
            WebmailTemplates.fill(templates.text(.style), ["accent_color": accentColor])
        }
    }

    /// `poll`: seconds between the page script's unread-count requests (0: none); the script
    /// is the static /app.js (the CSP allows no inline script), and the page works without it.
    static func page(title: String, user: String?, csrf: String?, body: String, poll: Int64 = 0, brand: Branding = Branding(),
                     templates: WebmailTemplates = WebmailTemplates()) -> String {
        var nav = ""
        var script = ""
        if let user, let csrf {
            script = "\n<script src=\"/app.js\" defer></script>"
            nav = """
            <header class="top" data-poll="\(poll)"><a class="brand" href="/">\(brand.logo)\(e(brand.siteName))</a>
            <nav><a href="/folder?f=INBOX" data-key="i">Inbox <span class="badge" id="unread-badge"></span></a> <a href="/folders" data-key="f">Folders</a> <a href="/compose" data-key="c">Write</a>
            <form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="\(e(csrf))"><button type="submit">Log out \(e(user))</button></form></nav></header>
            """
        }
        return WebmailTemplates.fill(templates.text(.layout), [
            "title": e(title), "site_name": e(brand.siteName), "script": script, "nav": nav, "body": body,
            "accent_color": brand.accentColor,
        ])
    }

    static func loginPage(error: String?, brand: Branding = Branding(), templates: WebmailTemplates = WebmailTemplates()) -> String {
        let message = error.map { "<p class=\"error\" role=\"alert\">\(e($0))</p>" } ?? ""
        let notice = brand.loginNotice.isEmpty ? "" : "<p class=\"notice\">\(e(brand.loginNotice))</p>"
        let form = """
        <form method="post" action="/login" class="login">
        <label>User name <input name="user" autocomplete="username" required autofocus></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
        <button type="submit">Log in</button>
        </form>
        """
        let body = WebmailTemplates.fill(templates.text(.login), [
            "site_name": e(brand.siteName), "logo": brand.logo, "notice": notice, "error": message, "form": form,
            "accent_color": brand.accentColor,
        ])
        return page(title: "Log in", user: nil, csrf: nil, body: body, brand: brand, templates: templates)
    }

    /// Progressive enhancement, no framework: the unread count of every folder, asked for every
    /// `data-poll` seconds while the page is visible (GET /unread, JSON), shown in the title, the
    /// Inbox badge and the folder list; and one-key shortcuts for the links that carry a
    /// `data-key` (not while typing in a field). Without JavaScript nothing of this happens.
    static let script = """
    (function () {
      "use strict";
      var header = document.querySelector("header.top");
      if (!header) { return; }
      var baseTitle = document.title;
      function show(counts) {
        var inbox = counts.folders && counts.folders.INBOX || 0;
        document.title = (inbox > 0 ? "(" + inbox + ") " : "") + baseTitle;
        var badge = document.getElementById("unread-badge");
        if (badge) { badge.textContent = inbox > 0 ? String(inbox) : ""; }
        var cells = document.querySelectorAll("td[data-unread]");
        for (var i = 0; i < cells.length; i++) {
          var n = counts.folders[cells[i].getAttribute("data-unread")];
          if (typeof n === "number") { cells[i].textContent = String(n); }
        }
      }
      function poll() {
        if (document.visibilityState === "hidden") { return; }
        var request = new XMLHttpRequest();
        request.open("GET", "/unread");
        request.onload = function () {
          if (request.status === 200) { try { show(JSON.parse(request.responseText)); } catch (e) {} }
        };
        request.send();
      }
      poll();
      var seconds = parseInt(header.getAttribute("data-poll"), 10);
      if (seconds > 0) { setInterval(poll, seconds * 1000); }
      document.addEventListener("visibilitychange", function () { if (document.visibilityState === "visible") { poll(); } });
      document.addEventListener("keydown", function (event) {
        if (event.ctrlKey || event.metaKey || event.altKey) { return; }
        var target = event.target;
        if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(target.tagName))) { return; }
        if (event.key === "/") {
          var search = document.querySelector("input[name=q]");
          if (search) { event.preventDefault(); search.focus(); }
          return;
        }
        if (!/^[a-z]$/.test(event.key)) { return; }
        var link = document.querySelector("[data-key=" + event.key + "]");
        if (link) { event.preventDefault(); link.click(); }
      });
    })();

    """

    static let stylesheet = """
    *{box-sizing:border-box}
    body{margin:0;font:16px/1.45 system-ui,sans-serif;color:#1b1b1b;background:#fafafa}
    header.top{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:.5em;padding:.5em 1em;background:{{accent_color}};color:#fff}
    header.top a{color:#fff;text-decoration:none;margin-right:1em}
    .brand{font-weight:bold}
    main{max-width:1200px;margin:0 auto;padding:1em}
    form.inline{display:inline}
    button{font:inherit;padding:.3em .8em;cursor:pointer}
    .login{display:flex;flex-direction:column;gap:.8em;max-width:24em}
    .login input,.compose input,.compose textarea,.compose select{width:100%;font:inherit;padding:.4em}
    .compose{display:flex;flex-direction:column;gap:.6em}
    .compose textarea{min-height:16em}
    .compose label.check input{width:auto}
    .error{color:#a00;font-weight:bold}
    .notice{color:#060}
    table.list{width:100%;border-collapse:collapse}
    table.list td,table.list th{padding:.4em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
    table.list tr.unread td{font-weight:bold}
    td.date{white-space:nowrap;width:10em}
    td.num{text-align:right;width:5em}
    .headers dt{font-weight:bold;float:left;clear:left;width:5em}
    .headers dd{margin-left:6em}
    pre.body{white-space:pre-wrap;word-wrap:break-word;font:15px/1.4 ui-monospace,monospace;background:#fff;padding:1em;border:1px solid #ddd}
    .html-body{background:#fff;padding:1em;border:1px solid #ddd;overflow-x:auto}
    .html-body img{max-width:100%}
    .actions{display:flex;flex-wrap:wrap;gap:.4em;margin:.8em 0}
    form.search{display:flex;flex-wrap:wrap;gap:.4em;align-items:center;margin:.5em 0}
    .pager{display:flex;gap:1em;margin:1em 0}
    .badge{display:inline-block;min-width:1.4em;padding:0 .35em;border-radius:.7em;background:#c33;color:#fff;font-size:.8em;text-align:center}
    .badge:empty{display:none}
    a.button{display:inline-block;padding:.3em .8em;border:1px solid #888;border-radius:3px;background:#eee;color:#1b1b1b;text-decoration:none}
    .kept{list-style:none;padding:0;margin:0}
    img.logo{height:1.6em;vertical-align:middle;margin-right:.4em}
    th a{color:inherit;text-decoration:none}th a:hover{text-decoration:underline}
    td.level1{padding-left:1.6em}td.level2{padding-left:2.8em}td.level3{padding-left:4em}td.level4,td.level5,td.level6{padding-left:5.2em}
    table.list td{overflow-wrap:anywhere}
    @media (max-width:600px){.date{display:none}.headers dt{float:none}.headers dd{margin-left:0}main{padding:.5em}}

    """
}

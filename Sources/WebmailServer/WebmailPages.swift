import WebmailProtocol

/// The HTML around every page: no script, no inline style (the CSP forbids both), one
/// stylesheet, a layout that works at 390 px and at 1280 px.
enum WebmailPages {
    static func e(_ text: String) -> String { HTMLEscape.escape(text) }

    static func page(title: String, user: String?, csrf: String?, body: String) -> String {
        var nav = ""
        if let user, let csrf {
            nav = """
            <header class="top"><a class="brand" href="/">Postamt</a>
            <nav><a href="/folders">Folders</a> <a href="/compose">Write</a>
            <form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="\(e(csrf))"><button type="submit">Log out \(e(user))</button></form></nav></header>
            """
        }
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(e(title)) – Postamt</title>
        <link rel="stylesheet" href="/style.css">
        </head><body>
        \(nav)
        <main>
        \(body)
        </main>
        </body></html>

        """
    }

    static func loginPage(error: String?) -> String {
        let message = error.map { "<p class=\"error\" role=\"alert\">\(e($0))</p>" } ?? ""
        return page(title: "Log in", user: nil, csrf: nil, body: """
        <h1>Log in</h1>
        \(message)
        <form method="post" action="/login" class="login">
        <label>User name <input name="user" autocomplete="username" required autofocus></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
        <button type="submit">Log in</button>
        </form>
        """)
    }

    static let stylesheet = """
    *{box-sizing:border-box}
    body{margin:0;font:16px/1.45 system-ui,sans-serif;color:#1b1b1b;background:#fafafa}
    header.top{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:.5em;padding:.5em 1em;background:#234;color:#fff}
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
    table.list td{overflow-wrap:anywhere}
    @media (max-width:600px){.date{display:none}.headers dt{float:none}.headers dd{margin-left:0}main{padding:.5em}}

    """
}

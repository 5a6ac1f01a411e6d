import MailSystem

/// The files an administrator can override to make the webmail theirs (postamt-webmail(8),
/// CUSTOMISATION): the page frame, the login page and the stylesheet. Each is looked for in
/// `webmail_template_directory` (the administrator's, /etc/postamt/webmail), then in
/// `webmail_share_directory` (the installation's copies, /usr/share/postamt/webmail), then
/// built in. They are read once per connection while the process is still root, so the files
/// need not be readable by the users.
///
/// A template is text with `{{name}}` placeholders, filled in one pass (a value is never
/// searched for placeholders again). The values are HTML the program made and escaped; the
/// CSP still allows no inline script, whatever a template says.
public struct WebmailTemplates: Sendable {
    public enum Name: String, CaseIterable, Sendable {
        /// Every page's frame: `{{title}}`, `{{site_name}}`, `{{nav}}`, `{{script}}`, `{{body}}`
        /// (required), `{{accent_color}}`.
        case layout = "layout.html"
        /// The login page's content (inside the frame): `{{site_name}}`, `{{logo}}`, `{{notice}}`,
        /// `{{error}}`, `{{form}}` (required: the form whose fields the server reads).
        case login = "login.html"
        /// The stylesheet served at /style.css: `{{accent_color}}`.
        case style = "style.css"

        /// What a file must contain to be used: without it the page would not work.
        var required: [String] {
            switch self {
            case .layout: ["{{body}}"]
            case .login: ["{{form}}"]
            case .style: []
            }
        }
    }

    /// A template larger than this is not used (a mistake, not a page).
    public static let sizeLimit = 256 * 1024

    public private(set) var texts: [Name: String]
    /// Where each text came from: a file's path, or "built in".
    public private(set) var origins: [Name: String]

    /// The built-in templates only.
    public init() {
        texts = [:]
        origins = [:]
        for name in Name.allCases {
            texts[name] = Self.builtIn(name)
            origins[name] = "built in"
        }
    }

    /// Reads the override and share directories (either may be empty: not looked at). A file
    /// that cannot be read, is too large, is not UTF-8 or lacks a required placeholder is
    /// skipped with one log line, and the next place is looked at.
    public init(directories: [String], log: (String) -> Void) {
        self.init()
        for name in Name.allCases {
            for directory in directories where !directory.isEmpty {
                let path = "\(directory)/\(name.rawValue)"
                let bytes: [UInt8]?
                do { bytes = try FileIO.readFile(path, limit: Self.sizeLimit) } catch {
                    log("template \(path) not used: \(error)")
                    continue
                }
                guard let bytes else { continue }
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    log("template \(path) not used: not UTF-8")
                    continue
                }
                if let missing = name.required.first(where: { !text.contains($0) }) {
                    log("template \(path) not used: it has no \(missing)")
                    continue
                }
                texts[name] = text
                origins[name] = path
                break
            }
        }
    }

    public func text(_ name: Name) -> String { texts[name] ?? Self.builtIn(name) }

    /// `template` with every `{{key}}` of `values` replaced, in one pass; other text, and
    /// placeholders without a value, stay as they are.
    public static func fill(_ template: String, _ values: [String: String]) -> String {
        var out = ""
        out.reserveCapacity(template.utf8.count + values.values.reduce(0) { $0 + $1.utf8.count })
        var rest = Substring(template)
        while let open = rest.firstRange(of: "{{") {
            out += rest[..<open.lowerBound]
            let after = rest[open.upperBound...]
            guard let close = after.firstRange(of: "}}") else { break }
            let key = String(after[..<close.lowerBound])
            if let value = values[key] {
                out += value
            } else {
                out += rest[open.lowerBound..<close.upperBound]
            }
            rest = after[close.upperBound...]
        }
        return out + rest
    }

    /// The templates as the program has them built in (`postamt-webmail --write-templates`
    /// writes these, which scripts/install puts under the share directory).
    public static func builtIn(_ name: Name) -> String {
        switch name {
        case .layout:
            return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{{title}} – {{site_name}}</title>
            <link rel="stylesheet" href="/style.css">{{script}}
            </head><body>
            {{nav}}
            <main>
            {{body}}
            </main>
            </body></html>

            """
        case .login:
            return """
            <h1>{{logo}}Log in to {{site_name}}</h1>
            {{notice}}{{error}}
            {{form}}
            """
        case .style:
            return WebmailPages.stylesheet
        }
    }

    /// Writes the built-in templates into `directory` (made if missing), for an administrator
    /// to copy and change. Existing files are replaced.
    public static func writeBuiltIn(to directory: String) throws {
        try FileIO.makeDirectories(directory, mode: 0o755)
        for name in Name.allCases {
            try FileIO.writeAtomically("\(directory)/\(name.rawValue)", Array(builtIn(name).utf8), mode: 0o644)
        }
    }
}

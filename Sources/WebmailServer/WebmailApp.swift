#if canImport(Glibc)
import Glibc
#endif
import MailCore
import MailLogin
import MailMessage
import MailSystem
import Maildir
import SMTPServer
import WebmailProtocol

/// The webmail of one connection: a request in, a response out. Starts as root; the first
/// request with a valid session (or a successful login) makes the process that session's
/// user, irrevocably (`UserSwitch.become`), before any mail is touched. From then on only
/// that user's sessions are served on this connection; a request of another session gets a
/// redirect to the same page with the connection closed, so the browser asks again on a new
/// connection (a new process, root again).
public final class WebmailApp {
    let settings: WebmailSettings
    let configuration: Configuration
    let store: SessionStore
    let peer: String
    let log: (String) -> Void
    /// The page templates, read at the start while the process is root (WebmailTemplates).
    let templates: WebmailTemplates
    /// postamt-auth; a test may put something else here.
    var checkPassword: (String, [UInt8]) -> PasswordVerdict
    /// The user this process became; nil while root.
    public private(set) var user: SystemUser?
    /// The user's sending counts (smtpd's hourly limits), opened as root before the drop; nil
    /// when no limit is set or the file could not be opened (then the limits are not applied,
    /// as smtpd does when its state is unreadable).
    var sendingCounts: SendingCountFile?
    var now: () -> Int64 = { Int64(time(nil)) }

    static let cookieName = "__Host-postamt_session"

    public init(settings: WebmailSettings, configuration: Configuration, peer: String, log: @escaping (String) -> Void) {
        self.settings = settings
        self.configuration = configuration
        self.peer = peer
        self.log = log
        templates = WebmailTemplates(directories: settings.templateDirectories, log: log)
        store = SessionStore(directory: settings.sessionDirectory, idleSeconds: settings.sessionIdleSeconds,
                             lifetimeSeconds: settings.sessionLifetimeSeconds)
        let checker = PasswordChecker(settings: settings.login, service: "webmail")
        checkPassword = { user, password in checker.check(user: user, password: password, peer: peer) }
    }

    /// What the connection loop does after answering.
    public struct Answer {
        public var response: HTTPResponse
        /// Close the connection after this response.
        public var close = false
    }

    /// Answers one request. Never throws: every failure is a status.
    public func answer(_ request: HTTPRequest) -> Answer {
        var request = request
        // HEAD is GET without the body (the connection loop leaves it out), and without GET's
        // side effects (a message opened by HEAD is not marked read: RFC 9110 §9.3.2).
        let headOnly = request.method == "HEAD"
        if headOnly { request.method = "GET" }
        let path = request.path
        switch path {
        case "/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml":
            guard request.method == "GET" else { return methodNotAllowed("GET") }
            return Answer(response: thunderbirdAutoconfig(request))
        case _ where path.lowercased() == "/autodiscover/autodiscover.xml":
            guard request.method == "POST" || request.method == "GET" else { return methodNotAllowed("GET, POST") }
            return Answer(response: outlookAutodiscover(request))
        case "/.well-known/mta-sts.txt":
            // RFC 8461 §3.3: the policy host mta-sts.DOMAIN serves it over HTTPS, no login.
            guard request.method == "GET" else { return methodNotAllowed("GET") }
            guard let policy = settings.mtaSTSPolicy else { return Answer(response: .text("404 Not Found\n", status: 404)) }
            return Answer(response: .text(policy, status: 200))
        case "/style.css":
            guard request.method == "GET" else { return methodNotAllowed("GET") }
            // An administrator's own stylesheet (webmail_stylesheet), else ours in the accent colour.
            let own = settings.branding.stylesheetPath.isEmpty ? nil : (try? FileIO.readFile(settings.branding.stylesheetPath, limit: 1 << 20)) ?? nil
            if !settings.branding.stylesheetPath.isEmpty && own == nil { log("webmail_stylesheet \(settings.branding.stylesheetPath) cannot be read; the built-in one is served") }
            var response = HTTPResponse(status: 200, headers: [("Content-Type", "text/css; charset=utf-8")], body: own ?? Array(settings.branding.stylesheet(templates).utf8))
            response.headers.append(("Cache-Control", "private, max-age=3600"))
            return Answer(response: response)
        case "/app.js":
            guard request.method == "GET" else { return methodNotAllowed("GET") }
            var response = HTTPResponse(status: 200, headers: [("Content-Type", "text/javascript; charset=utf-8")], body: Array(WebmailPages.script.utf8))
            response.headers.append(("Cache-Control", "private, max-age=3600"))
            return Answer(response: response)
        case "/logo":
            guard request.method == "GET" else { return methodNotAllowed("GET") }
            guard let type = settings.branding.logoType, let bytes = (try? FileIO.readFile(settings.branding.logoPath, limit: 1 << 20)) ?? nil else {
                return Answer(response: .text("404 Not Found\n", status: 404))
            }
            var response = HTTPResponse(status: 200, headers: [("Content-Type", type)], body: bytes)
            response.headers.append(("Cache-Control", "private, max-age=3600"))
            return Answer(response: response)
        case "/favicon.ico":
            return Answer(response: .text("404 Not Found\n", status: 404))
        case "/login":
            if request.method == "GET" { return Answer(response: .html(WebmailPages.loginPage(error: nil, brand: settings.branding, templates: templates))) }
            guard request.method == "POST" else { return methodNotAllowed("GET, POST") }
            return login(request)
        default:
            break
        }
        guard request.method == "GET" || request.method == "POST" else { return methodNotAllowed("GET, POST") }
        if request.method == "POST", let refusal = crossSiteRefusal(request) { return Answer(response: refusal) }

        // Everything else needs a session.
        let cookie = FormData.cookie(WebmailApp.cookieName, in: request.header("Cookie")) ?? ""
        let session: SessionStore.Session
        switch store.lookup(cookie: cookie, now: now()) {
        case .none:
            if request.method == "GET" { return Answer(response: .redirect("/login")) }
            return Answer(response: .html(WebmailPages.page(title: "Session ended", user: nil, csrf: nil,
                body: "<h1>Your session has ended</h1><p><a href=\"/login\">Log in again</a>; nothing was changed.</p>", brand: settings.branding, templates: templates), status: 403))
        case .otherUser:
            return Answer(response: .redirect(request.method == "GET" ? request.target : "/"), close: true)
        case .valid(let found):
            session = found
        }
        if let user, user.uid != session.uid {
            return Answer(response: .redirect(request.method == "GET" ? request.target : "/"), close: true)
        }
        if user == nil {
            guard let account = SystemUser.withID(session.uid) else { return Answer(response: .redirect("/login"), close: true) }
            store.touch(session)
            openSendingCounts(account)
            do {
                user = try UserSwitch.become(account.name)
            } catch {
                log("cannot become \(account.name): \(error)")
                return Answer(response: .text("Service unavailable, try later\n", status: 503), close: true)
            }
        } else {
            store.touch(session)
        }
        guard let user else { return Answer(response: .redirect("/login"), close: true) }
        let context = RequestContext(app: self, user: user, session: session, request: request, headOnly: headOnly)
        if request.method == "POST" {
            let posted: RequestContext.PostedForm
            switch context.form() {
            case .failure(let error):
                log("refused a POST to \(path): \(error)")
                return Answer(response: .error(error))
            case .success(let fields): posted = fields
            }
            let form = posted.fields
            guard let token = form.first(where: { $0.name == "csrf" })?.value, WebmailApp.constantTimeEqual(token, session.csrfToken) else {
                log("refused a POST to \(path) without the session's form token")
                return Answer(response: .text("403 Forbidden: the form token is missing or wrong; nothing was changed\n", status: 403))
            }
            if path == "/logout" {
                store.end(session)
                log("logout user=\(user.name)")
                var response = HTTPResponse.redirect("/login")
                response.headers.append(("Set-Cookie", "\(WebmailApp.cookieName)=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"))
                response.headers.append(("Clear-Site-Data", "\"cache\""))
                return Answer(response: response, close: true)
            }
            return Answer(response: context.post(path, form: form, files: posted.files))
        }
        return Answer(response: context.get(path))
    }

    func methodNotAllowed(_ allowed: String) -> Answer {
        Answer(response: HTTPResponse(status: 405, headers: [("Allow", allowed), ("Content-Type", "text/plain; charset=utf-8")],
                                      body: Array("405 Method Not Allowed\n".utf8)))
    }

    /// A POST from another site: refused whatever its cookie (SameSite=Strict already keeps
    /// the cookie away; this also covers the login form, which has no session yet).
    func crossSiteRefusal(_ request: HTTPRequest) -> HTTPResponse? {
        if let site = request.header("Sec-Fetch-Site"), site != "same-origin" && site != "none" {
            return .text("403 Forbidden: cross-site request; nothing was changed\n", status: 403)
        }
        if let origin = request.header("Origin") {
            let host = request.header("Host") ?? ""
            if origin != "https://\(host)" {
                return .text("403 Forbidden: the request comes from \(origin), not from this site; nothing was changed\n", status: 403)
            }
        }
        return nil
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }

    // MARK: Login

    func login(_ request: HTTPRequest) -> Answer {
        if let refusal = crossSiteRefusal(request) { return Answer(response: refusal) }
        if user != nil {
            // This process already is somebody: a new login needs a fresh (root) process.
            return Answer(response: .redirect("/login"), close: true)
        }
        guard (request.header("Content-Type") ?? "").lowercased().hasPrefix("application/x-www-form-urlencoded") else {
            return Answer(response: .text("415 Unsupported Media Type: the login form is application/x-www-form-urlencoded\n", status: 415))
        }
        guard let form = FormData.parse(request.body) else { return Answer(response: .error(HTTPError(400, "malformed form data"))) }
        let name = form.first { $0.name == "user" }?.value ?? ""
        let password = form.first { $0.name == "password" }?.value ?? ""
        guard !name.isEmpty, name.utf8.count <= 256, !password.isEmpty, password.utf8.count <= 1024,
              !name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            return Answer(response: .html(WebmailPages.loginPage(error: "Enter your user name and password.", brand: settings.branding, templates: templates), status: 400))
        }
        switch checkPassword(name, Array(password.utf8)) {
        case .rejected:
            log("login failed user=\(name.prefix(64))")
            return Answer(response: .html(WebmailPages.loginPage(error: "Wrong user name or password.", brand: settings.branding, templates: templates), status: 401))
        case .unavailable(let reason):
            log("login unavailable: \(reason)")
            return Answer(response: .html(WebmailPages.loginPage(error: "Logging in is not possible right now, try again later.", brand: settings.branding, templates: templates), status: 503))
        case .accepted(let canonical):
            guard let account = SystemUser.named(canonical), account.uid != 0 else {
                log("login refused: no usable system user \(canonical)")
                return Answer(response: .html(WebmailPages.loginPage(error: "Wrong user name or password.", brand: settings.branding, templates: templates), status: 401))
            }
            let created: (cookie: String, session: SessionStore.Session)
            do {
                created = try store.create(for: account, now: now())
            } catch {
                log("session: \(error)")
                return Answer(response: .html(WebmailPages.loginPage(error: "Logging in is not possible right now, try again later.", brand: settings.branding, templates: templates), status: 503))
            }
            openSendingCounts(account)
            do {
                user = try UserSwitch.become(account.name)
            } catch {
                log("cannot become \(account.name): \(error)")
                return Answer(response: .text("Service unavailable, try later\n", status: 503), close: true)
            }
            log("login user=\(account.name)")
            var response = HTTPResponse.redirect("/")
            response.headers.append(("Set-Cookie", "\(WebmailApp.cookieName)=\(created.cookie); Path=/; Secure; HttpOnly; SameSite=Strict"))
            return Answer(response: response)
        }
    }

    /// As root, just before becoming `account`: its sending counts file.
    func openSendingCounts(_ account: SystemUser) {
        guard settings.sendingLimits.isActive, geteuid() == 0 else { return }
        let ownerName = configuration.string("mail_owner")
        guard let owner = SystemUser.named(ownerName) else {
            log("mail_owner \(ownerName) does not exist; sending limits are not applied")
            return
        }
        do {
            sendingCounts = try SendingCountFile(limits: settings.sendingLimits, settings: settings.screening, user: account.name, mailOwner: owner)
        } catch {
            log("sending count of \(account.name) unavailable, not applied: \(error)")
        }
    }

    // MARK: Autoconfiguration

    func thunderbirdAutoconfig(_ request: HTTPRequest) -> HTTPResponse {
        var domain = settings.login.hostname
        var username = "%EMAILLOCALPART%"
        if let query = FormData.parse(request.query), let address = query.first(where: { $0.name == "emailaddress" })?.value,
           let at = address.lastIndex(of: "@") {
            let candidate = String(address[address.index(after: at)...]).lowercased()
            if !candidate.isEmpty, candidate.utf8.count <= 253, candidate.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E }) {
                domain = candidate
                let local = address[..<at]
                if !local.isEmpty, address.utf8.count <= 254, address.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: "&") }) {
                    username = Autoconfig.loginName(for: address, resolver: AddressBook(configuration: configuration).resolver)
                }
            }
        }
        let xml = Autoconfig.thunderbird(hostname: settings.login.hostname, domain: domain, services: settings.autoconfigServices, username: username)
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/xml; charset=utf-8")], body: Array(xml.utf8))
    }

    func outlookAutodiscover(_ request: HTTPRequest) -> HTTPResponse {
        guard let address = Autoconfig.requestedAddress(request.body) else {
            return .text("400 Bad Request: no EMailAddress in the autodiscover request\n", status: 400)
        }
        let loginName = Autoconfig.loginName(for: address, resolver: AddressBook(configuration: configuration).resolver)
        let xml = Autoconfig.outlook(hostname: settings.login.hostname, loginName: loginName, services: settings.autoconfigServices)
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/xml; charset=utf-8")], body: Array(xml.utf8))
    }
}

import Foundation
import Glibc
import Testing

/// A running postamt-webmail for integration tests: an installation with postamt-auth serving
/// PAM on a socket of its own, postamt-listen on a loopback port starting postamt-webmail per
/// connection (implicit TLS, a throw-away certificate), the queue runner, real users.
final class WebmailService: LoginServerSite {
    var port = 0
    var sessionDirectory: String { "\(system.root)/var/lib/postamt-webmail" }
    var origin: String { "https://127.0.0.1:\(port)" }

    /// `serve`: one `postamt-webmail --serve` on a listening socket handed over as systemd does
    /// with Accept=no (fd 3, LISTEN_FDS, LISTEN_PID), instead of postamt-listen starting one
    /// program per connection.
    init(config: String = "", serve: Bool = false) throws {
        try super.init(config: config, program: "postamt-webmail", logName: "webmail.log", settings: "auth_failure_delay = 0s")
        if serve {
            let (fd, listening) = try SMTPServeTests.listeningSocket()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "LISTEN_FDS=1 LISTEN_PID=$$ exec \"$0\" --serve 3<&0 0</dev/null", "\(system.root)/bin/postamt-webmail"]
            p.environment = system.environment
            p.standardInput = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
            p.standardOutput = FileHandle.nullDevice
            p.standardError = appendingHandle(logPath)
            try p.run()
            close(fd)
            processes.append(p)
            port = Int(listening)
        } else {
            port = try listen("postamt-webmail")
        }
    }

    /// curl against the webmail, verifying its certificate.
    func curl(_ arguments: [String]) throws -> RunResult {
        try run("/usr/bin/curl", ["-sS", "--cacert", certificate, "--max-time", "60"] + arguments, environment: ["PATH": "/usr/bin:/bin"])
    }

    /// Runs `script` after the shared Python helpers (`PORT`, `CA`, `conn()`, `req()`, `check()`).
    func python(_ script: String, _ arguments: [String]) throws -> RunResult {
        try run("/usr/bin/python3", ["-c", WebmailService.pythonPrelude + script, String(port), certificate] + arguments,
                environment: ["PATH": "/usr/bin:/bin"])
    }

    static let pythonPrelude = #"""
import http.client, re, socket, ssl, sys, urllib.parse
PORT = int(sys.argv[1]); CA = sys.argv[2]; ARGS = sys.argv[3:]
ORIGIN = "https://127.0.0.1:%d" % PORT
CTX = ssl.create_default_context(cafile=CA)
def conn():
    return http.client.HTTPSConnection("127.0.0.1", PORT, context=CTX, timeout=60)
def req(c, method, path, form=None, cookie=None, headers=None, origin=True):
    h = {}
    if cookie: h["Cookie"] = "__Host-postamt_session=" + cookie
    body = None
    if form is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded"
        if origin: h["Origin"] = ORIGIN
        body = urllib.parse.urlencode(form)
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    return r, r.read().decode("utf-8", "replace")
def check(condition, what):
    if not condition:
        print("FAIL", what); sys.exit(1)
    print("ok", what)
def csrf(page):
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    check(m is not None, "the page carries the form token")
    return m.group(1)
def login(c, user, password):
    r, _ = req(c, "POST", "/login", {"user": user, "password": password})
    check(r.status == 303, "login answers 303 (got %d)" % r.status)
    m = re.match(r"__Host-postamt_session=([0-9a-f]{64}); ", r.getheader("Set-Cookie") or "")
    check(m is not None, "login sets the session cookie")
    return m.group(1)

"""#
}

import Foundation
import Glibc
import Testing

/// A running postamt-webmail for integration tests: an installation with postamt-auth serving
/// PAM on a socket of its own, postamt-listen on a loopback port starting postamt-webmail per
/// connection (implicit TLS, a throw-away certificate), the queue runner, real users.
final class WebmailService {
    let system: Installation
    var processes: [Process] = []
    var port = 0
    var certificate: String { "\(system.root)/etc/postamt/cert.pem" }
    var logPath: String { "\(system.root)/webmail.log" }
    var sessionDirectory: String { "\(system.root)/var/lib/postamt-webmail" }
    var origin: String { "https://127.0.0.1:\(port)" }
    let pamService = "postamt-it-\(getpid())-\(Int.random(in: 0...999_999))"
    var pamFile: String { "/etc/pam.d/\(pamService)" }

    init(config: String = "") throws {
        system = try Installation(config: config)
        let root = system.root
        for program in ["postamt-webmail", "postamt-auth", "postamt-listen"] {
            try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/\(program)", toPath: "\(root)/bin/\(program)")
            chmod("\(root)/bin/\(program)", 0o755)
        }
        let made = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                                "-keyout", "\(root)/etc/postamt/key.pem", "-out", certificate,
                                                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        guard made.status == 0 else { throw HarnessError("openssl: \(made.stderr)") }
        chmod("\(root)/etc/postamt/key.pem", 0o600)
        let conf = try String(contentsOfFile: "\(root)/etc/postamt/postamt.conf", encoding: .utf8) + """

        auth_socket = \(root)/auth.sock
        auth_failure_delay = 0s
        pam_service = \(pamService)
        tls_certificate = \(certificate)
        tls_key = \(root)/etc/postamt/key.pem

        """
        try conf.write(toFile: "\(root)/etc/postamt/postamt.conf", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        try FileManager.default.copyItem(atPath: "\(TestEnvironment.packageRoot)/systemd/pam.d-postamt", toPath: pamFile)
        _ = try start("\(root)/bin/postamt-auth", ["serve", "--socket", "\(root)/auth.sock"])
        try waitFor("auth socket", timeout: 20) { FileManager.default.fileExists(atPath: "\(root)/auth.sock") }
        let pipe = Pipe()
        _ = try start("\(root)/bin/postamt-listen", ["-1", "127.0.0.1", "\(root)/bin/postamt-webmail"], stdout: pipe)
        var line = Data()
        while !line.contains(10) {
            let byte = pipe.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { throw HarnessError("postamt-listen printed no port: \(log())") }
            line += byte
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw HarnessError("bad port line")
        }
        self.port = port
    }

    deinit {
        for p in processes.reversed() where p.isRunning {
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: pamFile)
    }

    private func start(_ path: String, _ arguments: [String], stdout: Pipe? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.environment = system.environment
        let log = FileHandle(forWritingAtPath: logPath)!
        log.seekToEndOfFile()
        p.standardError = log
        p.standardOutput = stdout ?? log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        processes.append(p)
        return p
    }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

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

import Foundation
import Glibc
import TestSupport

/// A real HTTPS server on a loopback address (Python's http.server over ssl) with a certificate
/// from a throw-away test CA, for MTA-STS policy fetches (RFC 8461 §3.3) and TLS reports posted
/// to an https: rua (RFC 8460 §5.4).
/// - GET /.well-known/mta-sts.txt serves ROOT/<Host without port> as text/plain, else 404.
/// - POST stores each request in ROOT/posted/NNN.body and NNN.json (path, Host, Content-Type,
///   the TLS SNI the client sent or null, the status answered) and answers 503 while
///   ROOT/fail-<last path segment> exists, else 202.
/// - While ROOT/slow exists, every answer waits that many seconds (for the clients' time limits).
final class TestHTTPSServer {
    let address: String
    let port: UInt16
    /// The documents served and the requests posted.
    let root: String
    /// The test CA's certificate (PEM), world-readable: postamt-remote reads it as the mail owner.
    let caFile: String
    let work: String
    private let process = Process()
    private let lifeline = Pipe()

    /// `address`: an IPv4 or IPv6 loopback address. `names`: the DNS names (or IP addresses)
    /// the server's certificate holds.
    init(address: String, names: [String]) throws {
        work = makeTemporaryDirectory(prefix: "postamt-https")
        chmod(work, 0o755)
        self.address = address
        root = "\(work)/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let (ca, cert, key) = try makeTestCA(in: work, commonName: "Postamt Test CA", leaf: "https", dnsNames: names)
        caFile = ca
        chmod(ca, 0o644)
        // freePort probes IPv4; for an IPv6 address (::1) a port free on 127.0.0.1 serves.
        port = try RemoteTestBed.freePort(host: address.contains(":") ? "127.0.0.1" : address, udpToo: false)
        try TestHTTPSServer.script.write(toFile: "\(work)/https.py", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["\(work)/https.py", address, String(port), cert, key, root]
        process.standardInput = lifeline
        let ready = Pipe()
        process.standardOutput = ready
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        guard ready.fileHandleForReading.availableDataOrWait().starts(with: Data("ready".utf8)) else {
            throw HarnessError("the test HTTPS server did not start")
        }
    }

    deinit {
        try? lifeline.fileHandleForWriting.close()
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: work)
    }

    /// The POST requests received, oldest first.
    func posted() -> [(record: [String: Any], body: Data)] {
        let dir = "\(root)/posted"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        return names.compactMap { name in
            let base = "\(dir)/\(name.dropLast(5))"
            guard let j = FileManager.default.contents(atPath: "\(base).json"),
                  let record = try? JSONSerialization.jsonObject(with: j) as? [String: Any],
                  let body = FileManager.default.contents(atPath: "\(base).body") else { return nil }
            return (record, body)
        }
    }

    static let script = #"""
import http.server, json, os, socket, ssl, sys, threading, time
addr, port, cert, key, root = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
lock = threading.Lock()
counter = [0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def send_response(self, *a):
        slow = os.path.join(root, "slow")
        if os.path.exists(slow): time.sleep(float(open(slow).read().strip() or "0"))
        super().send_response(*a)
    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        path = os.path.join(root, os.path.basename(host))
        if self.path != "/.well-known/mta-sts.txt" or not os.path.exists(path):
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        body = open(path, "rb").read()
        self.send_response(200); self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = 503 if os.path.exists(os.path.join(root, "fail-" + os.path.basename(self.path))) else 202
        with lock:
            counter[0] += 1; n = counter[0]
        d = os.path.join(root, "posted"); os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "%03d.body" % n), "wb").write(body)
        json.dump({"path": self.path, "host": self.headers.get("Host"), "content-type": self.headers.get("Content-Type"),
                   "sni": getattr(self.connection, "postamt_sni", None), "status": status}, open(os.path.join(d, "%03d.json" % n), "w"))
        self.send_response(status); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = Server((addr, port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
def sni(sock, name, c): sock.postamt_sni = name
ctx.sni_callback = sni
s.socket = ctx.wrap_socket(s.socket, server_side=True)
threading.Thread(target=s.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.readline()
"""#
}

import Foundation
import Glibc
import Testing

/// IDLE over TLS (implicit TLS on the --tls listener, and STARTTLS on the plain one): a real
/// user logs in through postamt-auth, IDLEs, a delivery arrives, and the untagged EXISTS must
/// come while the client waits (the host waits on inotify and on the socket; decrypted bytes
/// held inside OpenSSL do not show on the socket). DONE is also sent in one TLS record together
/// with other commands: "DONE" plus the next command, a whole "IDLE / DONE / NOOP" burst, and
/// "DONE" plus a new IDLE that must then report the next delivery.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct IMAPIdleTLSTests {
    static let script = #"""
    import socket, ssl, subprocess, sys
    port, mode, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    deliver = sys.argv[5:]
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    # No timed assertion: a 90 s socket timeout only ends a hung test.
    raw = socket.create_connection(('127.0.0.1', port), timeout=90)
    if mode == 'implicit':
        s = ctx.wrap_socket(raw, server_hostname='localhost'); f = s.makefile('rb')
        print(f.readline())
    else:
        f = raw.makefile('rb'); print(f.readline())
        raw.sendall(b'S STARTTLS\r\n'); line = f.readline(); assert line.startswith(b'S OK'), line
        s = ctx.wrap_socket(raw, server_hostname='localhost'); f = s.makefile('rb')
    assert s.version() is not None
    count = [1]
    def send(data):
        # One write on an SSLSocket below 16 KiB is one TLS record.
        s.sendall(data)
    def until(tag):
        lines = []
        while True:
            line = f.readline(); assert line, lines; lines.append(line)
            if line.startswith(tag + b' '): return lines
    def delivery(subject):
        subprocess.run(deliver, input=b'From: d@example.org\nSubject: ' + subject + b'\n\nx\n', check=True)
        count[0] += 1
    def wait_exists():
        want = b'* %d EXISTS\r\n' % count[0]
        while True:
            line = f.readline(); print(line); assert line, 'connection closed'
            if line == want: return
            assert line.startswith(b'* '), line
    send(b'L LOGIN ' + user.encode() + b' ' + password.encode() + b'\r\n')
    r = until(b'L'); print(r); assert r[-1].startswith(b'L OK'), r
    send(b'A SELECT INBOX\r\n'); r = until(b'A'); assert b'* 1 EXISTS\r\n' in r, r
    # 1. IDLE, a delivery, EXISTS while idling, then DONE alone.
    send(b'B IDLE\r\n'); line = f.readline(); assert line.startswith(b'+'), line
    delivery(b'one'); wait_exists()
    send(b'DONE\r\n'); r = until(b'B'); print(r); assert r[-1].startswith(b'B OK'), r
    # 2. DONE and the next command in one record.
    send(b'C IDLE\r\n'); line = f.readline(); assert line.startswith(b'+'), line
    delivery(b'two'); wait_exists()
    send(b'DONE\r\nD NOOP\r\n')
    r = until(b'C'); assert r[-1].startswith(b'C OK'), r
    r = until(b'D'); assert r[-1].startswith(b'D OK'), r
    # 3. IDLE, DONE and a command, all in one record.
    send(b'E IDLE\r\nDONE\r\nF FETCH 3 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n')
    line = f.readline(); assert line.startswith(b'+'), line
    r = until(b'E'); assert r[-1].startswith(b'E OK'), r
    r = until(b'F'); print(r); assert r[-1].startswith(b'F OK') and b'Subject: two' in b''.join(r), r
    # 4. DONE and a new IDLE in one record: the second IDLE must report the next delivery.
    send(b'G IDLE\r\n'); line = f.readline(); assert line.startswith(b'+'), line
    send(b'DONE\r\nH IDLE\r\n')
    r = until(b'G'); assert r[-1].startswith(b'G OK'), r
    line = f.readline(); assert line.startswith(b'+'), line
    delivery(b'three'); wait_exists()
    send(b'DONE\r\n'); r = until(b'H'); assert r[-1].startswith(b'H OK'), r
    # 5. The session goes on normally after all that.
    send(b'I FETCH 4 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n'); r = until(b'I')
    assert r[-1].startswith(b'I OK') and b'Subject: three' in b''.join(r), r
    send(b'Z LOGOUT\r\n'); r = until(b'Z'); assert r[-1].startswith(b'Z OK'), r
    print('OK')
    """#

    func runIdle(implicit: Bool) throws {
        let (installation, auth) = try IMAPLoginTests.tlsInstallation()
        let user = try TestUser()
        try user.setPassword(IMAPLoginTests.password)
        try user.deliver("From: a@example.org\nSubject: zero\n\nhi\n")
        let server = try IMAPListener(installation, arguments: implicit ? ["--tls"] : [])
        let deliver = user.asUser(["\(installation.root)/bin/postamt-local", user.name])
        let result = try PythonClient.run(Self.script, [String(server.port), implicit ? "implicit" : "starttls",
                                                        user.name, IMAPLoginTests.password] + deliver,
                                          environment: ["POSTAMT_ROOT": installation.root])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
        #expect(result.stdout.hasSuffix("OK\n"))
        withExtendedLifetime(auth) {}
    }

    @Test func idleOverImplicitTLS() throws { try runIdle(implicit: true) }

    @Test func idleAfterSTARTTLS() throws { try runIdle(implicit: false) }
}

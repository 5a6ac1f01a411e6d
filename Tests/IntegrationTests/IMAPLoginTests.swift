import Foundation
import Glibc
import Testing

/// postamt-imapd's pre-login dialogue: STARTTLS and implicit TLS with a throw-away certificate,
/// LOGIN and AUTHENTICATE through postamt-auth and PAM for a real user, then the privilege drop;
/// and hostile input before and after login.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct IMAPLoginTests {
    static let password = "Imap-Pass-42"

    /// An installation with a self-signed certificate for IMAP and postamt-auth running; with
    /// `shared` the certificate is the login servers' tls_certificate/tls_key, which imapd falls
    /// back to when imap_tls_certificate/imap_tls_key are empty.
    static func tlsInstallation(shared: Bool = false) throws -> (Installation, AuthServerProcess) {
        let installation = try Installation(config: "")
        let root = installation.root
        let r = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                             "-subj", "/CN=localhost", "-keyout", "\(root)/etc/postamt/key.pem",
                                             "-out", "\(root)/etc/postamt/cert.pem"])
        guard r.status == 0 else { throw HarnessError("openssl: \(r.stderr)") }
        let conf = "\(root)/etc/postamt/postamt.conf"
        let text = try String(contentsOfFile: conf, encoding: .utf8)
            + "\n\(shared ? "" : "imap_")tls_certificate = \(root)/etc/postamt/cert.pem\n\(shared ? "" : "imap_")tls_key = \(root)/etc/postamt/key.pem\n"
        try text.write(toFile: conf, atomically: true, encoding: .utf8)
        return (installation, try AuthServerProcess(installation))
    }

    static let loginScript = #"""
    import imaplib, ssl, sys, os
    port, tlsport, user, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    # Plaintext: LOGINDISABLED, LOGIN refused
    M = imaplib.IMAP4('127.0.0.1', port)
    assert 'LOGINDISABLED' in M.capabilities and 'STARTTLS' in M.capabilities, M.capabilities
    try:
        M.login(user, password); assert False, 'plaintext login accepted'
    except imaplib.IMAP4.error as e: print('refused:', e)
    tag = M._new_tag(); M.send(tag + b' SELECT INBOX\r\n'); line = M.readline(); print(line); assert line.startswith(tag + b' BAD'), line
    # STARTTLS, then a wrong and a right password
    M.starttls(ssl_context=ctx)
    assert 'AUTH=PLAIN' in M.capabilities and 'STARTTLS' not in M.capabilities, M.capabilities
    try:
        M.login(user, 'wrong'); assert False, 'wrong password accepted'
    except imaplib.IMAP4.error as e: print('wrong:', e); assert 'AUTHENTICATIONFAILED' in str(e)
    typ, data = M.login(user, password); print(typ, data); assert typ == 'OK'
    typ, data = M.select('INBOX'); assert typ == 'OK' and data == [b'1'], data
    typ, data = M.fetch('1', '(BODY[HEADER.FIELDS (SUBJECT)])'); assert b'Subject: over tls' in data[0][1], data
    M.logout()
    # Implicit TLS and AUTHENTICATE PLAIN with SASL-IR
    S = imaplib.IMAP4_SSL('127.0.0.1', tlsport, ssl_context=ctx)
    assert 'SASL-IR' in S.capabilities and 'AUTH=PLAIN' in S.capabilities, S.capabilities
    typ, data = S.authenticate('PLAIN', lambda _: ('\0%s\0%s' % (user, password)).encode()); print(typ, data)
    assert typ == 'OK'
    typ, data = S.status('INBOX', '(MESSAGES)'); assert b'MESSAGES 1' in data[0], data
    S.logout()
    # Three failures end the connection
    S = imaplib.IMAP4_SSL('127.0.0.1', tlsport, ssl_context=ctx)
    for i in range(3):
        try: S.login(user, 'bad%d' % i)
        except imaplib.IMAP4.abort as e: print('abort', e); break
        except imaplib.IMAP4.error as e: print('fail', i, e)
    try:
        S.noop(); assert False, 'still connected'
    except (imaplib.IMAP4.abort, OSError, ssl.SSLError) as e: print('closed:', e)
    print('OK')
    """#

    @Test func startTLSImplicitTLSAndLogin() throws {
        let (installation, auth) = try Self.tlsInstallation(shared: true)
        let user = try TestUser()
        try user.setPassword(Self.password)
        try user.deliver("From: a@example.org\nSubject: over tls\n\nhi\n")
        let plain = try IMAPListener(installation, arguments: [])
        let tls = try IMAPListener(installation, arguments: ["--tls"])
        let result = try PythonClient.run(Self.loginScript, [String(plain.port), String(tls.port), user.name, Self.password])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(plain.logText())\n\(tls.logText())")
        // After login the session runs as the user: the files it made belong to them.
        var st = stat()
        #expect(stat("\(user.home)/Maildir/postamt-uidlist", &st) == 0 && st.st_uid == user.uid)
        let curl = try run("/usr/bin/curl", ["-sS", "-k", "--max-time", "30", "-u", "\(user.name):\(Self.password)",
                                             "imaps://127.0.0.1:\(tls.port)/INBOX;UID=1"])
        #expect(curl.status == 0 && curl.stdout.contains("Subject: over tls"), "\(curl.stdout) \(curl.stderr)")
        let starttls = try run("/usr/bin/curl", ["-sS", "-k", "--ssl-reqd", "--max-time", "30", "-u", "\(user.name):\(Self.password)",
                                                 "imap://127.0.0.1:\(plain.port)/INBOX;UID=1"])
        #expect(starttls.status == 0 && starttls.stdout.contains("Subject: over tls"), "\(starttls.stdout) \(starttls.stderr)")
        withExtendedLifetime(auth) {}
    }

    static let hostileScript = #"""
    import socket, ssl, sys
    port, tlsport = int(sys.argv[1]), int(sys.argv[2])
    def connect(p):
        s = socket.create_connection(('127.0.0.1', p), timeout=30); f = s.makefile('rb'); g = f.readline(); return s, f
    def exchange(s, f, data, tag):
        s.sendall(data); lines = []
        while True:
            line = f.readline(); lines.append(line)
            if not line or line.startswith(tag + b' ') or line.startswith(b'* BYE'): return lines
    s, f = connect(port)
    r = exchange(s, f, b'A LOGIN {4294967296}\r\n', b'A'); print(r); assert r[-1].startswith(b'A BAD') or r[-1].startswith(b'A NO'), r
    r = exchange(s, f, b'B NOOP\r\n', b'B'); assert r[-1].startswith(b'B OK'), r
    r = exchange(s, f, b'C ' + b'(' * 10000 + b'\r\n', b'C'); print(r); assert r[-1].startswith(b'C BAD'), r
    r = exchange(s, f, b'D ' + b'x' * 200000 + b'\r\n', b'D'); print([l[:80] for l in r]); assert r[-1].startswith(b'D BAD') or r[-1].startswith(b'* BAD'), r
    # Three invalid commands before login: Dovecot's BYE (imap_max_invalid_commands), then a new connection.
    line = f.readline(); assert line == b'* BYE Too many invalid IMAP commands.\r\n', line
    assert f.readline() == b'', 'the connection stays open'
    s, f = connect(port)
    r = exchange(s, f, b'E NOOP\r\n', b'E'); assert r[-1].startswith(b'E OK'), r
    # STARTTLS with pipelined plaintext: the pipelined command must never run.
    s.sendall(b'F STARTTLS\r\nG LOGIN x y\r\n')
    line = f.readline(); print(line); assert line.startswith(b'F OK'), line
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(s, server_hostname='localhost'); tf = t.makefile('rb')
    t.sendall(b'H NOOP\r\n'); line = tf.readline(); print(line); assert line.startswith(b'H OK'), line
    print('OK')
    """#

    @Test func hostilePreLoginInput() throws {
        let (installation, auth) = try Self.tlsInstallation()
        let plain = try IMAPListener(installation, arguments: [])
        let result = try PythonClient.run(Self.hostileScript, [String(plain.port), "0"])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(plain.logText())")
        withExtendedLifetime(auth) {}
    }

    static let hostileSessionScript = #"""
    import socket, sys
    port = int(sys.argv[1])
    s = socket.create_connection(('127.0.0.1', port), timeout=60); f = s.makefile('rb'); f.readline()
    def exchange(data, tag):
        s.sendall(data); lines = []
        while True:
            line = f.readline(); lines.append(line)
            if not line or line.startswith(tag + b' '): return lines
    for tag, cmd, want in [(b'A', b'SELECT ../../etc', b'NO'), (b'B', b'CREATE "a/../../b"', b'NO'),
                           (b'C', b'CREATE "&Jjo"', b'NO'), (b'D', b'CREATE "&AGE-"', b'NO'),
                           (b'E', b'SELECT "INBOX/../../../etc"', b'NO'), (b'F', b'CREATE .hidden', b'NO'),
                           (b'G', b'DELETE INBOX', b'NO'), (b'H', b'CREATE "a..b"', b'NO'),
                           (b'I', b'RENAME Sent "../x"', b'NO'), (b'J', b'FETCH 1 FLAGS', b'BAD'),
                           (b'K', b'SELECT INBOX', b'OK'), (b'L', b'FETCH 99 FLAGS', b'BAD'),
                           (b'M', b'SEARCH CHARSET KOI8-R TEXT x', b'NO'),
                           (b'N', b'FETCH 1:* (BODY[1.2.3.4.5.6.7.8.9] BODYSTRUCTURE)', b'OK'),
                           (b'O', b'STORE 1 +FLAGS (\\Bogus)', b'NO'),
                           (b'P', b'APPEND INBOX {5+}\r\nabcde', b'OK')]:
        r = exchange(tag + b' ' + cmd + b'\r\n', tag); print(cmd[:60], [l[:120] for l in r[-3:]])
        assert r[-1].startswith(tag + b' ' + want), (cmd, r)
    print('OK')
    """#

    @Test func hostileSessionInput() throws {
        let installation = try Installation()
        let user = try TestUser()
        // A MIME bomb: deeply nested multiparts.
        var bomb = "From: a@example.org\nSubject: bomb\nContent-Type: multipart/mixed; boundary=b0\n\n"
        for depth in 1..<200 { bomb += "--b\(depth - 1)\nContent-Type: multipart/mixed; boundary=b\(depth)\n\n" }
        bomb += "--b199\n\nleaf\n"
        try user.deliver(bomb)
        let server = try IMAPListener(installation, arguments: ["--preauth", user.name])
        let result = try PythonClient.run(Self.hostileSessionScript, [String(server.port)])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
        let etc = try FileManager.default.contentsOfDirectory(atPath: "\(user.home)/Maildir").filter { $0.contains("etc") || $0.contains("..") }
        #expect(etc.isEmpty, "\(etc)")
    }

    static let trickleScript = #"""
    import socket, sys, time
    s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=60); f = s.makefile('rb'); print(f.readline())
    s.setblocking(False)
    data = b''
    for i in range(200):   # one byte every 0.2 s: each resets no timer, the login deadline holds
        try: s.send(b'x')
        except OSError: break
        time.sleep(0.2)
        try:
            chunk = s.recv(4096)
            if not chunk: break
            data += chunk
        except BlockingIOError: pass
    print(data); assert b'* BYE' in data, data
    print('OK')
    """#

    @Test func loginDeadlineHoldsAgainstTrickling() throws {
        let installation = try Installation(config: "imap_login_timeout = 2s")
        let server = try IMAPListener(installation, arguments: [])
        let result = try PythonClient.run(Self.trickleScript, [String(server.port)])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
    }
}

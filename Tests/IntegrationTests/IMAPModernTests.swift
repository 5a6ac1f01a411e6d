import Foundation
import Glibc
import Testing

/// Issue 17 with real clients against postamt-imapd behind postamt-listen, for a real user:
/// THREAD with imapclient, COMPRESS=DEFLATE with imaplib wrapped in zlib's raw deflate.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct IMAPModernTests {
    /// Runs `script` (its argument: the port) against a pre-authenticated postamt-imapd for a
    /// fresh user who has `messages` delivered to INBOX; the script ends by printing "OK".
    func run(_ script: String, messages: [String]) throws {
        let installation = try Installation()
        let user = try TestUser()
        for message in messages { try user.deliver(message) }
        let server = try IMAPListener(installation, arguments: ["--preauth", user.name])
        let result = try PythonClient.run(script, [String(server.port)])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
        #expect(result.stdout.hasSuffix("OK\n"), "\(result.stdout)")
    }

    static let threadMessages = [
        "From: a@example.org\nSubject: Plans\nDate: Mon, 2 Jan 2006 10:00:00 +0000\nMessage-ID: <p1@example.org>\n\none\n",
        "From: b@example.org\nSubject: Re: Plans\nDate: Mon, 2 Jan 2006 12:00:00 +0000\nMessage-ID: <p2@example.org>\nIn-Reply-To: <p1@example.org>\n\ntwo\n",
        "From: c@example.org\nSubject: =?utf-8?q?K=C3=B6ln?=\nDate: Sun, 1 Jan 2006 09:00:00 +0000\nMessage-ID: <k1@example.org>\n\nthree\n",
        "From: a@example.org\nSubject: Re: Plans\nDate: Tue, 3 Jan 2006 08:00:00 +0000\nMessage-ID: <p3@example.org>\nReferences: <p1@example.org> <p2@example.org>\n\nfour\n",
        "From: d@example.org\nSubject: Fwd: k\u{f6}ln\nDate: Wed, 4 Jan 2006 08:00:00 +0000\nMessage-ID: <k2@example.org>\n\nfive\n",
        "From: e@example.org\nSubject: Plans\nDate: Thu, 5 Jan 2006 08:00:00 +0000\nMessage-ID: <p4@example.org>\nReferences: <lost@example.org> <p2@example.org>\n\nsix\n",
    ]

    static let threadScript = #"""
    import sys, imapclient
    c = imapclient.IMAPClient('127.0.0.1', port=int(sys.argv[1]), ssl=False)
    caps = c.capabilities(); print(caps)
    assert b'THREAD=REFERENCES' in caps and b'THREAD=ORDEREDSUBJECT' in caps, caps
    assert c.has_capability('THREAD=REFERENCES')
    c.select_folder('INBOX')
    # References: 2 and 6 answer 1 (6's first reference is lost, so it keeps none of its own),
    # 4 answers 2; 5 is a forward of 3's subject (RFC 5256 §3 step 5).
    r = c.thread('REFERENCES'); print(r); assert r == ((3, 5), (1, 2, (4,), (6,))), r
    r = c.thread('ORDEREDSUBJECT', ['FROM', 'a@example.org']); print(r); assert r == ((1, 4),), r
    r = c.thread('ORDEREDSUBJECT'); print(r); assert r == ((3, 5), (1, (2,), (4,), (6,))), r
    # PREVIEW (RFC 8970) through imapclient's generic FETCH parsing.
    assert b'PREVIEW' in caps, caps
    r = c.fetch([1, 6], ['PREVIEW']); print(r)
    assert r[1][b'PREVIEW'] == b'one' and r[6][b'PREVIEW'] == b'six', r
    r = c.fetch([3], ['PREVIEW (LAZY)']); print(r); assert r[3][b'PREVIEW'] == b'three', r
    c.logout(); print('OK')
    """#

    @Test(.enabled(if: PythonClient.hasIMAPClient, "needs Python's imapclient (pip install imapclient)"))
    func imapclientThreads() throws {
        try run(Self.threadScript, messages: Self.threadMessages)
    }

    static let compressScript = #"""
    import imaplib, socket, sys, zlib
    port = int(sys.argv[1])
    imaplib.Commands['COMPRESS'] = ('AUTH', 'SELECTED')

    class DeflateIMAP(imaplib.IMAP4):
        """imaplib with RFC 4978 COMPRESS=DEFLATE: raw deflate (wbits -15) both ways."""
        compressed = False
        wire_in = 0

        def compress(self):
            typ, data = self._simple_command('COMPRESS', 'DEFLATE')
            assert typ == 'OK', (typ, data)
            self.z_out = zlib.compressobj(6, zlib.DEFLATED, -15)
            self.z_in = zlib.decompressobj(-15)
            self.inflated = b''
            self.compressed = True

        def send(self, data):
            if self.compressed:
                data = self.z_out.compress(data) + self.z_out.flush(zlib.Z_SYNC_FLUSH)
            self.sock.sendall(data)

        def _more(self):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise imaplib.IMAP4.abort('EOF')
            self.wire_in += len(chunk)
            self.inflated += self.z_in.decompress(chunk)

        def read(self, size):
            if not self.compressed:
                return super().read(size)
            while len(self.inflated) < size:
                self._more()
            data, self.inflated = self.inflated[:size], self.inflated[size:]
            return data

        def readline(self):
            if not self.compressed:
                return super().readline()
            while b'\n' not in self.inflated:
                self._more()
            i = self.inflated.index(b'\n') + 1
            line, self.inflated = self.inflated[:i], self.inflated[i:]
            return line

    M = DeflateIMAP('127.0.0.1', port)
    assert 'COMPRESS=DEFLATE' in M.capabilities, M.capabilities
    try:
        M._simple_command('COMPRESS', 'LZW'); raise SystemExit('COMPRESS LZW accepted')
    except imaplib.IMAP4.error as e:
        print('refused:', e)  # BAD: an unknown mechanism
    M.compress()
    typ, data = M.capability(); print(data)
    assert b'COMPRESS=DEFLATE' not in data[0] and b'THREAD=REFERENCES' in data[0], data
    typ, data = M._simple_command('COMPRESS', 'DEFLATE'); print(typ, data)
    assert typ == 'NO' and b'[COMPRESSIONACTIVE]' in data[0], (typ, data)
    typ, data = M.select('INBOX'); assert data == [b'40'], data
    # A long answer (through the session's output sink) and literals, both compressed.
    typ, data = M.fetch('1:*', '(ENVELOPE BODY.PEEK[])'); print(len(data))
    bodies = [d[1] for d in data if isinstance(d, tuple)]
    assert len(bodies) == 40 and all(b'the same words again' in b for b in bodies), bodies[:2]
    assert M.wire_in < sum(len(b) for b in bodies) / 2, M.wire_in
    typ, data = M.append('INBOX', None, None, b'Subject: compressed\r\n\r\n' + b'x' * 100000 + b'\r\n')
    assert typ == 'OK', data
    typ, data = M.search(None, 'SUBJECT', 'compressed'); assert data == [b'41'], data
    M.logout()

    # A command pipelined behind COMPRESS in the same packet is already compressed (§3).
    s = socket.create_connection(('127.0.0.1', port))
    buf = b''
    def plain_line():
        global buf
        while b'\r\n' not in buf:
            chunk = s.recv(4096); assert chunk, buf
            buf += chunk
        i = buf.index(b'\r\n') + 2
        line, buf = buf[:i], buf[i:]
        return line
    assert plain_line().startswith(b'* PREAUTH')
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    s.sendall(b'c COMPRESS DEFLATE\r\n' + z.compress(b'n NOOP\r\n') + z.flush(zlib.Z_SYNC_FLUSH))
    line = plain_line(); print(line); assert line.startswith(b'c OK'), line
    d = zlib.decompressobj(-15); got = d.decompress(buf)
    while b'n OK' not in got:
        chunk = s.recv(4096); assert chunk, got
        got += d.decompress(chunk)
    print(got)
    # Garbage where deflate data belongs: the server closes the connection.
    s.sendall(b'\xff' * 64)
    rest = b''
    while True:
        chunk = s.recv(4096)
        if not chunk: break
        rest += chunk
    s.close()
    print('OK')
    """#

    @Test func imaplibCompressDeflate() throws {
        let filler = String(repeating: "the same words again and again, which deflate likes\n", count: 40)
        try run(Self.compressScript, messages: (1...40).map {
            "From: s\($0)@example.org\nTo: t@example.org\nSubject: message \($0)\nDate: Mon, 2 Jan 2006 10:00:00 +0000\n\n\(filler)"
        })
    }

    static let utf8Script = #"""
    import imaplib, sys
    port = int(sys.argv[1])
    M = imaplib.IMAP4('127.0.0.1', port)
    assert 'UTF8=ACCEPT' in M.capabilities, M.capabilities
    typ, data = M.enable('UTF8=ACCEPT'); print(typ, data); assert typ == 'OK', data
    assert M.utf8_enabled
    # Mailbox names as UTF-8 quoted strings, not modified UTF-7 (RFC 6855 §3).
    typ, data = M.create('"Grüße"'); assert typ == 'OK', data
    typ, data = M.list('""', '"Gr*"'); print(data); assert data == ['(\\HasNoChildren) "." "Grüße"'.encode()], data
    # APPEND with UTF8 (literal8) (§4); imaplib's own append does not frame it right, so raw.
    message = 'From: Jörg <joerg@example.org>\r\nSubject: Grüße aus Köln\r\n\r\nHallo\r\n'.encode()
    tag = M._new_tag()
    M.send(tag + ' APPEND "Grüße" UTF8 '.encode() + b'(~{%d+}\r\n' % len(message) + message + b')\r\n')
    while True:
        line = M.readline(); print(line)
        if line.startswith(tag): break
    assert line.startswith(tag + b' OK'), line
    typ, data = M.select('"Grüße"'); assert data == [b'1'], data
    # The UTF-8 header comes back unmodified to the enabled client.
    typ, data = M.fetch('1', '(BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] ENVELOPE)'); print(data)
    assert 'Subject: Grüße aus Köln'.encode() in data[0][1], data
    assert '"Grüße aus Köln"'.encode() in data[1] or 'Grüße aus Köln'.encode() in data[0][0], data
    M.logout(); print('OK')
    """#

    @Test func imaplibUTF8Accept() throws {
        try run(Self.utf8Script, messages: [])
    }
}

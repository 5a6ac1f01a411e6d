import Foundation
import Glibc
import Testing

/// Issue 20 with real clients against postamt-imapd behind postamt-listen, for a real user:
/// \Recent across sessions, BINARY APPEND, COPY/MOVE within the selected mailbox, ESEARCH
/// MODSEQ and subscriptions with Python's imaplib; SORT by address with imapclient.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct IMAPConformanceTests {
    static let imaplibScript = #"""
    import imaplib, sys
    port = int(sys.argv[1])
    imaplib.Commands['MOVE'] = ('SELECTED',)
    A = imaplib.IMAP4('127.0.0.1', port)
    B = imaplib.IMAP4('127.0.0.1', port)

    def raw(M, tag, command, payload=b''):
        # One command as bytes (literal8 is beyond imaplib); returns the lines up to the tagged one.
        M.send(tag + b' ' + command + b'\r\n' + payload)
        lines = []
        while True:
            line = M.readline(); lines.append(line)
            if line.startswith(tag + b' '): return lines

    # \Recent (RFC 3501 §2.3.2): A, the first to select, takes both deliveries.
    typ, data = A.select('INBOX'); assert data == [b'2'], data
    assert A.response('RECENT')[1] == [b'2']
    typ, data = B.status('INBOX', '(MESSAGES RECENT)'); print(data)
    assert data == [b'INBOX (MESSAGES 2 RECENT 0)'], data
    typ, data = B.append('INBOX', None, None, b'Subject: from B\r\n\r\nhi\r\n'); assert typ == 'OK', data
    typ, data = B.status('INBOX', '(RECENT)'); assert data == [b'INBOX (RECENT 1)'], data
    typ, data = B.select('INBOX', readonly=True); assert data == [b'3'], data
    assert B.response('RECENT')[1] == [b'1']
    typ, data = B.fetch('3', '(FLAGS)'); assert b'\\Recent' in data[0], data
    typ, data = B.search(None, 'RECENT'); assert data == [b'3'], data
    typ, data = B.status('INBOX', '(RECENT)'); assert data == [b'INBOX (RECENT 1)'], data  # EXAMINE took nothing
    A.noop(); assert A.response('RECENT')[1] == [b'3'], A.untagged_responses
    typ, data = A.fetch('3', '(FLAGS)'); assert b'\\Recent' in data[0], data
    B.close()
    typ, data = B.status('INBOX', '(RECENT)'); assert data == [b'INBOX (RECENT 0)'], data
    try:
        B.append('INBOX', '(\\Recent)', None, b'Subject: x\r\n\r\nx\r\n'); raise SystemExit('APPEND \\Recent accepted')
    except imaplib.IMAP4.error as e:
        print('refused:', e)

    # BINARY (RFC 3516): a literal8 holding NUL, fetched back at once.
    body = b'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\na\x00b\r\n'
    lines = raw(A, b'x1', b'APPEND INBOX ~{%d+}' % len(body), body + b'\r\n'); print(lines)
    assert lines[-1].startswith(b'x1 OK [APPENDUID '), lines
    lines = raw(A, b'x2', b'FETCH 4 (BINARY.SIZE[1] BINARY.PEEK[1])'); print(lines)
    assert b'BINARY.SIZE[1] 5' in lines[0] and lines[0].endswith(b'~{5}\r\n') and lines[1] == b'a\x00b\r\n', lines
    lines = raw(A, b'x3', b'SELECT ~{5+}\r\nINBOX'); assert lines[-1].startswith(b'x3 BAD'), lines
    typ, data = A.noop(); assert typ == 'OK'

    # COPY and MOVE to the selected mailbox (RFC 3501 §6.4.7, RFC 6851 §3.3).
    typ, data = A.select('INBOX'); assert data == [b'4'], data
    typ, data = A.copy('1', 'INBOX'); print(typ, data); assert typ == 'OK' and b'COPYUID' in data[0], data
    typ, data = A.uid('MOVE', '2', 'INBOX'); print(typ, data, A.untagged_responses); assert typ == 'OK', data
    assert A.response('EXPUNGE')[1] == [b'2'], A.untagged_responses
    typ, data = A.uid('SEARCH', None, 'ALL'); assert data == [b'1 3 4 5 6'], data
    typ, data = A.fetch('1:*', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    subjects = [d[1].strip() for d in data if isinstance(d, tuple)]; print(subjects)
    assert subjects[0] == subjects[3] and subjects[4] == b'Subject: second', subjects

    # ESEARCH with MODSEQ (RFC 4731 §3.2, RFC 7162 §3.1.5).
    # (A MODSEQ search key turns CONDSTORE on, RFC 7162 §3.1.)
    typ, data = A.store('1', '+FLAGS', '(\\Flagged)'); print(data)
    typ, data = A._simple_command('SEARCH', 'RETURN', '(MIN COUNT)', 'MODSEQ', '1')
    e = A.response('ESEARCH')[1][0]; print(e); assert b' MIN 1 COUNT 5 MODSEQ ' in e, e
    typ, data = A._simple_command('SEARCH', 'RETURN', '(COUNT)', 'MODSEQ', '99999999')
    e = A.response('ESEARCH')[1][0]; print(e); assert e.endswith(b'COUNT 0'), e

    # Subscriptions: LSUB "%" and LIST (SUBSCRIBED RECURSIVEMATCH).
    for name in ['Lists', 'Lists.Work', 'Lists.Work.Deep']: A.create(name)
    A.subscribe('Lists.Work.Deep')
    typ, data = A.lsub('""', 'Lists.%'); print(data); assert data == [b'(\\Noselect) "." Lists.Work'], data
    typ, data = A.list('""', '*'); assert any(b'Lists.Work.Deep' in d for d in data), data
    typ, data = A._simple_command('LIST', '(SUBSCRIBED RECURSIVEMATCH)', '""', 'L%')
    data = A.response('LIST')[1]; print(data)
    assert data == [b'(\\HasChildren) "." Lists ("CHILDINFO" ("SUBSCRIBED"))'], data
    # Several patterns together: the descendant matches one itself, so Lists is not listed.
    typ, data = A._simple_command('LIST', '(SUBSCRIBED RECURSIVEMATCH)', '""', '(L% Lists.Work.Deep)')
    data = A.response('LIST')[1]; print(data)
    assert data == [b'(\\HasNoChildren \\Subscribed) "." Lists.Work.Deep'], data
    A.logout(); B.logout(); print('OK')
    """#

    /// Runs `script` (its argument: the port) against a pre-authenticated postamt-imapd for a
    /// fresh user who has `messages` delivered to INBOX; the script ends by printing "OK".
    func run(_ script: String, messages: [String]) throws {
        let installation = try Installation()
        let user = try TestUser()
        for message in messages { try user.deliver(message) }
        let server = try IMAPListener(installation, arguments: ["--preauth", user.name])
        let result = try PythonClient.run(script, [String(server.port)])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
        #expect(result.stdout.hasSuffix("OK\n"))
    }

    @Test func imaplibTwoSessions() throws {
        try run(Self.imaplibScript, messages: ["From: a@example.org\nSubject: first\n\none\n",
                                               "From: b@example.org\nSubject: second\n\ntwo\n"])
    }

    static let sortScript = #"""
    import sys, imapclient
    c = imapclient.IMAPClient('127.0.0.1', port=int(sys.argv[1]), ssl=False)
    c.select_folder('INBOX')
    ids = c.search(['ALL']); assert len(ids) == 4, ids
    # RFC 5256 §3: the first addr-mailbox, i;ascii-casemap ("_" after letters), missing as "".
    r = c.sort(['FROM']); print(r); assert r == [4, 2, 3, 1], r
    r = c.sort(['REVERSE', 'FROM']); print(r); assert r == [1, 2, 3, 4], r
    r = c.sort(['CC', 'FROM']); print(r); assert r == [4, 2, 3, 1], r
    # RFC 5957: the display name, else the address.
    r = c.sort(['DISPLAYFROM']); print(r); assert r == [4, 3, 2, 1], r
    c.logout(); print('OK')
    """#

    @Test(.enabled(if: PythonClient.hasIMAPClient, "needs Python's imapclient (pip install imapclient)"))
    func imapclientSortsByAddress() throws {
        try run(Self.sortScript, messages: ["From: Zed <_x@example.org>\nCc: dave@example.org\nSubject: 1\n\n1\n",
                                            "From: bob@example.org\nSubject: 2\n\n2\n",
                                            "From: Alice <BOB@example.org>\nSubject: 3\n\n3\n",
                                            "To: x@example.org\nSubject: 4\n\n4\n"])
    }
}

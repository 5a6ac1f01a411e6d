import Foundation
import Glibc
import Testing

/// postamt-imapd with real clients (Python's imaplib and imapclient, curl) through
/// postamt-listen on 127.0.0.1, against real users' Maildirs.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct IMAPClientTests {
    static let first = """
    From: Alice <alice@example.org>
    To: Bob <bob@example.org>
    Subject: first message
    Date: Mon, 2 Jan 2006 15:04:05 +0000
    Message-ID: <first@example.org>

    Hello Bob, this is the first one.

    """

    static let second = """
    From: Carol <carol@example.org>
    To: Bob <bob@example.org>
    Subject: =?utf-8?q?zweite_Nachricht?=
    Date: Tue, 3 Jan 2006 10:00:00 +0100
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary="XX"

    --XX
    Content-Type: text/plain; charset=utf-8
    Content-Transfer-Encoding: quoted-printable

    Viele Gr=C3=BC=C3=9Fe aus K=C3=B6ln
    --XX
    Content-Type: application/octet-stream; name="a.bin"
    Content-Transfer-Encoding: base64

    AAECAwQ=
    --XX--

    """

    static let imaplibScript = #"""
    import imaplib, subprocess, sys, time
    port = int(sys.argv[1]); deliver = sys.argv[2:]
    imaplib.Commands['MOVE'] = ('SELECTED',)
    M = imaplib.IMAP4('127.0.0.1', port)
    assert M.state == 'AUTH', M.state
    typ, caps = M.capability(); print(caps)
    for c in [b'IDLE', b'UIDPLUS', b'MOVE', b'SPECIAL-USE', b'CONDSTORE', b'SORT', b'ESEARCH', b'LITERAL+']:
        assert c in caps[0].split(), c
    typ, data = M.list(); print(data)
    assert any(b'\\Sent' in l and b'Sent' in l for l in data), data
    typ, data = M.select('INBOX'); assert typ == 'OK' and data == [b'2'], data
    # FETCH BODY[] and sections
    typ, data = M.fetch('1', '(BODY[])'); assert b'Subject: first message\r\n' in data[0][1], data
    typ, data = M.fetch('2', '(BODY.PEEK[1] BODY.PEEK[2.MIME] BODYSTRUCTURE ENVELOPE)'); print(data)
    assert b'Viele Gr=C3=BC=C3=9Fe' in data[0][1], data
    typ, data = M.fetch('1:2', '(FLAGS)'); print(data)
    assert b'\\Seen' in data[0] and b'\\Seen' not in data[1], data
    # SEARCH: header, decoded body with CHARSET UTF-8, flags
    typ, data = M.search(None, 'SUBJECT', 'first'); assert data == [b'1'], data
    typ, data = M.search(None, 'SUBJECT', 'zweite'); assert data == [b'2'], data
    M.literal = 'grüße aus köln'.encode()
    typ, data = M.search('UTF-8', 'BODY'); assert data == [b'2'], data
    typ, data = M.search(None, 'UNSEEN'); assert data == [b'2'], data
    typ, data = M.search(None, 'FROM', 'carol', 'SENTSINCE', '3-Jan-2006'); assert data == [b'2'], data
    # STORE
    typ, data = M.store('2', '+FLAGS', '(\\Flagged)'); print(data); assert b'\\Flagged' in data[0], data
    typ, data = M.store('2', '+FLAGS', '(\\Flagged)'); assert data[0] is not None and b'\\Flagged' in data[0], data  # unchanged: still FETCH
    # COPY with COPYUID, CREATE
    typ, data = M.create('Work'); assert typ == 'OK', data
    typ, data = M.copy('1', 'Work'); assert typ == 'OK', data
    r = M.response('COPYUID'); print(r)
    assert r[1][0] is not None and len(r[1][0].split()) == 3, r
    # APPEND with flags, internal date, APPENDUID
    msg = b'From: me@example.org\r\nSubject: appended\r\n\r\nbody\r\n'
    typ, data = M.append('Work', '(\\Seen $Important)', imaplib.Time2Internaldate(1136214245), msg); print(typ, data)
    assert typ == 'OK' and b'APPENDUID' in data[0], data
    typ, data = M.status('Work', '(MESSAGES UNSEEN UIDNEXT)'); print(data); assert b'MESSAGES 2' in data[0], data
    # MOVE
    typ, data = M._simple_command('MOVE', '1', 'Work'); print(typ, data); assert typ == 'OK', data
    typ, data = M.select('INBOX'); assert data == [b'1'], data
    typ, data = M.select('Work'); assert data == [b'3'], data
    typ, data = M.fetch('2', '(INTERNALDATE FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])'); print(data)
    assert b'02-Jan-2006' in data[0][0] or b' 2-Jan-2006' in data[0][0], data
    assert b'$Important' in data[0][0], data
    # EXPUNGE
    typ, data = M.store('1', '+FLAGS.SILENT', '(\\Deleted)'); assert typ == 'OK'
    typ, data = M.expunge(); print(data); assert data == [b'1'], data
    # IDLE with a delivery arriving during IDLE
    typ, data = M.select('INBOX'); assert data == [b'1'], data
    tag = M._new_tag()
    M.send(tag + b' IDLE\r\n')
    line = M.readline(); assert line.startswith(b'+'), line
    subprocess.run(deliver, check=True)
    line = M.readline(); print(line); assert line == b'* 2 EXISTS\r\n', line
    M.send(b'DONE\r\n')
    line = M.readline()
    while line.startswith(b'* '): print(line); line = M.readline()   # * 1 RECENT
    print(line); assert line.startswith(tag + b' OK'), line
    typ, data = M.fetch('2', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])'); print(data); assert b'during idle' in data[0][1], data
    # UID FETCH and UID SEARCH
    typ, data = M.uid('SEARCH', 'ALL'); print(data)
    uids = data[0].split(); assert len(uids) == 2
    typ, data = M.uid('FETCH', uids[-1].decode(), '(UID RFC822.SIZE)'); print(data)
    M.close(); M.logout()
    print('OK')
    """#

    @Test func imaplibSession() throws {
        let installation = try Installation()
        let user = try TestUser()
        try user.deliver(Self.first)
        try user.deliver(Self.second)
        let server = try IMAPListener(installation, arguments: ["--preauth", user.name])
        let during = "\(installation.root)/during.eml"
        try "From: x@example.org\nSubject: during idle\n\nnew\n".write(toFile: during, atomically: true, encoding: .utf8)
        // The delivery during IDLE is a real one: sendmail, the queue, the runner, postamt-local.
        try installation.startRunner()
        let result = try PythonClient.run(Self.imaplibScript, [String(server.port), "/bin/sh", "-c",
            "POSTAMT_ROOT=\(installation.root) \(installation.root)/bin/sendmail \(user.name) < \(during)"])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())\n\(installation.log())")
        #expect(result.stdout.hasSuffix("OK\n"))
    }

    static let concurrencyScript = #"""
    import imaplib, subprocess, sys
    port = int(sys.argv[1]); deliver = sys.argv[2:]
    A = imaplib.IMAP4('127.0.0.1', port); B = imaplib.IMAP4('127.0.0.1', port)
    assert A.select('INBOX')[1] == [b'2'] and B.select('INBOX')[1] == [b'2']
    typ, data = A.uid('SEARCH', 'ALL'); uids = [int(u) for u in data[0].split()]; print(uids)
    # A expunges the newest message; B must see the EXPUNGE; a new delivery must get a new UID.
    A.store('2', '+FLAGS', '(\\Deleted)'); typ, data = A.expunge(); assert data == [b'2'], data
    for i in range(3): subprocess.run(deliver, input=b'From: d@example.org\nSubject: new %d\n\nx\n' % i, check=True)
    typ, data = B.noop(); print(B.untagged_responses)
    assert B.untagged_responses.get('EXPUNGE') == [b'2'], B.untagged_responses
    assert B.untagged_responses.get('EXISTS')[-1] == b'4', B.untagged_responses
    typ, data = B.uid('SEARCH', 'ALL'); new = [int(u) for u in data[0].split()]; print(new)
    assert new[0] == uids[0] and min(new[1:]) > max(uids), (uids, new)
    # Flags changed by B show up in A as an untagged FETCH.
    B.store('1', '+FLAGS', '(\\Answered)')
    typ, data = A.noop(); print(A.untagged_responses)
    assert any(b'\\Answered' in f for f in A.untagged_responses.get('FETCH', [])), A.untagged_responses
    A.logout(); B.logout(); print('OK')
    """#

    @Test func twoSessionsAndDeliveries() throws {
        let installation = try Installation()
        let user = try TestUser()
        try user.deliver(Self.first)
        try user.deliver(Self.second)
        let server = try IMAPListener(installation, arguments: ["--preauth", user.name])
        let result = try PythonClient.run(Self.concurrencyScript, [String(server.port)] + user.asUser(["\(installation.root)/bin/postamt-local", user.name]),
                                          environment: ["POSTAMT_ROOT": installation.root])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
    }

    static let imapclientScript = #"""
    import sys, imapclient
    from imapclient.imapclient import SENT, TRASH
    port = int(sys.argv[1])
    c = imapclient.IMAPClient('127.0.0.1', port=port, ssl=False)
    print(c.capabilities())
    print(c.enable('CONDSTORE'))
    sent = c.find_special_folder(SENT); assert sent == 'Sent', sent
    assert c.find_special_folder(TRASH) == 'Trash'
    info = c.select_folder('INBOX'); print(info); assert info[b'HIGHESTMODSEQ'] >= 1, info
    hms = info[b'HIGHESTMODSEQ']
    r = c.fetch([1, 2], ['MODSEQ', 'FLAGS']); print(r)
    c.add_flags([2], [b'\\Flagged'])
    r = c.fetch([1, 2], ['FLAGS'], modifiers=['CHANGEDSINCE %d' % hms]); print(r)
    assert list(r.keys()) == [2], r
    r = c.sort(['SUBJECT']); print(r); assert r == [2, 1] or r == [1, 2]
    r = c.sort(['REVERSE', 'DATE']); print(r); assert r == [2, 1], r
    r = c.sort(['DISPLAYFROM']); print(r); assert r == [1, 2], r
    r = c.append('Drafts', b'Subject: draft\r\n\r\nx\r\n', flags=[b'\\Draft']); print(r); assert b'APPENDUID' in r, r
    r = c.copy([1], 'Archive'); print(r)
    r = c.move([2], 'Trash'); print(r)
    print(c.folder_status('Trash', ['MESSAGES', 'UIDNEXT', 'HIGHESTMODSEQ']))
    assert c.folder_status('Trash', ['MESSAGES'])[b'MESSAGES'] == 1
    r = c.list_folders(); print(r); names = [n for _, _, n in r]; assert 'INBOX' in names and 'Junk' in names
    r = c.namespace(); print(r)
    c.create_folder('Lists.Work'); assert c.folder_exists('Lists.Work')
    r = c.list_folders('', 'Lists.%'); print(r)
    c.rename_folder('Lists.Work', 'Lists.Job'); assert c.folder_exists('Lists.Job')
    c.delete_folder('Lists.Job'); assert not c.folder_exists('Lists.Job')
    c.subscribe_folder('Archive'); print(c.list_sub_folders())
    print(c.id_({'name': 'test'}))
    c.logout(); print('OK')
    """#

    @Test(.enabled(if: PythonClient.hasIMAPClient, "needs Python's imapclient (pip install imapclient)"))
    func imapclientExtensions() throws {
        let installation = try Installation()
        let user = try TestUser()
        try user.deliver(Self.first)
        try user.deliver(Self.second)
        let server = try IMAPListener(installation, arguments: ["--preauth", user.name])
        let result = try PythonClient.run(Self.imapclientScript, [String(server.port)])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
    }

    @Test func curlFetchesAndLists() throws {
        let installation = try Installation()
        let user = try TestUser()
        try user.deliver(Self.first)
        let server = try IMAPListener(installation, arguments: ["--preauth", user.name])
        let list = try run("/usr/bin/curl", ["-sS", "--max-time", "30", "imap://127.0.0.1:\(server.port)/"])
        #expect(list.status == 0 && list.stdout.contains("INBOX") && list.stdout.contains("Sent"), "\(list.stdout) \(list.stderr)")
        let message = try run("/usr/bin/curl", ["-sS", "--max-time", "30", "imap://127.0.0.1:\(server.port)/INBOX;UID=1"])
        #expect(message.status == 0 && message.stdout.contains("Subject: first message"), "\(message.stdout) \(message.stderr)")
        let search = try run("/usr/bin/curl", ["-sS", "--max-time", "30", "imap://127.0.0.1:\(server.port)/INBOX?SUBJECT%20first"])
        #expect(search.status == 0 && search.stdout.contains("SEARCH 1"), "\(search.stdout) \(search.stderr)")
    }
}

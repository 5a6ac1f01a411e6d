import Foundation
import Glibc
import Testing

/// QRESYNC (RFC 7162 §3.2) with a real client: imapclient remembers UIDVALIDITY and
/// HIGHESTMODSEQ, another connection changes the mailbox (an expunge, a flag, a delivery), and
/// on reconnecting the client is told only those changes: VANISHED (EARLIER) for the expunged
/// UID and FETCH for the changed and the new message, nothing for the others.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct IMAPQResyncTests {
    static let script = #"""
    import sys, imapclient
    port = int(sys.argv[1])
    def connect():
        c = imapclient.IMAPClient('127.0.0.1', port=port, ssl=False)
        assert b'QRESYNC' in c.capabilities(), c.capabilities()
        return c

    # First visit: remember the state, as a phone client does.
    c = connect()
    print(c.enable('QRESYNC'))
    r = c.select_folder('INBOX')
    validity, known = r[b'UIDVALIDITY'], r[b'HIGHESTMODSEQ']
    assert r[b'EXISTS'] == 20, r
    c.logout()

    # Meanwhile, another client: expunges UIDs 4 and 5, flags 7, appends one message.
    d = connect()
    d.select_folder('INBOX')
    d.add_flags([4, 5], [imapclient.DELETED]); d.expunge()
    d.add_flags([7], [imapclient.FLAGGED])
    d.append('INBOX', b'Subject: new\r\n\r\nnew\r\n')
    d.logout()

    # Back: SELECT … (QRESYNC (uidvalidity modseq)) tells exactly those changes.
    c = connect()
    c.enable('QRESYNC')
    imap = c._imap
    typ, data = imap._simple_command('SELECT', 'INBOX', '(QRESYNC (%d %d))' % (validity, known))
    assert typ == 'OK', (typ, data)
    imap.state = 'SELECTED'  # (imaplib's own select() would have said so)
    vanished = imap.untagged_responses.pop('VANISHED', None); print('vanished', vanished)
    assert vanished == [b'(EARLIER) 4:5'], vanished
    fetched = imap.untagged_responses.pop('FETCH', None); print('fetched', fetched)
    assert len(fetched) == 2, fetched
    assert b'UID 7 ' in fetched[0] and b'\\Flagged' in fetched[0], fetched
    assert b'UID 21 ' in fetched[1], fetched
    assert imap.untagged_responses.pop('EXISTS') == [b'19']
    new_known = int(imap.untagged_responses.pop('HIGHESTMODSEQ')[0]); assert new_known > known

    # Nothing changed since: nothing reported.
    r = c.fetch(list(range(1, 30)), ['FLAGS'], modifiers=['CHANGEDSINCE %d' % new_known, 'VANISHED'])
    assert r == {}, r
    assert 'VANISHED' not in imap.untagged_responses, imap.untagged_responses

    # An expunge by another session while selected: VANISHED, not EXPUNGE (RFC 7162 §3.2.10).
    d = connect(); d.select_folder('INBOX'); d.delete_messages([10]); d.expunge(); d.logout()
    imap._simple_command('NOOP')
    assert imap.untagged_responses.pop('VANISHED', None) == [b'10'], imap.untagged_responses
    assert 'EXPUNGE' not in imap.untagged_responses
    # UID FETCH … (CHANGEDSINCE … VANISHED) for the old modseq: everything gone since.
    r = c.fetch(list(range(1, 30)), ['FLAGS'], modifiers=['CHANGEDSINCE %d' % known, 'VANISHED'])
    print(r); assert sorted(r) == [7, 21], r
    v = imap.untagged_responses.pop('VANISHED', None); print(v)
    assert v == [b'(EARLIER) 4:5,10'], v
    c.logout()
    print('OK')
    """#

    @Test(.enabled(if: PythonClient.hasIMAPClient, "needs Python's imapclient (pip install imapclient)"))
    func imapclientReconnectsAndSeesOnlyTheChanges() throws {
        let installation = try Installation()
        let user = try TestUser()
        for i in 1...20 { try user.deliver("From: a@example.org\nSubject: message \(i)\n\nbody \(i)\n") }
        let server = try IMAPListener(installation, arguments: ["--preauth", user.name])
        let result = try PythonClient.run(Self.script, [String(server.port)])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
        #expect(result.stdout.hasSuffix("OK\n"))
    }
}

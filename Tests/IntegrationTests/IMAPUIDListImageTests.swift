import Foundation
import Glibc
import Testing

/// A big folder's uid list image (postamt-uidlist.index, see postamt-maildir(5)) with the real
/// imapd and Python's imaplib: the first session that reads the list after it settled leaves the
/// image, the next sessions select from it (without rewriting it), read messages by the names
/// it defers, change flags (appended to the list, applied on top of the image by the next
/// session); every session sees the same UIDs, flags and messages.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct IMAPUIDListImageTests {
    static let count = 7000

    static let script = #"""
    import imaplib, os, re, sys, time
    port, maildir, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    image = maildir + '/postamt-uidlist.index'

    def session():
        c = imaplib.IMAP4('127.0.0.1', port)
        typ, data = c.select('INBOX')
        assert typ == 'OK' and int(data[0]) == count, (typ, data)
        return c, c.untagged_responses.get('UIDVALIDITY', [None])[0]

    # Numbering, then a pause: cur/ settles, the next session stamps the list as exact.
    c, validity = session(); c.logout()
    time.sleep(2.5)
    c, v = session(); assert v == validity; c.logout()
    # This session parses the settled list and leaves its image.
    c, v = session(); assert v == validity; c.logout()
    assert os.path.exists(image), os.listdir(maildir)
    before = os.stat(image).st_ino

    # Selected from the image: it is read, not written anew.
    c, v = session(); assert v == validity
    assert os.stat(image).st_ino == before, 'the image was rewritten: the session did not accept it'
    typ, data = c.fetch(str(count - 1), '(UID BODY[TEXT])')
    assert typ == 'OK' and b'body %d' % (count - 1) in data[0][1], data
    typ, data = c.uid('STORE', '5', '+FLAGS', '(\\Flagged)'); assert typ == 'OK', data
    typ, data = c.search(None, 'FLAGGED'); assert data == [b'5'], data
    typ, data = c.fetch('1:*', '(FLAGS)'); assert len(data) == count, len(data)
    c.logout()

    # A later session reads the image and the change appended to the list since: same messages,
    # the same image (a list that only grew by appended batches keeps it).
    c, v = session(); assert v == validity
    typ, data = c.search(None, 'FLAGGED'); assert data == [b'5'], data
    typ, data = c.fetch('3', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    assert b'message 3\r\n' in data[0][1], data
    c.logout()
    assert os.stat(image).st_ino == before, 'the image of a list that only grew was rewritten'
    c, v = session(); assert v == validity
    typ, data = c.search(None, 'FLAGGED'); assert data == [b'5'], data
    typ, data = c.fetch(str(count), '(BODY[TEXT])'); assert b'body %d' % count in data[0][1], data
    c.logout()
    print('OK')
    """#

    @Test func bigFolderIsSelectedFromItsImage() throws {
        let installation = try Installation()
        let user = try TestUser()
        for i in 1...Self.count { try user.deliver("From: a@example.org\nSubject: message \(i)\n\nbody \(i)\n") }
        let server = try IMAPListener(installation, arguments: ["--preauth", user.name])
        let maildir = "\(user.home)/Maildir"
        let result = try PythonClient.run(Self.script, [String(server.port), maildir, String(Self.count)])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
        #expect(result.stdout.hasSuffix("OK\n"))
        // The list is big enough to have an image at all (UIDList.indexMinimumBytes, 256 KiB).
        let size = (try? FileManager.default.attributesOfItem(atPath: "\(maildir)/postamt-uidlist")[.size] as? Int) ?? 0
        #expect(size >= 256 << 10, "the list is \(size) bytes: too small for an image")
    }
}

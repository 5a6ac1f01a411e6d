import Foundation
import Glibc
import Testing
import TestSupport

/// IDLE and delivery on shared storage (postamt-cluster(7)): a real user's Maildir reached
/// through a second mount point of the same directory (mount --bind). IDLE runs in poll mode
/// without inotify (imap_idle_poll = only), since a bind mount, unlike NFS, shows this host's
/// inotify events anyway; it must see a message written through the other mount point. Then
/// two IMAP sessions APPEND, two postamt-local deliverers deliver and a third writer drops
/// messages through the other mount point, all at once: no message lost, no UID used twice,
/// none reused.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct IMAPSharedStorageTests {
    static let script = #"""
    import imaplib, os, socket, subprocess, sys, threading, time
    port, other, uid, gid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    deliver = sys.argv[5:]
    counter = [0]
    lock = threading.Lock()

    def drop(subject):
        # Maildir delivery as another host does it: tmp/, then rename into new/ (host-unique name).
        with lock:
            counter[0] += 1
            name = '%d.M%dP%d.otherhost' % (time.time(), counter[0], os.getpid())
        tmp = os.path.join(other, 'tmp', name)
        with open(tmp, 'wb') as f:
            f.write(b'From: other@example.org\nSubject: ' + subject + b'\n\nx\n')
        os.chown(tmp, uid, gid)
        os.rename(tmp, os.path.join(other, 'new', name))

    s = socket.create_connection(('127.0.0.1', port)); s.settimeout(15)
    f = s.makefile('rb')
    assert f.readline().startswith(b'* PREAUTH')
    def until(tag):
        lines = []
        while True:
            line = f.readline(); assert line, lines; lines.append(line)
            if line.startswith(tag + b' '): return lines
    s.sendall(b'a SELECT INBOX\r\n'); r = until(b'a'); assert b'* 1 EXISTS\r\n' in r, r
    s.sendall(b'i IDLE\r\n'); line = f.readline(); assert line.startswith(b'+'), line
    time.sleep(0.5)
    drop(b'through the other mount')
    line = f.readline(); print('IDLE saw:', line)
    assert line == b'* 2 EXISTS\r\n', line
    s.sendall(b'DONE\r\n'); r = until(b'i'); assert r[-1].startswith(b'i OK'), r
    s.sendall(b'u UID FETCH 1:* (UID)\r\n'); r = until(b'u'); print(r)
    before = [int(l.split(b'UID ')[1].split(b')')[0]) for l in r if l.startswith(b'* ')]
    assert len(before) == 2, before

    expected = set()
    def appender(k):
        M = imaplib.IMAP4('127.0.0.1', port)
        for i in range(15):
            typ, data = M.append('INBOX', None, None, b'Subject: append %d-%d\r\n\r\nx\r\n' % (k, i))
            assert typ == 'OK', data
        M.logout()
    def deliverer(k):
        for i in range(15):
            subprocess.run(deliver, input=b'From: l@example.org\nSubject: local %d-%d\n\nx\n' % (k, i), check=True)
    def writer():
        for i in range(15):
            drop(b'other %d' % i)
    for k in range(2):
        for i in range(15):
            expected.add(b'append %d-%d' % (k, i)); expected.add(b'local %d-%d' % (k, i))
    for i in range(15): expected.add(b'other %d' % i)
    threads = [threading.Thread(target=appender, args=(k,)) for k in range(2)] + \
              [threading.Thread(target=deliverer, args=(k,)) for k in range(2)] + [threading.Thread(target=writer)]
    for t in threads: t.start()
    for t in threads: t.join()

    M = imaplib.IMAP4('127.0.0.1', port)
    typ, data = M.select('INBOX'); print(data); assert data == [b'77'], data
    typ, data = M.uid('SEARCH', None, 'ALL'); uids = [int(x) for x in data[0].split()]
    assert len(uids) == 77 and len(set(uids)) == 77, uids
    assert uids[:2] == before and min(uids[2:]) > max(before), (before, uids[:5])
    typ, data = M.fetch('1:*', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    subjects = {d[1].strip()[len(b'Subject: '):] for d in data if isinstance(d, tuple)}
    missing = expected - subjects; assert not missing, missing
    M.logout()
    # The idling session's view agrees.
    s.sendall(b'n NOOP\r\n'); r = until(b'n'); assert b'* 77 EXISTS\r\n' in r, r
    s.sendall(b'l LOGOUT\r\n'); until(b'l')
    print('OK')
    """#

    @Test func pollingIdleAndConcurrentWritersThroughTwoMounts() throws {
        let installation = try Installation(config: "imap_idle_poll = only\nimap_idle_poll_interval = 1s\n")
        let user = try TestUser()
        try user.deliver("From: a@example.org\nSubject: first\n\nhi\n")
        let other = makeTemporaryDirectory(prefix: "postamt-other-mount")
        defer { try? FileManager.default.removeItem(atPath: other) }
        let mounted = try run("/bin/mount", ["--bind", "\(user.home)/Maildir", other])
        // Without mount(2) (a container without CAP_SYS_ADMIN) the test cannot reach the
        // directory through a second path: say so instead of passing.
        try #require(mounted.status == 0, "mount --bind not allowed here: \(mounted.stderr)")
        defer { _ = try? run("/bin/umount", [other]) }
        let server = try IMAPListener(installation, arguments: ["--preauth", user.name])
        let deliver = user.asUser(["\(installation.root)/bin/postamt-local", user.name])
        let result = try PythonClient.run(Self.script, [String(server.port), other, String(user.uid),
                                                        String(getpwnam(user.name).pointee.pw_gid)] + deliver,
                                          environment: installation.environment)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
        #expect(result.stdout.hasSuffix("OK\n"), "\(result.stdout)")
    }
}

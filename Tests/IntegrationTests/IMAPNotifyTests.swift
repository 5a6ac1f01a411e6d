import Foundation
import Glibc
import Testing

/// NOTIFY (RFC 5465) with the real postamt-imapd: after NOTIFY SET the client sends nothing,
/// and a delivery into the selected INBOX (by postamt-local) and one into another folder reach
/// it unsolicited, as EXISTS and as STATUS.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct IMAPNotifyTests {
    static let script = #"""
    import os, socket, subprocess, sys, time
    port, maildir, uid, gid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    deliver = sys.argv[5:]

    s = socket.create_connection(('127.0.0.1', port)); s.settimeout(20)
    f = s.makefile('rb')
    assert f.readline().startswith(b'* PREAUTH')
    def command(tag, line):
        s.sendall(tag + b' ' + line + b'\r\n')
        lines = []
        while True:
            reply = f.readline(); assert reply, lines; lines.append(reply)
            if reply.startswith(tag + b' '): return lines
    r = command(b'c', b'CAPABILITY'); assert b' NOTIFY' in r[0], r
    r = command(b'm', b'CREATE Lists'); assert r[-1].startswith(b'm OK'), r
    r = command(b's', b'SELECT INBOX'); assert b'* 1 EXISTS\r\n' in r, r
    r = command(b'b', b'NOTIFY SET (selected (MailboxName))'); print(r)
    assert r[-1].startswith(b'b NO [BADEVENT (MessageNew MessageExpunge FlagChange)]'), r
    r = command(b'n', b'NOTIFY SET STATUS (selected (MessageNew MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge))')
    print(r)
    assert b'* STATUS Lists (MESSAGES 0 UIDNEXT 1 UNSEEN 0)\r\n' in r, r
    assert r[-1].startswith(b'n OK'), r

    # From here on the client only reads.
    subprocess.run(deliver, input=b'From: l@example.org\nSubject: to the inbox\n\nx\n', check=True)
    name = '%d.M1P%d.notifytest' % (time.time(), os.getpid())
    tmp = os.path.join(maildir, '.Lists', 'tmp', name)
    with open(tmp, 'wb') as out:
        out.write(b'From: list@example.org\nSubject: to a folder\n\nx\n')
    os.chown(tmp, uid, gid)
    os.rename(tmp, os.path.join(maildir, '.Lists', 'new', name))
    seen = []
    while b'* 2 EXISTS\r\n' not in seen or b'* STATUS Lists (MESSAGES 1 UIDNEXT 2 UNSEEN 1)\r\n' not in seen:
        line = f.readline(); assert line, seen; seen.append(line); print('unsolicited:', line)
    r = command(b'x', b'NOTIFY NONE'); assert r[-1].startswith(b'x OK'), r
    r = command(b'l', b'LOGOUT'); assert r[-1].startswith(b'l OK'), r
    print('OK')
    """#

    @Test func unsolicitedExistsAndStatusWithoutAnyCommand() throws {
        let installation = try Installation()
        let user = try TestUser()
        try user.deliver("From: a@example.org\nSubject: first\n\nhi\n")
        let server = try IMAPListener(installation, arguments: ["--preauth", user.name])
        let deliver = user.asUser(["\(installation.root)/bin/postamt-local", user.name])
        let result = try PythonClient.run(Self.script, [String(server.port), "\(user.home)/Maildir", String(user.uid),
                                                        String(getpwnam(user.name).pointee.pw_gid)] + deliver,
                                          environment: installation.environment)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
        #expect(result.stdout.hasSuffix("OK\n"), "\(result.stdout)")
    }
}

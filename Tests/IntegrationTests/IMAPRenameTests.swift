import Foundation
import Glibc
import Testing

/// RENAME and DELETE of a selected mailbox with real connections: the renaming session gets its
/// OK and then BYE; a second session idling on the folder gets BYE while it waits (inotify sees
/// the folder move), and one that is not idling gets it at its next command. Reconnecting, the
/// folder is there under its new name with its messages and UIDVALIDITY.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct IMAPRenameTests {
    static let script = #"""
    import imaplib, sys
    port = int(sys.argv[1])
    def connect():
        M = imaplib.IMAP4('127.0.0.1', port); M.sock.settimeout(90); return M
    A = connect(); B = connect(); C = connect()
    assert A.create('Work')[0] == 'OK'
    assert A.append('Work', None, None, b'Subject: w\r\n\r\nx\r\n')[0] == 'OK'
    typ, data = A.select('Work'); assert data == [b'1'], data
    validity = A.response('UIDVALIDITY')[1][0]
    # B idles on Work; C has it selected and is quiet.
    assert B.select('Work')[0] == 'OK' and C.select('Work')[0] == 'OK'
    tag = B._new_tag(); B.send(tag + b' IDLE\r\n'); line = B.readline(); assert line.startswith(b'+'), line
    # A renames its own selected mailbox: OK, then BYE.
    tag_a = A._new_tag(); A.send(tag_a + b' RENAME Work Job\r\n')
    line = A.readline(); print(line); assert line.startswith(tag_a + b' OK'), line
    line = A.readline(); print(line); assert line.startswith(b'* BYE'), line
    assert A.readline() == b'', 'connection not closed'
    # B learns of it while idling, without sending anything.
    line = B.readline(); print(line); assert line.startswith(b'* BYE'), line
    # C at its next command.
    tag_c = C._new_tag(); C.send(tag_c + b' NOOP\r\n'); line = C.readline(); print(line); assert line.startswith(b'* BYE'), line
    # The folder, its message and UIDVALIDITY under the new name.
    D = connect()
    typ, data = D.select('Job'); assert data == [b'1'], data
    assert D.response('UIDVALIDITY')[1][0] == validity
    typ, data = D.select('Work'); assert typ == 'NO', (typ, data)
    # DELETE by another session while D idles on Job.
    E = connect(); D.select('Job')
    tag = D._new_tag(); D.send(tag + b' IDLE\r\n'); line = D.readline(); assert line.startswith(b'+'), line
    assert E.delete('Job')[0] == 'OK'
    line = D.readline(); print(line); assert line.startswith(b'* BYE'), line
    E.logout(); print('OK')
    """#

    @Test func renameOfTheSelectedMailbox() throws {
        try runPreauthenticatedScript(Self.script)
    }
}

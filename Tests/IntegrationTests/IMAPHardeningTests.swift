import Foundation
import Glibc
import Testing

/// Issue 17's hostile-input probe, over a raw socket against postamt-imapd behind
/// postamt-listen: before login, the third invalid command ends the connection with Dovecot's
/// `* BYE Too many invalid IMAP commands.` (imap_max_invalid_commands); valid commands do not
/// count. (APPEND with \Recent is refused in IMAPConformanceTests.)
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct IMAPHardeningTests {
    static let script = #"""
    import socket, sys
    port = int(sys.argv[1])
    def session(payload):
        s = socket.create_connection(('127.0.0.1', port), timeout=20)
        f = s.makefile('rb')
        greeting = f.readline(); assert greeting.startswith(b'* OK'), greeting
        s.sendall(payload)
        lines = []
        while True:
            line = f.readline()
            if not line: break
            lines.append(line)
            if line.startswith(b'z LOGOUT') or line.startswith(b'z OK'): break
        s.close()
        return lines

    # Valid commands first (they do not count), then a stream of garbage.
    lines = session(b'a CAPABILITY\r\nb NOOP\r\nc FOO\r\n\x01\x02 BAR\r\nd SELECT INBOX\r\ne BAZ\r\nf NOOP\r\n')
    print(lines)
    assert lines[-1] == b'* BYE Too many invalid IMAP commands.\r\n', lines
    assert sum(1 for l in lines if b' BAD ' in l) == 3, lines
    assert not any(l.startswith(b'e ') or l.startswith(b'f ') for l in lines), lines  # nothing after the BYE

    # Two invalid commands are not enough: the session goes on.
    lines = session(b'a FOO\r\nb BAR\r\nc NOOP\r\nz LOGOUT\r\n')
    print(lines)
    assert b'c OK NOOP completed\r\n' in lines and lines[-1].startswith(b'z OK'), lines
    print('OK')
    """#

    @Test func invalidCommandsBeforeLoginEndTheConnection() throws {
        let installation = try Installation()
        let server = try IMAPListener(installation, arguments: [])
        let result = try PythonClient.run(Self.script, [String(server.port)])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(server.logText())")
        #expect(result.stdout.hasSuffix("OK\n"))
    }
}

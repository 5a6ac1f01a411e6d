import Foundation
import Glibc
import Testing

/// CREATE-SPECIAL-USE (RFC 6154 §3) with real clients: imapclient has no USE parameter for
/// create_folder, so CREATE goes through its imaplib connection; imapclient's
/// find_special_folder must then find the new folder by its use.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct IMAPSpecialUseTests {
    static let script = #"""
    import sys, imapclient
    from imapclient.imapclient import ARCHIVE, JUNK
    port = int(sys.argv[1])
    c = imapclient.IMAPClient('127.0.0.1', port=port, ssl=False)
    caps = c.capabilities(); print(caps); assert b'CREATE-SPECIAL-USE' in caps, caps
    assert c.find_special_folder(ARCHIVE) == 'Archive'
    c.delete_folder('Archive')
    typ, data = c._imap._simple_command('CREATE', '"Old Mail"', '(USE (\\Archive))'); print(typ, data)
    assert typ == 'OK', data
    found = c.find_special_folder(ARCHIVE); print(found); assert found == 'Old Mail', found
    r = c.list_folders(); print(r)
    assert any(n == 'Old Mail' and b'\\Archive' in f for f, _, n in r), r
    # A second \Junk, and an unknown use: NO [USEATTR], nothing created.
    typ, data = c._imap._simple_command('CREATE', 'Spam', '(USE (\\Junk))'); print(typ, data)
    assert typ == 'NO' and data[0].startswith(b'[USEATTR]'), (typ, data)
    typ, data = c._imap._simple_command('CREATE', 'Imp', '(USE (\\Important))'); print(typ, data)
    assert typ == 'NO' and data[0].startswith(b'[USEATTR]'), (typ, data)
    assert not c.folder_exists('Spam') and not c.folder_exists('Imp')
    assert c.find_special_folder(JUNK) == 'Junk'
    # RENAME keeps the use.
    c.rename_folder('Old Mail', 'Kept')
    assert c.find_special_folder(ARCHIVE) == 'Kept'
    c.logout(); print('OK')
    """#

    @Test(.enabled(if: PythonClient.hasIMAPClient, "needs Python's imapclient (pip install imapclient)"))
    func createWithUse() throws {
        try runPreauthenticatedScript(Self.script)
    }
}

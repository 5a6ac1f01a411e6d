import Foundation
import Testing
@testable import MailAuthServer
import MailAuth

/// crypt(3) hashes of "Secret-123": SHA-512-crypt from `openssl passwd -6 -salt saltsalt`, yescrypt
/// from chpasswd on Debian.
let sha512Hash = "$6$saltsalt$D7SHbVBNe6Z3Tq0r1N8iqqyVNuEUcNhD8lr8fIUcIMoarkD2LwgczwpCjnHL604IGufHERtS5lT07jK/pg53j1"
let yescryptHash = "$y$j9T$VJrufCTfU50YRnDig03Ku0$neIKld.4tn.YqrsXkFYXgMXyd/EEoAtSDrwhcPRpCoB"

@Suite struct PasswdFileTests {
    @Test(arguments: [sha512Hash, yescryptHash])
    func verifiesCryptHashes(hash: String) {
        #expect(PasswdFileAuthenticator.verify(password: Array("Secret-123".utf8), hash: Array(hash.utf8)))
        #expect(!PasswdFileAuthenticator.verify(password: Array("Secret-124".utf8), hash: Array(hash.utf8)))
        #expect(!PasswdFileAuthenticator.verify(password: [], hash: Array(hash.utf8)))
    }

    @Test func refusesLockedAndBrokenHashes() {
        for hash in ["!", "*", "!" + sha512Hash, "$99$nonsense"] {
            #expect(!PasswdFileAuthenticator.verify(password: Array("Secret-123".utf8), hash: Array(hash.utf8)))
        }
    }

    @Test func parsesTheFile() {
        let text = "# virtual users\n\nalice:{CRYPT}\(sha512Hash):1000:1000::/home/alice::\r\nbob:\(yescryptHash)\nbroken\n:nouser\ncarol:\n"
        let entries = PasswdFileAuthenticator.parse(Array(text.utf8))
        #expect(entries.map { String(decoding: $0.user, as: UTF8.self) } == ["alice", "bob"])
        #expect(entries[0].hash == Array(sha512Hash.utf8))
    }

    @Test func authenticatesFromAFile() throws {
        let path = NSTemporaryDirectory() + "passwd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try "alice:{CRYPT}\(sha512Hash)\nbob:\(yescryptHash)\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let right = Array("Secret-123".utf8)
        #expect(PasswdFileAuthenticator.authenticate(file: path, user: Array("alice".utf8), password: right) == .ok(user: Array("alice".utf8)))
        #expect(PasswdFileAuthenticator.authenticate(file: path, user: Array("bob".utf8), password: right) == .ok(user: Array("bob".utf8)))
        #expect(PasswdFileAuthenticator.authenticate(file: path, user: Array("bob".utf8), password: Array("x".utf8)) == .fail)
        #expect(PasswdFileAuthenticator.authenticate(file: path, user: Array("mallory".utf8), password: right) == .fail)
        #expect(PasswdFileAuthenticator.authenticate(file: path + ".missing", user: Array("alice".utf8), password: right)
                == .temporary(reason: "passwd file \(path).missing is missing"))
    }

    @Test func peerCredentialPolicy() {
        let nobody = PeerCredentials(pid: 1, uid: 65534, gid: 65534, groups: [65534])
        #expect(!nobody.isAllowed(group: 995, serverUID: 0))
        #expect(PeerCredentials(pid: 1, uid: 0, gid: 0, groups: []).isAllowed(group: 995, serverUID: 0))
        #expect(PeerCredentials(pid: 1, uid: 120, gid: 995, groups: []).isAllowed(group: 995, serverUID: 0))
        #expect(PeerCredentials(pid: 1, uid: 120, gid: 100, groups: [100, 995]).isAllowed(group: 995, serverUID: 0))
        #expect(!PeerCredentials(pid: 1, uid: 120, gid: 100, groups: [100]).isAllowed(group: nil, serverUID: 0))
    }
}

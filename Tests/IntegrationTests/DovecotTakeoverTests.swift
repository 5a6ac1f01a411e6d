import Foundation
import Glibc
import Testing

/// Taking over a Maildir that the real Dovecot served: Dovecot (Debian's dovecot-core and
/// dovecot-imapd, never started as a service: dovecot-lda and the imap program run as the
/// user with a private configuration) delivers, numbers and flags the messages and an mbsync
/// client syncs them; then postamt-imapd serves the same Maildir. Every message keeps its
/// UIDVALIDITY, UID, flags and keywords, the subscriptions stay, and mbsync, now talking to
/// postamt-imapd, finds nothing to download again.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/mbsync")
                                 && FileManager.default.isExecutableFile(atPath: "/usr/lib/dovecot/imap")
                                 && FileManager.default.isExecutableFile(atPath: "/usr/lib/dovecot/dovecot-lda"),
                             "needs root (creates users), mbsync (isync) and Dovecot (dovecot-core, dovecot-imapd)"))
struct DovecotTakeoverTests {
    func files(_ dir: String) -> [String] {
        ["new", "cur"].flatMap { sub in
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(sub)")) ?? []).map { "\(sub)/\($0)" }
        }.sorted()
    }

    /// What an IMAP server says about each folder: UIDVALIDITY, and per UID the Message-ID and
    /// flags; and the subscribed folders. Run through IMAP4_stream against `command`.
    static let inventory = #"""
    import imaplib, sys, json
    c = imaplib.IMAP4_stream(sys.argv[1])
    out = {"folders": {}}
    for name in ["INBOX", "Work"]:
        typ, data = c.select(name)
        assert typ == "OK", (name, data)
        validity = c.untagged_responses.get("UIDVALIDITY", [b"?"])[0].decode()
        typ, data = c.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        messages = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta = item[0].decode()
            uid = meta.split("UID ")[1].split()[0].rstrip(")")
            flags = sorted(f for f in meta.split("FLAGS (")[1].split(")")[0].split() if f != "\\Recent")
            mid = item[1].decode().strip().split(None, 1)[1]
            messages[uid] = [mid, flags]
        out["folders"][name] = {"uidvalidity": validity, "messages": messages}
    typ, data = c.lsub('""', "*")
    out["subscribed"] = sorted(d.decode().rsplit(" ", 1)[1].strip('"') for d in data if d)
    c.logout()
    print(json.dumps(out, sort_keys=True))
    """#

    static let prepare = #"""
    import imaplib, sys
    c = imaplib.IMAP4_stream(sys.argv[1])
    assert c.subscribe("Work")[0] == "OK"
    assert c.select("INBOX")[0] == "OK"
    assert c.uid("STORE", "1", "+FLAGS", r"(\Seen $Forwarded Project)")[0] == "OK"
    assert c.uid("STORE", "3", "+FLAGS", r"(\Flagged)")[0] == "OK"
    # An expunge leaves a gap in the UIDs, which must stay a gap.
    assert c.uid("STORE", "2", "+FLAGS", r"(\Deleted)")[0] == "OK"
    assert c.expunge()[0] == "OK"
    c.logout()
    print("OK")
    """#

    @Test func postamtServesDovecotsMaildirWithTheSameUIDs() throws {
        let installation = try Installation(config: "pop3_uidl_format = dovecot\n")
        let user = try TestUser()
        let dovecot = "\(installation.root)/dovecot"
        try FileManager.default.createDirectory(atPath: "\(dovecot)/run", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(dovecot)/state", withIntermediateDirectories: true)
        let conf = """
        # A private Dovecot for one user: no service, no listener, no auth process.
        base_dir = \(dovecot)/run
        state_dir = \(dovecot)/state
        log_path = \(dovecot)/dovecot.log
        ssl = no
        mail_location = maildir:~/Maildir
        lda_mailbox_autocreate = yes
        first_valid_uid = 1000
        passdb {
          driver = passwd
        }
        userdb {
          driver = passwd
        }
        """
        try conf.write(toFile: "\(dovecot)/dovecot.conf", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: "\(dovecot)/dovecot.log", contents: nil)
        for (path, mode) in [(installation.root, 0o755), (dovecot, 0o755), ("\(dovecot)/dovecot.conf", 0o644),
                             ("\(dovecot)/dovecot.log", 0o666), ("\(dovecot)/run", 0o777), ("\(dovecot)/state", 0o777)] {
            chmod(path, mode_t(mode))
        }
        // The user's own shell, so Dovecot's imap and lda find USER and HOME as after a login.
        func asUser(_ command: String) -> String { "su \(user.name) -s /bin/sh -c '\(command)'" }
        for (i, folder) in ["INBOX", "INBOX", "INBOX", "Work"].enumerated() {
            let message = "From: a@example.org\nTo: \(user.name)@example.org\nMessage-ID: <m\(i)@example.org>\nSubject: message \(i)\n\nbody \(i)\n"
            let r = try run("/bin/sh", ["-c", asUser("/usr/lib/dovecot/dovecot-lda -c \(dovecot)/dovecot.conf -m \(folder)")],
                            input: Data(message.utf8))
            #expect(r.status == 0, "dovecot-lda: \(r.stderr)")
        }
        let dovecotIMAP = asUser("/usr/lib/dovecot/imap -c \(dovecot)/dovecot.conf")
        let prepared = try PythonClient.run(DovecotTakeoverTests.prepare, [dovecotIMAP])
        #expect(prepared.stdout.hasSuffix("OK\n"), "\(prepared.stdout)\(prepared.stderr)")

        // A client keeps a copy with mbsync, from Dovecot.
        let local = "\(installation.root)/local"
        try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
        let imapd = "\(installation.root)/bin/postamt-imapd"
        try? FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/postamt-imapd", toPath: imapd)
        let postamtIMAP = "POSTAMT_ROOT=\(installation.root) \(imapd) --preauth \(user.name)"
        func mbsync(tunnel: String) throws -> RunResult {
            let rc = mbsyncConfiguration(tunnel: tunnel, local: local)
            try rc.write(toFile: "\(installation.root)/mbsyncrc", atomically: true, encoding: .utf8)
            return try run("/usr/bin/mbsync", ["-V", "-c", "\(installation.root)/mbsyncrc", "all"], timeout: 120)
        }
        let first = try mbsync(tunnel: dovecotIMAP)
        #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
        let inboxBefore = files("\(local)/INBOX")
        let localBefore = inboxBefore + files("\(local)/Work")
        #expect(localBefore.count == 3, "\(localBefore)")
        let before = try PythonClient.run(DovecotTakeoverTests.inventory, [dovecotIMAP])
        #expect(before.status == 0, "\(before.stderr)")
        #expect(before.stdout.contains("\"$Forwarded\""), "\(before.stdout)")
        #expect(FileManager.default.fileExists(atPath: "\(user.home)/Maildir/dovecot-uidlist"))
        #expect(!FileManager.default.fileExists(atPath: "\(user.home)/Maildir/postamt-uidlist"))

        // Now postamt-imapd serves the same Maildir.
        let after = try PythonClient.run(DovecotTakeoverTests.inventory, [postamtIMAP])
        #expect(after.status == 0, "\(after.stderr)")
        #expect(after.stdout == before.stdout)
        #expect(after.stdout.contains("\"2\"") == false, "the expunged UID 2 came back: \(after.stdout)")
        #expect(FileManager.default.fileExists(atPath: "\(user.home)/Maildir/postamt-uidlist"))

        // mbsync, now against postamt-imapd: the same UIDVALIDITY (else it stops with an
        // error), nothing to download, nothing to upload, no file changed on either side.
        let second = try mbsync(tunnel: postamtIMAP)
        #expect(second.status == 0, "\(second.stdout)\n\(second.stderr)")
        #expect(!second.stdout.contains("UIDVALIDITY") && !second.stderr.contains("UIDVALIDITY"), "\(second.stdout)\(second.stderr)")
        #expect(files("\(local)/INBOX") + files("\(local)/Work") == localBefore)
        #expect(try PythonClient.run(DovecotTakeoverTests.inventory, [postamtIMAP]).stdout == before.stdout)

        // A new message after the takeover gets the next UID after Dovecot's.
        try user.deliver("From: b@example.org\nMessage-ID: <new@example.org>\nSubject: new\n\nnew\n")
        let third = try mbsync(tunnel: postamtIMAP)
        #expect(third.status == 0, "\(third.stdout)\n\(third.stderr)")
        #expect(files("\(local)/INBOX").count == inboxBefore.count + 1)
        let latest = try PythonClient.run(DovecotTakeoverTests.inventory, [postamtIMAP])
        #expect(latest.stdout.contains("\"4\": [\"<new@example.org>\""), "\(latest.stdout)")

        // POP3 with pop3_uidl_format = dovecot: Dovecot's default UIDLs (%08Xu%08Xv), which a
        // POP3 client that left mail on Dovecot's server knows.
        let inbox = try #require(((try JSONSerialization.jsonObject(with: Data(latest.stdout.utf8)) as? [String: Any])?["folders"]
                                    as? [String: Any])?["INBOX"] as? [String: Any])
        let validity = try #require(UInt32(inbox["uidvalidity"] as? String ?? ""))
        let uids = try #require((inbox["messages"] as? [String: Any])?.keys.compactMap { UInt32($0) }.sorted())
        func hex(_ v: UInt32) -> String { let d = String(v, radix: 16, uppercase: true); return String(repeating: "0", count: 8 - d.count) + d }
        let expected = uids.enumerated().map { "\($0.offset + 1) \(hex($0.element))\(hex(validity))\r\n" }.joined()
        let pop = try run("\(TestEnvironment.buildDirectory)/postamt-pop3d", ["--preauth", user.name], input: Data("UIDL\r\nQUIT\r\n".utf8),
                          environment: installation.environment)
        #expect(pop.stdout.contains("+OK\r\n" + expected + ".\r\n"), "\(pop.stdout)\(pop.stderr)")
    }
}

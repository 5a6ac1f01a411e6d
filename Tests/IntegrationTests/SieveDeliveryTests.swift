import Foundation
import Glibc
import Testing

/// Sieve filtering end to end: sendmail → postamt-queue → postamt-runner → postamt-local (as the
/// user) running the user's active script at Pigeonhole's place, ~/.dovecot.sieve → ~/sieve/.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct SieveDeliveryTests {
    /// Installs `script` as the user's active script the way Pigeonhole and ManageSieve leave it.
    func activate(_ user: TestUser, _ script: String) throws {
        let pw = getpwnam(user.name)!.pointee
        try FileManager.default.createDirectory(atPath: "\(user.home)/sieve", withIntermediateDirectories: true)
        chown("\(user.home)/sieve", user.uid, pw.pw_gid)
        try user.writeFile("sieve/main.sieve", script)
        try? FileManager.default.removeItem(atPath: "\(user.home)/.dovecot.sieve")
        symlink("sieve/main.sieve", "\(user.home)/.dovecot.sieve")
        lchown("\(user.home)/.dovecot.sieve", user.uid, pw.pw_gid)
    }

    func files(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    @Test func fileintoWithFlagsAndTheImplicitKeep() throws {
        let user = try TestUser()
        try activate(user, """
        require ["fileinto", "imap4flags"];
        if header :contains "Subject" "report" { fileinto :flags "\\\\Seen" "Reports"; }
        """)
        let system = try Installation()
        try system.startRunner()
        #expect(try system.sendmail(["-i", user.name], "Subject: daily report\n\nnumbers\n").status == 0)
        #expect(try system.sendmail(["-i", user.name], "Subject: hello\n\nhi\n").status == 0)
        try waitFor("two deliveries") { files("\(user.home)/Maildir/.Reports/cur").count == 1 && user.messages().count == 1 }
        let filed = files("\(user.home)/Maildir/.Reports/cur")[0]
        #expect(filed.hasSuffix(":2,S"))
        #expect(FileManager.default.fileExists(atPath: "\(user.home)/Maildir/.Reports/maildirfolder"))
        #expect(user.messages()[0].contains("Subject: hello"))
        try waitFor("queue empty") { system.queueIsEmpty }
    }

    @Test func theCompiledScriptIsCachedAndAChangeInvalidatesIt() throws {
        let user = try TestUser()
        try activate(user, "require \"fileinto\"; fileinto \"One\";\n")
        let system = try Installation()
        try system.startRunner()
        #expect(try system.sendmail(["-i", user.name], "Subject: a\n\nx\n").status == 0)
        try waitFor("first") { files("\(user.home)/Maildir/.One/new").count == 1 && system.queueIsEmpty }
        let cache = "\(user.home)/.dovecot.sieve.postamt-bin"
        var st = stat()
        #expect(stat(cache, &st) == 0 && st.st_uid == user.uid, "the delivery (as the user) wrote the compiled form")
        #expect(try Data(contentsOf: URL(fileURLWithPath: cache)).range(of: Data("PSVB".utf8)) != nil)
        // Same size, new text: the cache no longer matches the script and is not used.
        try user.writeFile("sieve/main.sieve", "require \"fileinto\"; fileinto \"Two\";\n")
        #expect(try system.sendmail(["-i", user.name], "Subject: b\n\ny\n").status == 0)
        try waitFor("second") { files("\(user.home)/Maildir/.Two/new").count == 1 && system.queueIsEmpty }
        #expect(files("\(user.home)/Maildir/.One/new").count == 1)
    }

    @Test func vacationRepliesOncePerSenderAndNeverToLists() throws {
        let away = try TestUser(), friend = try TestUser()
        try activate(away, """
        require ["vacation"];
        vacation :days 1 :subject "Out of office" "I am away until Monday.";
        """)
        let system = try Installation()
        try system.startRunner()
        let to = "\(away.name)@\(system.hostname)"
        for subject in ["first", "second"] {
            #expect(try system.sendmail(["-i", "-f", "\(friend.name)@\(system.hostname)", away.name],
                                        "From: \(friend.name)@\(system.hostname)\nTo: \(to)\nSubject: \(subject)\n\nhello\n").status == 0)
        }
        #expect(try system.sendmail(["-i", "-f", "\(friend.name)@\(system.hostname)", away.name],
                                    "From: list@\(system.hostname)\nTo: \(to)\nList-Id: <l.example.org>\nSubject: list mail\n\nhello\n").status == 0)
        try waitFor("three deliveries and the reply") { away.messages().count == 3 && friend.messages().count >= 1 && system.queueIsEmpty }
        // Every message that reached the away user has been answered or skipped by now.
        #expect(friend.messages().count == 1)
        let reply = friend.messages()[0]
        #expect(reply.contains("Return-Path: <>"))
        #expect(reply.contains("Subject: Out of office"))
        #expect(reply.contains("Auto-Submitted: auto-replied"))
        #expect(reply.contains("I am away until Monday."))
        // The runner logs postamt-local's result line: one delivery says it replied.
        #expect(system.log().components(separatedBy: "vacation reply to <\(friend.name)@\(system.hostname)>").count == 2)
    }

    @Test func rejectBouncesToTheSender() throws {
        let strict = try TestUser(), sender = try TestUser()
        try activate(strict, "require \"reject\";\nif header :contains \"Subject\" \"offer\" { reject \"I do not want offers.\"; }\n")
        let system = try Installation()
        try system.startRunner()
        #expect(try system.sendmail(["-i", "-f", "\(sender.name)@\(system.hostname)", strict.name], "Subject: great offer\n\nbuy\n").status == 0)
        try waitFor("the bounce") { sender.messages().count == 1 && system.queueIsEmpty }
        #expect(strict.messages().isEmpty)
        #expect(sender.messages()[0].contains("I do not want offers."))
    }

    @Test func redirectGoesThroughTheQueue() throws {
        let a = try TestUser(), b = try TestUser()
        let system = try Installation()
        try activate(a, "redirect \"\(b.name)@\(system.hostname)\";\n")
        try system.startRunner()
        #expect(try system.sendmail(["-i", a.name], "Subject: pass it on\n\nfor b\n").status == 0)
        try waitFor("redirected") { b.messages().count == 1 && system.queueIsEmpty }
        #expect(a.messages().isEmpty)
        #expect(b.messages()[0].contains("Delivered-To: \(a.name)@\(system.hostname)"))
        #expect(b.messages()[0].contains("Subject: pass it on"))
    }

    @Test func aBrokenScriptLosesNoMailAndIsReportedOnce() throws {
        let user = try TestUser()
        try activate(user, "require \"fileinto\";\nif header :frobnicate \"Subject\" \"x\" { discard; }\n")
        let system = try Installation()
        try system.startRunner()
        for s in ["one", "two"] {
            #expect(try system.sendmail(["-i", user.name], "Subject: \(s)\n\nbody\n").status == 0)
            try waitFor("delivery \(s)") { user.messages().contains { $0.contains("Subject: \(s)") } && system.queueIsEmpty }
        }
        let reports = user.messages().filter { $0.contains("Subject: Sieve script error") }
        #expect(reports.count == 1)
        #expect(reports.first?.contains("2:11: header has no tag :frobnicate") == true)
        #expect(user.messages().count == 3)
    }

    @Test func globalScriptsRunAroundTheUsersAndPostamtCheckCompilesThem() throws {
        let user = try TestUser()
        try activate(user, "require [\"fileinto\"];\nif header :contains \"Subject\" \"stop-here\" { fileinto \"Mine\"; stop; }\n")
        let system = try Installation(config: "sieve_before = /tmp/postamt-sieve-before-\(getpid()).sieve\nsieve_after = /tmp/postamt-sieve-after-\(getpid()).sieve\n")
        let before = "/tmp/postamt-sieve-before-\(getpid()).sieve", after = "/tmp/postamt-sieve-after-\(getpid()).sieve"
        // The scripts and the compiled forms delivery keeps beside them (SCRIPT.postamt-bin).
        defer { for path in [before, after] { unlink(path); unlink("\(path).postamt-bin") } }
        try "require [\"imap4flags\"];\naddflag \"\\\\Flagged\";\n".write(toFile: before, atomically: true, encoding: .utf8)
        try "require [\"fileinto\"];\nfileinto \"After\";\n".write(toFile: after, atomically: true, encoding: .utf8)
        chmod(before, 0o644); chmod(after, 0o644)
        #expect(try system.postamt(["check"]).stdout.contains("Sieve") == false)
        try system.startRunner()
        #expect(try system.sendmail(["-i", user.name], "Subject: stop-here\n\nx\n").status == 0)
        #expect(try system.sendmail(["-i", user.name], "Subject: other\n\ny\n").status == 0)
        try waitFor("both filed") { files("\(user.home)/Maildir/.Mine/cur").count == 1 && files("\(user.home)/Maildir/.After/cur").count == 1 }
        // The before script's flag reaches both; the user's stop kept the after script away.
        #expect(files("\(user.home)/Maildir/.Mine/cur")[0].hasSuffix(":2,F"))
        #expect(files("\(user.home)/Maildir/.After/cur")[0].hasSuffix(":2,F"))
        try "if true {\n".write(toFile: after, atomically: true, encoding: .utf8)
        let check = try system.postamt(["check"])
        #expect(check.status == 1)
        #expect(check.stdout.contains("\(after):2:1: missing '}' for the block of if at 1:1"), "\(check.stdout)")
    }

    @Test func sieveCheckAndTestCommands() throws {
        let system = try Installation()
        let dir = system.root
        try "require [\"fileinto\"];\nif header :contains \"Subject\" \"money\" { fileinto \"Junk\"; }\n".write(toFile: "\(dir)/good.sieve", atomically: true, encoding: .utf8)
        try "keep\n".write(toFile: "\(dir)/bad.sieve", atomically: true, encoding: .utf8)
        try "From: Bob <bob@example.org>\nTo: me@example.com\nSubject: free money\n\nhi\n".write(toFile: "\(dir)/m.eml", atomically: true, encoding: .utf8)
        let check = try system.postamt(["sieve", "check", "\(dir)/good.sieve", "\(dir)/bad.sieve"])
        #expect(check.status == 1)
        #expect(check.stdout.contains("\(dir)/good.sieve: ok"))
        #expect(check.stdout.contains("\(dir)/bad.sieve:2:1: expected ';' or '{' after keep, found the end of the script"))
        let test = try system.postamt(["sieve", "test", "\(dir)/good.sieve", "\(dir)/m.eml"])
        #expect(test.status == 0, "\(test.stderr)")
        #expect(test.stdout == "envelope: from <bob@example.org> to <me@example.com>\n1. fileinto \"Junk\"\n")
    }
}

import Foundation
import Glibc
import Testing

/// The local mail path end to end: sendmail → postamt-queue → postamt-runner → postamt-local
/// → ~/Maildir, with real users.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct LocalMailTests {
    @Test func cronStyleSendmailLandsInTheMaildir() throws {
        let user = try TestUser()
        let system = try Installation()
        try system.startRunner()
        let r = try system.sendmail(["-FCronDaemon", "-i", "-B8BITMIME", "-oem", user.name],
                                    "Subject: Cron <root@host> run-parts\n\nline one\n.\nGrüße\n")
        #expect(r.status == 0, "\(r.stderr)")
        try waitFor("delivery") { user.messages().count == 1 }
        let text = user.messages()[0]
        #expect(text.hasPrefix("Return-Path: <root@\(system.hostname)>\nDelivered-To: \(user.name)@\(system.hostname)\nReceived: (postamt-queue "))
        #expect(text.contains("invoked by uid 0); "))
        #expect(text.contains("\nSubject: Cron <root@host> run-parts\nFrom: CronDaemon <root@\(system.hostname)>\nDate: "))
        #expect(text.contains("\nMessage-ID: <"))
        #expect(text.hasSuffix("\n\nline one\n.\nGrüße\n"))
        // The files belong to the user, and the Maildir is private.
        let names = try FileManager.default.contentsOfDirectory(atPath: user.maildirNew)
        var st = stat()
        stat("\(user.maildirNew)/\(names[0])", &st)
        #expect(st.st_uid == user.uid)
        try waitFor("queue empty") { system.queueIsEmpty && system.log().contains("removed") }
        #expect(system.log().contains("status=sent (delivered to maildir"))
    }

    @Test func extractRecipientsFromHeadersAndDropBcc() throws {
        let a = try TestUser(), b = try TestUser(), c = try TestUser()
        let system = try Installation()
        try system.startRunner()
        let r = try system.sendmail(["-t", "-i"], """
        From: sender@elsewhere.example
        To: A <\(a.name)@\(system.hostname)>
        Cc: \(b.name)@localhost
        Bcc: \(c.name)
        Subject: three

        hello

        """)
        #expect(r.status == 0, "\(r.stderr)")
        try waitFor("three deliveries") { a.messages().count == 1 && b.messages().count == 1 && c.messages().count == 1 }
        for u in [a, b, c] {
            #expect(!u.messages()[0].contains("Bcc"))
            #expect(u.messages()[0].contains("Subject: three\n"))
        }
    }

    @Test func aliasToSeveralUsersAndAProgram() throws {
        let a = try TestUser(), b = try TestUser()
        let out = "/tmp/postamt-alias-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: out, contents: nil)
        chmod(out, 0o666)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let system = try Installation(aliases: """
        team: \(a.name), \(b.name),
          "|/bin/sh -c 'cat >> \(out); id -un >> \(out)'"
        staff: team
        """)
        try system.startRunner()
        let r = try system.sendmail(["-i", "staff"], "Subject: alias\n\nfor the team\n")
        #expect(r.status == 0, "\(r.stderr)")
        try waitFor("alias deliveries") {
            a.messages().count == 1 && b.messages().count == 1 && ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").hasSuffix("nobody\n")
        }
        #expect(a.messages()[0].contains("Delivered-To: \(a.name)@\(system.hostname)"))
        let piped = try String(contentsOfFile: out, encoding: .utf8)
        // The alias command runs as default_privs and sees the message with our headers; its
        // Delivered-To names the alias that holds the command.
        #expect(piped.contains("Delivered-To: team@\(system.hostname)"))
        #expect(piped.contains("for the team\n"))
    }

    /// The spawner's two ways (runner_exec_local): a forked child that becomes the recipient and
    /// runs postamt-local's code (the default), or postamt-local started from program_directory.
    /// A wrapper in program_directory leaves a mark only when it is started.
    @Test(arguments: [false, true]) func spawnerForksOrExecutesAsTheRecipient(execute: Bool) throws {
        let user = try TestUser()
        let system = try Installation(config: "runner_exec_local = \(execute ? "yes" : "no")")
        let bin = "\(system.root)/bin"
        try wrapProgram("postamt-local", in: bin, touching: "\"$HOME/started-postamt-local\"")
        try system.startRunner()
        let r = try system.sendmail(["-i", user.name], "Subject: spawner\n\nbody\n")
        #expect(r.status == 0, "\(r.stderr)")
        try waitFor("delivery") { user.messages().count == 1 }
        let names = try FileManager.default.contentsOfDirectory(atPath: user.maildirNew)
        var st = stat()
        stat("\(user.maildirNew)/\(names[0])", &st)
        #expect(st.st_uid == user.uid && st.st_gid == getpwnam(user.name)!.pointee.pw_gid)
        try waitFor("queue empty") { system.queueIsEmpty && system.log().contains("removed") }
        #expect(system.log().contains("status=sent (delivered to maildir"), "\(system.log())")
        #expect(FileManager.default.fileExists(atPath: "\(user.home)/started-postamt-local") == execute)
    }

    /// runner_batch_scheduling: the runner, its spawner and the delivery child (which has
    /// written the message and waits for more to its user) run with SCHED_BATCH (3) by
    /// default, and with the default policy, SCHED_OTHER (0), when it is off.
    @Test(arguments: [("", 3), ("runner_batch_scheduling = no", 0)])
    func deliveriesRunWithBatchScheduling(config: String, policy: Int32) throws {
        let user = try TestUser()
        let system = try Installation(config: config + "\nrunner_local_max_idle = 60s")
        try system.startRunner()
        #expect(try system.sendmail(["-i", user.name], "Subject: policy\n\nbody\n").status == 0)
        try waitFor("delivery") { user.messages().count == 1 }
        let runner = try #require(system.runner?.processIdentifier)
        let spawner = try #require(childPIDs(of: runner).first, "the spawner")
        let child = try #require(writers(user).first.flatMap { pid_t($0) }, "the delivery child's pid")
        for (name, pid) in [("runner", runner), ("spawner", spawner), ("delivery child", child)] {
            #expect(sched_getscheduler(pid) == policy, "\(name) \(pid)")
        }
        // The waiting child goes with the spawner, before the user is removed.
        system.stopRunner()
        try waitFor("the delivery child's exit") { kill(child, 0) != 0 }
    }

    /// A local delivery ends when its agent's output ends after its result line (that line is
    /// the delivery's answer), not when the agent exits: an agent that lets go of its
    /// descriptors and lingers does not hold the message. Here a wrapper around postamt-local
    /// (started from program_directory) becomes a minute's sleep once the delivery is done.
    @Test func aDeliveryEndsWithItsResultLineNotWithItsAgentsExit() throws {
        let user = try TestUser()
        let system = try Installation(config: "runner_exec_local = yes")
        let bin = "\(system.root)/bin"
        #expect(rename("\(bin)/postamt-local", "\(bin)/postamt-local.real") == 0)
        try """
        #!/bin/sh
        "\(bin)/postamt-local.real" "$@"
        exec >/dev/null 2>&1 3>&-
        echo $$ > "$HOME/lingering"
        exec sleep 60
        """.write(toFile: "\(bin)/postamt-local", atomically: true, encoding: .utf8)
        chmod("\(bin)/postamt-local", 0o755)
        try system.startRunner()
        #expect(try system.sendmail(["-i", user.name], "Subject: linger\n\nbody\n").status == 0)
        try waitFor("the delivery's end", timeout: 30) { system.log().contains("status=sent (delivered to maildir") }
        #expect(user.messages().count == 1)
        let text = try String(contentsOfFile: "\(user.home)/lingering", encoding: .utf8)
        let agent = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(agent, 0) == 0, "the agent had exited before its delivery was taken as done")
        kill(agent, SIGKILL)
        try waitFor("queue empty") { system.queueIsEmpty }
    }

    /// runner_local_batch: deliveries to one user that wait together run in one forked child, one
    /// after the other, each with its own descriptors and result. The spawner is stopped while
    /// the runner asks for six deliveries, so that they wait together; with a batch of 1 each
    /// gets a child of its own. Either way every message arrives once, whole, as the user.
    @Test(arguments: [16, 1]) func deliveriesWaitingTogetherShareAChild(batch: Int) throws {
        let user = try TestUser()
        let system = try Installation(config: "runner_local_batch = \(batch)")
        try system.startRunner()
        let runnerPID = try #require(system.runner?.processIdentifier)
        let spawner = try #require(childPIDs(of: runnerPID).first, "the spawner")
        kill(spawner, SIGSTOP)
        var resumed = false
        defer { if !resumed { kill(spawner, SIGCONT) } }
        for i in 0..<6 {
            #expect(try system.sendmail(["-i", user.name], "Subject: batch \(i)\n\nbody \(i)\n").status == 0)
        }
        // The runner has picked up all six ("queue active") and asks for each delivery right
        // after; a moment more for those requests to be sent (not a timed assertion: batching
        // is only asserted as "some shared a child" below).
        try waitFor("six picked up") { system.log().components(separatedBy: "(queue active)").count == 7 }
        usleep(500_000)
        kill(spawner, SIGCONT)
        resumed = true
        try waitFor("six deliveries", timeout: 60) { user.messages().count == 6 && system.queueIsEmpty }
        let messages = user.messages()
        for i in 0..<6 { #expect(messages.filter { $0.contains("Subject: batch \(i)\n") && $0.hasSuffix("body \(i)\n") }.count == 1) }
        for name in try FileManager.default.contentsOfDirectory(atPath: user.maildirNew) {
            var st = stat()
            stat("\(user.maildirNew)/\(name)", &st)
            #expect(st.st_uid == user.uid)
        }
        // How many children wrote the six.
        let pids = try writers(user)
        #expect(batch == 1 ? pids.count == 6 : pids.count < 6, "\(pids)")
    }

    /// The pids in the names of the messages in a Maildir's new/ ("….M…P<pid>Q…"): the
    /// processes that wrote them.
    func writers(_ user: TestUser, new: String? = nil) throws -> Set<Substring> {
        Set(try FileManager.default.contentsOfDirectory(atPath: new ?? user.maildirNew).compactMap { name -> Substring? in
            guard let p = name.firstRange(of: "P"), let q = name[p.upperBound...].firstIndex(of: "Q") else { return nil }
            return name[p.upperBound..<q]
        })
    }

    /// runner_local_max_use and runner_local_max_idle: a delivery child that has finished waits
    /// for the next delivery to its user, so three messages sent one after another, each after
    /// the one before has arrived, are written by one child; with a max_use of 1, or no idle
    /// time, each by a child of its own. Every message arrives once, as the user; a postamt.conf
    /// changed while the child waits applies to its next delivery (home_mailbox, here).
    @Test(arguments: [("", 1), ("runner_local_max_use = 1", 3), ("runner_local_max_idle = 0", 3)])
    func aFinishedDeliveryChildTakesItsUsersNextMessage(config: String, children: Int) throws {
        let user = try TestUser()
        let settings = "runner_local_max_idle = 60s\n" + config
        let system = try Installation(config: settings)
        try system.startRunner()
        let other = "\(user.home)/Mail2/new"
        for i in 0..<3 {
            if i == 2 {
                let conf = "\(system.root)/etc/postamt/postamt.conf"
                let text = try String(contentsOfFile: conf, encoding: .utf8) + "\nhome_mailbox = Mail2/\n"
                try text.write(toFile: conf, atomically: true, encoding: .utf8)
            }
            #expect(try system.sendmail(["-i", user.name], "Subject: reuse \(i)\n\nbody \(i)\n").status == 0)
            try waitFor("delivery \(i)") {
                user.messages().count == min(i + 1, 2) && (i < 2 || ((try? FileManager.default.contentsOfDirectory(atPath: other)) ?? []).count == 1)
                    && system.queueIsEmpty
            }
        }
        var messages = user.messages()
        for name in try FileManager.default.contentsOfDirectory(atPath: other) {
            messages.append(try String(contentsOfFile: "\(other)/\(name)", encoding: .utf8))
        }
        for i in 0..<3 { #expect(messages.filter { $0.contains("Subject: reuse \(i)\n") && $0.hasSuffix("body \(i)\n") }.count == 1) }
        for new in [user.maildirNew, other] {
            for name in try FileManager.default.contentsOfDirectory(atPath: new) {
                var st = stat()
                stat("\(new)/\(name)", &st)
                #expect(st.st_uid == user.uid)
            }
        }
        let pids = try writers(user).union(writers(user, new: other))
        #expect(pids.count == children, "\(pids)")
        #expect(system.log().components(separatedBy: "status=sent").count == 4, "\(system.log())")
        // The child waits on (60 s); let go, children are reaped, none left a zombie.
        let runnerPID = try #require(system.runner?.processIdentifier)
        let spawner = try #require(childPIDs(of: runnerPID).first, "the spawner")
        if children == 1 {
            #expect(childPIDs(of: spawner).map(String.init) == pids.map(String.init))
        } else {
            try waitFor("the spawner's children reaped") { childPIDs(of: spawner).isEmpty }
        }
    }

    /// delivery_time_limit with a delivery child that lives on: a |command that hangs in a
    /// delivery given to a waiting child is killed with that child when the limit is due (the
    /// runner wakes for it), once; the message stays queued for a retry, and the user's next
    /// message gets a new child and arrives.
    @Test func aHangingDeliveryInAWaitingChildIsKilledAndTheNextOneArrives() throws {
        let user = try TestUser()
        try user.writeFile(".postamt-slow", "|sleep 8\n")
        let system = try Installation(config: "delivery_time_limit = 1s\nrunner_local_max_idle = 60s\nminimal_backoff = 1h")
        try system.startRunner()
        #expect(try system.sendmail(["-i", user.name], "Subject: first\n\nx\n").status == 0)
        try waitFor("the first") { user.messages().count == 1 && system.queueIsEmpty }
        let runnerPID = try #require(system.runner?.processIdentifier)
        let spawner = try #require(childPIDs(of: runnerPID).first, "the spawner")
        let waiting = childPIDs(of: spawner)
        #expect(waiting.count == 1)
        #expect(try system.sendmail(["-i", "\(user.name)+slow"], "Subject: slow\n\nx\n").status == 0)
        try waitFor("the kill", timeout: 30) { system.log().contains("ran longer than delivery_time_limit; killed") }
        try waitFor("the waiting child gone") { !childPIDs(of: spawner).contains { waiting.contains($0) } }
        #expect(try system.sendmail(["-i", user.name], "Subject: next\n\nx\n").status == 0)
        try waitFor("the next") { user.messages().contains { $0.contains("Subject: next") } }
        try waitFor("the slow one deferred", timeout: 30) { system.log().contains("status=deferred") }
        #expect(!system.queueIsEmpty, "the slow message waits for its retry")
        #expect(system.log().components(separatedBy: "delivery_time_limit; killed").count == 2, "killed once: \(system.log())")
    }

    /// A backlog behind delivery_concurrency = 1: the messages that can only wait for the one
    /// local slot keep their place and all arrive once; a message with a recipient that failed
    /// at pickup still gets its bounce, and its local recipient its copy.
    @Test func aBacklogBehindOneLocalSlotDrainsInFull() throws {
        let user = try TestUser()
        let system = try Installation(config: "delivery_concurrency = 1")
        // The runner makes the queue; stopped, it lets the backlog pile up.
        try system.startRunner()
        system.stopRunner()
        for i in 0..<12 {
            #expect(try system.sendmail(["-i", user.name], "Subject: backlog \(i)\n\nbody \(i)\n").status == 0)
        }
        #expect(try system.sendmail(["-i", "-f", user.name, user.name, "nobody-\(getpid())"], "Subject: partly\n\nx\n").status == 0)
        try system.startRunner()
        try waitFor("all delivered", timeout: 120) { user.messages().count == 14 && system.queueIsEmpty }
        let messages = user.messages()
        for i in 0..<12 { #expect(messages.filter { $0.contains("Subject: backlog \(i)\n") }.count == 1) }
        #expect(messages.filter { $0.contains("Subject: partly") && !$0.contains("Delivery Status Notification") }.count >= 1)
        #expect(system.log().contains("non-delivery notification"), "\(system.log())")
    }

    /// What the spawner refuses (a default_privs that is no user, or root) ends that delivery
    /// with the spawner's result line, while the message's other recipient is delivered.
    @Test(arguments: [("nosuchuser-\(getpid())", "no such user nosuchuser-\(getpid()) (#5.1.1)"),
                      ("root", "refusing to deliver as root (#5.7.1)")])
    func spawnerRefusalsBecomeResults(privs: String, reason: String) throws {
        let user = try TestUser()
        let system = try Installation(config: "default_privs = \(privs)", aliases: "piped: \"|/bin/cat >/dev/null\"\n")
        try system.startRunner()
        let r = try system.sendmail(["-i", "piped", user.name], "Subject: refused\n\nbody\n")
        #expect(r.status == 0, "\(r.stderr)")
        try waitFor("one delivered, one refused") {
            user.messages().contains { $0.contains("Subject: refused") } && system.log().contains("status=bounced (\(reason))")
        }
        #expect(system.log().contains("relay=local"), "\(system.log())")
    }

    @Test func programDeliveryRunsAsTheUserWithACleanEnvironment() throws {
        let user = try TestUser()
        try user.writeFile(".postamt", "|env > $HOME/env.txt; id -u > $HOME/uid.txt; cat > $HOME/msg.txt\n./Maildir/\n")
        let system = try Installation()
        try system.startRunner()
        let r = try system.sendmail(["-i", "-f", "someone@else.example", "\(user.name)"], "Subject: prog\n\n$(touch /tmp/pwned) `id`\n")
        #expect(r.status == 0)
        try waitFor("program and maildir") { user.messages().count == 1 && FileManager.default.fileExists(atPath: "\(user.home)/msg.txt") }
        let uid = try String(contentsOfFile: "\(user.home)/uid.txt", encoding: .utf8)
        #expect(uid == "\(user.uid)\n")
        let env = try String(contentsOfFile: "\(user.home)/env.txt", encoding: .utf8)
        #expect(env.contains("SENDER=someone@else.example\n"))
        #expect(env.contains("HOME=\(user.home)\n"))
        #expect(env.contains("USER=\(user.name)\n"))
        #expect(!env.contains("SUDO") && !env.contains("TERM="))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/pwned"))
    }

    @Test func extensionAddressesUseTheirOwnFile() throws {
        let user = try TestUser()
        try user.writeFile(".postamt-lists", "./Lists/\n")
        let system = try Installation()
        try system.startRunner()
        _ = try system.sendmail(["-i", "\(user.name)+lists"], "Subject: list mail\n\nx\n")
        _ = try system.sendmail(["-i", "\(user.name)"], "Subject: plain\n\nx\n")
        try waitFor("both") {
            user.messages().count == 1 && ((try? FileManager.default.contentsOfDirectory(atPath: "\(user.home)/Lists/new")) ?? []).count == 1
        }
        #expect(user.messages()[0].contains("Subject: plain"))
    }

    @Test func forwardingLoopBouncesToTheSender() throws {
        let a = try TestUser(), b = try TestUser(), sender = try TestUser()
        let system = try Installation()
        try a.writeFile(".forward", "\(b.name)@\(system.hostname)\n")
        try b.writeFile(".forward", "\(a.name)@\(system.hostname)\n")
        try system.startRunner()
        let r = try system.sendmail(["-i", "-f", "\(sender.name)@\(system.hostname)", a.name], "Subject: loop\n\nround and round\n")
        #expect(r.status == 0)
        try waitFor("bounce", timeout: 90) { sender.messages().count == 1 }
        let bounce = sender.messages()[0]
        #expect(bounce.contains("Return-Path: <>"))
        #expect(bounce.contains("looping"))
        #expect(bounce.contains("Status: 5.4.6"))
        #expect(bounce.contains("Subject: loop"))
        #expect(a.messages().isEmpty && b.messages().isEmpty)
    }

    @Test func unknownUserBouncesWithAReport() throws {
        let sender = try TestUser()
        let system = try Installation()
        try system.startRunner()
        let r = try system.sendmail(["-i", "-f", sender.name, "nosuchuser-\(UUID().uuidString.prefix(6).lowercased())"], "Subject: lost\n\nhello\n")
        #expect(r.status == 0)
        try waitFor("bounce") { sender.messages().count == 1 }
        let bounce = sender.messages()[0]
        #expect(bounce.contains("Content-Type: multipart/report; report-type=delivery-status;"))
        #expect(bounce.contains("Action: failed\nStatus: 5.1.1"))
        #expect(bounce.contains("Subject: Undelivered Mail Returned to Sender"))
        #expect(bounce.contains("Content-Type: text/rfc822-headers\n\nReceived: (postamt-queue"))
        try waitFor("queue empty") { system.queueIsEmpty }
        #expect(system.log().contains("sender non-delivery notification: "))
    }

    @Test func undeliverableBounceGoesToPostmasterAndStops() throws {
        let admin = try TestUser()
        let system = try Installation(aliases: "postmaster: \(admin.name)\n")
        try system.startRunner()
        // A bounce (null sender) to an unknown user: the postmaster gets the notice, nothing loops.
        let r = try system.queueInject(message: Data("Subject: bounce\n\nx\n".utf8), envelope: envelope("", ["ghost-\(admin.name)@\(system.hostname)"]))
        #expect(r.status == 0, "\(r.stderr)")
        try waitFor("postmaster notice") { admin.messages().count == 1 }
        #expect(admin.messages()[0].contains("Return-Path: <double-bounce@\(system.hostname)>"))
        try waitFor("queue empty") { system.queueIsEmpty }
    }

    @Test func programExitCodesFollowQmail() throws {
        let user = try TestUser(), sender = try TestUser()
        // 111: temporary (retried), then success once the marker exists; 100: permanent.
        try user.writeFile(".postamt-soft", "|test -e $HOME/ready || exit 111\n./Soft/\n")
        try user.writeFile(".postamt-hard", "|echo refused by policy; exit 100\n")
        let system = try Installation()
        try system.startRunner()
        _ = try system.sendmail(["-i", "-f", sender.name, "\(user.name)+soft"], "Subject: soft\n\nx\n")
        _ = try system.sendmail(["-i", "-f", sender.name, "\(user.name)+hard"], "Subject: hard\n\nx\n")
        try waitFor("hard bounce") { sender.messages().count == 1 }
        #expect(sender.messages()[0].contains("refused by policy"))
        try waitFor("deferral logged") { system.log().contains("status=deferred (command failed with exit 111") }
        try user.writeFile("ready", "")
        try waitFor("soft delivered after retry") {
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(user.home)/Soft/new")) ?? []).count == 1
        }
    }

    /// Run as root, postamt-local refuses with a temporary failure (75) whose text says so
    /// (#4.3.0): the exit status and the status code agree, and the message waits.
    @Test func asRootItRefusesTemporarily() throws {
        let system = try Installation()
        let r = try run("\(system.root)/bin/postamt-local", ["nobody"], input: Data("Subject: x\n\nx\n".utf8),
                        environment: system.environment)
        #expect(r.status == 75, "\(r.stderr)")
        #expect(r.stderr.contains("refusing to deliver as root") && r.stderr.contains("(#4.3.0)"), "\(r.stderr)")
    }

    /// The typed report channels: postamt-local's result line on the descriptor named by
    /// POSTAMT_RESULT_FD (class letter, enhanced code, text, agreeing with the exit code), and
    /// postamt-queue's queue id on the descriptor named by POSTAMT_ID_FD. A descriptor that is
    /// not open is ignored.
    @Test func reportDescriptors() throws {
        let system = try Installation()
        let script = """
        import os, subprocess, sys
        prog, mode = sys.argv[1], sys.argv[2]
        r, w = os.pipe()
        env = dict(os.environ)
        if mode == "local":
            env["POSTAMT_RESULT_FD"] = str(w)
            p = subprocess.run([prog, "nobody"], input=b"Subject: x\\n\\nx\\n", pass_fds=(w,), env=env, capture_output=True)
        elif mode == "closed":
            env["POSTAMT_RESULT_FD"] = "57"
            p = subprocess.run([prog, "nobody"], input=b"Subject: x\\n\\nx\\n", env=env, capture_output=True)
        else:
            env["POSTAMT_ID_FD"] = str(w)
            envelope = os.memfd_create("envelope")
            os.write(envelope, b"Fsender@example.org\\0Troot@localhost\\0\\0")
            os.lseek(envelope, 0, 0)
            p = subprocess.run([prog], input=b"Subject: x\\n\\nx\\n", stdout=envelope, pass_fds=(w,), env=env, stderr=subprocess.PIPE)
        os.close(w)
        sys.stdout.write("%d\\n" % p.returncode)
        sys.stdout.write(os.read(r, 8192).decode())
        """
        let local = try run("/usr/bin/python3", ["-c", script, "\(system.root)/bin/postamt-local", "local"], environment: system.environment)
        #expect(local.stdout == "75\nZ 4.3.0 refusing to deliver as root: run postamt-local as the recipient\n", "\(local.stdout) \(local.stderr)")
        let closed = try run("/usr/bin/python3", ["-c", script, "\(system.root)/bin/postamt-local", "closed"], environment: system.environment)
        #expect(closed.stdout == "75\n", "\(closed.stdout) \(closed.stderr)")
        // The runner creates the queue; stopped, it leaves the new message in incoming/.
        try system.startRunner()
        system.stopRunner()
        let queue = try run("/usr/bin/python3", ["-c", script, "\(system.root)/bin/postamt-queue", "queue"], environment: system.environment)
        let lines = queue.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[0] == "0", "\(queue.stdout) \(queue.stderr)")
        #expect(lines.count == 2 && system.queueFiles("incoming") == [lines[1]], "\(queue.stdout) \(system.queueFiles("incoming"))")
    }

    @Test func queueAdministration() throws {
        let user = try TestUser()
        let system = try Installation()
        try system.startRunner()
        system.stopRunner()
        // With no runner, messages wait in incoming/; hold needs the runner to have seen them.
        let r = try system.sendmail(["-i", user.name], "Subject: admin\n\nx\n")
        #expect(r.status == 0)
        let list = try system.postamt(["queue", "list"])
        #expect(list.stdout.contains("\(user.name)@\(system.hostname)"))
        let json = try system.postamt(["queue", "list", "--json"])
        #expect(json.stdout.contains("\"queue_name\":\"incoming\""))
        let id = system.queueFiles("incoming")[0]
        try system.startRunner()
        try waitFor("delivered") { user.messages().count == 1 && system.queueIsEmpty }
        // Hold a message that cannot be delivered yet (its program says "try later"), then
        // delete it.
        try user.writeFile(".postamt-later", "|exit 111\n")
        _ = try system.sendmail(["-i", "\(user.name)+later"], "Subject: remote\n\nx\n")
        // The state file is written just after the deferral's log line (the first result makes
        // it: before that the envelope stands for it); a ".tmp." file of the write is not it.
        func stateIDs() -> [String] { system.queueFiles("state").filter { !$0.hasPrefix(".") } }
        try waitFor("deferred") { system.log().contains("status=deferred (command failed with exit 111") && !stateIDs().isEmpty }
        let remoteID = stateIDs()[0]
        #expect(remoteID != id)
        #expect(try system.postamt(["queue", "hold", remoteID]).status == 0)
        try waitFor("held") { (try? system.postamt(["queue", "list"]).stdout.contains("\(remoteID)!")) == true }
        #expect(try system.postamt(["queue", "release", remoteID]).status == 0)
        let show = try system.postamt(["queue", "show", remoteID])
        #expect(show.stdout.contains("Subject: remote"))
        #expect(try system.postamt(["queue", "delete", remoteID]).status == 0)
        try waitFor("deleted") { system.queueIsEmpty }
        #expect(try system.postamt(["queue", "delete", "NOSUCHID"]).status == 1)
        #expect(try system.postamt(["queue", "list"]).stdout == "Mail queue is empty\n")
        #expect(try system.postamt(["queue", "flush"]).status == 0)
    }

    /// Removal unlinks the state file before the message file without an fsync between them: a
    /// state whose message is gone (what a crash on a reordering file system can leave) is moved
    /// to corrupt/ at start, not retried until it expires into an empty bounce.
    @Test func aMessageNameLostInMessIsRestoredFromIncoming() throws {
        let user = try TestUser()
        let system = try Installation()
        try system.startRunner()
        system.stopRunner()
        #expect(try system.sendmail(["-i", user.name], "Subject: relinked\n\nwhole\n").status == 0)
        let id = try #require(system.queueFiles("incoming").first)
        // One file under two names: the envelope record is in the message file's header.
        var incoming = stat(), mess = stat()
        #expect(stat("\(system.queue)/incoming/\(id)", &incoming) == 0 && stat("\(system.queue)/mess/\(id)", &mess) == 0)
        #expect(incoming.st_ino == mess.st_ino)
        let (record, size) = try system.queuedEnvelope(id)
        #expect(record.contains("\nsize \(size)\n") && record.contains("\nrcpt \(user.name)@"))
        // postamt-queue does not fsync mess/: a power loss may take that name. The runner
        // links it again from incoming/ID.
        #expect(unlink("\(system.queue)/mess/\(id)") == 0)
        try system.startRunner()
        // mess/ID goes last, after state/ and incoming/.
        try waitFor("delivered") { user.messages().count == 1 && system.queueIsEmpty && system.queueFiles("mess").isEmpty }
        // sendmail's file belongs to its sender: the runner (mail_owner) may not link it
        // (fs.protected_hardlinks) and writes a copy instead.
        #expect(system.log().contains("mess/\(id) was missing: written again from incoming/\(id)"))
        #expect(user.messages()[0].contains("Subject: relinked\n") && user.messages()[0].hasSuffix("\n\nwhole\n"))
        #expect(!user.messages()[0].contains("POSTAMT"))
        #expect(system.queueFiles("corrupt").isEmpty)
        // A file of the mail_owner's own (smtpd writes the queue file as mail_owner) is linked.
        system.stopRunner()
        let asOwner = try run("/usr/sbin/runuser", ["-u", "postamt", "--", "\(system.root)/bin/sendmail", "-i", user.name],
                              input: Data("Subject: relinked 2\n\nwhole 2\n".utf8), environment: system.environment)
        #expect(asOwner.status == 0, "\(asOwner.stderr)")
        let second = try #require(system.queueFiles("incoming").first)
        #expect(unlink("\(system.queue)/mess/\(second)") == 0)
        try system.startRunner()
        // mess/ID goes last, after state/ and incoming/.
        try waitFor("delivered") { user.messages().count == 2 && system.queueIsEmpty && system.queueFiles("mess").isEmpty }
        #expect(system.log().contains("mess/\(second) was missing: linked again from incoming/\(second)"))
        #expect(user.messages().contains { $0.hasSuffix("\n\nwhole 2\n") })
        #expect(system.queueFiles("corrupt").isEmpty)
    }

    @Test func queueFilesOfAnOlderVersionAreDelivered() throws {
        let user = try TestUser()
        let system = try Installation()
        try system.startRunner()
        system.stopRunner()
        // The layout before message files had a header: the message alone in mess/ID, the
        // envelope record in a file of its own in incoming/ID.
        let id = "6B0C72D30253D1A21"
        let message = "Received: (postamt-queue 1 invoked by uid 0); Mon, 1 Jan 2026 00:00:00 +0000\nSubject: old\n\nold body\n"
        let record = "POSTAMT-ENVELOPE 1\nid \(id)\narrival 1795977939\nsize \(message.utf8.count)\nuid 0\n"
            + "sender root@\(system.hostname)\nrcpt \(user.name)@\(system.hostname)\nend\n"
        #expect(FileManager.default.createFile(atPath: "\(system.queue)/mess/\(id)", contents: Data(message.utf8), attributes: [.posixPermissions: 0o640]))
        #expect(FileManager.default.createFile(atPath: "\(system.queue)/incoming/\(id)", contents: Data(record.utf8), attributes: [.posixPermissions: 0o640]))
        #expect(try system.postamt(["queue", "list"]).stdout.contains(id))
        try system.startRunner()
        // "removed" is logged once mess/ID is gone too (incoming/ID goes first).
        try waitFor("delivered") { user.messages().count == 1 && system.queueIsEmpty && system.log().contains("\(id): removed") }
        #expect(user.messages()[0].contains("Subject: old\n\nold body\n"))
        #expect(system.queueFiles("mess").isEmpty && system.queueFiles("corrupt").isEmpty)
    }

    @Test func stateWithoutItsMessageGoesToCorrupt() throws {
        let user = try TestUser()
        let system = try Installation()
        try system.startRunner()
        try user.writeFile(".postamt-later", "|exit 111\n")
        _ = try system.sendmail(["-i", "\(user.name)+later"], "Subject: later\n\nx\n")
        func stateIDs() -> [String] { system.queueFiles("state").filter { !$0.hasPrefix(".") } }
        try waitFor("deferred") { system.log().contains("status=deferred (command failed with exit 111") && !stateIDs().isEmpty }
        let id = stateIDs()[0]
        // A deferred message has its state file and no envelope any more (the envelope goes
        // just after the state file's rename and the fsync of state/).
        try waitFor("the envelope removed") { system.queueFiles("incoming").isEmpty }
        system.stopRunner()
        #expect(unlink("\(system.queue)/mess/\(id)") == 0)
        try system.startRunner()
        try waitFor("moved to corrupt/") { system.queueFiles("corrupt").contains("\(id).state") }
        #expect(stateIDs().isEmpty)
        #expect(system.log().contains("state without its message file"))
    }

    @Test func checkReportsProblemsWithFileAndLine() throws {
        let system = try Installation(config: "bogus_key = 1\nminimal_backoff = soon\n", aliases: "x: \"|unterminated\n")
        let r = try system.postamt(["check"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("postamt.conf:5: unknown setting 'bogus_key'"))
        #expect(r.stdout.contains("postamt.conf:6: minimal_backoff: 'soon' is not a duration"))
        #expect(r.stdout.contains("aliases:1: x: unbalanced quote"))
        let good = try Installation()
        try good.startRunner()
        let ok = try good.postamt(["check"])
        #expect(ok.status == 0, "\(ok.stdout)")
        let config = try good.postamt(["config"])
        #expect(config.stdout.contains("minimal_backoff = 1s\n"))
        #expect(config.stdout.contains("queue_lifetime = 5d\n"))
    }
}

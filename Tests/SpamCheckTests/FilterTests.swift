import Foundation
import Testing
import MailCore
import SpamFilter
@testable import SpamCheck

struct TrainingTests {
    func makeMaildir(_ root: String, count: Int, spam: Bool) throws {
        for sub in ["cur", "new", "tmp"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(sub)", withIntermediateDirectories: true)
        }
        for i in 0..<count {
            let text = spam
                ? "Message-ID: <s\(i)@spam.test>\nSubject: cheap pills \(i)\n\nbuy cheap pills viagra casino winner money\n"
                : "Message-ID: <h\(i)@ham.test>\nSubject: meeting notes \(i)\n\nthe quarterly meeting agenda attached project schedule\n"
            try text.write(toFile: "\(root)/\(i % 2 == 0 ? "cur" : "new")/\(i).host:2,S", atomically: true, encoding: .utf8)
        }
    }

    /// Maildirs spam/ and ham/ of `count` messages each under `directory`, and a training into
    /// a global database in directory/db.
    func spamAndHam(in directory: String, count: Int) throws -> (SpamCheckOptions, SpamTraining) {
        try makeMaildir("\(directory)/spam", count: count, spam: true)
        try makeMaildir("\(directory)/ham", count: count, spam: false)
        var options = SpamCheckOptions()
        options.databaseDirectory = directory + "/db"
        return (options, SpamTraining(database: TokenDatabase(path: options.databasePath(user: nil)), options: options))
    }

    @Test func learningAFolderTwiceCountsOnce() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try makeMaildir("\(directory)/Maildir/.Junk", count: 6, spam: true)
        try makeMaildir("\(directory)/Maildir", count: 4, spam: false)
        let training = SpamTraining(database: TokenDatabase(path: "\(directory)/db/tokens.db"))
        let first = try training.train(["\(directory)/Maildir/.Junk"], as: .spam)
        #expect(first.files == 6 && first.summary.learnt == 6)
        let second = try training.train(["\(directory)/Maildir/.Junk"], as: .spam)
        #expect(second.summary.learnt == 0 && second.summary.alreadyKnown == 6)
        // The inbox Maildir: its .Junk subfolder is not descended into.
        let ham = try training.train(["\(directory)/Maildir"], as: .ham)
        #expect(ham.files == 4 && ham.summary.learnt == 4)
        _ = try training.train(["\(directory)/Maildir"], as: .ham)
        let snapshot = try TokenDatabase(path: "\(directory)/db/tokens.db").snapshot()
        #expect(snapshot.spamMessageCount == 6 && snapshot.hamMessageCount == 4)
        // A user moving a message out of Junk: learnt as ham, it moves over.
        let moved = try training.train(["\(directory)/Maildir/.Junk/cur/0.host:2,S"], as: .ham)
        #expect(moved.summary.reclassified == 1)
        let forgot = try training.train(["\(directory)/Maildir/.Junk/cur/0.host:2,S"], as: nil)
        #expect(forgot.summary.forgotten == 1)
        let after = try TokenDatabase(path: "\(directory)/db/tokens.db").snapshot()
        #expect(after.spamMessageCount == 5 && after.hamMessageCount == 4)
    }

    @Test func bothClassesLearntTogetherTrainTheGramModelToo() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (options, training) = try spamAndHam(in: directory, count: 60)
        let (summaries, files) = try training.train([(["\(directory)/spam"], .spam), (["\(directory)/ham"], .ham)])
        #expect(files == 120 && summaries.spam.learnt == 60 && summaries.ham.learnt == 60)
        let snapshot = try TokenDatabase(path: options.databasePath(user: nil)).snapshot(verifyContents: true)
        #expect(snapshot.spamMessageCount == 60 && snapshot.hamMessageCount == 60)
        #expect(snapshot.gramSpamCount == 60 && snapshot.gramHamCount == 60 && snapshot.gramWeight > 0)
        // The same again: every message known, in both classes.
        let again = try training.train([(["\(directory)/spam"], .spam), (["\(directory)/ham"], .ham)])
        #expect(again.summaries.spam.alreadyKnown == 60 && again.summaries.ham.alreadyKnown == 60)
        let checker = SpamChecker(options: options, dns: OfflineDNS())
        let spam = checker.check(SpamCheckInput(message: Array("Message-ID: <new@x>\nSubject: cheap pills 7\n\nbuy cheap pills viagra casino winner money\n".utf8)))
        #expect(spam.bayesExplanation?.contains(" grams(") == true, "\(spam.bayesExplanation ?? "")")
        #expect(spam.hits.contains { $0.name.hasPrefix("BAYES_9") }, "\(spam)")
        let ham = checker.check(SpamCheckInput(message: Array("Message-ID: <new2@x>\nSubject: meeting notes 7\n\nthe quarterly meeting agenda attached project schedule\n".utf8)))
        #expect(ham.hits.contains { $0.name == "BAYES_00" }, "\(ham)")
    }

    @Test func bayes80FiresOnlyWhenTheGramModelCountsFully() {
        #expect(SpamChecker.bayesRule(score: 0.995, gramsFull: false) == "BAYES_99")
        #expect(SpamChecker.bayesRule(score: 0.95, gramsFull: true) == "BAYES_90")
        #expect(SpamChecker.bayesRule(score: 0.85, gramsFull: true) == "BAYES_80")
        #expect(SpamChecker.bayesRule(score: 0.8, gramsFull: true) == "BAYES_80")
        #expect(SpamChecker.bayesRule(score: 0.85, gramsFull: false) == "BAYES_60")
        #expect(SpamChecker.bayesRule(score: 0.79, gramsFull: true) == "BAYES_60")
        #expect(SpamChecker.bayesRule(score: 0.5, gramsFull: true) == nil)
        #expect(SpamChecker.bayesRule(score: 0.05, gramsFull: true) == "BAYES_10")
        #expect(SpamChecker.bayesRule(score: 0.005, gramsFull: true) == "BAYES_00")
        // Tagged by itself at the default tag score, as BAYES_90 is.
        #expect(SpamRules.defaultWeights["BAYES_80"] == SpamRules.defaultWeights["BAYES_90"])
    }

    @Test func bayesRulesFireWithATrainedDatabase() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (options, training) = try spamAndHam(in: directory, count: 20)
        _ = try training.train(["\(directory)/spam"], as: .spam)
        _ = try training.train(["\(directory)/ham"], as: .ham)
        let checker = SpamChecker(options: options, dns: OfflineDNS())
        let spam = checker.check(SpamCheckInput(message: Array("Message-ID: <new@x>\nDate: now\nSubject: cheap pills\n\nbuy cheap pills casino winner money\n".utf8)))
        #expect(spam.hits.contains { $0.name.hasPrefix("BAYES_9") })
        #expect(spam.isSpam)
        let ham = checker.check(SpamCheckInput(message: Array("Message-ID: <new2@x>\nDate: now\nSubject: meeting notes\n\nthe quarterly meeting agenda project schedule\n".utf8)))
        #expect(ham.hits.contains { $0.name == "BAYES_00" })
        #expect(!ham.isSpam)
    }
}

struct OptionsTests {
    @Test func databasePerUserOrGlobal() throws {
        var configuration = Configuration(root: "/srv")
        #expect(configuration.apply(text: "spam_database = per-user\nspam_rule_weights = BAYES_90=4.5, dnsbl=7\n").isEmpty)
        let options = try SpamCheckOptions(configuration: configuration)
        #expect(options.databasePath(user: "alice") == "/srv/var/lib/postamt/spam/users/alice/tokens.db")
        // Neither database exists under /srv: the reader asks for the new place.
        #expect(options.databasePathForReading(user: "alice") == "/srv/var/lib/postamt/spam/users/alice/tokens.db")
        #expect(options.databasePath(user: nil) == "/srv/var/lib/postamt/spam/tokens.db")
        #expect(options.databasePath(user: "../etc") == "/srv/var/lib/postamt/spam/tokens.db")
        #expect(options.weights["BAYES_90"] == 4.5 && options.weights["DNSBL"] == 7)
        var bad = Configuration(root: "/srv")
        _ = bad.apply(text: "spam_tag_score = lots\nspam_database = shared\n")
        #expect(throws: ConfigErrors.self) { try SpamCheckOptions(configuration: bad) }
    }
}

struct HeuristicsTests {
    func check(_ message: String, _ configure: (inout SpamCheckOptions) -> Void = { _ in }) -> SpamReport {
        var options = SpamCheckOptions()
        options.hostname = "mx.here.test"
        options.localDomains = ["here.test"]
        options.databaseDirectory = "/nonexistent"
        configure(&options)
        var input = SpamCheckInput(message: Array(message.utf8))
        input.clientIP = "192.0.2.44"
        input.sender = "x@far.test"
        return SpamChecker(options: options, dns: OfflineDNS()).check(input)
    }

    @Test func headerRules() {
        let names = check("Received: from a by mx.here.test\nReceived: from b by mx.here.test\nFrom: \"ceo@here.test\" <ceo@far.test>\nSubject: x\n\nbody\n").hits.map(\.name)
        #expect(names.contains("MISSING_DATE"))
        #expect(names.contains("MISSING_MESSAGE_ID"))
        #expect(names.contains("FORGED_RECEIVED"))
        #expect(names.contains("FROM_DISPLAY_SPOOF"))
        let local = check("From: ceo@here.test\nDate: d\nMessage-ID: <1@x>\n\nbody\n").hits.map(\.name)
        #expect(local == ["FROM_LOCAL_UNAUTH"])
    }

    @Test func localListsAndDNSFailuresNeverBlock() {
        let dns = OfflineDNS()
        var options = SpamCheckOptions()
        options.dnsblZones = ["bl.test"]
        options.blockSenders = ["@far.test"]
        options.databaseDirectory = "/nonexistent"
        var input = SpamCheckInput(message: Array("From: a@far.test\nDate: d\nMessage-ID: <1@x>\n\nbody\n".utf8))
        input.clientIP = "192.0.2.44"
        input.sender = "x@far.test"
        let report = SpamChecker(options: options, dns: dns).check(input)
        #expect(report.hits.map(\.name).contains("BLOCK_LIST"))
        #expect(!report.hits.map(\.name).contains { $0.hasPrefix("DNSBL") })
        #expect(dns.questions > 0)
        #expect(report.rejectReason != nil)
        options.allowSenders = ["x@far.test"]
        options.blockSenders = []
        #expect(SpamChecker(options: options, dns: dns).check(input).score < 0)
    }

    @Test func checksPastTheTimeLimitAreSkipped() {
        let report = check("From: a@far.test\n\nbody\n") { $0.timeLimitSeconds = 0 }
        #expect(report.hits.map(\.name).contains("TIME_LIMIT"))
        #expect(report.notes.contains { $0.hasPrefix("SPF skipped: time limit") })
        #expect(report.rejectReason == nil)
    }

    @Test func headerFieldsStayOneLineEach() {
        var report = SpamReport()
        report.authResults = ["spf=none smtp.helo=evil\r\nX-Injected: yes"]
        report.notes = ["a\nb"]
        let text = String(decoding: report.headerFields(authservID: "h"), as: UTF8.self)
        #expect(!text.contains("\nX-Injected"))
        #expect(text.split(separator: "\n").allSatisfy { !$0.contains("\r") })
    }

    @Test func rewriteRemovesForgedFieldsOfOurs() {
        var report = SpamReport()
        report.hits = [SpamRuleHit(name: "MISSING_DATE", weight: 1)]
        report.score = 1
        let message = Array("X-Spam-Status: No, score=-100\nAuthentication-Results: mx.here.test; spf=pass\nAuthentication-Results: other.example; dkim=pass\nSubject: s\n\nbody\n".utf8)
        let out = String(decoding: SpamCheckProgram.rewrite(message, report: report, authservID: "mx.here.test"), as: UTF8.self)
        #expect(out.hasPrefix("X-Spam-Status: No, score=1.0, tests=MISSING_DATE(1.0)\nX-Spam-Score: 1.0\n"))
        #expect(!out.contains("score=-100"))
        #expect(!out.contains("mx.here.test; spf=pass"))
        #expect(out.contains("Authentication-Results: other.example; dkim=pass"))
        #expect(out.hasSuffix("Subject: s\n\nbody\n"))
    }
}

/// Hostile MIME: scanned within the limits, passed whole, never dropped.
struct MIMEBombTests {
    func checker() -> SpamChecker {
        var options = SpamCheckOptions()
        options.databaseDirectory = "/nonexistent"
        return SpamChecker(options: options, dns: OfflineDNS())
    }

    @Test func deepNesting() {
        var text = "Subject: deep\n"
        for depth in 0..<5_000 { text += "Content-Type: multipart/mixed; boundary=b\(depth)\n\n--b\(depth)\n" }
        text += "Content-Type: text/plain\n\nbottom\n"
        let document = SpamDocument.decode(rawMessage: Array(text.utf8))
        #expect(document.truncation.contains(.mimeDepth))
        let report = checker().check(SpamCheckInput(message: Array(text.utf8)))
        #expect(!report.unscanned)
    }

    @Test func aMillionParts() {
        var bytes = Array("Subject: parts\nContent-Type: multipart/mixed; boundary=x\n\n".utf8)
        let part = Array("--x\n\nA\n".utf8)
        bytes.reserveCapacity(bytes.count + part.count * 1_000_000)
        for _ in 0..<1_000_000 { bytes += part }
        bytes += Array("--x--\n".utf8)
        let document = SpamDocument.decode(rawMessage: bytes)
        #expect(document.truncation.contains(.mimeParts) || document.truncation.contains(.scannedBytes))
        let out = SpamCheckProgram.rewrite(bytes, report: checker().check(SpamCheckInput(message: bytes)), authservID: "h")
        #expect(out.count > bytes.count && Array(out.suffix(bytes.count)) == bytes)
    }

    @Test func aHundredMegabyteBase64Line() {
        var bytes = Array("Subject: big\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n".utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "Q"), count: 100 << 20)
        bytes.append(10)
        let document = SpamDocument.decode(rawMessage: bytes)
        #expect(document.truncation.contains(.scannedBytes))
        let out = SpamCheckProgram.rewrite(bytes, report: checker().check(SpamCheckInput(message: bytes)), authservID: "h")
        #expect(out.count > bytes.count && out.suffix(bytes.count).elementsEqual(bytes))
    }
}

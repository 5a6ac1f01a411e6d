import Foundation
import Glibc
import Testing

/// Cross-check against Pigeonhole's sieve-test (Debian's dovecot-sieve, used only as a
/// reference: run as a program, never started as a service): for each script × message, the
/// actions `postamt sieve test` prints and the ones sieve-test prints must be the same.
///
/// Both are put into one form: "keep", "fileinto NAME", "redirect ADDRESS", "reject",
/// "vacation", each with its flags lowercased. sieve-test leaves RFC 3834's checks (lists,
/// robots, "is it to me") to the execution it does not do, so a vacation we skip with a note
/// counts as the script's vacation action. editheader is off in Pigeonhole by default: -x turns it on.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sieve-test"), "Pigeonhole's sieve-test is not installed (apt-get install dovecot-sieve)"))
struct SievePigeonholeTests {
    static let scripts: [(String, String)] = [
        ("rfc5228", """
        require ["fileinto"];
        if header :is "Sender" "owner-ietf-mta-filters@imc.org" { fileinto "filter"; }
        elsif address :DOMAIN :is ["From", "To"] "example.com" { keep; }
        elsif anyof (NOT address :all :contains ["To", "Cc", "Bcc"] "me@example.com",
                     header :matches "subject" ["*make*money*fast*", "*university*dipl*mas*"]) { fileinto "spam"; }
        else { fileinto "personal"; }
        """),
        ("roundcube", """
        require ["fileinto","imap4flags"];
        # rule:[Lists]
        if anyof (header :contains "list-id" "dev.example.org", header :contains "subject" "[dev]")
        {
        \tfileinto "Lists/Dev";
        \tstop;
        }
        # rule:[Boss]
        if address :is "from" "boss@example.com"
        {
        \taddflag "\\\\Flagged";
        }
        """),
        ("thunderbird", """
        require ["fileinto", "reject"];
        if header :matches "Subject" "*viagra*" { discard; stop; }
        if size :over 2K { reject "Too big for this mailbox."; }
        if header :contains ["From", "Sender"] "@lists." { fileinto "INBOX.Lists"; }
        """),
        ("vacation", """
        require ["vacation"];
        # rule:[vacation]
        if true
        {
        \tvacation :days 7 :subject "Out of office" :addresses ["me@example.com"] "I am away until Monday.";
        }
        """),
        ("subaddress", """
        require ["variables","fileinto","envelope","subaddress"];
        if envelope :matches :detail "to" "*" { set "folder" "${1}"; }
        if string :is "${folder}" "" { keep; } else { fileinto "Plus.${folder}"; }
        """),
        ("body-relational", """
        require ["body","fileinto","relational","comparator-i;ascii-numeric","imap4flags","copy"];
        if body :text :contains "unsubscribe" { fileinto :copy "Bulk"; }
        if header :value "lt" :comparator "i;ascii-numeric" "X-Priority" "3" { addflag ["\\\\Flagged", "urgent"]; }
        if header :count "ge" :comparator "i;ascii-numeric" ["To", "Cc"] "3" { redirect "team@example.net"; }
        """),
        ("date-index", """
        require ["date","relational","fileinto","index"];
        if date :value "ge" :originalzone "date" "hour" "18" { fileinto "Evening"; }
        if date :is :index 1 :last "received" "year" "2008" { fileinto "Old"; }
        """),
        ("editheader-duplicate", """
        require ["editheader","variables","fileinto","mailbox","include"];
        if header :matches "Subject" "*" { set "s" "${1}"; }
        addheader "X-Seen-Subject" "${s}";
        deleteheader "X-Priority";
        if header :contains "X-Seen-Subject" "build" { fileinto :create "Builds"; }
        """),
    ]

    static let messages: [(String, String, String, String)] = [
        ("plain", "bob@example.org", "me@example.com", "From: Bob <bob@example.org>\nTo: me@example.com\nSubject: hello\nDate: Tue, 1 Apr 2008 10:20:30 +0200\nReceived: from a by b; Tue, 1 Apr 2008 06:00:00 -0700\n\nHi there.\n"),
        ("list", "dev-bounces@lists.example.org", "me+lists@example.com", "From: Alice <alice@lists.example.org>\nTo: dev@lists.example.org\nList-Id: Dev <dev.example.org>\nSubject: [dev] build broken\nPrecedence: list\nDate: Wed, 2 Apr 2008 19:00:00 +0000\n\nTo unsubscribe, write to dev-request.\n"),
        ("boss", "boss@example.com", "me@example.com", "From: boss@example.com\nTo: me@example.com, a@example.com, b@example.com\nX-Priority: 1\nSubject: University diplomas\nDate: Thu, 3 Apr 2008 08:00:00 +0100\n\nSee me.\n"),
        ("spam", "x@spam.example", "me@example.com", "From: x@spam.example\nTo: someone@else.example\nSubject: cheap viagra\n\n" + String(repeating: "buy now ", count: 400) + "\n"),
    ]

    static func canonicalPigeonhole(_ output: String) -> [String] {
        var out: [String] = []
        for line in output.split(separator: "\n") {
            let l = line.trimmingCharacters(in: .whitespaces)
            if l.hasPrefix("* store message in folder: ") {
                let folder = String(l.dropFirst("* store message in folder: ".count))
                out.append(folder == "INBOX" ? "keep" : "fileinto \(folder)")
            } else if l.hasPrefix("* redirect message to: ") {
                out.append("redirect " + l.dropFirst("* redirect message to: ".count).trimmingCharacters(in: CharacterSet(charactersIn: "<>")))
            } else if l.hasPrefix("* reject message") {
                out.append("reject")
            } else if l.hasPrefix("* send vacation message") {
                out.append("vacation")
            } else if l.hasPrefix("+ add IMAP flags: "), !out.isEmpty {
                out[out.count - 1] += " flags " + l.dropFirst("+ add IMAP flags: ".count).lowercased()
            }
        }
        return out.sorted()
    }

    static func canonicalPostamt(_ output: String) -> [String] {
        var out: [String] = []
        for line in output.split(separator: "\n") {
            let l = String(line)
            if l.hasPrefix("note: vacation:") { out.append("vacation"); continue }
            guard let dot = l.firstIndex(of: "."), Int(l[..<dot]) != nil else { continue }
            var action = l[l.index(dot, offsetBy: 2)...].replacingOccurrences(of: " (create)", with: "")
            var flags = ""
            if let r = action.range(of: " flags ") {
                flags = " flags " + action[r.upperBound...].lowercased()
                action = String(action[..<r.lowerBound])
            }
            if action.hasPrefix("keep") { out.append("keep" + flags) }
            else if action.hasPrefix("fileinto ") { out.append("fileinto " + action.dropFirst(9).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) + flags) }
            else if action.hasPrefix("redirect ") { out.append("redirect " + action.dropFirst(9).trimmingCharacters(in: CharacterSet(charactersIn: "<>"))) }
            else if action.hasPrefix("reject ") { out.append("reject") }
            else if action.hasPrefix("vacation ") { out.append("vacation") }
        }
        return out.sorted()
    }

    @Test func actionsAgreeWithPigeonhole() throws {
        let system = try Installation()
        let dir = "\(system.root)/pigeonhole"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o1777) // sieve-test runs as nobody and saves its compiled binary beside the script
        var compared = 0
        for (scriptName, script) in Self.scripts {
            let scriptPath = "\(dir)/\(scriptName).sieve"
            try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
            chmod(scriptPath, 0o644)
            for (messageName, sender, recipient, text) in Self.messages {
                let messagePath = "\(dir)/\(messageName).eml"
                try text.write(toFile: messagePath, atomically: true, encoding: .utf8)
                chmod(messagePath, 0o644)
                let reference = try run("/usr/bin/sieve-test", ["-o", "mail_uid=65534", "-o", "mail_gid=65534", "-x", "+editheader",
                                                                 "-f", sender, "-a", recipient, "-r", recipient, scriptPath, messagePath])
                #expect(reference.status == 0, "sieve-test \(scriptName) × \(messageName): \(reference.stderr)")
                let ours = try system.postamt(["sieve", "test", "-f", sender, "-t", recipient, scriptPath, messagePath])
                #expect(ours.status == 0, "postamt sieve test \(scriptName) × \(messageName): \(ours.stdout)\(ours.stderr)")
                let theirs = Self.canonicalPigeonhole(reference.stdout), mine = Self.canonicalPostamt(ours.stdout)
                #expect(!theirs.isEmpty || reference.stdout.contains("discard"), "\(scriptName) × \(messageName): nothing parsed from\n\(reference.stdout)")
                #expect(mine == theirs, "\(scriptName) × \(messageName):\nPigeonhole:\n\(reference.stdout)\nPostamt:\n\(ours.stdout)")
                compared += 1
            }
        }
        #expect(compared == Self.scripts.count * Self.messages.count)
    }
}

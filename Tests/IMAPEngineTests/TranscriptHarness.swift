import Foundation
import Testing
@testable import IMAPEngine

/// A throw-away Maildir with messages whose names and dates are fixed, and a session on it.
final class EngineFixture {
    let root: String
    let session: IMAPSession
    /// Whether this fixture made the Maildir (and removes it); false for `anotherSession()`.
    private var ownsRoot = true
    /// The host's password check: tester/secret.
    var authenticator: (IMAPAuthenticationRequest) -> IMAPLoginOutcome = { _ in .failure }

    init(messages: [String] = EngineFixture.messages, preauth: Bool = true,
         configure: (inout IMAPSessionConfiguration) -> Void = { _ in }) throws {
        root = NSTemporaryDirectory() + "imap-engine-\(UUID().uuidString)"
        let maildir = root + "/Maildir"
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(atPath: "\(maildir)/\(sub)", withIntermediateDirectories: true)
        }
        for (index, text) in messages.enumerated() {
            let path = "\(maildir)/new/\(1136214245 + index).M\(index)P1.test"
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            let date = Date(timeIntervalSince1970: TimeInterval(1136214245 + index * 86400))
            try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: path)
        }
        var configuration = IMAPSessionConfiguration()
        configuration.hostname = "test.example"
        configure(&configuration)
        if preauth {
            session = IMAPSession(preauthenticatedUser: "tester", maildirPath: maildir, configuration: configuration)
        } else {
            session = IMAPSession(configuration: configuration)
            authenticator = { request in
                request.user == "tester" && request.password == Array("secret".utf8)
                    ? .success(user: "tester", maildirPath: maildir) : .failure
            }
        }
    }

    private init(sharing root: String, session: IMAPSession) {
        self.root = root
        self.session = session
        ownsRoot = false
    }

    /// A second session on the same Maildir (another client of the same user); keep `self`
    /// alive as long as it is used.
    func anotherSession(configure: (inout IMAPSessionConfiguration) -> Void = { _ in }) -> EngineFixture {
        var configuration = IMAPSessionConfiguration()
        configuration.hostname = "test.example"
        configure(&configuration)
        return EngineFixture(sharing: root, session: IMAPSession(preauthenticatedUser: "tester", maildirPath: root + "/Maildir",
                                                                 configuration: configuration))
    }

    deinit { if ownsRoot { try? FileManager.default.removeItem(atPath: root) } }

    static let messages = [
        "From: Alice <alice@example.org>\nTo: Bob <bob@example.org>\nSubject: first\nDate: Mon, 2 Jan 2006 15:04:05 +0000\nMessage-ID: <1@example.org>\n\nHello Bob.\n",
        "From: Carol <carol@example.org>\nTo: bob@example.org\nCc: dave@example.org\nSubject: =?utf-8?q?K=C3=B6ln?= trip\nDate: Tue, 3 Jan 2006 10:00:00 +0100\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\n--XX\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nGr=C3=BC=C3=9Fe\n--XX\nContent-Type: message/rfc822\n\nFrom: inner@example.org\nSubject: inner\n\ninner body\n--XX--\n",
        "From: Bob <bob@example.org>\nTo: Alice <alice@example.org>\nSubject: Re: first\nDate: Wed, 4 Jan 2006 08:00:00 -0500\n\nHi Alice, a longer reply body.\n",
    ]

    /// Sends one client line (CRLF added) and returns what the session answered, answering its
    /// authentication requests as imapd does.
    func send(_ line: String) -> String {
        String(decoding: receive(Array((line + "\r\n").utf8)), as: UTF8.self)
    }

    /// Client bytes in, the answer out, every `authenticationRequest` answered on the spot.
    func receive(_ bytes: [UInt8]) -> [UInt8] {
        var answer = session.receive(bytes)
        while let request = session.authenticationRequest {
            answer += session.authenticationAnswered(authenticator(request))
        }
        return answer
    }
}

/// Golden transcripts: `C: ` lines go to the session, `S: ` lines are its exact answer (CRLF
/// line ends implied). UIDVALIDITY values (allocated from the clock) are replaced by `V`.
enum Transcript {
    static func normalise(_ text: String) -> String {
        var s = text.replacingOccurrences(of: "\r\n", with: "\n")
        // MAILBOXID values are random (RFC 8474 §4.1): shown as ID.
        s = s.replacingOccurrences(of: #"MAILBOXID \([A-Za-z0-9_-]+\)"#, with: "MAILBOXID (ID)", options: .regularExpression)
        for pattern in [#"UIDVALIDITY \d+"#, #"APPENDUID \d+"#, #"COPYUID \d+"#] {
            let regex = try! NSRegularExpression(pattern: pattern)
            let word = pattern.components(separatedBy: " ")[0]
            s = regex.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: "\(word) V")
        }
        return s
    }

    static func check(_ transcript: String, fixture: EngineFixture, sourceLocation: SourceLocation = #_sourceLocation) {
        var expected = ""
        var actual = ""
        var pendingClient: [String] = []
        func flush() {
            for line in pendingClient {
                actual += "C: \(line)\n"
                expected += "C: \(line)\n"
                let answer = normalise(fixture.send(line))
                for reply in answer.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
                    actual += "S: \(reply)\n"
                }
            }
            pendingClient = []
        }
        for line in transcript.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("C: ") {
                pendingClient.append(String(line.dropFirst(3)))
                flush()
            } else if line.hasPrefix("S: ") {
                expected += line + "\n"
            }
        }
        // NUL (BINARY, RFC 3516) shown as "␀", so a failure message is not cut short at it.
        let (shownActual, shownExpected) = (actual.replacingOccurrences(of: "\u{0}", with: "␀"),
                                            expected.replacingOccurrences(of: "\u{0}", with: "␀"))
        #expect(shownActual == shownExpected, "actual transcript:\n\(shownActual)", sourceLocation: sourceLocation)
    }
}

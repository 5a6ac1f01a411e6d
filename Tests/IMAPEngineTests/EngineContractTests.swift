import Foundation
import Testing
@testable import IMAPEngine

/// The engine contract (issue 15): LOGIN and AUTHENTICATE become a request the host answers.
@Suite("IMAP engine contract: authentication is a request the host answers")
struct IMAPEngineContractTests {
    @Test("commands pipelined behind LOGIN wait for the answer, then run")
    func pipelinedAfterLogin() throws {
        let fixture = try EngineFixture(preauth: false) { $0.allowPlaintextAuth = true }
        let session = fixture.session
        _ = session.greeting()
        let first = String(decoding: session.receive(Array("a LOGIN tester secret\r\nb SELECT INBOX\r\n".utf8)), as: UTF8.self)
        #expect(first.isEmpty, "nothing answered before the host: \(first)")
        #expect(session.authenticationRequest == IMAPAuthenticationRequest(user: "tester", password: Array("secret".utf8), mechanism: "LOGIN"))
        #expect(session.user == nil)
        let answer = String(decoding: session.authenticationAnswered(.success(user: "tester", maildirPath: fixture.root + "/Maildir")),
                            as: UTF8.self)
        #expect(answer.hasPrefix("a OK [CAPABILITY "))
        #expect(answer.contains("b OK [READ-WRITE] SELECT completed"))
        #expect(session.authenticationRequest == nil)
        #expect(session.user == "tester")
    }

    @Test("AUTHENTICATE PLAIN asks too; failure and unavailability are tagged NO; empty passwords never reach the host")
    func authenticateAndFailures() throws {
        let fixture = try EngineFixture(preauth: false) { $0.allowPlaintextAuth = true }
        let session = fixture.session
        _ = session.greeting()
        #expect(session.authenticationAnswered(.failure).isEmpty, "an answer nobody asked for changes nothing")
        _ = session.receive(Array("a AUTHENTICATE PLAIN AHRlc3RlcgBzZWNyZXQ=\r\n".utf8))
        #expect(session.authenticationRequest?.mechanism == "PLAIN")
        #expect(String(decoding: session.authenticationAnswered(.unavailable), as: UTF8.self)
                == "a NO [UNAVAILABLE] Authentication is temporarily unavailable\r\n")
        _ = session.receive(Array("b LOGIN tester wrong\r\n".utf8))
        #expect(String(decoding: session.authenticationAnswered(.failure), as: UTF8.self)
                == "b NO [AUTHENTICATIONFAILED] Authentication failed\r\n")
        let empty = String(decoding: session.receive(Array("c LOGIN tester \"\"\r\n".utf8)), as: UTF8.self)
        #expect(empty == "c NO [AUTHENTICATIONFAILED] Authentication failed\r\n")
        #expect(session.authenticationRequest == nil)
    }
}

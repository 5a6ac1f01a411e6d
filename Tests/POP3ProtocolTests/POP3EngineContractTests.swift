import Testing
@testable import POP3Protocol

/// The engine contract (issue 15): the host checks passwords, asked with `authenticate`.
@Suite("POP3 engine contract: authentication is a request the host answers")
struct POP3EngineContractTests {
    @Test("commands pipelined behind PASS wait for the answer; the maildrop opens after success")
    func pipelinedAfterPass() {
        let policy = POP3TestPolicy(maildrop: MemoryMaildrop(sampleMessages))
        let session = POP3Session(configuration: implicitTLS, policy: policy)
        _ = session.start()
        let events = session.feed(Array("USER alice\r\nPASS secret word\r\nSTAT\r\n".utf8))
        #expect(events.last == .authenticate(POP3AuthenticationRequest(user: "alice", password: Array("secret word".utf8), mechanism: "USER")))
        #expect(session.authenticatedUser == nil)
        #expect(policy.attempts.isEmpty, "the engine never checks a password itself")
        let after = session.authenticationAnswered(.success)
        let sent = after.compactMap { if case .send(let b) = $0 { String(decoding: b, as: UTF8.self) } else { nil } }.joined()
        #expect(sent == "+OK Logged in, 3 messages\r\n+OK 3 131\r\n")
        #expect(session.authenticatedUser == "alice")
    }

    @Test("a failed answer is -ERR [AUTH] and the session stays in AUTHORIZATION")
    func failedAnswer() {
        let session = POP3Session(configuration: implicitTLS, policy: POP3TestPolicy(maildrop: MemoryMaildrop(sampleMessages)))
        _ = session.start()
        #expect(session.authenticationAnswered(.success).isEmpty, "an answer nobody asked for changes nothing")
        _ = session.feed(Array("USER alice\r\nPASS nope\r\n".utf8))
        let sent = session.authenticationAnswered(.failure).compactMap { if case .send(let b) = $0 { String(decoding: b, as: UTF8.self) } else { nil } }.joined()
        #expect(sent.hasPrefix("-ERR [AUTH]"))
        #expect(session.authenticatedUser == nil)
    }
}

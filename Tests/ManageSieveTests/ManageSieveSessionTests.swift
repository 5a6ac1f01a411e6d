import Foundation
import Testing
@testable import ManageSieveProtocol
@testable import ManageSieveServer

/// The engine with the real on-disk store in a temporary directory; only the password check is
/// a stand-in (postamt-auth is the integration tests' business).
final class TestPolicy: ManageSievePolicy {
    let store: ManageSieveStore
    init(store: ManageSieveStore) { self.store = store }
    /// The host's password check, answering an `authenticate` event.
    func authenticate(user: String, password: [UInt8]) -> ManageSieveAuthResult {
        user == "ann" && password == Array("secret".utf8) ? .success : .failure
    }

    /// Events as the host sees them, `authenticate` answered on the spot.
    func answering(_ events: [ManageSieveEvent], _ session: ManageSieveSession) -> [ManageSieveEvent] {
        var result: [ManageSieveEvent] = []
        for event in events {
            guard case .authenticate(let request) = event else { result.append(event); continue }
            result += answering(session.authenticationAnswered(authenticate(user: request.user, password: request.password)), session)
        }
        return result
    }
    func openStore(user: String) -> ManageSieveStore? { store }
}

@Suite struct ManageSieveSessionTests {
    /// Removed with the test's suite instance.
    let scratch = TemporaryDirectory(prefix: "managesieve")
    var home: String { scratch.path }
    let store: ManageSieveDiskStore

    init() throws {
        let home = scratch.path
        store = ManageSieveDiskStore(directory: "\(home)/sieve", activeLink: "\(home)/.dovecot.sieve", maximumSize: 1000, maximumScripts: 2)
    }

    func session(tls: Bool = true) -> ManageSieveSession {
        var c = ManageSieveConfiguration()
        c.implicitTLS = tls
        c.limits.authenticationFailureDelayMilliseconds = 0
        return ManageSieveSession(configuration: c, policy: TestPolicy(store: store))
    }

    /// Feeds each line and returns what the server sent, as text.
    func transcript(_ s: ManageSieveSession, _ input: String) -> String {
        TestPolicy(store: store).answering(s.feed(Array(input.utf8)), s).compactMap { if case .send(let b) = $0 { return String(decoding: b, as: UTF8.self) } else { return nil } }.joined()
    }

    static let plain = Data("\0ann\0secret".utf8).base64EncodedString()

    @Test func greetingAdvertisesWhatIsTested() {
        let s = session(tls: false)
        let greeting = s.start().compactMap { if case .send(let b) = $0 { return String(decoding: b, as: UTF8.self) } else { return nil } }.joined()
        #expect(greeting.contains("\"SIEVE\" \"fileinto reject ereject envelope"))
        #expect(greeting.contains("\"SASL\" \"\"\r\n")) // no plaintext login without TLS
        #expect(greeting.hasSuffix("OK \"Postamt ManageSieve ready.\"\r\n"))
        #expect(transcript(s, "AUTHENTICATE \"PLAIN\" \"\(Self.plain)\"\r\n") == "NO (ENCRYPT-NEEDED) \"Use STARTTLS first.\"\r\n")
    }

    @Test func fullSession() throws {
        let s = session()
        _ = s.start()
        #expect(transcript(s, "LISTSCRIPTS\r\n") == "NO \"Log in first.\"\r\n")
        #expect(transcript(s, "AUTHENTICATE \"PLAIN\" \"\(Self.plain)\"\r\n") == "OK \"Logged in.\"\r\n")
        #expect(transcript(s, "PUTSCRIPT \"main\" {16+}\r\nrequire \"foo\";\r\n\r\n").hasPrefix("NO \"1:1: unsupported extension"))
        #expect(transcript(s, "PUTSCRIPT \"main\" {24+}\r\nrequire \"fileinto\";keep;\r\n") == "OK \"Putscript completed.\"\r\n")
        #expect(transcript(s, "CHECKSCRIPT \"keep\"\r\n") == "NO \"1:5: expected ';' or '{' after keep, found the end of the script\"\r\n")
        #expect(transcript(s, "CHECKSCRIPT \"discard;\"\r\n") == "OK \"Script is valid.\"\r\n")
        #expect(transcript(s, "SETACTIVE \"main\"\r\n") == "OK \"Setactive completed.\"\r\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(home)/.dovecot.sieve") == "sieve/main.sieve")
        #expect(transcript(s, "LISTSCRIPTS\r\n") == "\"main\" ACTIVE\r\nOK \"Listscripts completed.\"\r\n")
        #expect(transcript(s, "GETSCRIPT \"main\"\r\n") == "{24}\r\nrequire \"fileinto\";keep;\r\nOK \"Getscript completed.\"\r\n")
        #expect(transcript(s, "DELETESCRIPT \"main\"\r\n") == "NO (ACTIVE) \"The script is active.\"\r\n")
        #expect(transcript(s, "RENAMESCRIPT \"main\" \"filters\"\r\n") == "OK \"Renamescript completed.\"\r\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(home)/.dovecot.sieve") == "sieve/filters.sieve")
        #expect(transcript(s, "GETSCRIPT \"main\"\r\n") == "NO (NONEXISTENT) \"There is no script by that name.\"\r\n")
        #expect(transcript(s, "PUTSCRIPT \"two\" \"keep;\"\r\nRENAMESCRIPT \"two\" \"filters\"\r\n")
            == "OK \"Putscript completed.\"\r\nNO (ALREADYEXISTS) \"A script by that name exists already.\"\r\n")
        #expect(transcript(s, "PUTSCRIPT \"three\" \"keep;\"\r\n").hasPrefix("NO (QUOTA/MAXSCRIPTS)"))
        #expect(transcript(s, "HAVESPACE \"two\" 5000\r\n").hasPrefix("NO (QUOTA/MAXSIZE)"))
        #expect(transcript(s, "HAVESPACE \"two\" 50\r\n") == "OK \"Putscript would succeed.\"\r\n")
        #expect(transcript(s, "PUTSCRIPT \"../x\" \"keep;\"\r\n") == "NO \"Not a valid script name.\"\r\n")
        #expect(transcript(s, "SETACTIVE \"\"\r\n") == "OK \"No script is active.\"\r\n")
        #expect(!FileManager.default.fileExists(atPath: "\(home)/.dovecot.sieve"))
        #expect(transcript(s, "DELETESCRIPT \"two\"\r\nNOOP \"x\\\"y\"\r\n") == "OK \"Deletescript completed.\"\r\nOK (TAG \"x\\\"y\") \"Done\"\r\n")
        #expect(transcript(s, "UNAUTHENTICATE\r\nLISTSCRIPTS\r\n") == "OK \"Logged out; log in again.\"\r\nNO \"Log in first.\"\r\n")
        #expect(s.feed(Array("LOGOUT\r\n".utf8)).last == .close)
    }

    @Test("the engine contract: commands behind AUTHENTICATE wait for the host's answer")
    func authenticationIsARequest() {
        let s = session()
        _ = s.start()
        let events = s.feed(Array("AUTHENTICATE \"PLAIN\" \"\(Self.plain)\"\r\nLISTSCRIPTS\r\n".utf8))
        #expect(events == [.authenticate(ManageSieveAuthenticationRequest(user: "ann", password: Array("secret".utf8), mechanism: "PLAIN"))])
        #expect(s.authenticatedUser == nil)
        let after = s.authenticationAnswered(.success)
        let sent = after.compactMap { if case .send(let b) = $0 { String(decoding: b, as: UTF8.self) } else { nil } }.joined()
        #expect(sent == "OK \"Logged in.\"\r\nOK \"Listscripts completed.\"\r\n")
        #expect(s.authenticationAnswered(.success).isEmpty, "a second answer changes nothing")
        _ = s.feed(Array("UNAUTHENTICATE\r\nAUTHENTICATE \"PLAIN\" \"\(Self.plain)\"\r\n".utf8))
        let refused = s.authenticationAnswered(.temporaryFailure)
        #expect(refused.contains(.send(Array("NO (TRYLATER) \"Cannot check passwords now.\"\r\n".utf8))))
    }

    @Test func saslLoginAndPlainContinuations() {
        let s = session()
        _ = s.start()
        #expect(transcript(s, "AUTHENTICATE \"LOGIN\"\r\n") == "\"VXNlcm5hbWU6\"\r\n")
        #expect(transcript(s, "\"YW5u\"\r\n") == "\"UGFzc3dvcmQ6\"\r\n")
        #expect(transcript(s, "{8+}\r\nc2VjcmV0\r\n") == "OK \"Logged in.\"\r\n")
        let t = session()
        _ = t.start()
        #expect(transcript(t, "AUTHENTICATE \"PLAIN\"\r\n") == "\"\"\r\n")
        #expect(transcript(t, "\"*\"\r\n") == "NO \"Authentication aborted.\"\r\n")
        #expect(transcript(t, "AUTHENTICATE \"PLAIN\" \"\(Data("\0ann\0wrong".utf8).base64EncodedString())\"\r\n") == "NO \"Authentication failed.\"\r\n")
    }

    @Test func hostileInputEndsTheSession() {
        var s = session()
        _ = s.start()
        #expect(transcript(s, "PUTSCRIPT \"a\" {99999999+}\r\n").hasPrefix("BYE \"Literal larger"))
        s = session()
        _ = s.start()
        #expect(transcript(s, String(repeating: "A", count: 9000)).hasPrefix("BYE \"Line too long."))
        s = session()
        _ = s.start()
        var out = ""
        for _ in 0..<25 { out += transcript(s, "NOOP\r\n") }
        #expect(out.hasSuffix("BYE \"Too many commands without logging in.\"\r\n"))
        s = session()
        _ = s.start()
        out = ""
        for _ in 0..<3 { out += transcript(s, "AUTHENTICATE \"PLAIN\" \"\(Data("\0ann\0bad".utf8).base64EncodedString())\"\r\n") }
        #expect(out.hasSuffix("BYE \"Too many failed logins.\"\r\n"))
        // Split anywhere, the bytes give the same answers.
        let whole = "CAPABILITY\r\nNOOP\r\n"
        let a = session(), b = session()
        _ = a.start(); _ = b.start()
        let once = transcript(a, whole)
        var pieces = ""
        for byte in whole.utf8 { pieces += transcript(b, String(decoding: [byte], as: UTF8.self)) }
        #expect(once == pieces)
    }
}

import Foundation
import Testing
@testable import IMAPEngine

/// COMPRESS (RFC 4978 §3) in the engine: the answers, where reading stops, and the pipelined
/// input handed to the host. The deflate itself is the host's (IMAPModernTests, with imaplib).
@Suite struct CompressEngineTests {
    @Test func transcript() throws {
        let fixture = try EngineFixture { $0.compressionAvailable = true }
        #expect(fixture.send("c CAPABILITY").contains(" COMPRESS=DEFLATE"))
        Transcript.check("""
        C: z1 COMPRESS LZW
        S: z1 BAD Unknown compression mechanism
        """, fixture: fixture)
        // The tagged OK, then nothing more is read: the NOOP behind it is compressed data.
        let answer = fixture.session.receive(Array("z2 COMPRESS deflate\r\nn NOOP\r\n".utf8))
        #expect(String(decoding: answer, as: UTF8.self) == "z2 OK DEFLATE active\r\n")
        #expect(fixture.session.wantsCompression)
        #expect(fixture.session.compressionStarted() == Array("n NOOP\r\n".utf8))
        #expect(!fixture.session.wantsCompression && fixture.session.compressionActive)
        Transcript.check("""
        C: z3 COMPRESS DEFLATE
        S: z3 NO [COMPRESSIONACTIVE] DEFLATE is already active
        """, fixture: fixture)
        #expect(!fixture.send("c CAPABILITY").contains("COMPRESS"))
    }

    @Test func notOfferedOrNotYet() throws {
        let off = try EngineFixture()
        #expect(!off.send("c CAPABILITY").contains("COMPRESS"))
        Transcript.check("""
        C: z1 COMPRESS DEFLATE
        S: z1 BAD COMPRESS is not available
        """, fixture: off)
        let before = try EngineFixture(preauth: false) { $0.compressionAvailable = true; $0.allowPlaintextAuth = true }
        #expect(!before.send("c CAPABILITY").contains("COMPRESS"))
        Transcript.check("""
        C: z1 COMPRESS DEFLATE
        S: z1 BAD Log in first
        """, fixture: before)
    }
}

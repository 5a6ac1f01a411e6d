import Foundation
import Glibc
import Testing

/// The programs do not link OpenSSL (COpenSSL's loader maps libssl.so.3 at first use): a
/// session that never starts TLS never has it in its address space, one that says STARTTLS
/// does. Checked in /proc/PID/maps of a real postamt-imapd and postamt-pop3d on pipes.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "\(TestEnvironment.skipReason)"))
struct OpenSSLLoadingTests {
    final class Server {
        let process = Process()
        let input = Pipe()
        let output = Pipe()
        var buffer = Data()

        init(_ installation: Installation, program: String) throws {
            let path = "\(installation.root)/bin/\(program)"
            if !FileManager.default.fileExists(atPath: path) {
                try FileManager.default.copyItem(atPath: "\(TestEnvironment.buildDirectory)/\(program)", toPath: path)
            }
            process.executableURL = URL(fileURLWithPath: path)
            process.environment = installation.environment
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
        }

        /// Reads until a line starting with `prefix`.
        func readUntil(_ prefix: String) throws -> String {
            while true {
                if let range = buffer.firstRange(of: Data("\r\n".utf8)) {
                    let line = String(decoding: buffer[..<range.lowerBound], as: UTF8.self)
                    buffer.removeSubrange(..<range.upperBound)
                    if line.hasPrefix(prefix) { return line }
                    continue
                }
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { throw HarnessError("server closed before \(prefix)") }
                buffer.append(chunk)
            }
        }

        func send(_ line: String) { input.fileHandleForWriting.write(Data((line + "\r\n").utf8)) }

        var mapsOpenSSL: Bool {
            let maps = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/maps", encoding: .utf8)) ?? ""
            return maps.contains("libssl.so") || maps.contains("libcrypto.so")
        }

        func close() {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }

    @Test func imapdLoadsOpenSSLOnlyForSTARTTLS() throws {
        let (installation, _) = try IMAPLoginTests.tlsInstallation()
        let plain = try Server(installation, program: "postamt-imapd")
        _ = try plain.readUntil("* OK")
        plain.send("a CAPABILITY")
        let capability = try plain.readUntil("* CAPABILITY")
        #expect(capability.contains("STARTTLS"))
        _ = try plain.readUntil("a OK")
        #expect(!plain.mapsOpenSSL, "a plaintext session mapped OpenSSL")
        plain.send("b STARTTLS")
        _ = try plain.readUntil("b OK")
        try waitFor("libssl mapped after STARTTLS", timeout: 20) { plain.mapsOpenSSL }
        plain.close()
    }

    @Test func pop3dLoadsOpenSSLOnlyForSTLS() throws {
        let (installation, _) = try IMAPLoginTests.tlsInstallation(shared: true)
        let plain = try Server(installation, program: "postamt-pop3d")
        _ = try plain.readUntil("+OK")
        plain.send("CAPA")
        _ = try plain.readUntil("STLS")
        _ = try plain.readUntil(".")
        #expect(!plain.mapsOpenSSL, "a plaintext session mapped OpenSSL")
        plain.send("STLS")
        _ = try plain.readUntil("+OK")
        try waitFor("libssl mapped after STLS", timeout: 20) { plain.mapsOpenSSL }
        plain.close()
    }

    @Test func smtpdLoadsOpenSSLOnlyForSTARTTLS() throws {
        let (installation, _) = try IMAPLoginTests.tlsInstallation(shared: true)
        let smtpd = try Server(installation, program: "postamt-smtpd")
        _ = try smtpd.readUntil("220 ")
        smtpd.send("EHLO client.example")
        var ehlo: [String] = []
        repeat { ehlo.append(try smtpd.readUntil("250")) } while !ehlo.last!.hasPrefix("250 ")
        #expect(ehlo.contains { $0.hasSuffix("STARTTLS") }, "\(ehlo)")
        #expect(!smtpd.mapsOpenSSL, "a plaintext SMTP session mapped OpenSSL")
        smtpd.send("STARTTLS")
        _ = try smtpd.readUntil("220 ")
        try waitFor("libssl mapped after STARTTLS", timeout: 20) { smtpd.mapsOpenSSL }
        smtpd.close()
    }

    /// The servers build their TLS context only when a client asks, so `postamt check` is where
    /// a key that does not belong to its certificate shows before the first handshake.
    @Test func checkFindsAKeyThatDoesNotMatch() throws {
        let (installation, _) = try IMAPLoginTests.tlsInstallation(shared: true)
        let root = installation.root
        let other = try run("/usr/bin/openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                                                 "-out", "\(root)/etc/postamt/other-key.pem"])
        #expect(other.status == 0)
        let good = try installation.postamt(["check"])
        #expect(!good.stdout.contains("tls"), "\(good.stdout)")
        let conf = "\(root)/etc/postamt/postamt.conf"
        try ((try String(contentsOfFile: conf, encoding: .utf8)) + "\nimap_tls_key = \(root)/etc/postamt/other-key.pem\n")
            .write(toFile: conf, atomically: true, encoding: .utf8)
        let bad = try installation.postamt(["check"])
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("imap_tls_certificate") && bad.stdout.contains("mismatch"), "\(bad.stdout)")
        #expect(!bad.stdout.contains("postamt.conf: tls_certificate"), "\(bad.stdout)")
    }
}

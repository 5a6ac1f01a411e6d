import MailCore
import Testing
@testable import SMTPServer

/// smtpd_tls_cert_file/smtpd_tls_key_file fall back to the shared tls_certificate/tls_key.
@Suite("smtpd certificate fallback")
struct SMTPCertificateSettingTests {
    @Test func sharedCertificateWhenOwnIsEmpty() {
        var configuration = Configuration(root: "/nonexistent")
        configuration.set("tls_certificate", "/shared/cert.pem")
        configuration.set("tls_key", "/shared/key.pem")
        let shared = SMTPDaemonSettings(configuration: configuration, role: .mx, queueOverride: nil)
        #expect(shared.certificateFile == "/shared/cert.pem" && shared.keyFile == "/shared/key.pem")
        configuration.set("smtpd_tls_cert_file", "/smtp/cert.pem")
        configuration.set("smtpd_tls_key_file", "/smtp/key.pem")
        let own = SMTPDaemonSettings(configuration: configuration, role: .mx, queueOverride: nil)
        #expect(own.certificateFile == "/smtp/cert.pem" && own.keyFile == "/smtp/key.pem")
    }
}

import MailCore
import MailLogin
import Testing

/// One certificate for every server: a server's own pair falls back to tls_certificate/tls_key.
@Suite("LoginSettings certificate fallback")
struct LoginSettingsTests {
    @Test func ownSettingWinsSharedFillsIn() {
        var configuration = Configuration(root: "/nonexistent")
        configuration.set("tls_certificate", "/shared/cert.pem")
        configuration.set("tls_key", "/shared/key.pem")
        let shared = LoginSettings(configuration, certificateSetting: "imap_tls_certificate", keySetting: "imap_tls_key")
        #expect(shared.certificatePath == "/shared/cert.pem" && shared.keyPath == "/shared/key.pem")
        configuration.set("imap_tls_certificate", "/imap/cert.pem")
        configuration.set("imap_tls_key", "/imap/key.pem")
        let own = LoginSettings(configuration, certificateSetting: "imap_tls_certificate", keySetting: "imap_tls_key")
        #expect(own.certificatePath == "/imap/cert.pem" && own.keyPath == "/imap/key.pem")
        // pop3d names no pair of its own: the shared one.
        #expect(LoginSettings(configuration).certificatePath == "/shared/cert.pem")
        #expect(!LoginSettings(Configuration(root: "/nonexistent")).tlsConfigured)
    }
}

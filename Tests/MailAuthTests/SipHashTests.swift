import MailCodec
import Testing
@testable import MailAuth

/// The reference vectors of the SipHash paper (appendix A and vectors.h of the reference code):
/// key 00 01 … 0f, message 00 01 … (n-1).
@Suite struct SipHashTests {
    static let vectors: [(length: Int, hash: UInt64)] = [
        (0, 0x726fdb47dd0e0e31), (1, 0x74f839c593dc67fd), (2, 0x0d6c8009d9a94f5a),
        (7, 0xab0200f58b01d137), (8, 0x93f5f5799a932462), (9, 0x9e0082df0ba9e4b0),
        (15, 0xa129ca6149be45e5), (16, 0x3f2acc7f57c29bdb), (31, 0x32d892fad841c342),
        (32, 0x7127512f72f27cce), (63, 0x958a324ceb064572),
    ]

    @Test(arguments: vectors)
    func referenceVector(length: Int, hash: UInt64) {
        let hasher = SipHash24(key: Array(0..<16))
        #expect(hasher.hash((0..<UInt8(length)).map { $0 }) == hash)
    }

    @Test func keyAsWordsEqualsKeyAsBytes() {
        let words = SipHash24(k0: 0x0706050403020100, k1: 0x0f0e0d0c0b0a0908)
        #expect(words.hash(Array("password".utf8)) == SipHash24(key: Array(0..<16)).hash(Array("password".utf8)))
    }

    @Test func fingerprintsDependOnKeyAndSecret() {
        let a = SecretFingerprinter(keys: (1, 2, 3, 4))
        let b = SecretFingerprinter(keys: (1, 2, 3, 5))
        let secret = Array("hunter2".utf8)
        #expect(a.fingerprint(secret) == a.fingerprint(secret))
        #expect(a.fingerprint(secret) != b.fingerprint(secret))
        #expect(a.fingerprint(secret) != a.fingerprint(Array("hunter3".utf8)))
        // Two random fingerprinters do not share keys.
        #expect(SecretFingerprinter.random().fingerprint(secret) != SecretFingerprinter.random().fingerprint(secret))
    }
}

@Suite struct Base64Tests {
    /// RFC 4648 §10 test vectors.
    @Test(arguments: [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
                      ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")])
    func rfcVector(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(Array(encoded.utf8)) == Array(plain.utf8))
    }

    @Test(arguments: ["Zg", "Zg=", "Z===", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n", "=Zm9", "Zg==Zg==", "Zm-v"])
    func refusesNonCanonical(text: String) {
        #expect(Base64.decode(Array(text.utf8)) == nil)
    }

    @Test func roundTripsAllByteValues() {
        let bytes = (0...255).map { UInt8($0) }
        for n in [0, 1, 2, 3, 100, 256] {
            #expect(Base64.decode(Array(Base64.encode(bytes.prefix(n)).utf8)) == Array(bytes.prefix(n)))
        }
    }
}

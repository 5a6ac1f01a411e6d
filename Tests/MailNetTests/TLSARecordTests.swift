import Testing
@testable import MailNet

struct TLSARecordTests {
    /// RFC 7672 §3.1: only DANE-TA(2) and DANE-EE(3), selectors 0/1, matching types 0/1/2 with
    /// digests of the right length.
    @Test(arguments: [
        (3, 1, 1, 32, true), (2, 0, 2, 64, true), (3, 0, 0, 100, true),
        (1, 1, 1, 32, false), (0, 0, 1, 32, false), (3, 2, 1, 32, false), (3, 1, 3, 32, false),
        (3, 1, 1, 31, false), (3, 1, 2, 32, false), (3, 0, 0, 0, false), (255, 255, 255, 0, false),
    ])
    func usability(usage: UInt8, selector: UInt8, type: UInt8, length: Int, usable: Bool) {
        #expect(TLSARecord(usage: usage, selector: selector, matchingType: type, data: Array(repeating: 7, count: length)).isUsableForSMTP == usable)
    }

    @Test func matching() {
        let cert: [UInt8] = Array("certificate".utf8), key: [UInt8] = Array("public key".utf8)
        // SHA-256("abc") from FIPS 180-2, to pin the digest itself.
        #expect(TLSARecord(usage: 3, selector: 1, matchingType: 1, data: TLSARecord.digest(Array("abc".utf8), sha512: false)).hexData
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(TLSARecord(usage: 3, selector: 1, matchingType: 1, data: TLSARecord.digest(key, sha512: false)).matches(certificate: cert, publicKey: key))
        #expect(TLSARecord(usage: 3, selector: 0, matchingType: 2, data: TLSARecord.digest(cert, sha512: true)).matches(certificate: cert, publicKey: key))
        #expect(TLSARecord(usage: 2, selector: 0, matchingType: 0, data: cert).matches(certificate: cert, publicKey: key))
        #expect(!TLSARecord(usage: 3, selector: 1, matchingType: 1, data: TLSARecord.digest(cert, sha512: false)).matches(certificate: cert, publicKey: key))
        #expect(!TLSARecord(usage: 3, selector: 1, matchingType: 9, data: key).matches(certificate: cert, publicKey: key))
    }
}

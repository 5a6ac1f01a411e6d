import Testing
@testable import MailMessage

@Suite struct MIMECharsetTests {
    @Test(arguments: [
        ("iso-8859-1", [0xE9] as [UInt8], "é"),
        ("latin1", [0x63, 0x61, 0x66, 0xE9], "café"),
        ("ISO_8859-1:1987", [0xE9], "é"),
        ("windows-1252", [0x80], "€"),
        ("cp1252", [0x93, 0x68, 0x69, 0x94], "\u{201C}hi\u{201D}"),
        ("iso-8859-1", [0x80], "€"),                 // decided: Latin-1 labels decode as Windows-1252
        ("iso-8859-15", [0xA4], "€"),
        ("latin9", [0xBD], "œ"),
        ("iso-8859-2", [0xB9, 0xE6], "šć"),
        ("koi8-r", [0xF0, 0xD2, 0xC9, 0xD7, 0xC5, 0xD4], "Привет"),
        ("KOI8R", [0xF0, 0xD2, 0xC9, 0xD7, 0xC5, 0xD4], "Привет"),
        ("windows-1251", [0xCF, 0xF0, 0xE8, 0xE2, 0xE5, 0xF2], "Привет"),
        ("x-cp1251", [0xCF, 0xF0, 0xE8, 0xE2, 0xE5, 0xF2], "Привет"),
        ("windows-1250", [0x8A, 0x9A], "Šš"),
        ("iso-8859-5", [0xBF, 0xE0], "Пр"),
        ("iso-8859-7", [0xE1], "α"),
        ("utf-8", [0xE2, 0x82, 0xAC], "€"),
        ("UTF8", [0xC3, 0xA9], "é"),
        ("utf-8", [0xC3], "\u{FFFD}"),
        ("utf-16be", [0x00, 0x41, 0x20, 0xAC], "A€"),
        ("utf-16le", [0x41, 0x00, 0xAC, 0x20], "A€"),
        ("utf-16", [0xFF, 0xFE, 0x41, 0x00], "A"),     // BOM says little endian
        ("utf-16", [0x00, 0x41], "A"),                 // RFC 2781: big endian without BOM
        ("us-ascii", [0x68, 0x69], "hi"),
        ("us-ascii", [0xC3, 0xA9], "é"),               // mislabelled UTF-8 is recognised
        ("no-such-charset", [0xE9], "é"),              // fallback: Latin-1
        ("no-such-charset", [0xC3, 0xA9], "é"),        // fallback: valid UTF-8
    ])
    func decodes(_ name: String, _ bytes: [UInt8], _ expected: String) {
        #expect(Charset.lookup(name).decode(bytes) == expected)
    }

    @Test(arguments: ["utf-8", "latin1", "l1", "cp1252", "iso8859-15", "ISO-8859-16", "koi8-u", "windows-1258", "latin2", "greek", "utf-16le"])
    func knowsAliases(_ name: String) {
        #expect(Charset(named: name) != nil)
    }

    @Test(arguments: ["gb2312-unknown-here", "iso-8859-12", "iso-8859-99", "", "ebcdic"])
    func unknownNames(_ name: String) {
        #expect(Charset(named: name) == nil)
        #expect(Charset.lookup(name) == .fallback)
    }

    @Test func everySingleByteTableIsComplete() {
        for table in [CharsetTables.iso8859_2, CharsetTables.iso8859_15, CharsetTables.windows1250, CharsetTables.windows1251,
                      CharsetTables.windows1252, CharsetTables.koi8R, CharsetTables.koi8U] {
            #expect(table.count == 128)
        }
        // Every byte of every single-byte charset decodes to exactly one character.
        let all = (0...255).map { UInt8($0) }
        #expect(Charset.lookup("koi8-r").decode(all).unicodeScalars.count == 256)
        #expect(Charset.lookup("iso-8859-1").decode(all).unicodeScalars.count == 256)
    }

    /// Every byte of every single-byte table (and Latin-1's Windows-1252 mapping) decodes to the
    /// scalar the table names, U+FFFD where it names none.
    @Test func singleByteDecodingMatchesTheTablesScalarByScalar() {
        let tables = [CharsetTables.iso8859_2, CharsetTables.iso8859_3, CharsetTables.iso8859_4, CharsetTables.iso8859_5,
                      CharsetTables.iso8859_6, CharsetTables.iso8859_7, CharsetTables.iso8859_8, CharsetTables.iso8859_9,
                      CharsetTables.iso8859_10, CharsetTables.iso8859_11, CharsetTables.iso8859_13, CharsetTables.iso8859_14,
                      CharsetTables.iso8859_15, CharsetTables.iso8859_16, CharsetTables.windows1250, CharsetTables.windows1251,
                      CharsetTables.windows1252, CharsetTables.windows1253, CharsetTables.windows1254, CharsetTables.windows1255,
                      CharsetTables.windows1256, CharsetTables.windows1257, CharsetTables.windows1258, CharsetTables.koi8R,
                      CharsetTables.koi8U]
        let all = (0...255).map { UInt8($0) }
        func expected(_ map: (UInt8) -> UInt16) -> [UInt32] {
            all.map { b in b < 0x80 ? UInt32(b) : (Unicode.Scalar(UInt32(map(b)))?.value ?? 0xFFFD) }
        }
        for table in tables {
            let decoded = Charset.singleByte(name: "test", table: table).decode(all)
            #expect(decoded.unicodeScalars.map(\.value) == expected { table[Int($0) - 0x80] })
        }
        let latin1 = Charset.latin1.decode(all)
        #expect(latin1.unicodeScalars.map(\.value) == expected { b in
            let mapped = CharsetTables.windows1252[Int(b) - 0x80]
            return mapped == 0xFFFD ? UInt16(b) : mapped
        })
    }

    @Test func utf8Validation() {
        #expect(Charset.isValidUTF8(Array("héllo €".utf8)))
        #expect(!Charset.isValidUTF8([0xC0, 0xAF]))           // overlong
        #expect(!Charset.isValidUTF8([0xED, 0xA0, 0x80]))     // surrogate
        #expect(!Charset.isValidUTF8([0xE9]))
    }
}

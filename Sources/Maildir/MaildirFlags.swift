#if canImport(Glibc)
import Glibc
#endif

/// The flags of a Maildir message, as the letters of the "info" part of its name.
///
/// The specification (https://cr.yp.to/proto/maildir.html): "When you move a file from new to cur,
/// you have to change its name from uniq to uniq:info. ... Info starting with "2,": Each character
/// after the comma is an independent flag. Flag "P" (passed) ... "R" (replied) ... "S" (seen) ...
/// "T" (trashed) ... "D" (draft) ... "F" (flagged) ... Flags must be stored in ASCII order".
/// Dovecot (and Courier) use the lowercase letters a–z for keywords, mapped to names through a
/// per-folder file (ours is `postamt-keywords`, see `MaildirKeywords`). Other uppercase letters are
/// kept as they are, so that a flag another program set survives our renames.
///
/// One bit per letter: bits 0–25 are "A"–"Z", bits 32–57 are "a"–"z". Iterating the bits in
/// order gives ASCII order, which is the order the specification requires.
public struct MaildirFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue & MaildirFlags.validMask }

    static let validMask: UInt64 = 0x03FF_FFFF_03FF_FFFF

    /// IMAP `\Draft`.
    public static let draft = MaildirFlags(letter: "D")!
    /// IMAP `\Flagged`.
    public static let flagged = MaildirFlags(letter: "F")!
    /// "Passed": resent/forwarded/bounced; IMAP has no system flag for it (Dovecot maps `$Forwarded`).
    public static let passed = MaildirFlags(letter: "P")!
    /// IMAP `\Answered`.
    public static let replied = MaildirFlags(letter: "R")!
    /// IMAP `\Seen`.
    public static let seen = MaildirFlags(letter: "S")!
    /// IMAP `\Deleted` ("trashed" in the specification): expunge removes these.
    public static let trashed = MaildirFlags(letter: "T")!

    /// The flag for one letter (A–Z or a–z); nil for anything else.
    public init?(letter: Character) {
        guard let ascii = letter.asciiValue else { return nil }
        switch ascii {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): self.init(rawValue: 1 << UInt64(ascii - UInt8(ascii: "A")))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): self.init(rawValue: 1 << UInt64(32 + ascii - UInt8(ascii: "a")))
        default: return nil
        }
    }

    /// The keyword letter with index 0–25 ("a"–"z").
    public static func keyword(_ index: Int) -> MaildirFlags {
        precondition(index >= 0 && index < 26, "keyword index out of range")
        return MaildirFlags(rawValue: 1 << UInt64(32 + index))
    }

    /// Parses the letters after "2,". Characters that are not letters are ignored (they carry no
    /// meaning we know and are not kept: the specification only defines letters).
    public init(letters: Substring) {
        var value: UInt64 = 0
        for c in letters { if let f = MaildirFlags(letter: c) { value |= f.rawValue } }
        self.init(rawValue: value)
    }

    public init(letters: String) { self.init(letters: Substring(letters)) }

    /// Flag letters in their canonical form only: strictly ascending ASCII, A–Z and a–z (the uid
    /// list's "F" field, a cur/ name's info after "2,"); nil for anything else.
    init?(canonicalLetters bytes: UnsafeBufferPointer<UInt8>) {
        var bits: UInt64 = 0
        var previous: UInt8 = 0
        for letter in bytes {
            guard letter > previous else { return nil }
            switch letter {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): bits |= 1 << UInt64(letter - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): bits |= 1 << UInt64(32 + letter - UInt8(ascii: "a"))
            default: return nil
            }
            previous = letter
        }
        self.init(rawValue: bits)
    }

    /// The letters in ASCII order, as they go into a name.
    public var letters: String {
        var out = ""
        for bit in 0..<26 where rawValue & (1 << UInt64(bit)) != 0 {
            out.unicodeScalars.append(Unicode.Scalar(UInt8(ascii: "A") + UInt8(bit)))
        }
        for bit in 0..<26 where rawValue & (1 << UInt64(32 + bit)) != 0 {
            out.unicodeScalars.append(Unicode.Scalar(UInt8(ascii: "a") + UInt8(bit)))
        }
        return out
    }

    /// Appends `letters` as bytes (the uid list's encoder: no String on the way).
    public func appendLetters(to out: inout [UInt8]) {
        for bit in 0..<26 where rawValue & (1 << UInt64(bit)) != 0 { out.append(UInt8(ascii: "A") + UInt8(bit)) }
        for bit in 0..<26 where rawValue & (1 << UInt64(32 + bit)) != 0 { out.append(UInt8(ascii: "a") + UInt8(bit)) }
    }

    /// Indexes (0–25) of the keyword letters set.
    public var keywordIndexes: [Int] {
        (0..<26).filter { rawValue & (1 << UInt64(32 + $0)) != 0 }
    }

    /// Only the uppercase (non-keyword) letters.
    public var withoutKeywords: MaildirFlags { MaildirFlags(rawValue: rawValue & 0x03FF_FFFF) }

    public var description: String { letters }
}

/// A file name in new/ or cur/: the unique base name and, in cur/, the info `:2,<flags>`.
///
/// The base name is the message's identity for its whole life (flags change the part after
/// ":"), so the uid list, the cache and POP3's UIDL all key on it.
public struct MaildirFileName: Hashable, Sendable {
    /// Everything before ":" (the unique name, with ",S=" and ",W=" fields).
    public var baseName: String
    public var flags: MaildirFlags
    /// Info that is not "2,…" (experimental "1," semantics or garbage): kept verbatim while the
    /// flags are not changed. nil for "2," names and for names without info.
    public var foreignInfo: String?
    /// Whether the name had ":" at all (names in new/ have none).
    public var hasInfo: Bool

    public init(baseName: String, flags: MaildirFlags = [], hasInfo: Bool = true) {
        self.baseName = baseName
        self.flags = flags
        self.foreignInfo = nil
        self.hasInfo = hasInfo
    }

    /// Whether `fileName` is exactly `<baseName>:2,<flags in ASCII order>`, compared byte by byte.
    public static func isCanonical(_ fileName: String, baseName: String, flags: MaildirFlags) -> Bool {
        var expected: [UInt8] = []
        expected.reserveCapacity(baseName.utf8.count + 16)
        expected.append(contentsOf: baseName.utf8)
        expected.append(contentsOf: ":2,".utf8)
        flags.appendLetters(to: &expected)
        return fileName.utf8.elementsEqual(expected)
    }

    /// Splits a directory entry. Never fails: any name is a base name and perhaps info.
    public init(parsing name: String) {
        guard let colon = name.firstIndex(of: ":") else {
            self.init(baseName: name, flags: [], hasInfo: false)
            return
        }
        let info = name[name.index(after: colon)...]
        self.init(baseName: String(name[..<colon]), flags: [], hasInfo: true)
        if info.hasPrefix("2,") {
            flags = MaildirFlags(letters: info.dropFirst(2))
        } else {
            foreignInfo = String(info)
        }
    }

    /// The name to use in cur/: `base:2,<flags in ASCII order>`.
    public var name: String {
        if let foreignInfo { return "\(baseName):\(foreignInfo)" }
        if !hasInfo { return baseName }
        return "\(baseName):2,\(flags.letters)"
    }

    /// The same message with other flags (always a "2," name).
    public func with(flags: MaildirFlags) -> MaildirFileName {
        MaildirFileName(baseName: baseName, flags: flags, hasInfo: true)
    }

    /// The size recorded as ",S=<n>" in the base name (the file's size in bytes).
    public var size: Int? { MaildirFileName.field("S", in: baseName) }
    /// The size with CRLF line ends recorded as ",W=<n>" (Dovecot's "virtual size", what POP3
    /// LIST and IMAP RFC822.SIZE report).
    public var crlfSize: Int? { MaildirFileName.field("W", in: baseName) }

    /// The delivery time in the unique name ("<seconds>.M<microseconds>..."), in microseconds
    /// since the epoch; nil when the name does not start with a time.
    public var deliveryTime: Int64? {
        var bytes = baseName.utf8.makeIterator()
        var next = bytes.next()
        var seconds: Int64 = 0
        var digits = 0
        while let c = next, digits < 12, c >= 48, c <= 57 {
            seconds = seconds * 10 + Int64(c - 48)
            digits += 1
            next = bytes.next()
        }
        guard digits > 0 else { return nil }
        var micros: Int64 = 0
        if next == UInt8(ascii: "."), bytes.next() == UInt8(ascii: "M") {
            var count = 0
            while count < 6, let c = bytes.next(), c >= 48, c <= 57 {
                micros = micros * 10 + Int64(c - 48)
                count += 1
            }
        }
        return seconds * 1_000_000 + micros
    }

    /// ",<key>=<digits>" in the part after the first ",".
    static func field(_ key: Character, in base: String) -> Int? {
        guard let comma = base.firstIndex(of: ",") else { return nil }
        for part in base[base.index(after: comma)...].split(separator: ",") {
            guard part.count > 2, part.first == key, part.dropFirst().first == "=" else { continue }
            let digits = part.dropFirst(2)
            guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.count <= 18 else { return nil }
            return Int(digits)
        }
        return nil
    }

    /// Order of delivery: by the time in the name, then by the name itself, so that a stable
    /// order exists for any set of names (used to hand out UIDs).
    public static func deliveryOrder(_ a: String, _ b: String) -> Bool {
        let ta = MaildirFileName(baseName: a).deliveryTime ?? Int64.max
        let tb = MaildirFileName(baseName: b).deliveryTime ?? Int64.max
        if ta != tb { return ta < tb }
        return a < b
    }

    /// `names` in `deliveryOrder` of their base names (`baseName` of each), every time read
    /// once rather than at every comparison.
    public static func inDeliveryOrder<S: Sequence<String>>(_ names: S, baseName: (String) -> String = { $0 }) -> [String] {
        names.map { name -> (time: Int64, base: String, name: String) in
            let base = baseName(name)
            return (MaildirFileName(baseName: base).deliveryTime ?? Int64.max, base, name)
        }
        .sorted { $0.time != $1.time ? $0.time < $1.time : $0.base < $1.base }
        .map(\.name)
    }
}

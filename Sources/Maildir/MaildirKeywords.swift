#if canImport(Glibc)
import Glibc
#endif
import MailSystem

/// A folder's keyword table: which IMAP keyword (`$Forwarded`, `Work`) each lowercase flag
/// letter stands for, in `postamt-keywords` beside the uid list.
///
/// Format, the same as Dovecot's dovecot-keywords: one line per keyword, `<index> <keyword>\n`,
/// index 0–25 meaning letter "a"–"z". Lines that do not parse are ignored (the table cannot be
/// rebuilt from the messages, so a damaged line costs one keyword's name, not the others).
/// The file is changed only under the folder's uid list lock and replaced by rename(2).
/// A folder has at most 26 keywords; IMAP clients learn that from PERMANENTFLAGS.
public struct MaildirKeywords: Hashable, Sendable {
    public static let fileName = "postamt-keywords"
    /// Longest keyword we store (Dovecot's default is 50 characters for an IMAP keyword).
    public static let maximumLength = 100

    public var names: [Int: String]

    public init(names: [Int: String] = [:]) { self.names = names }

    public init(parsing bytes: [UInt8]) {
        var names: [Int: String] = [:]
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let text = String(decoding: line, as: UTF8.self)
            guard let space = text.firstIndex(of: " "), let index = Int(text[..<space]), index >= 0, index < 26 else { continue }
            let keyword = String(text[text.index(after: space)...])
            if MaildirKeywords.isValid(keyword), names[index] == nil { names[index] = keyword }
        }
        self.names = names
    }

    public static func load(folderPath: String) throws -> MaildirKeywords {
        guard let bytes = try mapSystemErrors({ try FileIO.readFile("\(folderPath)/\(fileName)", limit: 1 << 20) }) else {
            return MaildirKeywords()
        }
        return MaildirKeywords(parsing: bytes)
    }

    public func encoded() -> [UInt8] {
        Array(names.keys.sorted().map { "\($0) \(names[$0]!)\n" }.joined().utf8)
    }

    /// An IMAP flag-keyword is an atom (RFC 3501 §9: no "(){ %*\"\\]" and no controls) that
    /// does not start with "\"; we also refuse non-ASCII.
    public static func isValid(_ keyword: String) -> Bool {
        guard !keyword.isEmpty, keyword.utf8.count <= maximumLength else { return false }
        return keyword.utf8.allSatisfy { b in
            b > 0x20 && b < 0x7F && !"(){%*\"\\]".utf8.contains(b)
        }
    }

    /// The index of `keyword`, compared without regard to ASCII case (as Dovecot does).
    public func index(of keyword: String) -> Int? {
        let wanted = keyword.lowercased()
        return names.first { $0.value.lowercased() == wanted }?.key
    }

    /// The keyword names of the letters in `flags`, ascending by letter; letters without a name
    /// are left out (IMAP cannot show them).
    public func keywords(in flags: MaildirFlags) -> [String] {
        flags.keywordIndexes.compactMap { names[$0] }
    }

    /// Letters for `keywords`, adding table entries as needed (returns whether it added any).
    public mutating func letters(for keywords: [String], create: Bool) throws -> (flags: MaildirFlags, added: Bool) {
        var flags: MaildirFlags = []
        var added = false
        for keyword in keywords {
            guard MaildirKeywords.isValid(keyword) else { throw MaildirError.invalidKeyword(keyword) }
            if let index = index(of: keyword) { flags.insert(.keyword(index)); continue }
            guard create else { continue }
            guard let free = (0..<26).first(where: { names[$0] == nil }) else { throw MaildirError.tooManyKeywords }
            names[free] = keyword
            flags.insert(.keyword(free))
            added = true
        }
        return (flags, added)
    }
}

import IMAPEngine

/// imapd's own IMAP engine (`IMAPSession`, an I/O-free state machine) run inside the webmail's
/// process, which already is the user, on the user's Maildir: folder creation, renaming and
/// deletion, the special-use lookup and SEARCH go through the very code an IMAP client meets,
/// so the subscriptions, the `postamt-specialuse` file (RFC 6154) and the search semantics
/// (RFC 9051 §6.4.4 with i;unicode-casemap, RFC 5051) stay what imapd makes of them.
///
/// Folder names are the on-disk Maildir++ names, which are the IMAP names in modified UTF-7
/// (RFC 3501 §5.1.3): the engine is used without UTF8=ACCEPT, so they go over unchanged.
final class IMAPCommandRunner {
    let session: IMAPSession
    private var tagNumber = 0

    init(user: String, maildirPath: String) {
        session = IMAPSession(preauthenticatedUser: user, maildirPath: maildirPath)
        _ = session.greeting()
    }

    /// The tagged result of one command and its untagged lines (literals joined into their line).
    struct Result {
        var ok: Bool
        /// The text after `OK`/`NO`/`BAD` of the tagged line.
        var text: String
        var untagged: [[UInt8]]
    }

    /// Runs one command (without tag and line end); the arguments are already quoted.
    func run(_ command: String) -> Result {
        tagNumber += 1
        let tag = "w\(tagNumber)"
        let output = session.receive(Array("\(tag) \(command)\r\n".utf8))
        var lines: [[UInt8]] = []
        var current: [UInt8] = []
        var i = 0
        // Lines end in CRLF; a line ending in {n} is followed by n octets of literal that belong to it.
        while i < output.count {
            if output[i] == 13, i + 1 < output.count, output[i + 1] == 10 {
                if let size = IMAPCommandRunner.literalSize(current), i + 2 + size <= output.count {
                    current += [13, 10] + output[(i + 2)..<(i + 2 + size)]
                    i += 2 + size
                    continue
                }
                lines.append(current)
                current = []
                i += 2
                continue
            }
            current.append(output[i])
            i += 1
        }
        if !current.isEmpty { lines.append(current) }
        let prefix = Array("\(tag) ".utf8)
        var result = Result(ok: false, text: "no answer", untagged: [])
        for line in lines {
            if line.starts(with: prefix) {
                let rest = String(decoding: line.dropFirst(prefix.count), as: UTF8.self)
                result.ok = rest.hasPrefix("OK")
                result.text = String(rest.drop(while: { $0 != " " }).dropFirst())
            } else if line.starts(with: [UInt8(ascii: "*"), 32]) {
                result.untagged.append(Array(line.dropFirst(2)))
            }
        }
        return result
    }

    static func literalSize(_ line: [UInt8]) -> Int? {
        guard line.last == UInt8(ascii: "}"), let open = line.lastIndex(of: UInt8(ascii: "{")) else { return nil }
        var digits = line[(open + 1)..<(line.count - 1)]
        if digits.last == UInt8(ascii: "+") { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.count < 10, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(String(decoding: digits, as: UTF8.self))
    }

    /// An astring as a quoted string (RFC 9051 §4.3): `"` and `\` escaped. Callers pass
    /// validated names and search texts, which hold no CR, LF or NUL; text beyond ASCII goes
    /// as a literal instead (quoted strings are 7-bit in IMAP4rev1).
    static func quoted(_ text: String) -> String {
        if text.utf8.contains(where: { $0 >= 0x80 }) {
            return "{\(text.utf8.count)+}\r\n\(text)"
        }
        var out = "\""
        for c in text {
            if c == "\"" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out + "\""
    }

    // MARK: Folders

    func create(_ folder: String) -> Result {
        let created = run("CREATE \(IMAPCommandRunner.quoted(folder))")
        if created.ok { _ = run("SUBSCRIBE \(IMAPCommandRunner.quoted(folder))") }
        return created
    }

    func rename(_ folder: String, to target: String) -> Result {
        run("RENAME \(IMAPCommandRunner.quoted(folder)) \(IMAPCommandRunner.quoted(target))")
    }

    func delete(_ folder: String) -> Result {
        run("DELETE \(IMAPCommandRunner.quoted(folder))")
    }

    func subscriptions() -> [String] {
        listNames(run("LSUB \"\" \"*\"")).map(\.name)
    }

    func subscribe(_ folder: String) { _ = run("SUBSCRIBE \(IMAPCommandRunner.quoted(folder))") }
    func unsubscribe(_ folder: String) { _ = run("UNSUBSCRIBE \(IMAPCommandRunner.quoted(folder))") }

    /// The folders with an RFC 6154 special use, as imapd's LIST (SPECIAL-USE) reports them:
    /// `\Sent` → folder name.
    func specialUses() -> [String: String] {
        var uses: [String: String] = [:]
        for entry in listNames(run("LIST (SPECIAL-USE) \"\" \"*\"")) {
            for attribute in entry.attributes {
                let lower = attribute.lowercased()
                if ["\\sent", "\\drafts", "\\trash", "\\junk", "\\archive"].contains(lower), uses[lower] == nil {
                    uses[lower] = entry.name
                }
            }
        }
        return uses
    }

    /// The mailbox names and attributes of LIST/LSUB responses.
    func listNames(_ result: Result) -> [(name: String, attributes: [String])] {
        result.untagged.compactMap { line in
            var reader = Reader(bytes: line)
            guard let word = reader.atom(), word == "LIST" || word == "LSUB" else { return nil }
            reader.skipSpace()
            guard let attributes = reader.parenthesised() else { return nil }
            reader.skipSpace()
            guard reader.string() != nil || reader.atom() == "NIL" else { return nil }
            reader.skipSpace()
            guard let name = reader.string() ?? reader.atom() else { return nil }
            return (name, attributes.split(separator: " ").map(String.init))
        }
    }

    /// A small reader of response lines: atoms, quoted strings, literals, a parenthesised list.
    struct Reader {
        let bytes: [UInt8]
        var at = 0
        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipSpace() { while at < bytes.count, bytes[at] == 32 { at += 1 } }

        mutating func atom() -> String? {
            let start = at
            while at < bytes.count, bytes[at] > 32, bytes[at] != UInt8(ascii: "("), bytes[at] != UInt8(ascii: ")"), bytes[at] != UInt8(ascii: "\"") { at += 1 }
            return at > start ? String(decoding: bytes[start..<at], as: UTF8.self) : nil
        }

        mutating func parenthesised() -> String? {
            guard at < bytes.count, bytes[at] == UInt8(ascii: "("), let close = bytes[at...].firstIndex(of: UInt8(ascii: ")")) else { return nil }
            defer { at = close + 1 }
            return String(decoding: bytes[(at + 1)..<close], as: UTF8.self)
        }

        mutating func string() -> String? {
            guard at < bytes.count else { return nil }
            if bytes[at] == UInt8(ascii: "\"") {
                var out: [UInt8] = []
                var i = at + 1
                while i < bytes.count {
                    if bytes[i] == UInt8(ascii: "\\"), i + 1 < bytes.count { out.append(bytes[i + 1]); i += 2; continue }
                    if bytes[i] == UInt8(ascii: "\"") { at = i + 1; return String(decoding: out, as: UTF8.self) }
                    out.append(bytes[i]); i += 1
                }
                return nil
            }
            if bytes[at] == UInt8(ascii: "{"), let close = bytes[at...].firstIndex(of: UInt8(ascii: "}")),
               let size = Int(String(decoding: bytes[(at + 1)..<close], as: UTF8.self)), close + 3 + size <= bytes.count {
                let start = close + 3
                at = start + size
                return String(decoding: bytes[start..<(start + size)], as: UTF8.self)
            }
            return nil
        }
    }

    // MARK: Search

    /// UID SORT (RFC 5256) of all of `folder` by `criteria` (e.g. `REVERSE DATE`), EXAMINEd;
    /// nil when the folder cannot be opened or the engine refuses.
    func sort(_ folder: String, criteria: String) -> [UInt32]? {
        let mailbox = folder == "INBOX" ? "INBOX" : IMAPCommandRunner.quoted(folder)
        guard run("EXAMINE \(mailbox)").ok else { return nil }
        let result = run("UID SORT (\(criteria)) UTF-8 ALL")
        guard result.ok else { return nil }
        var uids: [UInt32] = []
        for line in result.untagged where line.starts(with: Array("SORT".utf8)) {
            uids += line.dropFirst(4).split(separator: 32).compactMap { UInt32(String(decoding: $0, as: UTF8.self)) }
        }
        return uids
    }

    /// UID THREAD REFERENCES (RFC 5256 §4) of all of `folder`, EXAMINEd: each thread as its
    /// messages in the engine's order with their depth in the reply tree; nil when the folder
    /// cannot be opened or the engine refuses.
    func threads(_ folder: String) -> [[ThreadEntry]]? {
        let mailbox = folder == "INBOX" ? "INBOX" : IMAPCommandRunner.quoted(folder)
        guard run("EXAMINE \(mailbox)").ok else { return nil }
        let result = run("UID THREAD REFERENCES UTF-8 ALL")
        guard result.ok else { return nil }
        var threads: [[ThreadEntry]] = []
        for line in result.untagged where line.starts(with: Array("THREAD".utf8)) {
            threads += IMAPCommandRunner.parseThreads(line.dropFirst(6))
        }
        return threads
    }

    struct ThreadEntry: Equatable { var uid: UInt32; var depth: Int }

    /// The threads of a THREAD response (RFC 5256 §4): "(3 6 (4 23)(44 7 96))" is 3, its reply
    /// 6, and two branches under 6. A thread without a root ("((3)(5))", a missing parent)
    /// gives its branches side by side. Nesting deeper than `maximumNesting` stays flat.
    static func parseThreads(_ bytes: ArraySlice<UInt8>, maximumNesting: Int = 64) -> [[ThreadEntry]] {
        var i = bytes.startIndex
        func skipSpaces() { while i < bytes.endIndex, bytes[i] == 32 { i += 1 } }
        // At "(": the list up to its ")", its first number at `depth`.
        func list(depth: Int, nesting: Int, into entries: inout [ThreadEntry]) {
            i += 1
            var level = depth
            while i < bytes.endIndex {
                skipSpaces()
                guard i < bytes.endIndex else { return }
                switch bytes[i] {
                case UInt8(ascii: ")"):
                    i += 1
                    return
                case UInt8(ascii: "("):
                    if nesting < maximumNesting {
                        list(depth: level, nesting: nesting + 1, into: &entries)
                    } else {
                        i += 1
                    }
                case 48...57:
                    var value: UInt32 = 0
                    while i < bytes.endIndex, (48...57).contains(bytes[i]) {
                        value = value &* 10 &+ UInt32(bytes[i] - 48)
                        i += 1
                    }
                    entries.append(ThreadEntry(uid: value, depth: level))
                    level += 1
                default:
                    i += 1
                }
            }
        }
        var threads: [[ThreadEntry]] = []
        skipSpaces()
        while i < bytes.endIndex, bytes[i] == UInt8(ascii: "(") {
            var entries: [ThreadEntry] = []
            list(depth: 0, nesting: 1, into: &entries)
            if !entries.isEmpty { threads.append(entries) }
            skipSpaces()
        }
        return threads
    }

    /// UID SEARCH in `folder` over its `newest` last messages (EXAMINE: read-only, nothing
    /// changes), the UIDs in ascending order; nil when the folder cannot be opened or the engine
    /// refuses the search.
    func search(in folder: String, criteria: String, newest: Int) -> [UInt32]? {
        let mailbox = folder == "INBOX" ? "INBOX" : IMAPCommandRunner.quoted(folder)
        let examined = run("EXAMINE \(mailbox)")
        guard examined.ok else { return nil }
        var exists = 0
        for line in examined.untagged {
            let words = line.split(separator: 32)
            if words.count == 2, words[1].elementsEqual("EXISTS".utf8), let n = Int(String(decoding: words[0], as: UTF8.self)) { exists = n }
        }
        guard exists > 0 else { return [] }
        let first = max(1, exists - newest + 1)
        let result = run("UID SEARCH CHARSET UTF-8 \(first):* \(criteria)")
        guard result.ok else { return nil }
        var uids: [UInt32] = []
        for line in result.untagged where line.starts(with: Array("SEARCH".utf8)) {
            uids += line.dropFirst(6).split(separator: 32).compactMap { UInt32(String(decoding: $0, as: UTF8.self)) }
        }
        return uids.sorted()
    }
}

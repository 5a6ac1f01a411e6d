#if canImport(Glibc)
import Glibc
#endif
import IMAPProtocol
import Maildir
import MailSystem

/// Why a mailbox name or operation was refused, with the response code to send.
struct IMAPMailStoreError: Error {
    var code: IMAPResponseCode?
    var text: String
}

/// The mailboxes of one user: INBOX is the Maildir root, every other mailbox a Maildir++ folder
/// (`.Lists.Work`), hierarchy delimiter ".". On-disk names are the modified UTF-7 form of the
/// name (Courier's and Dovecot's Maildir++ convention), so a name that does not decode, or whose
/// encoded form is not one safe directory entry (`MaildirFolders.validate`: no "/", no leading
/// ".", no empty level), never reaches the file system.
struct IMAPMailStore {
    static let delimiter = UInt8(ascii: ".")
    let folders: MaildirFolders

    init(maildirPath: String) {
        folders = MaildirFolders(root: Maildir(path: maildirPath))
    }

    var rootPath: String { folders.root.path }

    /// The on-disk folder name for a wire name; nil for INBOX.
    func folderName(_ name: IMAPMailboxName, utf8Enabled: Bool) throws(IMAPMailStoreError) -> String? {
        if name.isInbox { return nil }
        let unicode: String
        do { unicode = try name.decoded(utf8Enabled: utf8Enabled) } catch {
            throw IMAPMailStoreError(code: .cannot, text: "Invalid mailbox name encoding")
        }
        if unicode.uppercased() == "INBOX" { return nil }
        let onDisk = String(decoding: ModifiedUTF7.encode(unicode), as: UTF8.self)
        do { try MaildirFolders.validate(onDisk) } catch {
            throw IMAPMailStoreError(code: .cannot, text: "Invalid mailbox name")
        }
        return onDisk
    }

    /// The wire form of an on-disk folder name.
    func wireName(_ folder: String, utf8Enabled: Bool) -> IMAPMailboxName {
        guard utf8Enabled, let unicode = try? ModifiedUTF7.decode(Array(folder.utf8)) else {
            return IMAPMailboxName(bytes: Array(folder.utf8))
        }
        return IMAPMailboxName(bytes: Array(unicode.utf8))
    }

    func maildir(_ folder: String?) -> Maildir {
        guard let folder else { return folders.root }
        return Maildir(path: "\(rootPath)/.\(folder)")
    }

    func exists(_ folder: String?) -> Bool {
        guard let folder else { return true }
        return folders.exists(folder) && Maildir(path: "\(rootPath)/.\(folder)").exists
    }

    /// How many expunged UIDs each folder's uid list remembers for QRESYNC.
    var expungeHistoryLimit = UIDList.defaultExpungeHistoryLimit

    func open(_ folder: String?) -> MaildirMailbox {
        MaildirMailbox(maildir: maildir(folder), rootPath: rootPath, expungeHistoryLimit: expungeHistoryLimit)
    }

    /// Every folder on disk (not INBOX).
    func list() -> [String] { (try? folders.list()) ?? [] }

    /// RFC 6154 attribute of a folder by its name.
    static func specialUse(_ folder: String) -> IMAPMailboxAttribute? {
        switch folder {
        case "Sent": .sent
        case "Drafts": .drafts
        case "Trash": .trash
        case "Junk": .junk
        case "Archive": .archive
        default: nil
        }
    }

    /// Creates INBOX when missing and, at the first login, the special-use folders, subscribed.
    /// The first login is the one that finds no subscriptions file (the subscribing writes it):
    /// a folder the user later deletes or unsubscribes stays so, and a Maildir that another
    /// IMAP server kept (Dovecot and Courier use the same file) keeps its folders as they are.
    func prepare() {
        if !folders.root.exists { try? folders.root.create() }
        guard !FileIO.exists(folders.subscriptionsPath) else { return }
        for name in MaildirFolders.specialFolders {
            _ = try? folders.specialFolder(name)
            try? folders.subscribe(name)
        }
    }
}

/// IMAP LIST pattern matching (RFC 9051 §6.3.9): `*` matches anything, `%` anything but the
/// delimiter. Iterative with memoisation, so hostile patterns cost at most pattern × name steps.
enum IMAPPattern {
    static func matches(_ pattern: [UInt8], _ name: [UInt8], delimiter: UInt8) -> Bool {
        let p = pattern.count, n = name.count
        // reachable[j]: pattern prefix i matches name prefix j
        var reachable = [Bool](repeating: false, count: n + 1)
        reachable[0] = true
        for i in 0..<p {
            var next = [Bool](repeating: false, count: n + 1)
            let c = pattern[i]
            if c == UInt8(ascii: "*") || c == UInt8(ascii: "%") {
                var carrying = false
                for j in 0...n {
                    if reachable[j] { carrying = true }
                    if carrying { next[j] = true }
                    if j < n && c == UInt8(ascii: "%") && name[j] == delimiter { carrying = false }
                }
            } else {
                for j in 0..<n where reachable[j] && name[j] == c { next[j + 1] = true }
            }
            reachable = next
        }
        return reachable[n]
    }

    /// Matches INBOX case-insensitively (RFC 9051 §5.1: INBOX is case-insensitive).
    static func matchesMailbox(_ pattern: [UInt8], _ name: [UInt8], delimiter: UInt8) -> Bool {
        if name == Array("INBOX".utf8) {
            let upper = pattern.map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 }
            let prefixLength = min(5, upper.count)
            if matches(Array(upper[0..<prefixLength]) + pattern[prefixLength...], name, delimiter: delimiter) { return true }
        }
        return matches(pattern, name, delimiter: delimiter)
    }
}
